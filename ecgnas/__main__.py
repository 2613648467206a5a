"""``python -m ecgnas`` runs the command line."""

from __future__ import annotations

import sys

from ecgnas.cli import main

sys.exit(main())
