"""Import declarations as this node holds them (ADR 0020): the version in force of each
``org/reference``; the clear commercial fields only at the customs node that took it."""

from __future__ import annotations

from sqlalchemy import Connection

from ledger.kinds import Kind
from node.store.records import StoredRecord, keys_like, newest


def declaration(conn: Connection, reference: str, org: str | None) -> StoredRecord | None:
    """Declaration ``reference`` of ``org`` (this node's own first), else of any organisation
    (the newest of those with that reference)."""
    if org is not None:
        own = newest(conn, Kind.DECLARE.value, f"{org}/{reference}")
        if own is not None:
            return own
    found = [
        newest(conn, Kind.DECLARE.value, k)
        for k in keys_like(conn, Kind.DECLARE.value, f"/{reference}")
    ]
    held = [r for r in found if r is not None]
    return max(held, key=lambda r: (r.ts, r.feed)) if held else None
