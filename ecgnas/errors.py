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


def check_fields(cls: type, obj: dict, what: str) -> dict:
    """``obj`` as a dict of keyword arguments for the dataclass ``cls``; ``ConfigError`` naming
    ``what`` when it holds keys that ``cls`` has no field for (missing keys take defaults)."""
    from dataclasses import fields

    unknown = sorted(set(obj) - {f.name for f in fields(cls)})
    if unknown:
        raise ConfigError(f"unknown {what}: {', '.join(unknown)}")
    return dict(obj)
