"""Entry rows inside a write: inserting them with their subject index, reading them back by
position or key, and moving a feed's head."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Select, insert, select, update

from ledger.entry import SignedEntry
from ledger.kinds import Kind
from ledger.openings import Sidecar
from ledger.state import OrderKey
from node.store import models as m
from node.store.ids import Ids

E = m.ENTRIES.c
F = m.FEEDS.c
SC = m.SIDECARS.c


def select_entries(*extra: Any) -> Select[Any]:
    """``SELECT payload, signature, sidecar size, sidecar data, *extra`` from the entries and
    their sidecars: every read that hands entries on (to peers, the fold, a scanner) starts
    here, so an entry never leaves storage without the packs it commits to."""
    return select(E.payload, E.signature, SC.size, SC.data, *extra).outerjoin(
        m.SIDECARS, SC.entry == E.id
    )


def entry_of(row: Any) -> SignedEntry:
    """The entry of a ``select_entries`` row. The sidecar was checked against the signed root
    before it was stored; ``ledger verify`` checks it again."""
    entry = SignedEntry.from_bytes(row.payload, row.signature)
    if row.data is None:
        return entry
    return entry.with_opening(Sidecar.from_bytes(row.data, row.size), check=False)


def _sidecar_row(pk: int, entry: SignedEntry) -> dict[str, Any] | None:
    if isinstance(entry.opening, Sidecar):
        return {"entry": pk, "size": len(entry.opening.values), "data": entry.opening.to_bytes()}
    return None


def _subject_rows(pk: int, entry: SignedEntry) -> list[dict[str, Any]]:
    """Index rows of what the entry names, the packs it commits to included (a commission is
    found through its packs' rows instead)."""
    if entry.payload.kind is Kind.COMMISSION:
        return []
    return [{"subject": s, "entry": pk} for s in dict.fromkeys(entry.about)]


#: Keys come back by entry id: asking for them in parameter order makes SQLAlchemy insert one
#: row per statement on SQLite.
_INSERT_ENTRIES = insert(m.ENTRIES).returning(m.ENTRIES.c.entry_id, m.ENTRIES.c.id)


def order_key(entry: SignedEntry) -> OrderKey:
    return entry.payload.order_key


def insert_entry(conn: Connection, ids: Ids, entry: SignedEntry) -> int:
    p = entry.payload
    feed_pk = ids.feed(p.feed)
    pk = int(
        conn.execute(
            insert(m.ENTRIES).values(
                feed=feed_pk,
                seq=p.seq,
                entry_id=entry.id,
                kind=p.kind.value,
                ts=p.ts,
                payload=entry.payload_bytes,
                signature=entry.signature,
            )
        ).inserted_primary_key[0]  # type: ignore[index]
    )
    ids.remember_entry(pk, entry.id, p.ts, p.feed, p.seq)
    if subjects := _subject_rows(pk, entry):
        conn.execute(insert(m.SUBJECT_ENTRIES), subjects)
    if sidecar := _sidecar_row(pk, entry):
        conn.execute(insert(m.SIDECARS), [sidecar])
    return pk


def insert_entries(conn: Connection, ids: Ids, entries: Sequence[SignedEntry]) -> None:
    """``insert_entry`` for many: one multi-row INSERT … RETURNING for their keys."""
    rows = [
        {
            "feed": ids.feed(e.payload.feed),
            "seq": e.payload.seq,
            "entry_id": e.id,
            "kind": e.payload.kind.value,
            "ts": e.payload.ts,
            "payload": e.payload_bytes,
            "signature": e.signature,
        }
        for e in entries
    ]
    pk_of: dict[str, int] = {r.entry_id: r.id for r in conn.execute(_INSERT_ENTRIES, rows)}
    subjects, sidecars = [], []
    for entry in entries:
        p, pk = entry.payload, pk_of[entry.id]
        ids.remember_entry(pk, entry.id, p.ts, p.feed, p.seq)
        subjects += _subject_rows(pk, entry)
        if sidecar := _sidecar_row(pk, entry):
            sidecars.append(sidecar)
    if subjects:
        conn.execute(insert(m.SUBJECT_ENTRIES), subjects)
    if sidecars:
        conn.execute(insert(m.SIDECARS), sidecars)


def set_head(conn: Connection, ids: Ids, head: SignedEntry) -> None:
    conn.execute(
        update(m.FEEDS)
        .where(F.id == ids.feed(head.payload.feed))
        .values(size=head.payload.seq + 1, head=head.id)
    )


def head_of(conn: Connection, feed: str) -> SignedEntry | None:
    """The last entry of ``feed`` as its stored size says, or ``None`` for an empty feed."""
    row = conn.execute(
        select(E.payload, E.signature)
        .join(m.FEEDS, F.id == E.feed)
        .where(F.name == feed, E.seq == F.size - 1)
    ).one_or_none()
    return SignedEntry.from_bytes(row.payload, row.signature) if row else None


def entry_at(conn: Connection, ids: Ids, feed: str, seq: int) -> SignedEntry:
    row = conn.execute(select_entries().where(E.feed == ids.feed(feed), E.seq == seq)).one()
    return entry_of(row)


def entry_by_pk(conn: Connection, pk: int) -> SignedEntry:
    return entry_of(conn.execute(select_entries().where(E.id == pk)).one())
