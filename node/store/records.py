"""Signed records that are no pack's step (ADR 0020) and the openings of their seals.

``records`` is a projection: every version of a product's master data and of a declaration,
written by the lifecycle through ``DbStateView.put_record`` and dropped and refolded by
``Store.rebuild``. ``sealed_openings`` is node-local: the clear fields and salt of the seals
this node signed, kept beside (never inside) the entries and never sent to a peer.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, delete, insert, select

from ledger.sealed import SEALED, Opening
from ledger.state import Record
from node.store import models as m

R = m.RECORDS.c
O = m.SEALED_OPENINGS.c  # noqa: E741


@dataclass(frozen=True)
class StoredRecord:
    """The version of a record in force, how many versions are held, and the clear sealed
    fields when this node holds their opening (``None`` otherwise)."""

    kind: str
    key: str
    entry_id: str
    feed: str
    ts: str
    versions: int
    data: dict[str, Any]
    about: tuple[str, ...]
    opened: dict[str, Any] | None

    @property
    def digest(self) -> str:
        return str(self.data[SEALED]["digest"])


def put_record(conn: Connection, record: Record) -> None:
    """Keep a version (once: a refolded entry is not counted twice)."""
    held = conn.execute(select(R.entry_id).where(R.entry_id == record.entry_id)).scalar()
    if held is not None:
        return
    ts, feed, seq = record.order
    conn.execute(
        insert(m.RECORDS).values(
            entry_id=record.entry_id,
            kind=record.kind,
            key=record.key,
            feed=feed,
            ts=ts,
            seq=seq,
            data=json.dumps(dict(record.data), sort_keys=True, ensure_ascii=False),
            about=json.dumps(list(record.about)),
        )
    )


def clear(conn: Connection) -> None:
    """Drop the projection (``Store.rebuild`` folds it again); openings are kept."""
    conn.execute(delete(m.RECORDS))


def keep_openings(conn: Connection, kind: str, openings: Iterable[Opening]) -> None:
    for opening in openings:
        digest = opening.digest()
        if conn.execute(select(O.digest).where(O.digest == digest)).scalar() is None:
            conn.execute(
                insert(m.SEALED_OPENINGS).values(
                    digest=digest, kind=kind, data=json.dumps(opening.to_json(), sort_keys=True)
                )
            )


def drop_openings(conn: Connection, digests: Iterable[str]) -> None:
    conn.execute(delete(m.SEALED_OPENINGS).where(O.digest.in_(list(digests))))


def opening(conn: Connection, digest: str) -> Opening | None:
    raw = conn.execute(select(O.data).where(O.digest == digest)).scalar()
    return Opening.from_json(json.loads(raw)) if raw is not None else None


def newest(conn: Connection, kind: str, key: str) -> StoredRecord | None:
    """The version in force of record ``key`` (newest by ``(ts, feed, seq)``)."""
    rows = conn.execute(
        select(m.RECORDS)
        .where(R.kind == kind, R.key == key)
        .order_by(R.ts.desc(), R.feed.desc(), R.seq.desc())
    ).all()
    if not rows:
        return None
    top = rows[0]
    data = json.loads(top.data)
    held = opening(conn, str(data.get(SEALED, {}).get("digest", "")))
    return StoredRecord(
        kind,
        key,
        top.entry_id,
        top.feed,
        top.ts,
        len(rows),
        data,
        tuple(json.loads(top.about)),
        dict(held.fields) if held is not None else None,
    )


def keys_like(conn: Connection, kind: str, suffix: str) -> list[str]:
    """The keys of ``kind`` ending in ``suffix`` (declarations of one reference, any org)."""
    rows = conn.execute(
        select(R.key).where(R.kind == kind, R.key.like(f"%{suffix}")).distinct()
    ).scalars()
    return sorted(str(k) for k in rows if str(k).endswith(suffix))
