"""Architecture search: one ``Strategy`` interface, one ``Budget``, one run log.

* ``base``: ``Strategy`` (ask/tell), ``History``, ``Observation``/``Evaluation`` records and
  the paired initial-sample stream;
* ``budget``: ``Budget`` (evaluations and/or device seconds);
* ``runlog``: the Optuna-backed run log that makes runs resumable: its trial schema and
  ``open_storage``, the one opener of every ``--storage`` string;
* ``driver``: ``ask_tell_loop``, the one loop that runs any strategy, and ``run_search``
  (one process); ``distributed``: ``run_distributed``/``run_worker`` (many processes);
* ``dcl_enas``: the method (Algorithm 1); ``baselines``: random search, REA, NPENAS.

Light to import: torch and optuna are imported only when a predictor is built or a log
is opened. ``make_strategy(name, **settings)`` builds any strategy by name.
"""

from __future__ import annotations

from ecgnas.search.base import Evaluation, History, Observation, Strategy
from ecgnas.search.baselines import (
    BANANAS,
    NPENAS,
    BANANASSettings,
    NPENASSettings,
    PredictorFactory,
    RandomSearch,
    RegularizedEvolution,
)
from ecgnas.search.budget import Budget
from ecgnas.search.dcl_enas import DCLENAS, DCLENASSettings
from ecgnas.search.driver import RunResult, run_search
from ecgnas.search.registry import STRATEGY_NAMES, make_strategy
from ecgnas.search.runlog import OptunaRunLog

__all__ = [
    "BANANAS",
    "BANANASSettings",
    "DCLENAS",
    "NPENAS",
    "STRATEGY_NAMES",
    "Budget",
    "DCLENASSettings",
    "Evaluation",
    "History",
    "NPENASSettings",
    "Observation",
    "OptunaRunLog",
    "PredictorFactory",
    "RandomSearch",
    "RegularizedEvolution",
    "RunResult",
    "Strategy",
    "make_strategy",
    "run_search",
]
