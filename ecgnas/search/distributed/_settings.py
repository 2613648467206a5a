"""How coordinator and workers talk: the protocol version and ``DistributedSettings``."""

from __future__ import annotations

from dataclasses import dataclass

from ecgnas.errors import ConfigError

#: version of the study layout described in the package docstring
DISTRIBUTED_FORMAT = 1
#: how ``settings["execution"]`` marks a distributed run (a one-process resume refuses it)
EXECUTION = "distributed"


@dataclass(frozen=True)
class DistributedSettings:
    """How coordinator and workers talk (times in seconds).

    heartbeat_s: a worker's beat interval; grace_s: no beat for this long (coordinator's
    clock) and the trial is stale (>= 2 x heartbeat_s); poll_s: the coordinator's polling
    interval; max_attempts: trials per run index before the run stops with ``RunError``;
    storage_timeout_s: how long storage calls are retried through an outage;
    worker_start_s: how long local workers may take to start before the coordinator warns;
    max_worker_restarts: how many times each local worker slot is started again after its
    process died (killed by a signal such as an OOM kill, or crashed); a slot that dies more
    often stays down, and the run stops with ``RunError`` once every slot is down. A worker
    that exits on its own (code 0: the run is over; 2: a user error such as missing data,
    which a restart would repeat; 130: told to stop) is not restarted.
    """

    heartbeat_s: float = 10.0
    grace_s: float = 60.0
    poll_s: float = 0.1
    max_attempts: int = 3
    storage_timeout_s: float = 600.0
    worker_start_s: float = 120.0
    max_worker_restarts: int = 3

    def __post_init__(self) -> None:
        for name in ("heartbeat_s", "grace_s", "poll_s", "storage_timeout_s", "worker_start_s"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"{name} must be positive, got {getattr(self, name)}")
        if self.grace_s < 2 * self.heartbeat_s:
            raise ConfigError(
                f"grace_s ({self.grace_s}) must be at least twice heartbeat_s ({self.heartbeat_s})"
            )
        if self.max_attempts < 1:
            raise ConfigError(f"max_attempts must be at least 1, got {self.max_attempts}")
        if self.max_worker_restarts < 0:
            raise ConfigError(f"max_worker_restarts must be >= 0, got {self.max_worker_restarts}")
