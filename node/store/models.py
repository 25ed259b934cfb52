"""Tables of a node's store (SQLModel; the same code runs on SQLite and PostgreSQL).

``entries`` is the ledger: append-only, exact payload bytes and signature, unique
``(feed, seq)``. Everything else is either evidence (``forks``, ``alerts``), configuration
(``memberships``) or a projection that ``Store.rebuild`` recomputes from the entries.
"""

from __future__ import annotations

from sqlalchemy import Index, LargeBinary, Table, UniqueConstraint
from sqlalchemy.orm import registry
from sqlmodel import Column, Field, SQLModel


class FeedRow(SQLModel, table=True):
    __tablename__ = "feeds"
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True, max_length=65)
    size: int = 0
    head: str | None = Field(default=None, max_length=64)
    frozen_at: int | None = None  # seq of a proven fork: nothing at or after it is accepted


class EntryRow(SQLModel, table=True):
    __tablename__ = "entries"
    __table_args__ = (UniqueConstraint("feed", "seq", name="uq_entries_feed_seq"),)
    id: int | None = Field(default=None, primary_key=True)
    feed: int = Field(foreign_key="feeds.id")
    seq: int
    entry_id: str = Field(unique=True, max_length=64)
    kind: str = Field(max_length=16)
    ts: str = Field(max_length=24)
    payload: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    signature: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


class LotRow(SQLModel, table=True):
    __tablename__ = "lots"
    __table_args__ = (UniqueConstraint("gtin", "lot", name="uq_lots_gtin_lot"),)
    id: int | None = Field(default=None, primary_key=True)
    gtin: str = Field(max_length=14)
    lot: str = Field(max_length=20)
    expiry: str = Field(max_length=10)
    recalled_by: str | None = Field(default=None, max_length=64)


class PackRow(SQLModel, table=True):
    """One commissioned pack; its URI derives from gtin and serial."""

    __tablename__ = "packs"
    __table_args__ = (
        UniqueConstraint("gtin", "serial", name="uq_packs_gtin_serial"),
        Index("ix_packs_container", "container"),
    )
    id: int | None = Field(default=None, primary_key=True)
    gtin: str = Field(max_length=14)
    serial: str = Field(max_length=20)
    lot: int = Field(foreign_key="lots.id")
    commissioned: int  # entries.id
    custodian: int  # feeds.id
    status: str = Field(max_length=12)
    destination: str | None = Field(default=None, max_length=32)
    container: str | None = Field(default=None, max_length=64)
    prior: str | None = Field(default=None, max_length=12)
    changed_by: int | None = None  # entries.id
    last: int | None = None  # entries.id of the last entry applied


class ContainerRow(SQLModel, table=True):
    __tablename__ = "containers"
    __table_args__ = (Index("ix_containers_parent", "parent"),)
    id: int | None = Field(default=None, primary_key=True)
    uri: str = Field(unique=True, max_length=64)
    custodian: int
    status: str = Field(max_length=12)
    destination: str | None = Field(default=None, max_length=32)
    parent: str | None = Field(default=None, max_length=64)
    prior: str | None = Field(default=None, max_length=12)
    last: int | None = None


class SubjectEntryRow(SQLModel, table=True):
    """Which entries name a pack or container (commissioning is found through ``packs``)."""

    __tablename__ = "subject_entries"
    __table_args__ = (Index("ix_subject_entries_subject", "subject"),)
    id: int | None = Field(default=None, primary_key=True)
    subject: str = Field(max_length=200)
    entry: int


class SidecarRow(SQLModel, table=True):
    """The packs a v2 entry commits to, beside it (ledger/openings.py): salts, then the values
    joined by newlines. Between nodes only; a verifier is shown one leaf's disclosure."""

    __tablename__ = "sidecars"
    entry: int = Field(primary_key=True)  # entries.id
    size: int
    data: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


class WithdrawalRow(SQLModel, table=True):
    __tablename__ = "withdrawals"
    gtin: str = Field(primary_key=True, max_length=14)
    entry_id: str = Field(max_length=64)


class AlertRow(SQLModel, table=True):
    __tablename__ = "alerts"
    id: str = Field(primary_key=True, max_length=64)
    code: str = Field(max_length=32, index=True)
    level: str = Field(max_length=16)
    subject: str = Field(max_length=200, index=True)
    message: str
    evidence: str  # JSON list of entry ids, the triggering entry last
    ts: str = Field(max_length=24)


class ForkRow(SQLModel, table=True):
    __tablename__ = "forks"
    id: int | None = Field(default=None, primary_key=True)
    feed: str = Field(max_length=65)
    seq: int
    first_payload: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    first_signature: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    second_payload: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    second_signature: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


class MembershipRow(SQLModel, table=True):
    __tablename__ = "memberships"
    version: int = Field(primary_key=True)
    wire: str  # SignedMembership.to_wire() as JSON


class MetaRow(SQLModel, table=True):
    __tablename__ = "meta"
    key: str = Field(primary_key=True, max_length=64)
    value: str


