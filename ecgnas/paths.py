"""Where ecgnas reads data from and where it writes caches.

Two directories, never the same thing:

* the **data directory** (read-only for ecgnas except ``ecgnas data download``) holds the
  public datasets in their published layout: ``<data>/mitdb/100.dat`` and friends,
  ``<data>/nasbench/nb201.csv.gz``, ... It is, in order of precedence, the ``--data-dir``
  flag, the ``ECGNAS_DATA_DIR`` environment variable, or ``<user cache>/data``.
* the **cache directory** holds derived arrays (preprocessed records, encodings, pre-trained
  encoders). It is ``ECGNAS_CACHE_DIR`` or ``<user cache>``, where the user cache is
  ``$XDG_CACHE_HOME/ecgnas`` or ``~/.cache/ecgnas``.
"""

from __future__ import annotations

import os
from pathlib import Path

DATA_ENV = "ECGNAS_DATA_DIR"
CACHE_ENV = "ECGNAS_CACHE_DIR"


def user_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/ecgnas``, else ``~/.cache/ecgnas`` (not created here)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "ecgnas"


def data_dir(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The data directory: ``explicit`` if given, else ``$ECGNAS_DATA_DIR``, else the user cache."""
    if explicit is not None and str(explicit) != "":
        return Path(explicit).expanduser()
    env = os.environ.get(DATA_ENV)
    if env:
        return Path(env).expanduser()
    return user_cache_dir() / "data"


def cache_dir(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The cache directory for derived arrays: ``explicit``, ``$ECGNAS_CACHE_DIR`` or the user cache."""
    if explicit is not None and str(explicit) != "":
        return Path(explicit).expanduser()
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env).expanduser()
    return user_cache_dir()
