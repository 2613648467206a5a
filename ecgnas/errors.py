"""The errors a user can cause. The CLI prints them in one line and exits with code 2."""

from __future__ import annotations


class EcgnasError(Exception):
    """Base class of every error caused by user input (paths, records, flags, settings)."""


class DataError(EcgnasError):
    """Missing, corrupt or unexpected data (a record, a benchmark table, a cache entry)."""


class ConfigError(EcgnasError):
    """A bad setting: unknown space or dataset, a value out of range, conflicting flags."""


class RunError(EcgnasError):
    """A run directory or run log that cannot be used (wrong settings on resume, say)."""
