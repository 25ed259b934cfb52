"""A node's store: the entries of every feed it holds, and the projections built from them.

Two ways in:

* ``append_local`` stores entries this node signed: verified, the rules applied strictly, and
  all of them or none (one transaction).
* ``ingest`` stores entries replicated from peers: each verified against the membership and its
  feed's head; a rule they break becomes an alert; a second signed entry at a used position is
  kept as fork evidence and freezes the feed.

The projection (packs, containers, lots, alerts) is kept equal to ``lifecycle.fold`` over all
stored entries in their order key. An entry that arrives after entries ordered later than it
(a peer's feed caught up late) is not applied on top: the histories it touches are refolded.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    MetaData,
    create_engine,
    delete,
    event,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.engine import make_url
from sqlmodel import SQLModel

from ledger.alerts import Alert, Code
from ledger.entry import SignedEntry, entry_id
from ledger.errors import (
    ChainError,
    FeedFrozen,
    ForkDetected,
    GtinOutsidePrefixes,
    KindNotAllowed,
    LedgerError,
    MembershipError,
    SequenceGap,
    SignatureInvalid,
    WrongFeed,
)
from ledger.feed import check_fork, verify_entry, verify_link
from ledger.identifiers import DL_ROOT, SubjectType, gtin14, lot_uri, parse_subject, product_uri
from ledger.kinds import Kind
from ledger.lifecycle import apply
from ledger.membership import Membership, MembershipChain, SignedMembership
from ledger.state import OrderKey, PackState
from ledger.timefmt import now_ts
from node.signatures import CheckedAhead, checked_ahead
from node.store import models as m
from node.store.reads import PackReading, read_pack
from node.store.view import DbStateView, Ids, pack_filters, pack_key, pack_uri_of

#: Any fixed numbers: the PostgreSQL advisory locks schema set-up and writers take.
_SCHEMA_LOCK = 0x6D7472  # "mtr"
_WRITE_LOCK = 0x6D7477  # "mtw"

#: A large local batch writes its pack rows every this many packs, inside its one transaction:
#: later entries of the batch find those rows in the database, so the batch is still all or
#: nothing, and memory stays bounded. Written while young, the packs' objects never pile up for
#: the garbage collector either: every 50,000 packs measured 17% slower per pack.
_FLUSH_PACKS = 1_000

E = m.ENTRIES.c
F = m.FEEDS.c
P = m.PACKS.c
C = m.CONTAINERS.c
L = m.LOTS.c
S = m.SUBJECT_ENTRIES.c
A = m.ALERTS.c
W = m.WITHDRAWALS.c


def database_url(path_or_url: str | Path) -> str:
    """A SQLAlchemy URL: a plain path means a SQLite file."""
    text = str(path_or_url)
    if "://" in text:
        return text
    return f"sqlite:///{Path(text).resolve()}"


class StaleTimestamp(LedgerError):
    """A local entry would sort before an entry already applied to a pack it touches.

    The writer re-stamps it no earlier than ``floor`` and tries again, so local entries are
    always applied in their order key (ADR 0003).
    """

    def __init__(self, floor: str) -> None:
        super().__init__(f"expected a timestamp no earlier than {floor} for this entry")
        self.floor = floor


@dataclass
class IngestReport:
    added: int = 0
    duplicates: int = 0
    alerts: list[Alert] = field(default_factory=list)
    forks: list[ForkDetected] = field(default_factory=list)
    rejected: list[tuple[str, str]] = field(default_factory=list)  # (entry id, reason)


@dataclass
class _Cursor:
    """Where ingestion stands in one feed during a page."""

    size: int
    frozen: int | None
    head: SignedEntry | None
    moved: bool = False
    stopped: bool = False

    def after(self, seq: int) -> bool:
        """Whether an entry at ``seq`` may be new here (and so needs verifying)."""
        return seq >= self.size and self.frozen is None


@dataclass
class _Batch:
    """Entries of a page taken in order, applied to ``view`` but not yet written."""

    view: DbStateView
    entries: list[SignedEntry] = field(default_factory=list)
    #: the same entries by (feed, seq), for a duplicate of one later in the page
    at: dict[tuple[str, int], SignedEntry] = field(default_factory=dict)

    def add(self, entry: SignedEntry) -> None:
        self.entries.append(entry)
        self.at[(entry.payload.feed, entry.payload.seq)] = entry


#: Keys come back by entry id: asking for them in parameter order makes SQLAlchemy insert one
#: row per statement on SQLite.
_INSERT_ENTRIES = insert(m.ENTRIES).returning(m.ENTRIES.c.entry_id, m.ENTRIES.c.id)


@dataclass(frozen=True)
class FeedHead:
    feed: str
    size: int
    head: str | None
    frozen_at: int | None


class Store:
    def __init__(self, path_or_url: str | Path) -> None:
        self.url = database_url(path_or_url)
        self.is_sqlite = make_url(self.url).get_backend_name() == "sqlite"
        self.engine = self._engine(writer=True)
        self.reader = self._engine(writer=False) if self.is_sqlite else self.engine
        self._setup_schema()
        # Caches of feed and entry keys, one per thread: a server's worker serves requests on
        # several threads, and on PostgreSQL their transactions overlap.
        self._local = threading.local()

    def _schema_lock(self, conn: Connection) -> None:
        if not self.is_sqlite:
            conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_SCHEMA_LOCK})")

    def create_tables(self, metadata: MetaData) -> None:
        """Create another module's tables (if missing) under the lock the store's own schema
        set-up takes, so the workers of one node starting together do not race."""
        with self.engine.begin() as conn:
            self._schema_lock(conn)
            metadata.create_all(conn)

    def _setup_schema(self) -> None:
        """Tables, and triggers by which the database itself refuses to change or delete a
        stored entry. Several processes may open one PostgreSQL database at once: an advisory
        lock makes them take turns."""
        with self.engine.begin() as conn:
            self._schema_lock(conn)
            SQLModel.metadata.create_all(conn)
            if self.is_sqlite:
                for action in ("UPDATE", "DELETE"):
                    conn.exec_driver_sql(
                        f"CREATE TRIGGER IF NOT EXISTS entries_no_{action.lower()} BEFORE {action} ON entries "
                        "BEGIN SELECT RAISE(ABORT, 'entries are append-only'); END"
                    )
                return
            exists = conn.exec_driver_sql(
                "SELECT 1 FROM pg_trigger WHERE tgname = 'entries_append_only'"
            ).first()
            if exists is None:
                conn.exec_driver_sql(
                    "CREATE OR REPLACE FUNCTION medtrace_entries_append_only() RETURNS trigger AS $$ "
                    "BEGIN RAISE EXCEPTION 'entries are append-only'; END $$ LANGUAGE plpgsql"
                )
                conn.exec_driver_sql(
                    "CREATE TRIGGER entries_append_only BEFORE UPDATE OR DELETE ON entries "
                    "FOR EACH ROW EXECUTE FUNCTION medtrace_entries_append_only()"
                )

    def _engine(self, *, writer: bool) -> Engine:
        if not self.is_sqlite:
            return create_engine(self.url, pool_pre_ping=True)
        engine = create_engine(self.url, connect_args={"timeout": 30})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _begin(conn: Connection) -> None:
            # Writers take the lock up front so two writers never deadlock upgrading a read lock.
            conn.exec_driver_sql("BEGIN IMMEDIATE" if writer else "BEGIN")

        return engine

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.engine.dispose()
        if self.reader is not self.engine:
            self.reader.dispose()

    @contextmanager
    def _write(self) -> Iterator[tuple[Connection, Ids]]:
        """One writer at a time, as SQLite's BEGIN IMMEDIATE gives: a local write and an ingest
        of different feeds may still change the same pack, and each decides from what it read
        (the stored head, the high-water mark, the pack's last entry), so on PostgreSQL writers
        queue on one transaction-scoped advisory lock, taken before any row lock."""
        with self.engine.begin() as conn:
            if not self.is_sqlite:
                conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_WRITE_LOCK})")
            ids = self._ids(conn)
            try:
                yield conn, ids
            except BaseException:
                self._local.ids = None  # rows it cached may be rolled back
                raise

    def _ids(self, conn: Connection) -> Ids:
        ids: Ids | None = getattr(self._local, "ids", None)
        if ids is None:
            ids = self._local.ids = Ids(conn)
        ids.conn = conn
        return ids

    # -- membership ----------------------------------------------------------------------------
    def save_membership(self, signed: SignedMembership) -> None:
        with self._write() as (conn, _):
            exists = conn.execute(
                select(m.MEMBERSHIPS.c.version).where(
                    m.MEMBERSHIPS.c.version == signed.membership.version
                )
            ).scalar()
            if exists is None:
                conn.execute(
                    insert(m.MEMBERSHIPS).values(
                        version=signed.membership.version, wire=json.dumps(signed.to_wire())
                    )
                )

    def memberships(self) -> list[SignedMembership]:
        with self.reader.connect() as conn:
            rows = conn.execute(select(m.MEMBERSHIPS).order_by("version")).all()
        return [SignedMembership.from_wire(json.loads(row.wire)) for row in rows]

    def membership_version(self) -> int | None:
        """The newest stored membership version, without reading (and re-verifying) them."""
        with self.reader.connect() as conn:
            version = conn.execute(select(func.max(m.MEMBERSHIPS.c.version))).scalar()
        return int(version) if version is not None else None

    def membership_chain(self, pinned_genesis: str) -> MembershipChain:
        versions = self.memberships()
        if not versions:
            raise MembershipError("expected a stored membership genesis, found none")
        chain = MembershipChain(versions[0], pinned_genesis)
        chain.extend_all(versions[1:])
        return chain

    def set_meta(self, key: str, value: str) -> None:
        table = m.META
        with self._write() as (conn, _):
            conn.execute(delete(table).where(table.c.key == key))
            conn.execute(insert(table).values(key=key, value=value))

    def meta(self, key: str) -> str | None:
        table = m.META
        with self.reader.connect() as conn:
            value = conn.execute(select(table.c.value).where(table.c.key == key)).scalar()
        return str(value) if value is not None else None

    # -- reading entries -----------------------------------------------------------------------
    def heads(self) -> dict[str, FeedHead]:
        with self.reader.connect() as conn:
            rows = conn.execute(select(F.name, F.size, F.head, F.frozen_at)).all()
        return {
            r.name: FeedHead(r.name, r.size, r.head, r.frozen_at)
            for r in rows
            if r.size or r.frozen_at is not None
        }

    def digest(self) -> str:
        """One hash over every feed's (size, head): equal digests, equal ledgers.

        A feed frozen at a fork counts up to the fork and the pair of entries there, so two
        nodes that first saw different sides of the fork still agree once they hold both.
        """
        forks: dict[str, set[str]] = {}
        with self.reader.connect() as conn:
            for row in conn.execute(select(m.FORKS)).all():
                for payload in (row.first_payload, row.second_payload):
                    forks.setdefault(row.feed, set()).add(entry_id(payload))
        lines = []
        for h in sorted(self.heads().values(), key=lambda h: h.feed):
            if h.frozen_at is None:
                lines.append(f"{h.feed} {h.size} {h.head}\n")
                continue
            before = self.entries(h.feed, h.frozen_at - 1, 1) if h.frozen_at else []
            pair = " ".join(sorted(forks.get(h.feed, set())))
            lines.append(
                f"{h.feed} frozen {h.frozen_at} {before[0].id if before else None} {pair}\n"
            )
        return hashlib.sha256("".join(lines).encode()).hexdigest()

    def entries(self, feed: str, from_seq: int = 0, limit: int = 1000) -> list[SignedEntry]:
        with self.reader.connect() as conn:
            pk = conn.execute(select(F.id).where(F.name == feed)).scalar()
            if pk is None:
                return []
            rows = conn.execute(
                select(E.payload, E.signature)
                .where(E.feed == pk, E.seq >= from_seq)
                .order_by(E.seq)
                .limit(limit)
            ).all()
        return [SignedEntry.from_bytes(r.payload, r.signature) for r in rows]

    def iter_entries(self, batch: int = 2000) -> Iterator[SignedEntry]:
        """Every stored entry, feed by feed in seq order, as stored bytes."""
        with self.reader.connect() as conn:
            feeds = conn.execute(select(F.id, F.name).order_by(F.name)).all()
            for feed in feeds:
                seq = 0
                while True:
                    rows = conn.execute(
                        select(E.payload, E.signature, E.seq)
                        .where(E.feed == feed.id, E.seq >= seq)
                        .order_by(E.seq)
                        .limit(batch)
                    ).all()
                    if not rows:
                        break
                    for row in rows:
                        yield SignedEntry.from_bytes(row.payload, row.signature)
                    seq = rows[-1].seq + 1

    def count(self, what: str) -> int:
        table = {
            "entries": m.ENTRIES,
            "packs": m.PACKS,
            "alerts": m.ALERTS,
            "containers": m.CONTAINERS,
        }[what]
        with self.reader.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(table)).scalar_one())

    def head(self, feed: str) -> SignedEntry | None:
        with self.reader.connect() as conn:
            return self._head(conn, feed)

    def _head(self, conn: Connection, feed: str) -> SignedEntry | None:
        row = conn.execute(
            select(E.payload, E.signature)
            .join(m.FEEDS, F.id == E.feed)
            .where(F.name == feed, E.seq == F.size - 1)
        ).one_or_none()
        return SignedEntry.from_bytes(row.payload, row.signature) if row else None

    # -- projections ---------------------------------------------------------------------------
    def pack(self, uri: str) -> PackState | None:
        with self.reader.connect() as conn:
            view = DbStateView(conn, Ids(conn))
            return view.get_packs([uri]).get(uri)

    def read_pack(self, gtin: str, serial: str) -> PackReading | None:
        """The pack query's answer in one statement (node/store/reads.py)."""
        return read_pack(self.reader, gtin, serial)

    def packs(self, uris: Sequence[str]) -> dict[str, PackState]:
        with self.reader.connect() as conn:
            return DbStateView(conn, Ids(conn)).get_packs(uris)

    def recall_of(self, gtin: str, lot: str) -> str | None:
        with self.reader.connect() as conn:
            return DbStateView(conn, Ids(conn)).recall_of(gtin, lot)

    def withdrawal_of(self, gtin: str) -> str | None:
        with self.reader.connect() as conn:
            return DbStateView(conn, Ids(conn)).withdrawal_of(gtin)

    def alerts(self, subject: str | None = None, code: str | None = None) -> list[Alert]:
        query = select(A.code, A.subject, A.message, A.evidence).order_by(A.ts, A.id)
        if subject is not None:
            query = query.where(A.subject == subject)
        if code is not None:
            query = query.where(A.code == code)
        with self.reader.connect() as conn:
            rows = conn.execute(query).all()
        return [
            Alert(Code(r.code), r.subject, r.message, tuple(json.loads(r.evidence))) for r in rows
        ]

    def entries_by_id(self, ids: Iterable[str]) -> list[SignedEntry]:
        wanted = list(ids)
        if not wanted:
            return []
        with self.reader.connect() as conn:
            rows = conn.execute(select(E.payload, E.signature).where(E.entry_id.in_(wanted))).all()
        return [SignedEntry.from_bytes(r.payload, r.signature) for r in rows]

    def existing_serials(self, gtin: str, serials: Iterable[str]) -> set[str]:
        candidates = list(serials)
        found: set[str] = set()
        with self.reader.connect() as conn:
            for start in range(0, len(candidates), 400):
                chunk = candidates[start : start + 400]
                found |= set(
                    conn.execute(
                        select(P.serial).where(P.gtin == gtin, P.serial.in_(chunk))
                    ).scalars()
                )
        return found

    def latest_ts(self, subjects: Iterable[str]) -> str | None:
        """The latest ts of an entry already naming any of ``subjects`` (a floor for new entries)."""
        subjects = list(subjects)
        if not subjects:
            return None
        with self.reader.connect() as conn:
            value = conn.execute(
                select(func.max(E.ts))
                .join(m.SUBJECT_ENTRIES, S.entry == E.id)
                .where(S.subject.in_(subjects))
            ).scalar()
        return str(value) if value is not None else None

    def provenance(self, uri: str) -> list[SignedEntry]:
        """Every entry a verifier needs for a pack: its commissioning, its own entries, the
        entries of every container it was packed in, its lot's recall and product's withdrawal.
        """
        with self.reader.connect() as conn:
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
                    if (
                        kind in (Kind.PACK, Kind.UNPACK)
                        and entry_subjects
                        and current in entry_subjects[1:]
                    ):
                        parent = entry_subjects[0]
                        if parent not in subjects:
                            subjects.add(parent)
                            todo.append(parent)
            for lot_or_product in [s for s in subjects if s != uri]:
                pks |= set(
                    conn.execute(select(S.entry).where(S.subject == lot_or_product)).scalars()
                )
            rows = (
                conn.execute(select(E.payload, E.signature).where(E.id.in_(pks))).all()
                if pks
                else []
            )
        entries = [SignedEntry.from_bytes(r.payload, r.signature) for r in rows]
        return sorted(entries, key=lambda e: e.payload.order_key)

    # -- writing -------------------------------------------------------------------------------
    def append_local(self, entries: Sequence[SignedEntry], membership: Membership) -> None:
        """Store entries this node signed, applying the rules strictly: all or nothing."""
        feeds = list(dict.fromkeys(e.payload.feed for e in entries))
        if len(feeds) > 1:
            raise WrongFeed(f"expected entries of one feed, found {feeds}")
        if feeds:
            self.write_local(feeds[0], lambda _head: entries, membership)

    def write_local(
        self,
        feed: str,
        build: Callable[[SignedEntry | None], Sequence[SignedEntry]],
        membership: Membership,
    ) -> list[SignedEntry]:
        """Sign-then-store under the store's write lock: ``build`` gets the stored head and
        returns the entries to append after it, so concurrent writers of one feed (several
        workers) queue instead of racing for a position. Rules strict; all or nothing."""
        with self._write() as (conn, ids):
            feed_pk = ids.feed(feed)
            frozen = conn.execute(select(F.frozen_at).where(F.id == feed_pk)).scalar()
            if frozen is not None:
                raise FeedFrozen(f"feed {feed} is frozen at the fork at seq {frozen}")
            head = self._head(conn, feed)
            entries = list(build(head))
            view = DbStateView(conn, ids)
            for entry in entries:
                verify_link(head, entry, feed)
                verify_entry(entry, membership)
                self._insert_entry(conn, ids, entry)
                apply(view, entry, membership, strict=True)
                if view.max_last is not None and view.max_last > entry.payload.order_key:
                    raise StaleTimestamp(view.max_last[0])
                if view.pending >= _FLUSH_PACKS:
                    view.flush()
                head = entry
            view.flush()
            if head is not None:
                self._set_head(conn, ids, head)
            return entries

    def ingest(self, entries: Iterable[SignedEntry], membership: Membership) -> IngestReport:
        """Store entries from peers: any feeds, any order within a page, one transaction.

        Entries are taken in their order key (within a feed that is seq order), so a page that
        holds the whole of a late history is applied in order rather than refolded.

        An entry ordered after everything stored (the common case: a peer's new entries) cannot
        be late, so it is applied on one view shared by the page and written with its
        neighbours in bulk. Any other entry is flushed behind and taken the careful way: looked
        for later entries, applied under a SAVEPOINT, refolded if late.
        """
        report = IngestReport()
        ordered = sorted(entries, key=_order)
        with self._write() as (conn, ids):
            feeds = dict.fromkeys(e.payload.feed for e in ordered)
            cursors = {feed: self._cursor(conn, feed) for feed in feeds}
            new = [e for e in ordered if cursors[e.payload.feed].after(e.payload.seq)]
            with checked_ahead(new, membership) as ahead:
                self._ingest_page(conn, ids, ordered, cursors, ahead, membership, report)
        return report

    def _ingest_page(
        self,
        conn: Connection,
        ids: Ids,
        ordered: Sequence[SignedEntry],
        cursors: dict[str, _Cursor],
        ahead: CheckedAhead,
        membership: Membership,
        report: IngestReport,
    ) -> None:
        """``ingest`` of the sorted page inside its transaction, signatures checked ahead."""
        refold: set[str] = set()
        refold_entries: set[int] = set()
        high = self._high_water(conn)
        batch = _Batch(DbStateView(conn, self._ids(conn)))
        # The page's packs (those it commissions too) in a few SELECTs, not one per entry; as
        # many as a batch holds, to bound memory on a page of large commissioning entries.
        batch.view.get_packs(self._packs_named(conn, ordered, _FLUSH_PACKS))
        for entry in ordered:
            cursor = cursors[entry.payload.feed]
            if not self._take(conn, ids, cursor, entry, ahead, report, batch):
                continue
            key = entry.payload.order_key
            if high is None or key > high:
                high = key
                batch.add(entry)
                self._store_alerts(conn, apply(batch.view, entry, membership, strict=False), report)
                if batch.view.pending >= _FLUSH_PACKS:
                    self._write_batch(conn, batch)
                continue
            self._write_batch(conn, batch)
            late = self._ingest_out_of_order(conn, ids, entry, membership, report)
            if late:
                refold |= late
                refold_entries.add(ids.entry_pk[entry.id])
            batch = _Batch(DbStateView(conn, self._ids(conn)))
        self._write_batch(conn, batch)
        for feed, cursor in cursors.items():
            if cursor.moved and cursor.head is not None:
                self._set_head(conn, ids, cursor.head)
            if cursor.frozen is not None:
                conn.execute(update(m.FEEDS).where(F.name == feed).values(frozen_at=cursor.frozen))
        if refold:
            self._refold(conn, ids, refold, refold_entries, membership, report)

    def _high_water(self, conn: Connection) -> OrderKey | None:
        """The greatest order key stored: each feed's head, as ts never goes back in a feed."""
        rows = conn.execute(
            select(E.ts, F.name, E.seq).join(m.FEEDS, F.id == E.feed).where(E.seq == F.size - 1)
        ).all()
        return max(((r.ts, r.name, r.seq) for r in rows), default=None)

    def _cursor(self, conn: Connection, feed: str) -> _Cursor:
        row = conn.execute(select(F.size, F.frozen_at).where(F.name == feed)).one_or_none()
        size, frozen = (row.size, row.frozen_at) if row else (0, None)
        return _Cursor(size, frozen, self._head(conn, feed) if size else None)

    def _take(
        self,
        conn: Connection,
        ids: Ids,
        cursor: _Cursor,
        entry: SignedEntry,
        ahead: CheckedAhead,
        report: IngestReport,
        batch: _Batch,
    ) -> bool:
        """Whether ``entry`` is new at the end of its feed and verified (and the cursor moved
        past it); a duplicate, fork or refusal is recorded instead."""
        feed, seq = entry.payload.feed, entry.payload.seq
        if cursor.stopped:
            report.rejected.append(
                (entry.id, f"feed {feed}: an earlier entry of this page was refused")
            )
            return False
        if seq < cursor.size:
            stored = batch.at.get((feed, seq)) or self._entry_at(conn, ids, feed, seq)
            if stored.id == entry.id:
                report.duplicates += 1
                return False
            try:
                check_fork(stored, entry, ahead.membership)
            except ForkDetected as fork:
                self._record_fork(conn, ids, fork, report)
                cursor.frozen = seq if cursor.frozen is None else min(cursor.frozen, seq)
            except LedgerError as exc:
                report.rejected.append((entry.id, str(exc)))
            return False
        cursor.stopped = True  # until the entry is taken
        if cursor.frozen is not None:
            report.rejected.append(
                (entry.id, f"feed {feed} is frozen at the fork at seq {cursor.frozen}")
            )
            return False
        if seq > cursor.size:
            gap = SequenceGap(f"feed {feed}: expected seq {cursor.size}, found seq {seq}")
            report.rejected.append((entry.id, str(gap)))
            return False
        try:
            verify_link(cursor.head, entry, feed)
            ahead.check(entry)  # verify_entry, run ahead on a pool
        except (KindNotAllowed, GtinOutsidePrefixes) as exc:
            self._record_rejected(conn, entry, exc, ahead.membership, report)
            return False
        except (ChainError, SignatureInvalid, MembershipError) as exc:
            report.rejected.append((entry.id, str(exc)))
            return False
        cursor.head, cursor.size, cursor.moved, cursor.stopped = entry, seq + 1, True, False
        report.added += 1
        return True

    def _ingest_out_of_order(
        self,
        conn: Connection,
        ids: Ids,
        entry: SignedEntry,
        membership: Membership,
        report: IngestReport,
    ) -> set[str]:
        """Store an entry ordered before some stored one; the subjects to refold if it is late."""
        self._insert_entry(conn, ids, entry)
        late = self._later_than(conn, ids, entry)
        if not late and not self._apply_in_order(conn, entry, membership, report):
            late = self._subjects_touched(conn, entry)
        return late

    def _write_batch(self, conn: Connection, batch: _Batch) -> None:
        """Write the batch's entries, then the states they changed (which refer to them)."""
        if batch.entries:
            self._insert_entries(conn, batch.view.ids, batch.entries)
            batch.entries.clear()
            batch.at.clear()
        batch.view.flush()

    def _apply_in_order(
        self, conn: Connection, entry: SignedEntry, membership: Membership, report: IngestReport
    ) -> bool:
        """Apply ``entry`` on top of the current state, unless a state it touches (a pack inside
        a container, say) already holds an entry ordered after it: then roll back, ``False``."""
        savepoint = conn.begin_nested()
        view = DbStateView(conn, self._ids(conn))
        alerts = apply(view, entry, membership, strict=False)
        if view.max_last is not None and view.max_last > entry.payload.order_key:
            savepoint.rollback()
            self._local.ids = None
            return False
        view.flush()
        savepoint.commit()
        self._store_alerts(conn, alerts, report)
        return True

    # -- helpers -------------------------------------------------------------------------------
    def _insert_entry(self, conn: Connection, ids: Ids, entry: SignedEntry) -> int:
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
        if p.kind is not Kind.COMMISSION and p.subjects:
            conn.execute(
                insert(m.SUBJECT_ENTRIES),
                [{"subject": s, "entry": pk} for s in dict.fromkeys(p.subjects)],
            )
        return pk

    def _insert_entries(self, conn: Connection, ids: Ids, entries: Sequence[SignedEntry]) -> None:
        """``_insert_entry`` for many: one multi-row INSERT … RETURNING for their keys."""
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
        subjects = []
        for entry in entries:
            p, pk = entry.payload, pk_of[entry.id]
            ids.remember_entry(pk, entry.id, p.ts, p.feed, p.seq)
            if p.kind is not Kind.COMMISSION:
                subjects += [{"subject": s, "entry": pk} for s in dict.fromkeys(p.subjects)]
        if subjects:
            conn.execute(insert(m.SUBJECT_ENTRIES), subjects)

    def _set_head(self, conn: Connection, ids: Ids, head: SignedEntry) -> None:
        conn.execute(
            update(m.FEEDS)
            .where(F.id == ids.feed(head.payload.feed))
            .values(size=head.payload.seq + 1, head=head.id)
        )

    def _entry_at(self, conn: Connection, ids: Ids, feed: str, seq: int) -> SignedEntry:
        row = conn.execute(
            select(E.payload, E.signature).where(E.feed == ids.feed(feed), E.seq == seq)
        ).one()
        return SignedEntry.from_bytes(row.payload, row.signature)

    def _store_alerts(
        self, conn: Connection, alerts: Iterable[Alert], report: IngestReport
    ) -> None:
        for alert in alerts:
            if conn.execute(select(A.id).where(A.id == alert.id)).scalar() is not None:
                continue
            conn.execute(
                insert(m.ALERTS).values(
                    id=alert.id,
                    code=alert.code.value,
                    level=alert.level.value,
                    subject=alert.subject,
                    message=alert.message,
                    evidence=json.dumps(list(alert.evidence)),
                    ts=now_ts(),
                )
            )
            report.alerts.append(alert)

    def _record_fork(
        self, conn: Connection, ids: Ids, fork: ForkDetected, report: IngestReport
    ) -> None:
        a, b = fork.first, fork.second
        known = conn.execute(
            select(func.count())
            .select_from(m.FORKS)
            .where(
                m.FORKS.c.feed == a.payload.feed,
                m.FORKS.c.seq == a.payload.seq,
            )
        ).scalar_one()
        if not known:
            conn.execute(
                insert(m.FORKS).values(
                    feed=a.payload.feed,
                    seq=a.payload.seq,
                    first_payload=a.payload_bytes,
                    first_signature=a.signature,
                    second_payload=b.payload_bytes,
                    second_signature=b.signature,
                )
            )
        report.forks.append(fork)
        alert = Alert(Code.FORK, a.payload.feed, str(fork), (a.id, b.id))
        self._store_alerts(conn, [alert], report)

    def _record_rejected(
        self,
        conn: Connection,
        entry: SignedEntry,
        exc: LedgerError,
        membership: Membership,
        report: IngestReport,
    ) -> None:
        """Keep an unauthorised entry as evidence only if its member really signed it."""
        try:
            entry.verify_signature(membership.feed(entry.payload.feed).key_at(entry.payload.seq))
        except LedgerError as forged:
            report.rejected.append((entry.id, str(forged)))
            return
        table = m.REJECTED
        if (
            conn.execute(select(table.c.entry_id).where(table.c.entry_id == entry.id)).scalar()
            is None
        ):
            conn.execute(
                insert(table).values(
                    entry_id=entry.id,
                    feed=entry.payload.feed,
                    seq=entry.payload.seq,
                    reason=str(exc),
                    payload=entry.payload_bytes,
                    signature=entry.signature,
                )
            )
        code = Code.FOREIGN_GTIN if isinstance(exc, GtinOutsidePrefixes) else Code.UNAUTHORISED_KIND
        self._store_alerts(conn, [Alert(code, entry.payload.feed, str(exc), (entry.id,))], report)
        report.rejected.append((entry.id, str(exc)))

    # -- out-of-order arrival ------------------------------------------------------------------
    def _subjects_touched(self, conn: Connection, entry: SignedEntry) -> set[str]:
        p = entry.payload
        if p.kind is Kind.COMMISSION:
            gtin = str(p.body.get("gtin", ""))
            serials = p.body.get("serials")
            if isinstance(serials, list):
                try:
                    g = gtin14(gtin)
                except LedgerError:
                    return set()
                ilmd = p.body.get("ilmd")
                lot = ilmd.get("lotNumber") if isinstance(ilmd, dict) else None
                # The lot and product too: a recall or withdrawal of them is part of the history.
                classes = {product_uri(g)}
                with suppress(LedgerError):  # a malformed lot is the lifecycle's to report
                    classes.add(lot_uri(g, str(lot)))
                return {pack_uri_of(g, str(s)) for s in serials} | classes
            return set()
        return set(p.subjects)

    def _packs_named(
        self, conn: Connection, entries: Iterable[SignedEntry], limit: int
    ) -> list[str]:
        """The pack URIs ``entries`` touch, commissioned ones included, each once; no more
        entries are looked at once ``limit`` URIs are found."""
        prefix = f"{DL_ROOT}/01/"
        named: dict[str, None] = {}
        for entry in entries:
            for subject in self._subjects_touched(conn, entry):
                if subject.startswith(prefix) and "/21/" in subject:
                    named[subject] = None
            if len(named) >= limit:
                break
        return list(named)

    def _later_than(self, conn: Connection, ids: Ids, entry: SignedEntry) -> set[str]:
        """Subjects whose stored history holds an entry ordered after ``entry``: those must be
        refolded rather than have ``entry`` applied on top."""
        key = entry.payload.order_key
        subjects = self._subjects_touched(conn, entry)
        later: set[str] = set()
        subject_list = list(subjects)
        for start in range(0, len(subject_list), 400):
            chunk = subject_list[start : start + 400]
            rows = conn.execute(
                select(S.subject, E.ts, E.feed, E.seq)
                .join(m.ENTRIES, E.id == S.entry)
                .where(S.subject.in_(chunk), E.ts >= key[0], E.id != ids.entry_pk[entry.id])
            ).all()
            for row in rows:
                if (row.ts, ids.name(row.feed), row.seq) > key:
                    later.add(row.subject)
        if entry.payload.kind is Kind.RECALL or entry.payload.kind is Kind.WITHDRAW:
            later |= self._packs_touched_after(conn, ids, entry)
        if later:
            later |= subjects
        return later

    def _packs_touched_after(self, conn: Connection, ids: Ids, entry: SignedEntry) -> set[str]:
        subject = parse_subject(entry.payload.subjects[0]) if entry.payload.subjects else None
        if subject is None or subject.gtin is None:
            return set()
        query = (
            select(P.gtin, P.serial, E.ts, E.feed, E.seq)
            .join(m.ENTRIES, E.id == P.last)
            .where(P.gtin == subject.gtin, E.ts >= entry.payload.ts)
        )
        if subject.type is SubjectType.LOT:
            query = query.join(m.LOTS, L.id == P.lot).where(L.lot == subject.lot)
        key = entry.payload.order_key
        return {
            pack_uri_of(r.gtin, r.serial)
            for r in conn.execute(query)
            if (r.ts, ids.name(r.feed), r.seq) > key
        }

    def _refold(
        self,
        conn: Connection,
        ids: Ids,
        seeds: set[str],
        seed_entries: set[int],
        membership: Membership,
        report: IngestReport,
    ) -> None:
        """Recompute the state of every subject connected to ``seeds`` from its entries, in order."""
        entry_pks, subjects = self._closure(conn, ids, seeds, seed_entries)
        packs = [s for s in subjects if s.startswith("https://id.gs1.org/01/") and "/21/" in s]
        containers = [s for s in subjects if s.startswith("https://id.gs1.org/00/")]
        for condition in pack_filters(pack_key(u) for u in packs):
            conn.execute(delete(m.PACKS).where(condition))
        if containers:
            conn.execute(delete(m.CONTAINERS).where(C.uri.in_(containers)))
        subject_list = list(subjects)
        for start in range(0, len(subject_list), 400):
            conn.execute(delete(m.ALERTS).where(A.subject.in_(subject_list[start : start + 400])))
        rows = (
            conn.execute(select(E.payload, E.signature).where(E.id.in_(entry_pks))).all()
            if entry_pks
            else []
        )
        entries = sorted((SignedEntry.from_bytes(r.payload, r.signature) for r in rows), key=_order)
        for entry in entries:
            if entry.payload.kind in (Kind.RECALL, Kind.WITHDRAW):
                self._reset_class(conn, entry)
        for entry in entries:
            view = DbStateView(conn, ids)
            self._store_alerts(conn, apply(view, entry, membership, strict=False), report)
            view.flush()

    def _reset_class(self, conn: Connection, entry: SignedEntry) -> None:
        subject = parse_subject(entry.payload.subjects[0])
        if subject.type is SubjectType.LOT:
            conn.execute(
                update(m.LOTS)
                .where(L.gtin == subject.gtin, L.lot == subject.lot)
                .values(recalled_by=None)
            )
        elif subject.type is SubjectType.PRODUCT:
            conn.execute(delete(m.WITHDRAWALS).where(W.gtin == subject.gtin))

    def _closure(
        self, conn: Connection, ids: Ids, seeds: set[str], seed_entries: set[int]
    ) -> tuple[set[int], set[str]]:
        """Entries and subjects connected to ``seeds`` and ``seed_entries`` through shared entries."""
        subjects: set[str] = set()
        entry_pks: set[int] = set(seed_entries)
        todo = set(seeds)
        for pk in seed_entries:
            todo |= self._subjects_touched(conn, self._entry_by_pk(conn, pk))
        while todo:
            batch = list(todo - subjects)
            subjects |= todo
            todo = set()
            new: set[int] = set()
            for start in range(0, len(batch), 400):
                chunk = batch[start : start + 400]
                new |= set(conn.execute(select(S.entry).where(S.subject.in_(chunk))).scalars())
                keys = [pack_key(u) for u in chunk if "/21/" in u]
                for condition in pack_filters(keys):
                    new |= set(conn.execute(select(P.commissioned).where(condition)).scalars())
                    for gtin, lot in conn.execute(
                        select(L.gtin, L.lot)
                        .join(m.PACKS, P.lot == L.id)
                        .where(condition)
                        .distinct()
                    ):
                        for class_uri in (lot_uri(gtin, lot), product_uri(gtin)):
                            new |= set(
                                conn.execute(
                                    select(S.entry).where(S.subject == class_uri)
                                ).scalars()
                            )
            new -= entry_pks
            entry_pks |= new
            for pk in new:
                entry = self._entry_by_pk(conn, pk)
                todo |= self._subjects_touched(conn, entry) - subjects
        return entry_pks, subjects

    def _entry_by_pk(self, conn: Connection, pk: int) -> SignedEntry:
        row = conn.execute(select(E.payload, E.signature).where(E.id == pk)).one()
        return SignedEntry.from_bytes(row.payload, row.signature)

    # -- rebuild and verify --------------------------------------------------------------------
    def rebuild(
        self, membership: Membership, progress: Callable[[int], None] | None = None
    ) -> IngestReport:
        """Drop every projection and fold all stored entries again in their order key."""
        report = IngestReport()
        with self._write() as (conn, ids):
            for table in (m.PACKS, m.CONTAINERS, m.LOTS, m.WITHDRAWALS, m.ALERTS):
                conn.execute(delete(table))
            self._restore_fork_alerts(conn, report)
            entries = sorted(self.iter_entries(), key=_order)
            view = DbStateView(conn, ids)
            for done, entry in enumerate(entries, 1):
                self._store_alerts(conn, apply(view, entry, membership, strict=False), report)
                if view.pending >= _FLUSH_PACKS:  # in order, so one view may hold many entries
                    view.flush()
                    view = DbStateView(conn, ids)  # and a new one keeps memory flat
                if progress is not None:
                    progress(done)
            view.flush()
        return report

    def _restore_fork_alerts(self, conn: Connection, report: IngestReport) -> None:
        for row in conn.execute(select(m.FORKS)).all():
            a = SignedEntry.from_bytes(row.first_payload, row.first_signature)
            b = SignedEntry.from_bytes(row.second_payload, row.second_signature)
            message = f"feed {row.feed}: expected one entry at seq {row.seq}, found two signed ones ({a.id[:16]}… and {b.id[:16]}…)"
            self._store_alerts(conn, [Alert(Code.FORK, row.feed, message, (a.id, b.id))], report)

    def pack_rows(self) -> Iterator[PackState]:
        """Every stored pack state (for comparison with a rebuild)."""
        with self.reader.connect() as conn:
            last_id = 0
            while True:
                rows = conn.execute(
                    select(P.id, P.gtin, P.serial, P.commissioned, P.changed_by, P.last)
                    .where(P.id > last_id)
                    .order_by(P.id)
                    .limit(2000)
                ).all()
                if not rows:
                    return
                # A view per page keeps memory flat; its entries are loaded in one go.
                ids = Ids(conn)
                ids.load_entries(pk for r in rows for pk in (r.commissioned, r.changed_by, r.last))
                found = DbStateView(conn, ids).get_packs(
                    [pack_uri_of(r.gtin, r.serial) for r in rows]
                )
                yield from found.values()
                last_id = rows[-1].id


def _order(entry: SignedEntry) -> OrderKey:
    return entry.payload.order_key