class RejectedRow(SQLModel, table=True):
    """An entry validly signed by a member's key that its membership does not allow.

    It never enters the feed, but it is evidence against the member that signed it.
    """

    __tablename__ = "rejected"
    entry_id: str = Field(primary_key=True, max_length=64)
    feed: str = Field(max_length=65)
    seq: int
    reason: str
    payload: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    signature: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


class CheckpointRow(SQLModel, table=True):
    """A feed's checkpoint at one size, signed by the feed's key, with every verified
    cosignature gathered (node/store/checkpoints.py, docs/spec/proofs.md)."""

    __tablename__ = "checkpoints"
    __table_args__ = (UniqueConstraint("feed", "size", name="uq_checkpoints_feed_size"),)
    id: int | None = Field(default=None, primary_key=True)
    feed: str = Field(max_length=65)
    size: int
    root: str = Field(max_length=64)
    note: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    cosigners: int = 0  # witness organisations whose cosignature verifies
    newest_cosignature: int | None = None  # Unix seconds
    own_cosignature: int | None = None  # when this node cosigned it, if it did


class CheckpointForkRow(SQLModel, table=True):
    """Two checkpoints of one feed signed by its key that cannot both be true (a split view),
    or one that the entries held contradict (``second`` empty)."""

    __tablename__ = "checkpoint_forks"
    id: int | None = Field(default=None, primary_key=True)
    feed: str = Field(max_length=65)
    size: int
    first: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    second: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    reason: str


class RecordRow(SQLModel, table=True):
    """Signed records that are no pack's step (ADR 0020): every version of a product's master
    data (``kind`` ``product``, ``key`` the GTIN-14) and of a declaration (``declare``,
    ``org/reference``). The newest by ``(ts, feed, seq)`` is the one in force. A projection."""

    __tablename__ = "records"
    __table_args__ = (Index("ix_records_kind_key", "kind", "key"),)
    entry_id: str = Field(primary_key=True, max_length=64)
    kind: str = Field(max_length=16)
    key: str = Field(max_length=80)
    feed: str = Field(max_length=65)
    ts: str = Field(max_length=24)
    seq: int
    data: str  # the public fields, JSON
    about: str  # the subjects (declared packages), JSON list


class SealedOpeningRow(SQLModel, table=True):
    """The clear fields and salt of a seal this node signed (``ledger/sealed.py``): node-local,
    never replicated, never a projection (``Store.rebuild`` keeps it)."""

    __tablename__ = "sealed_openings"
    digest: str = Field(primary_key=True, max_length=64)
    kind: str = Field(max_length=16)
    data: str  # {"fields": {...}, "salt": base64}


def _table(model: type[SQLModel]) -> Table:
    table = model.__table__  # type: ignore[attr-defined]
    assert isinstance(table, Table)
    return table


# Core tables for bulk statements on the hot paths (the ORM classes above define them).
FEEDS = _table(FeedRow)
ENTRIES = _table(EntryRow)
LOTS = _table(LotRow)
PACKS = _table(PackRow)
CONTAINERS = _table(ContainerRow)
SUBJECT_ENTRIES = _table(SubjectEntryRow)
SIDECARS = _table(SidecarRow)
WITHDRAWALS = _table(WithdrawalRow)
ALERTS = _table(AlertRow)
FORKS = _table(ForkRow)
MEMBERSHIPS = _table(MembershipRow)
META = _table(MetaRow)
REJECTED = _table(RejectedRow)
CHECKPOINTS = _table(CheckpointRow)
CHECKPOINT_FORKS = _table(CheckpointForkRow)
RECORDS = _table(RecordRow)
SEALED_OPENINGS = _table(SealedOpeningRow)


# -- counters shared by every server of a node (node/store/counters.py, ADR 0021) ---------------


class _CounterBase(SQLModel, registry=registry()):
    """Own metadata: on PostgreSQL these tables sit beside the ledger's in the node's database,
    on SQLite in a file of their own beside ``node.db`` (no request waits on the ledger's
    write lock to count)."""


class GuardCounterRow(_CounterBase, table=True):
    """One row per guarded subject (``token:ID``): each bucket's theoretical arrival time
    (GCRA, wall-clock seconds), whether the last take was allowed, and the serial-harvesting
    throttle (until when, and when it last raised its alert; 0: never)."""

    __tablename__ = "guard_counters"
    subject: str = Field(primary_key=True, max_length=100)
    query_tat: float = 0.0
    write_tat: float = 0.0
    ok: bool = True
    harvest_until: float = 0.0
    harvest_alerted: float = 0.0


class HarvestProbeRow(_CounterBase, table=True):
    """A guarded request that asked about a pack or container unknown here (ADR 0012): kept
    for the harvesting window, then pruned."""

    __tablename__ = "harvest_probes"
    __table_args__ = (Index("ix_harvest_probes_subject_stamp", "subject", "stamp"),)
    id: int | None = Field(default=None, primary_key=True)
    subject: str = Field(max_length=100)
    stamp: float
    probed: str = Field(max_length=200)


COUNTER_METADATA = _CounterBase.metadata
GUARD_COUNTERS = _table(GuardCounterRow)
HARVEST_PROBES = _table(HarvestProbeRow)
