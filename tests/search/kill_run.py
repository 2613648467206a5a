"""Run a toy search with a journal run log and SIGKILL the process mid-evaluation.

Usage: python kill_run.py JOURNAL METHOD SEED BUDGET KILL_AFTER
The evaluator kills its own process (SIGKILL: no cleanup, no except/finally) when asked
for evaluation number KILL_AFTER + 1, i.e. while that trial is RUNNING in the log.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from test_search_resume import make_method  # noqa: E402
from toy_bench import ToyEvaluator, toy_space  # noqa: E402

from ecgnas.search import Budget, OptunaRunLog, run_search  # noqa: E402


def killing_evaluator(kill_after: int) -> ToyEvaluator:
    """A ``ToyEvaluator`` (same class, so the logged settings match) that kills its process."""
    evaluator = ToyEvaluator(toy_space(3))
    evaluate = evaluator.evaluate

    def killing(arch):
        if evaluator.calls >= kill_after:
            os.kill(os.getpid(), signal.SIGKILL)
        return evaluate(arch)

    evaluator.evaluate = killing  # type: ignore[method-assign]
    return evaluator


def main() -> None:
    journal, method, seed, budget, kill_after = sys.argv[1:6]
    run_search(
        make_method(method),
        killing_evaluator(int(kill_after)),
        Budget(max_evals=int(budget)),
        int(seed),
        log=OptunaRunLog(journal),
    )


if __name__ == "__main__":
    main()
