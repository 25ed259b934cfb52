"""Reading the ledger as stored: feeds and their heads, entries, a pack's provenance.

Each function reads on the connection it is given (the store's reader); none writes.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from sqlalchemy import Connection, func, select

from ledger.entry import SignedEntry
from ledger.identifiers import lot_uri, product_uri
from ledger.kinds import Kind
from ledger.openings import Sidecar
from node.store import models as m
from node.store.entry_rows import entry_of, select_entries
from node.store.evidence import fork_entry_ids
from node.store.view import PACK_PREFIX, pack_key

E = m.ENTRIES.c
F = m.FEEDS.c
P = m.PACKS.c
L = m.LOTS.c
S = m.SUBJECT_ENTRIES.c
SC = m.SIDECARS.c


@dataclass(frozen=True)
class FeedHead:
    feed: str
    size: int
    head: str | None
    frozen_at: int | None


@dataclass(frozen=True)
class ForkPoint:
    """What the digest covers of a feed frozen at a fork, besides ``frozen_at``."""

    #: the id of the entry held just before the fork position (``None``: the fork is at #0)
    before: str | None
    #: the ids of the entries of every fork recorded for the feed, sorted
    entries: tuple[str, ...]


@dataclass(frozen=True)
class LedgerHeads:
    """Every feed's head, the fork points of frozen feeds, and the digest over both, read
    together: the digest is computed from exactly what ``feeds_json`` shows."""

    feeds: dict[str, FeedHead]
    forks: dict[str, ForkPoint]
    digest: str

    def feeds_json(self) -> dict[str, dict[str, Any]]:
        """``{feed: {"size", "head", "frozen_at"}}`` by feed id, a frozen feed also with
        ``"before_fork"`` and ``"fork_entries"``: the lines of the digest, as JSON."""
        shown: dict[str, dict[str, Any]] = {}
        for name, h in sorted(self.feeds.items()):
            shown[name] = {"size": h.size, "head": h.head, "frozen_at": h.frozen_at}
            point = self.forks.get(name)
            if point is not None:
                shown[name] |= {"before_fork": point.before, "fork_entries": list(point.entries)}
        return shown


def heads(conn: Connection) -> dict[str, FeedHead]:
    """Every feed holding an entry or frozen, by name."""
    rows = conn.execute(select(F.name, F.size, F.head, F.frozen_at)).all()
    return {
        r.name: FeedHead(r.name, r.size, r.head, r.frozen_at)
        for r in rows
        if r.size or r.frozen_at is not None
    }


def ledger_heads(conn: Connection) -> LedgerHeads:
    """Heads, fork points and digest on one connection."""
    held = heads(conn)
    fork_ids = fork_entry_ids(conn)
    forks: dict[str, ForkPoint] = {}
    for h in held.values():
        if h.frozen_at is None:
            continue
        before = entries(conn, h.feed, h.frozen_at - 1, 1) if h.frozen_at else []
        forks[h.feed] = ForkPoint(
            before[0].id if before else None, tuple(sorted(fork_ids.get(h.feed, ())))
        )
    return LedgerHeads(held, forks, digest_of(held, forks))


def digest_of(feeds: Mapping[str, FeedHead], forks: Mapping[str, ForkPoint]) -> str:
    """SHA-256 (hex) over one line per feed, sorted by feed id (docs/spec/replication.md):

    * an open feed: ``"<feed> <size> <head>\n"``;
    * a feed frozen at a fork: ``"<feed> frozen <frozen_at> <before_fork> <fork entry ids,
      sorted, space-separated>\n"`` (``before_fork`` is ``null`` for a fork at #0).

    A frozen feed counts up to the fork, not the side of it a node happened to hold first: two
    nodes that hold the same history before the fork and the same fork evidence agree, whichever
    side each one saw first and however much of it.
    """
    lines = []
    for name in sorted(feeds):
        h = feeds[name]
        point = forks.get(name)
        if h.frozen_at is None or point is None:
            lines.append(f"{name} {h.size} {h.head}\n")
        else:
            ids = " ".join(point.entries)
            lines.append(f"{name} frozen {h.frozen_at} {point.before or 'null'} {ids}\n")
    return hashlib.sha256("".join(lines).encode()).hexdigest()


def entries(conn: Connection, feed: str, from_seq: int, limit: int) -> list[SignedEntry]:
    pk = conn.execute(select(F.id).where(F.name == feed)).scalar()
    if pk is None:
        return []
    rows = conn.execute(
        select_entries().where(E.feed == pk, E.seq >= from_seq).order_by(E.seq).limit(limit)
    ).all()
    return [entry_of(r) for r in rows]


def entries_wire(
    conn: Connection, feed: str, from_seq: int, limit: int, *, sidecars: bool
) -> list[dict[str, Any]]:
    """``entries`` in wire form (``SignedEntry.to_wire``), made from the stored bytes without
    parsing them again, as peers are served them: the node verified every entry before storing
    it, and a receiver verifies all it gets anyway. ``sidecars``: each commitment's sidecar
    beside its entry (peers, operators), or none (auditors)."""
    pk = conn.execute(select(F.id).where(F.name == feed)).scalar()
    if pk is None:
        return []
    rows = conn.execute(
        select_entries(E.entry_id)
        .where(E.feed == pk, E.seq >= from_seq)
        .order_by(E.seq)
        .limit(limit)
    ).all()
    return [_wire(row, sidecars) for row in rows]


def _wire(row: Any, sidecars: bool) -> dict[str, Any]:
    wire: dict[str, Any] = {
        "id": row.entry_id,
        "payload": base64.b64encode(row.payload).decode("ascii"),
        "signature": base64.b64encode(row.signature).decode("ascii"),
    }
    if sidecars and row.data is not None:
        wire["sidecar"] = Sidecar.from_bytes(row.data, row.size).to_wire()
    return wire


def iter_entries(conn: Connection, batch: int) -> Iterator[SignedEntry]:
    """Every stored entry, feed by feed in seq order, as stored bytes."""
    feeds = conn.execute(select(F.id, F.name).order_by(F.name)).all()
    for feed in feeds:
        seq = 0
        while True:
            rows = conn.execute(
                select_entries(E.seq)
                .where(E.feed == feed.id, E.seq >= seq)
                .order_by(E.seq)
                .limit(batch)
            ).all()
            if not rows:
                break
            for row in rows:
                yield entry_of(row)
            seq = rows[-1].seq + 1


def entries_by_id(conn: Connection, wanted: list[str]) -> list[SignedEntry]:
    rows = conn.execute(select_entries().where(E.entry_id.in_(wanted))).all()
    return [entry_of(r) for r in rows]


def newest_timestamp(conn: Connection) -> str | None:
    value = conn.execute(select(func.max(E.ts))).scalar()
    return str(value) if value is not None else None


def latest_ts(conn: Connection, subjects: list[str]) -> str | None:
    value = conn.execute(
        select(func.max(E.ts))
        .join(m.SUBJECT_ENTRIES, S.entry == E.id)
        .where(S.subject.in_(subjects))
    ).scalar()
    return str(value) if value is not None else None


def provenance(conn: Connection, uri: str) -> list[SignedEntry]:
    """Every entry a verifier needs for a pack: its commissioning, its own entries, the
    entries of every container it was packed in, its lot's recall and product's withdrawal,
    each with its sidecar (the node's view)."""
    return provenance_followed(conn, uri)[0]


def provenance_followed(conn: Connection, uri: str) -> tuple[list[SignedEntry], set[str]]:
    """``provenance`` and the subjects it followed: the pack, its containers, lot, product."""
    pks: set[int] = set()
    gtin, serial = pack_key(uri)
    row = conn.execute(
        select(P.commissioned, L.lot)
        .join(m.LOTS, L.id == P.lot)
        .where(P.gtin == gtin, P.serial == serial)
    ).one_or_none()
    subjects = {uri}
    if row is not None:
        pks.add(row.commissioned)
        subjects |= {lot_uri(gtin, row.lot), product_uri(gtin)}
    todo = [uri]
    while todo:
        current = todo.pop()
        for entry_pk, payload in conn.execute(
            select(E.id, E.payload)
            .join(m.SUBJECT_ENTRIES, S.entry == E.id)
            .where(S.subject == current)
        ):
            pks.add(entry_pk)
            document = json.loads(payload)
            entry_subjects, kind = document["subjects"], document["kind"]
            # The index names the children of a v2 pack entry too (its sidecar's), though
            # its payload lists the parent alone.
            if kind in (Kind.PACK, Kind.UNPACK) and entry_subjects and current != entry_subjects[0]:
                parent = entry_subjects[0]
                if parent not in subjects:
                    subjects.add(parent)
                    todo.append(parent)
    for lot_or_product in [s for s in subjects if s != uri]:
        pks |= set(conn.execute(select(S.entry).where(S.subject == lot_or_product)).scalars())
    rows = conn.execute(select_entries().where(E.id.in_(pks))).all() if pks else []
    # A failed check (ADR 0022) is a report about the pack, not a step of it: no verifier
    # needs it, and a fresh one in no cosigned checkpoint yet would hold the pack.
    found = [e for e in map(entry_of, rows) if e.payload.kind is not Kind.CHECK]
    return sorted(found, key=lambda e: e.payload.order_key), subjects


def entries_naming(conn: Connection, uri: str) -> list[SignedEntry]:
    """The entries that name ``uri`` themselves (a pack's commissioning included), in order key:
    what an EPCIS query about exactly that EPC can match, read through the subject index."""
    pks: set[int] = set(conn.execute(select(S.entry).where(S.subject == uri)).scalars())
    if uri.startswith(PACK_PREFIX):
        gtin, serial = pack_key(uri)
        commissioned = conn.execute(
            select(P.commissioned).where(P.gtin == gtin, P.serial == serial)
        ).scalar()
        if commissioned is not None:
            pks.add(commissioned)
    rows = conn.execute(select_entries().where(E.id.in_(pks))).all() if pks else []
    found = [entry_of(r) for r in rows]
    return sorted(found, key=lambda e: e.payload.order_key)


class StoredFeed(NamedTuple):
    """A feed's row as stored: its size and head are claims the chain must bear out."""

    name: str
    size: int
    head: str | None


class StoredRow(NamedTuple):
    """An entry's row as stored: its id is not recomputed from the payload."""

    seq: int
    entry_id: str
    payload: bytes
    signature: bytes
    sidecar_size: int | None
    sidecar: bytes | None


class StoredLedger:
    """Feeds and entry rows exactly as stored, nothing recomputed or parsed, all read on one
    connection (one snapshot on SQLite): for a verifier that trusts nothing derived."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def feeds(self) -> list[StoredFeed]:
        """Every feed row, by name."""
        rows = self._conn.execute(select(F.name, F.size, F.head).order_by(F.name))
        return [StoredFeed(*r) for r in rows]

    def rows(self, feed: str, from_seq: int, limit: int) -> list[StoredRow]:
        """Up to ``limit`` entry rows of ``feed`` from ``from_seq``, in seq order."""
        rows = self._conn.execute(
            select(E.seq, E.entry_id, E.payload, E.signature, SC.size, SC.data)
            .join(m.FEEDS, F.id == E.feed)
            .outerjoin(m.SIDECARS, SC.entry == E.id)
            .where(F.name == feed, E.seq >= from_seq)
            .order_by(E.seq)
            .limit(limit)
        )
        return [StoredRow(*r) for r in rows]
