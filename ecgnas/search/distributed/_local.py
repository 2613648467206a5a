"""Local workers: ``python -m ecgnas.cli.worker`` processes the coordinator starts and restarts."""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ecgnas.errors import ConfigError, RunError

logger = logging.getLogger("ecgnas.search.distributed")

#: exit codes of a worker that stopped on its own: done, a user error (a restart would
#: repeat it), told to stop (SIGTERM/SIGINT)
_NO_RESTART_CODES = frozenset({0, 2, 130})


def device_assignments(workers: int, visible: Sequence[str]) -> list[str | None]:
    """The ``CUDA_VISIBLE_DEVICES`` value of each local worker slot.

    ``visible``: the GPUs this process may use (its own ``CUDA_VISIBLE_DEVICES`` entries,
    else ``0..n-1``); empty -> ``None`` for every slot (CPU). More workers than GPUs share
    them round-robin (slot i gets ``visible[i % len(visible)]``).
    """
    if not visible:
        return [None] * workers
    return [str(visible[i % len(visible)]) for i in range(workers)]


def _visible_gpus() -> list[str]:
    """The GPUs local workers may be pinned to (imports torch)."""
    import torch

    count = torch.cuda.device_count()
    if count == 0:
        return []
    env = os.environ.get("CUDA_VISIBLE_DEVICES")
    if env:
        entries = [e.strip() for e in env.split(",") if e.strip()]
        return entries[:count]
    return [str(i) for i in range(count)]


def default_log_dir(storage: object, log_dir: str | os.PathLike[str] | None) -> Path:
    """``log_dir``, else ``workers/`` beside a journal, else a new temp directory."""
    if log_dir is not None:
        return Path(log_dir)
    text = os.fspath(storage) if isinstance(storage, str | os.PathLike) else None
    if text is not None and "://" not in text:
        path = Path(text)
        base = path if path.is_dir() or not path.suffix else path.parent
        return base / "workers"
    return Path(tempfile.mkdtemp(prefix="ecgnas-workers-"))


@dataclass
class _Slot:
    """One local worker slot: how to start it, its current process, its restarts."""

    index: int
    cmd: list[str]
    env: dict[str, str]
    log: Path
    proc: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    down: bool = False  # exited for good
    codes: list[int] = field(default_factory=list)


class LocalWorkers:
    """``python -m ecgnas.cli.worker`` processes started by the coordinator.

    A worker process that dies (``check``) is started again in its slot, up to
    ``max_restarts`` times per slot (see ``DistributedSettings.max_worker_restarts``).
    """

    def __init__(self, slots: list[_Slot], max_restarts: int) -> None:
        self.slots = slots
        self.max_restarts = max_restarts

    @property
    def n_restarts(self) -> int:
        """Worker processes started again so far, over all slots."""
        return sum(s.restarts for s in self.slots)

    @classmethod
    def start(
        cls,
        n: int,
        storage: str | os.PathLike[str],
        study_name: str,
        *,
        uses_device: bool,
        data_dir: str | os.PathLike[str] | None,
        cache_dir: str | os.PathLike[str] | None,
        log_dir: Path,
        max_restarts: int = 3,
    ) -> LocalWorkers:
        if not isinstance(storage, str | os.PathLike):
            raise ConfigError("local workers need a storage path or URL, not a storage object")
        log_dir.mkdir(parents=True, exist_ok=True)
        devices = device_assignments(n, _visible_gpus() if uses_device else [])
        # CPU-only training: share the cores instead of n workers each using all of them
        threads = str(max(1, (os.cpu_count() or 1) // n))
        host = socket.gethostname()
        slots: list[_Slot] = []
        for i, device in enumerate(devices):
            cmd = [sys.executable, "-m", "ecgnas.cli.worker", "--storage", os.fspath(storage)]
            cmd += ["--study", study_name, "--worker-id", f"{host}/local{i}"]
            cmd += ["--parent-pid", str(os.getpid())]
            if data_dir is not None:
                cmd += ["--data-dir", os.fspath(data_dir)]
            if cache_dir is not None:
                cmd += ["--cache-dir", os.fspath(cache_dir)]
            env = dict(os.environ)
            if device is not None:
                env["CUDA_VISIBLE_DEVICES"] = device
            elif uses_device:
                env.setdefault("OMP_NUM_THREADS", threads)
                env.setdefault("MKL_NUM_THREADS", threads)
            slot = _Slot(i, cmd, env, log_dir / f"worker-{i}.log")
            _launch(slot)
            logger.info(
                "local worker %d: pid %d%s, log %s",
                i,
                slot.proc.pid if slot.proc is not None else -1,
                f", CUDA_VISIBLE_DEVICES={device}" if device is not None else "",
                slot.log,
            )
            slots.append(slot)
        return cls(slots, max_restarts)

    def _tail(self, slot: _Slot) -> str:
        try:
            lines = slot.log.read_text(errors="replace").strip().splitlines()
        except OSError:
            return ""
        return lines[-1] if lines else ""

    def check(self) -> None:
        """Restart workers that died, warn about ones that exited; ``RunError`` when every
        slot is down."""
        for slot in self.slots:
            code = slot.proc.poll() if slot.proc is not None and not slot.down else None
            if code is None:
                continue
            slot.codes.append(code)
            restart = code not in _NO_RESTART_CODES and slot.restarts < self.max_restarts
            logger.warning(
                "local worker %d exited with code %d: %s (log %s)%s",
                slot.index,
                code,
                self._tail(slot),
                slot.log,
                f"; restarting it ({slot.restarts + 1} of {self.max_restarts})" if restart else "",
            )
            if restart:
                slot.restarts += 1
                _launch(slot)
            else:
                slot.down = True
        if all(s.down for s in self.slots):
            first = self.slots[0]
            raise RunError(
                f"all {len(self.slots)} local workers exited; worker 0 said: "
                f"{self._tail(first)!r} (logs in {first.log.parent})"
            )

    def stop(self, graceful: bool, wait_s: float = 10.0) -> None:
        """Let workers exit (the run is finished), else terminate them; kill stragglers."""
        procs = [s.proc for s in self.slots if s.proc is not None]
        deadline = time.monotonic() + (wait_s if graceful else 0.0)
        for p in procs:
            try:
                p.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=5.0)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def _launch(slot: _Slot) -> None:
    """Start (or start again) the slot's worker process, its output appended to its log."""
    with open(slot.log, "ab") as log_fh:
        slot.proc = subprocess.Popen(
            slot.cmd, env=slot.env, stdin=subprocess.DEVNULL, stdout=log_fh, stderr=log_fh
        )
