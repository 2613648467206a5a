"""Storage errors: URLs keep their password out of messages."""

from __future__ import annotations

from ecgnas.search._storage_errors import redact


def test_storage_urls_keep_their_password_out_of_messages() -> None:
    assert redact("postgresql://bob:s3cret@db:5432/ecgnas") == "postgresql://bob@db:5432/ecgnas"
    assert redact("sqlite:///x.db") == "sqlite:///x.db"
