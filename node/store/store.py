"""A node's store: the entries of every feed it holds, and the projections built from them.

Two ways in:

* ``append_local`` stores entries this node signed: verified, the rules applied strictly, and
  all of them or none (one transaction; node/store/local_writes.py).
* ``ingest`` stores entries replicated from peers: each verified against the membership and its
  feed's head; a rule they break becomes an alert; a second signed entry at a used position is
  kept as fork evidence and freezes the feed (node/store/ingest.py); one dated too far ahead of
  this node's clock raises the node-local alert ``future_dated`` (``ledger/clock.py``).
* ``record_forks`` takes the fork evidence a peer found, verified here first
  (node/store/evidence.py).

The projection (packs, containers, lots, alerts) is kept equal to ``lifecycle.fold`` over all
stored entries in their order key. An entry that arrives after entries ordered later than it
(a peer's feed caught up late) is not applied on top: the histories it touches are refolded
(node/store/refold.py).

``Store`` is the one door into storage: the modules beside it take a connection, and only
the store opens one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path

from sqlalchemy import Connection, Engine

from ledger.alerts import Alert
from ledger.entry import SignedEntry
from ledger.errors import WrongFeed
from ledger.feedlog import FeedTree
from ledger.membership import Membership, MembershipChain, SignedMembership
from ledger.sealed import Opening
from ledger.state import ContainerState, PackState, StateView
from ledger.timefmt import now_ts
from node.store import (
    checkpoints,
    customs_records,
    declarations,
    disclosures,
    ledger_reads,
    memberships,
    products,
    projection_reads,
    records,
    risk_reads,
    risk_summary,
)
from node.store.checkpoints import CheckpointFork, FeedTrees, StoredCheckpoint
from node.store.consignment import ConsignmentReads
from node.store.counters import Counters, Taken, TakeRequest
from node.store.customs_records import RecordVersion
from node.store.disclosures import PackProvenance
from node.store.engine import Database
from node.store.entry_rows import head_of, order_key
from node.store.evidence import (
    IngestReport,
    fork_pairs,
    freeze,
    store_alerts,
    take_fork_evidence,
)
from node.store.foreign_cases import ForeignCaseTable
from node.store.ids import Ids, ThreadIds
from node.store.ingest import ingest_sorted
from node.store.leader import DatabaseLock
from node.store.ledger_reads import FeedHead, LedgerHeads, StoredLedger
from node.store.local_writes import write_local
from node.store.node_alerts import NodeAlertTable, future_dated
from node.store.pack_query import PackReading, read_pack, take_and_read
from node.store.records import StoredRecord
from node.store.refold import rebuild
from node.store.tokens_table import TokenTable
from node.store.view import DbStateView, PacksTaken


class Store:
    def __init__(self, path_or_url: str | Path, *, read_url: str | None = None) -> None:
        self._database = Database(path_or_url, read_url)
        self.url = self._database.url
        # Plain attributes, not properties: ``read_pack`` runs for every pack a scanner reads.
        # Tests of the store itself also look at rows through them.
        self.engine: Engine = self._database.writer
        self.reader: Engine = self._database.reader
        #: Verification queries only: a read replica when ``read_url`` names one (ADR 0021).
        self.replica: Engine = self._database.replica
        # Caches of feed and entry keys, one per thread: a server's worker serves requests on
        # several threads, and on PostgreSQL their transactions overlap.
        self._ids = ThreadIds()
        self._trees = FeedTrees()  # each feed's Merkle tree, grown as it grows
        self._counters: Counters | None = None
        self._foreign_cases: ForeignCaseTable | None = None

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._counters is not None:
            self._counters.close()
        self._database.close()

    @contextmanager
    def _write(self) -> Iterator[tuple[Connection, Ids]]:
        """The one write transaction at a time (``Database.write``), with this thread's keys."""
        with self._database.write() as conn:
            ids = self._ids.on(conn)
            try:
                yield conn, ids
            except BaseException:
                self._ids.forget()  # rows it cached may be rolled back
                raise

    # -- tables kept beside the ledger ---------------------------------------------------------
    def token_table(self) -> TokenTable:
        """The node's ``tokens`` table (created if missing)."""
        return TokenTable(self._database)

    def node_alert_table(self) -> NodeAlertTable:
        """The node's ``node_alerts`` table (created if missing)."""
        return NodeAlertTable(self._database)

    def foreign_case_table(self) -> ForeignCaseTable:
        """Cases imported from other consortia (``foreign_cases``, created once; ADR 0029)."""
        if self._foreign_cases is None:
            self._foreign_cases = ForeignCaseTable(self._database)
        return self._foreign_cases

    def counters(self) -> Counters:
        """The rate-limit and serial-harvesting counters every server of the node shares
        (node/store/counters.py; created if missing, closed with the store)."""
        if self._counters is None:
            self._counters = Counters(self.url)
        return self._counters

    def replicator_lock(self) -> DatabaseLock | None:
        """On PostgreSQL, the advisory lock that elects the node's one replicator
        (node/store/leader.py); ``None`` on SQLite, whose servers share a host and a file lock."""
        return None if self._database.is_sqlite else DatabaseLock(self.url)

    # -- membership and settings ---------------------------------------------------------------
    def save_membership(self, signed: SignedMembership) -> None:
        with self._write() as (conn, _):
            memberships.save_membership(conn, signed)

    def memberships(self) -> list[SignedMembership]:
        with self.reader.connect() as conn:
            return memberships.memberships(conn)

    def membership_version(self) -> int | None:
        """The newest stored membership version, without reading (and re-verifying) them."""
        with self.reader.connect() as conn:
            return memberships.membership_version(conn)

    def membership_chain(self, pinned_genesis: str) -> MembershipChain:
        return memberships.chain_of(self.memberships(), pinned_genesis)

    def set_meta(self, key: str, value: str) -> None:
        with self._write() as (conn, _):
            memberships.set_meta(conn, key, value)

    def meta(self, key: str) -> str | None:
        with self.reader.connect() as conn:
            return memberships.meta(conn, key)

    # -- reading entries -----------------------------------------------------------------------
    def heads(self) -> dict[str, FeedHead]:
        with self.reader.connect() as conn:
            return ledger_reads.heads(conn)

    def ledger_heads(self) -> LedgerHeads:
        """Every feed's head, the fork points of frozen feeds and the digest over them, read
        together (``LedgerHeads.feeds_json`` is what the digest covers)."""
        with self.reader.connect() as conn:
            return ledger_reads.ledger_heads(conn)

    def digest(self) -> str:
        """One hash over every feed's (size, head), a frozen feed's over its fork point instead:
        equal digests, equal ledgers (``ledger_reads.digest_of``, docs/spec/replication.md)."""
        return self.ledger_heads().digest

    def forks(self) -> list[tuple[SignedEntry, SignedEntry]]:
        """The two signed entries of every fork held: the evidence a peer can verify itself."""
        with self.reader.connect() as conn:
            return fork_pairs(conn)

    def entries(self, feed: str, from_seq: int = 0, limit: int = 1000) -> list[SignedEntry]:
        with self.reader.connect() as conn:
            return ledger_reads.entries(conn, feed, from_seq, limit)

    def entries_wire(self, feed: str, start: int, limit: int, sidecars: bool) -> Sequence[object]:
        """``entries`` in wire form, from the stored bytes unparsed (a page served to peers)."""
        with self.reader.connect() as conn:
            return ledger_reads.entries_wire(conn, feed, start, limit, sidecars=sidecars)

    def iter_entries(self, batch: int = 2000) -> Iterator[SignedEntry]:
        """Every stored entry, feed by feed in seq order, as stored bytes."""
        with self.reader.connect() as conn:
            yield from ledger_reads.iter_entries(conn, batch)

    @contextmanager
    def stored_ledger(self) -> Iterator[StoredLedger]:
        """Feeds and entry rows exactly as stored, nothing recomputed, on one connection: for
        ``medtrace ledger verify``, which trusts no id, head or size it did not recompute."""
        with self.reader.connect() as conn:
            yield StoredLedger(conn)

    def count(self, what: str) -> int:
        """Rows of a table (``projection_reads.count_rows``)."""
        with self.reader.connect() as conn:
            return projection_reads.count_rows(conn, what)

    def head(self, feed: str) -> SignedEntry | None:
        with self.reader.connect() as conn:
            return head_of(conn, feed)

    def newest_timestamp(self) -> str | None:
        """The ``ts`` of the newest entry held: how fresh this copy of the ledger is."""
        with self.reader.connect() as conn:
            return ledger_reads.newest_timestamp(conn)

    def entries_by_id(self, ids: Iterable[str]) -> list[SignedEntry]:
        wanted = list(ids)
        if not wanted:
            return []
        with self.reader.connect() as conn:
            return ledger_reads.entries_by_id(conn, wanted)

    def latest_ts(self, subjects: Iterable[str]) -> str | None:
        """The latest ts of an entry already naming any of ``subjects`` (a floor for new entries)."""
        subjects = list(subjects)
        if not subjects:
            return None
        with self.reader.connect() as conn:
            return ledger_reads.latest_ts(conn, subjects)

    def entries_naming(self, uri: str) -> list[SignedEntry]:
        """The entries naming ``uri`` itself, in order key (node/store/ledger_reads.py)."""
        with self.replica.connect() as conn:
            return ledger_reads.entries_naming(conn, uri)

    def provenance(self, uri: str) -> list[SignedEntry]:
        """Every entry a verifier needs for a pack, in order key, each with its sidecar: the
        node's own view (node/store/ledger_reads.py)."""
        with self.replica.connect() as conn:
            return ledger_reads.provenance(conn, uri)

    def pack_provenance(self, uri: str) -> PackProvenance:
        """The same entries as a verifier may see them: the pack's and its containers' leaves
        disclosed, no other pack named (node/store/disclosures.py)."""
        with self.replica.connect() as conn:
            return disclosures.pack_provenance(conn, uri)

    # -- projections ---------------------------------------------------------------------------
    @contextmanager
    def state_view(self) -> Iterator[StateView]:
        """A read-only view of the projections on one connection, for a walk of many reads
        (a container's nested contents, an EPCIS capture's plan)."""
        with self.reader.connect() as conn:
            yield DbStateView(conn, Ids(conn))

    def pack(self, uri: str) -> PackState | None:
        with self.reader.connect() as conn:
            return DbStateView(conn, Ids(conn)).get_packs([uri]).get(uri)

    def packs(self, uris: Sequence[str]) -> dict[str, PackState]:
        with self.reader.connect() as conn:
            return DbStateView(conn, Ids(conn)).get_packs(uris)

    def container(self, uri: str) -> ContainerState | None:
        with self.replica.connect() as conn:
            return DbStateView(conn, Ids(conn)).get_container(uri)

    def recall_of(self, gtin: str, lot: str) -> str | None:
        with self.state_view() as view:
            return view.recall_of(gtin, lot)

    def withdrawal_of(self, gtin: str) -> str | None:
        with self.state_view() as view:
            return view.withdrawal_of(gtin)

    def read_pack(self, gtin: str, serial: str) -> PackReading | None:
        """The pack query's answer in one statement (node/store/pack_query.py)."""
        return read_pack(self.replica, gtin, serial)

    def read_pack_taking(
        self, take: TakeRequest, gtin: str, serial: str
    ) -> tuple[Taken, PackReading | None]:
        """``take`` from the shared counters and, if allowed, ``read_pack``: on PostgreSQL
        without a replica in one statement (node/store/pack_query.py, ``take_and_read``)."""
        return take_and_read(self.counters(), self.replica, self.engine, take, gtin, serial)

    def lot_serials(self, gtin: str, lot: str, limit: int | None = None) -> tuple[str, list[str]]:
        """The expiry and the serials of a commissioned lot, in commissioning order ("" and []
        when the lot is unknown)."""
        with self.reader.connect() as conn:
            return projection_reads.lot_serials(conn, gtin, lot, limit)

    def existing_serials(self, gtin: str, serials: Iterable[str]) -> set[str]:
        with self.reader.connect() as conn:
            return projection_reads.existing_serials(conn, gtin, list(serials))

    def alerts(self, subject: str | None = None, code: str | None = None) -> list[Alert]:
        with self.reader.connect() as conn:
            return projection_reads.alerts(conn, subject, code)

    # -- records: products and declarations (ADR 0020) -------------------------------------------
    def product(self, gtin14: str) -> StoredRecord | None:
        """The product registration in force for a GTIN-14, ``None`` when none is registered:
        what a scanner names a pack's product by (``unregistered_product`` when ``None``)."""
        with self.reader.connect() as conn:
            return products.product(conn, gtin14)

    def declaration(self, reference: str, org: str | None = None) -> StoredRecord | None:
        """Declaration ``reference``: ``org``'s own first, else the newest of any org's."""
        with self.reader.connect() as conn:
            return declarations.declaration(conn, reference, org)

    def record_history(self, kind: str, key: str) -> list[RecordVersion]:
        """Every version of a record, oldest first: a declaration's customs decisions and
        inspection outcomes (``decide``/``outcome``, key ``org/reference``; ADR 0022)."""
        with self.reader.connect() as conn:
            return customs_records.history(conn, kind, key)

    def opening(self, digest: str) -> Opening | None:
        """The opening of a seal this node signed (node-local), ``None`` when not held."""
        with self.reader.connect() as conn:
            return records.opening(conn, digest)

    def keep_alerts(self, alerts: Sequence[Alert]) -> None:
        """Store alerts a local entry raised beside its strict rules (a ``check``'s, ADR
        0022); the same alerts every peer and a rebuild raise from it (kept once by id)."""
        with self._write() as (conn, _ids):
            store_alerts(conn, alerts, IngestReport())

    def keep_openings(self, kind: str, openings: Sequence[Opening]) -> None:
        """Keep the clear fields of seals this node is about to sign (node-local only)."""
        with self._write() as (conn, _ids):
            records.keep_openings(conn, kind, openings)

    def drop_openings(self, openings: Sequence[Opening]) -> None:
        """Forget openings whose entries were refused after all (nothing stays behind)."""
        with self._write() as (conn, _ids):
            records.drop_openings(conn, [o.digest() for o in openings])

    def pack_rows(self) -> Iterator[PackState]:
        """Every stored pack state (for comparison with a rebuild)."""
        with self.reader.connect() as conn:
            yield from projection_reads.pack_rows(conn)

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
        workers) queue instead of racing for a position. Rules strict; all or nothing. A serial
        already stored meets UNIQUE(gtin, serial) (``PacksTaken``): rolled back, the write is
        made again looking every pack up, and the lifecycle refuses it naming the serial."""
        with suppress(PacksTaken), self._write() as (conn, ids):
            return write_local(conn, ids, feed, build, membership, defer_unique=True)
        with self._write() as (conn, ids):
            return write_local(conn, ids, feed, build, membership)

    def ingest(self, entries: Iterable[SignedEntry], membership: Membership) -> IngestReport:
        """Store entries from peers: any feeds, any order within a page, one transaction
        (node/store/ingest.py)."""
        report = IngestReport()
        ordered = sorted(entries, key=order_key)
        with self._write() as (conn, ids):
            ingest_sorted(conn, ids, self._ids, ordered, membership, report)
        if report.future_dated:
            table, received = self.node_alert_table(), now_ts()
            for entry in report.future_dated:
                table.add_unless_recent(future_dated(entry, received), since="")
        return report

    def record_forks(
        self, pairs: Iterable[tuple[SignedEntry, SignedEntry]], membership: Membership
    ) -> IngestReport:
        """Take fork evidence a peer found, verified here first (``take_fork_evidence``): the
        same alert and frozen feed as if this node had found the fork; forged evidence is
        refused (``report.rejected``). A pair at a position not held yet is skipped."""
        report = IngestReport()
        with self._write() as (conn, _):
            for first, second in pairs:
                seq = take_fork_evidence(conn, first, second, membership, report)
                if seq is not None:
                    freeze(conn, first.payload.feed, seq)
        return report

    # -- checkpoints (node/store/checkpoints.py, docs/spec/proofs.md) ---------------------------
    def feed_tree(self, feed: str) -> FeedTree:
        """The RFC 9162 tree of ``feed``'s stored entry ids (cached, caught up on each call)."""
        with self.reader.connect() as conn:
            return self._trees.tree(conn, feed)

    def checkpoint(
        self, feed: str, size: int | None = None, *, cosigners: int = 0
    ) -> StoredCheckpoint | None:
        """The checkpoint of ``feed`` held at ``size``, or the largest held (``size`` None) with
        at least ``cosigners`` cosignatures."""
        with self.reader.connect() as conn:
            return checkpoints.checkpoint_at(conn, feed, size, cosigners=cosigners)

    def newest_checkpoints(self) -> list[StoredCheckpoint]:
        """The largest checkpoint held of every feed."""
        with self.reader.connect() as conn:
            return checkpoints.newest_checkpoints(conn)

    def last_cosigned(self, feed: str) -> StoredCheckpoint | None:
        """The largest checkpoint of ``feed`` this node cosigned as a witness."""
        with self.reader.connect() as conn:
            return checkpoints.last_cosigned(conn, feed)

    def save_checkpoint(
        self, checkpoint: StoredCheckpoint, merge: checkpoints.Merge | None = None
    ) -> None:
        """Keep a verified checkpoint, or its note with more cosignatures (never another root
        at a size held: that is a fork, ``record_checkpoint_fork``); ``merge`` joins it with a
        different note written meanwhile, inside the write transaction."""
        with self._write() as (conn, _):
            checkpoints.save_checkpoint(conn, checkpoint, merge)

    def record_checkpoint_fork(self, fork: CheckpointFork) -> IngestReport:
        """Keep a split view's evidence, freeze the feed, raise ``checkpoint_fork``."""
        report = IngestReport()
        with self._write() as (conn, _):
            checkpoints.record_checkpoint_fork(conn, fork, report)
        return report

    def checkpoint_forks(self) -> list[CheckpointFork]:
        """The evidence of every checkpoint fork held."""
        with self.reader.connect() as conn:
            return checkpoints.checkpoint_forks(conn)

    def rebuild(
        self, membership: Membership, progress: Callable[[int], None] | None = None
    ) -> IngestReport:
        """Drop every projection and fold all stored entries again in their order key."""
        with self._write() as (conn, ids):
            records.clear(conn)  # products and declarations, folded again below
            return rebuild(conn, ids, self.iter_entries(), membership, progress)

    # -- a consignment read in bulk (node/store/consignment.py, issue 15) ------------------------
    @contextmanager
    def consignment(self) -> Iterator[ConsignmentReads]:
        """The bulk reads of a whole consignment (nested containers, every pack with its lot,
        recall, withdrawal, commissioning feed and alerts) on one verification connection and
        in one transaction, so that its reads see one snapshot."""
        with self.replica.connect() as conn, conn.begin():
            yield ConsignmentReads(conn)

    def earlier_declarations(
        self,
        org: str,
        before: str | None,
        limit: int = 5_000,
        after: tuple[str, str, int] | None = None,
    ) -> list[risk_reads.EarlierDeclaration]:
        """``org``'s declarations ordered before the entry ``before`` (``None``: all) and after
        the order ``after``, with their decisions and outcomes, oldest first (risk indicators
        R8, R9; node/store/risk_reads.py)."""
        with self.reader.connect() as conn:
            order = risk_reads.order_of(conn, before) if before is not None else None
            return risk_reads.earlier_declarations(conn, org, order, limit, after)

    def verdicts_after(
        self, org: str, after: tuple[str, str, int]
    ) -> list[tuple[str, str, str, tuple[str, str, int]]]:
        """``org``'s customs decisions and outcomes recorded after the order ``after``."""
        with self.reader.connect() as conn:
            return risk_reads.verdicts_after(conn, org, after)

    def record_order(self, entry_id: str) -> tuple[str, str, int] | None:
        """Where a record's entry stands in the total order: ``(ts, feed, seq)``."""
        with self.reader.connect() as conn:
            return risk_reads.order_of(conn, entry_id)

    def customs_records_since(self, since: str) -> list[risk_summary.Signed]:
        """Declarations lodged, decisions and outcomes signed at or after ``since`` (the chart
        of selections and outcomes over time; node/store/risk_summary.py)."""
        with self.reader.connect() as conn:
            return risk_summary.customs_records_since(conn, since)
