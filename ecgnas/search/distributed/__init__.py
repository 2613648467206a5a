"""One search over many processes and machines, with an Optuna storage as the only engine.

A *coordinator* (``run_distributed``) runs the same ask/tell loop as ``run_search``; *workers*
(``run_worker``, ``ecgnas worker``) evaluate. They share nothing but one Optuna study:

* the coordinator asks the strategy for a batch, skips archs already evaluated, stops at the
  remaining budget, and creates one ``WAITING`` trial per new arch (user attr ``eval`` =
  ``{"index", "round", "arch", "canonical", "attempt"}``, ``index`` being the run index);
* a worker lists the ``WAITING`` trials (idle, it reads only the study attr ``queue``, which
  the coordinator changes after it creates trials) and claims one with
  ``storage.set_trial_state_values(trial_id, RUNNING)``, which succeeds for exactly one
  claimant (the storage serialises it: a row lock in an RDB, the log order in a journal);
  it records ``worker``, beats (user attr ``heartbeat``, a counter, every ``heartbeat_s``)
  while it evaluates, sets ``result`` = ``{"cost_seconds", "metrics"}`` and completes the
  trial with the score. An evaluator error sets ``error`` and fails the trial;
* the coordinator waits until every trial of the batch is ``COMPLETE``, adds the
  evaluations to the history **in batch (index) order**, whatever order they finished in,
  and tells the strategy. So the history, the strategy's next batch and the best arch equal
  those of a one-process ``run_search`` with the same seed whenever the evaluator is
  deterministic (tabular benchmarks) and the budget counts evaluations.

Lost work. A trial is *stale* when its ``heartbeat`` has not changed for ``grace_s`` seconds
of the coordinator's clock (so clocks of different machines never need to agree). The
coordinator marks it ``FAIL`` and enqueues the same arch again under the same run index
(``attempt`` + 1). Only ``COMPLETE`` trials count and the history takes one per run index, so
a killed worker's evaluation is redone exactly once and counted once; a worker that was only
slow finds its trial failed and discards its result (the storage refuses to complete a
finished trial). A run index whose trials failed ``max_attempts`` times stops the run with
``RunError``. Optuna's own heartbeat is not used: ``JournalStorage`` has none (Optuna 5.0),
and ``RDBStorage``'s ignores ``RUNNING`` trials that never beat (a worker killed between its
claim and its first beat would hang the run); one mechanism serves every storage.

Budget. ``max_evals`` is checked before each arch is enqueued, so a run never exceeds it. A
seconds budget can only be checked against the costs of finished evaluations, so the last
batch may overshoot it by up to one batch of evaluations (one-process runs: one evaluation)
plus one round of strategy time; costs are summed over all workers (device seconds).

The ask/tell loop is ``ecgnas.search.driver.ask_tell_loop``, the one ``run_search`` runs;
the coordinator is its executor. Modules: ``_coordinator`` (``run_distributed``),
``_worker`` (``run_worker``), ``_local`` (local worker processes), ``_heartbeat``,
``_storage`` (every storage call retried through outages), ``_settings``.

Resume (``resume=True``): the strategy is re-run from the start with the same seed; every
proposal whose run index already has a ``COMPLETE`` trial is answered from it, ``WAITING``
and ``RUNNING`` trials are awaited, stale and failed ones enqueued again. The logged strategy
seconds of each round replace measured ones. A strategy that proposes something else than
the log holds (non-deterministic predictor) gets every remaining logged evaluation adopted
(awaited, then added in index order) and the run continues from there, differing from an
uninterrupted one (a warning says so).

What survives what:

* a worker killed (any signal, power loss): its trial is handed out again after ``grace_s``
  (a local worker is also restarted);
  a worker stopped with SIGTERM/SIGINT fails its trial at once, which is handed out again;
* the coordinator killed: workers finish the trials already enqueued (local workers then
  exit, remote ones wait), results stay in the storage; run it again with ``resume=True``;
* the storage server restarted (PostgreSQL) or briefly unreachable: every process retries
  its storage calls (``RetryingStorage``) for up to ``storage_timeout_s``, and the coordinator waits another
  ``grace_s`` after an outage before it judges heartbeats; committed trials survive;
* the journal file lives as long as its file system (``fsync`` on every write); on NFS it
  serves a few machines (Optuna's lock file), PostgreSQL serves many.

Evaluators. Workers build their evaluator from the study's user attr ``distributed`` =
``{"evaluator": spec, ...}`` through ``ecgnas.evaluate.build_evaluator`` (``spec["evaluator"]``
names the kind: ``"nb201"`` the tabular NB201 lookup with an optional artificial ``delay_s``;
``"mitbih"`` the ECG evaluator on DS1), so ``ecgnas worker --storage URL --study NAME`` needs
no other flag. This package never imports an evaluator's code itself. Local workers
(``workers=N``) are ``python -m ecgnas.cli.worker`` processes, each pinned to one GPU by
``CUDA_VISIBLE_DEVICES`` when the evaluator uses a device and GPUs exist (round-robin when
there are more workers than GPUs; without GPUs each gets ``OMP_NUM_THREADS`` = cores / workers
unless set); the coordinator never evaluates. A local worker process that dies (OOM kill,
SIGKILL, a crash) is started again in its slot, up to ``max_worker_restarts`` times per slot
(``DistributedSettings``, default 3); its trial is handed out again as for any lost worker.
Coordinator and workers must run the same ecgnas version (the study records the protocol
``format``; a worker refuses another one). One coordinator per study.
"""

from __future__ import annotations

from ecgnas.search.distributed._coordinator import distributed_settings_of, run_distributed
from ecgnas.search.distributed._local import device_assignments
from ecgnas.search.distributed._settings import (
    DISTRIBUTED_FORMAT,
    EXECUTION,
    DistributedSettings,
)
from ecgnas.search.distributed._storage import open_run_storage
from ecgnas.search.distributed._worker import WorkerReport, run_worker
from ecgnas.search.runlog import rdb_url

__all__ = [
    "DISTRIBUTED_FORMAT",
    "EXECUTION",
    "DistributedSettings",
    "WorkerReport",
    "device_assignments",
    "distributed_settings_of",
    "open_run_storage",
    "rdb_url",
    "run_distributed",
    "run_worker",
]
