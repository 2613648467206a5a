"""Storage errors for messages and retries: the root cause, transient or not, no password."""

from __future__ import annotations


def redact(url: str) -> str:
    """The URL without a password (for messages)."""
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return url
    cred, at, host = rest.rpartition("@")
    user = cred.split(":", 1)[0]
    return f"{scheme}{sep}{user}{at}{host}"


def _causes(exc: BaseException) -> list[BaseException]:
    """``exc`` and its cause chain, bounded (a chain may loop)."""
    chain: list[BaseException] = []
    seen: BaseException | None = exc
    while seen is not None and len(chain) < 20:
        chain.append(seen)
        seen = seen.__cause__ or seen.__context__
    return chain


_TRANSIENT_SQLALCHEMY = frozenset(
    {"OperationalError", "InterfaceError", "DisconnectionError", "TimeoutError"}
)


def is_transient(exc: BaseException) -> bool:
    """Whether a storage error may go away on retry (connection lost, server restarting)."""
    for seen in _causes(exc):
        if isinstance(seen, FileNotFoundError | PermissionError | IsADirectoryError):
            return False
        if isinstance(seen, OSError | ConnectionError | TimeoutError):
            return True
        if (
            type(seen).__module__.startswith("sqlalchemy")
            and type(seen).__name__ in _TRANSIENT_SQLALCHEMY
        ):
            return True
    return False


def root_cause(exc: BaseException) -> str:
    """``Type: message`` of the innermost cause that has a message (Optuna wraps driver
    errors in vaguer ones)."""
    best = exc
    for inner in _causes(exc):
        if str(inner).strip():
            best = inner
    text = str(best).strip().splitlines()
    return f"{type(best).__name__}: {text[0] if text else ''}"
