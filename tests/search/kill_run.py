"""Moved to ``ecgnas.testing``: ``python -m ecgnas.testing kill-run JOURNAL METHOD SEED BUDGET
KILL_AFTER`` (this file forwards its arguments there)."""

import sys

from ecgnas.testing import main

if __name__ == "__main__":
    sys.exit(main(["kill-run", *sys.argv[1:]]))
