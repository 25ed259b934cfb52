"""The lifecycle's ``StateView`` over a database transaction.

Rows an entry touches are loaded in batches into an identity map, the pure lifecycle mutates
the plain ``PackState`` objects, and ``flush`` writes back only what changed, in bulk.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import fields
from functools import lru_cache
from itertools import repeat
from operator import attrgetter
from typing import Any
from urllib.parse import quote, unquote

from sqlalchemy import ColumnElement, Connection, Row, and_, insert, select, update
from sqlalchemy.exc import IntegrityError

from ledger.identifiers import DL_ROOT, pack_uris
from ledger.state import ContainerState, OrderKey, PackState, Record
from ledger.status import Status
from node.store.customs_records import record_before
from node.store.ids import Ids
from node.store.models import CONTAINERS, ENTRIES, LOTS, PACKS, WITHDRAWALS
from node.store.records import put_record

#: Serials per ``gtin = ? AND serial IN (…)``: well under the bound-parameter limits of SQLite
#: (32,766) and PostgreSQL (65,535), large enough that a 1,000-serial entry takes one query.
_CHUNK = 1_000
P = PACKS.c
C = CONTAINERS.c
E = ENTRIES.c
L = LOTS.c
W = WITHDRAWALS.c
PACK_PREFIX = f"{DL_ROOT}/01/"


def pack_key(uri: str) -> tuple[str, str]:
    """(gtin, serial) of a canonical pack URI."""
    gtin, serial = uri[len(PACK_PREFIX) :].split("/21/", 1)
    return gtin, unquote(serial) if "%" in serial else serial


def pack_uri_of(gtin: str, serial: str) -> str:
    return f"{PACK_PREFIX}{gtin}/21/{quote(serial, safe='')}"


def pack_chunks(keys: Iterable[tuple[str, str]]) -> Iterator[tuple[str, list[str]]]:
    """(gtin, serials) groups of at most ``_CHUNK`` serials: the unique (gtin, serial) index
    serves ``gtin = ? AND serial IN (…)``; SQLite answers a row-value ``(gtin, serial) IN (…)``
    of two or more keys with a scan of the whole table."""
    by_gtin: dict[str, list[str]] = {}
    for gtin, serial in keys:
        by_gtin.setdefault(gtin, []).append(serial)
    for gtin, serials in by_gtin.items():
        for start in range(0, len(serials), _CHUNK):
            yield gtin, serials[start : start + _CHUNK]


def pack_filters(keys: Iterable[tuple[str, str]]) -> Iterator[ColumnElement[bool]]:
    """``gtin = ? AND serial IN (…)`` per GTIN, in chunks (see ``pack_chunks``)."""
    for gtin, serials in pack_chunks(keys):
        yield and_(P.gtin == gtin, P.serial.in_(serials))


#: ``Status.value`` is a descriptor call: a dictionary lookup costs a fifth of it per pack.
_STATUS_TEXT = {status: status.value for status in Status}

#: The columns a lifecycle step changes, in the order ``DbStateView._columns`` gives them.
_STATE_COLUMNS = ("custodian", "status", "destination", "container", "prior", "changed_by", "last")
_NEW_COLUMNS = ("gtin", "serial", "lot", "commissioned", *_STATE_COLUMNS)
_ALL_BUT_URI_AND_SERIAL = attrgetter(
    *(f.name for f in fields(PackState) if f.name not in ("uri", "serial"))
)

# The pack statements of commissioning are plain SQL run with tuples of parameters through the
# driver (``exec_driver_sql``): SQLAlchemy's per-row parameter processing for an executemany,
# and the expansion of an ``IN`` list of a thousand values, each cost several times SQLite's own
# work. Table and column names are the constants above; values are always bound parameters.


def _markers(paramstyle: str, count: int) -> list[str]:
    """``count`` positional parameter markers in the DBAPI driver's own paramstyle."""
    if paramstyle == "qmark":
        return ["?"] * count
    if paramstyle in ("format", "pyformat"):
        return ["%s"] * count
    if paramstyle == "numeric":
        return [f":{i}" for i in range(1, count + 1)]
    raise NotImplementedError(f"expected a positional paramstyle, found {paramstyle}")


@lru_cache(maxsize=64)
def _select_packs_sql(paramstyle: str, serials: int) -> str:
    gtin, *marks = _markers(paramstyle, 1 + serials)
    columns = ", ".join(c.name for c in PACKS.columns)
    return (
        f"SELECT {columns} FROM {PACKS.name} "  # noqa: S608 (constants only)
        f"WHERE gtin = {gtin} AND serial IN ({', '.join(marks)})"
    )


@lru_cache
def _insert_packs_sql(paramstyle: str) -> str:
    values = ", ".join(_markers(paramstyle, len(_NEW_COLUMNS)))
    columns = ", ".join(_NEW_COLUMNS)
    return f"INSERT INTO {PACKS.name} ({columns}) VALUES ({values})"  # noqa: S608 (constants only)


@lru_cache
def _update_packs_sql(paramstyle: str) -> str:
    *marks, pk = _markers(paramstyle, len(_STATE_COLUMNS) + 1)
    assignments = ", ".join(f"{c} = {m}" for c, m in zip(_STATE_COLUMNS, marks, strict=True))
    return f"UPDATE {PACKS.name} SET {assignments} WHERE id = {pk}"  # noqa: S608 (constants only)


class PacksTaken(Exception):
    """A pack row met UNIQUE(gtin, serial) when written, after its commissioning was applied
    without looking it up (``DbStateView.existing_packs``, ``defer_unique``). The write's
    transaction is rolled back whole; ``Store.write_local`` makes it again, looking every pack
    up, so the lifecycle refuses it with its own error naming the serial."""


class DbStateView:
    def __init__(self, conn: Connection, ids: Ids, *, defer_unique: bool = False) -> None:
        self.conn = conn
        self.ids = ids
        #: A strict local write: new packs are left to UNIQUE(gtin, serial) (``existing_packs``).
        self.defer_unique = defer_unique
        self._unchecked = False  # packs not looked up wait to be written
        self._packs: dict[str, PackState] = {}
        self._pack_pk: dict[str, int] = {}
        self._new: dict[str, PackState] = {}
        #: Packs commissioned and not written yet, kept as their commissioning made them: the
        #: batches in order (template, serials), and the template of each URI (``_made``),
        #: indexed only when a lookup needs it (most batches are written first). A pack asked
        #: for before it is written is taken out into ``_new``.
        self._batches: list[tuple[PackState, Sequence[str]]] = []
        self._made: dict[str, PackState] = {}
        self._indexed = 0  # batches in ``_made``
        self._made_count = 0
        self._taken_out = False
        self._dirty: dict[str, PackState] = {}
        #: URIs looked up and not stored (until ``put_packs`` adds them): a page's packs can be
        #: looked up together before the entries that commission them are applied.
        self._absent: set[str] = set()
        self._containers: dict[str, ContainerState | None] = {}
        self._container_dirty: dict[str, ContainerState] = {}
        self._lots: dict[
            tuple[str, str], tuple[int, str, str | None]
        ] = {}  # -> (pk, expiry, recalled_by)
        self._lot_by_pk: dict[int, tuple[str, str]] = {}
        self._withdrawals: dict[str, str | None] = {}
        #: the latest order key among the states loaded: if it is after the entry being
        #: applied, the entry arrived out of order and its histories must be refolded.
        self.max_last: OrderKey | None = None

    def _saw(self, key: OrderKey | None) -> None:
        if key is not None and (self.max_last is None or key > self.max_last):
            self.max_last = key

    # -- packs ---------------------------------------------------------------------------------
    def get_packs(self, uris: Collection[str]) -> dict[str, PackState]:
        if self._batches:
            self._take_out(uris)
        wanted = [
            u for u in uris if u not in self._packs and u not in self._new and u not in self._absent
        ]
        paramstyle = self.conn.dialect.paramstyle
        for gtin, serials in pack_chunks(map(pack_key, wanted)):
            sql = _select_packs_sql(paramstyle, len(serials))
            rows = self._select_fresh_plan(sql, (gtin, *serials))
            self.ids.load_entries(pk for r in rows for pk in (r.commissioned, r.changed_by, r.last))
            for row in rows:
                state = self._to_state(row)
                self._saw(state.last)
                self._packs[state.uri] = state
                self._pack_pk[state.uri] = row.id
        self._absent.update(u for u in wanted if u not in self._packs)
        return {u: s for u in uris if (s := self._packs.get(u) or self._new.get(u)) is not None}

    def existing_packs(
        self, gtin: str, serials: Sequence[str], *, strict: bool
    ) -> dict[str, PackState]:
        """``get_packs``, or, for a strict write with ``defer_unique``, only what this view
        holds (packs of the same batch not written yet, packs it loaded): the others are left
        to UNIQUE(gtin, serial) when ``flush`` writes them (``PacksTaken``)."""
        if not (strict and self.defer_unique):
            return self.get_packs(pack_uris(gtin, serials))
        self._unchecked = True
        held = [d for d in (self._packs, self._new, self._made_index()) if d]
        uris = pack_uris(gtin, serials) if held else []  # usually nothing held, nothing built
        if all(d.keys().isdisjoint(uris) for d in held):
            return {}
        if self._batches:
            self._take_out(uris)
        packs, new = self._packs, self._new
        return {u: s for u in uris if (s := packs.get(u) or new.get(u)) is not None}

    def _select_fresh_plan(self, sql: str, parameters: tuple[str, ...]) -> Sequence[Row[Any]]:
        """Rows of ``sql``, planned for the table as it is now. ``packs`` grows while a large
        batch is written (``Store.write_local`` flushes every 1,000 packs); psycopg prepares a
        statement run five times, and the generic plan PostgreSQL then keeps, made while the
        table was small, scans all of it: 1.9 s per 1,000-serial SELECT at 30,000 rows."""
        if self.conn.dialect.name != "postgresql":
            return self.conn.exec_driver_sql(sql, parameters).all()
        self.conn.exec_driver_sql("SET LOCAL plan_cache_mode = force_custom_plan")
        rows = self.conn.exec_driver_sql(sql, parameters).all()
        self.conn.exec_driver_sql("SET LOCAL plan_cache_mode = DEFAULT")
        return rows

    def put_packs(self, states: Iterable[PackState]) -> None:
        for state in states:
            if state.uri in self._pack_pk:
                self._dirty[state.uri] = state
            else:
                if self._batches and self._made_index().pop(state.uri, None) is not None:
                    self._taken_out = True
                self._new[state.uri] = state
                self._absent.discard(state.uri)

    def put_made_packs(self, template: PackState, serials: Sequence[str]) -> None:
        """A commissioning's new packs, kept as the template and the serials until ``flush``."""
        if not serials:
            return
        self._batches.append((template, serials))
        self._made_count += len(serials)
        if self._absent:
            self._absent.difference_update(pack_uris(template.gtin, serials))

    def _made_index(self) -> dict[str, PackState]:
        """``_made``, with the batches added since it was last asked for."""
        for template, serials in self._batches[self._indexed :]:
            self._made.update(dict.fromkeys(pack_uris(template.gtin, serials), template))
        self._indexed = len(self._batches)
        return self._made

    def _take_out(self, uris: Iterable[str]) -> None:
        """Packs of ``_made`` among ``uris`` as states of their own, in ``_new``: the lifecycle
        may change them before they are written."""
        made = self._made_index()
        for uri in uris:
            template = made.pop(uri, None)
            if template is not None:
                self._new[uri] = template.made(uri, pack_key(uri)[1])
                self._taken_out = True

    def _to_state(self, r: Row[Any]) -> PackState:
        gtin, lot = self._lot_of(r.lot)
        expiry = self._lots[(gtin, lot)][1]
        commissioned = self.ids.entry(r.commissioned)[0]
        changed = self.ids.entry(r.changed_by) if r.changed_by is not None else None
        last = self.ids.entry(r.last) if r.last is not None else None
        return PackState(
            uri=pack_uri_of(r.gtin, r.serial),
            gtin=r.gtin,
            serial=r.serial,
            lot=lot,
            expiry=expiry,
            commissioned=commissioned,
            custodian=self.ids.name(r.custodian),
            status=Status(r.status),
            destination=r.destination,
            container=r.container,
            prior=Status(r.prior) if r.prior else None,
            changed_by=changed[0] if changed else None,
            changed_feed=changed[2] if changed else None,
            changed_ts=changed[1] if changed else None,
            last=(last[1], last[2], last[3]) if last else None,
        )

    # -- lots and products ---------------------------------------------------------------------
    def _lot_of(self, pk: int) -> tuple[str, str]:
        if pk not in self._lot_by_pk:
            row = self.conn.execute(
                select(L.id, L.gtin, L.lot, L.expiry, L.recalled_by).where(L.id == pk)
            ).one()
            self._remember_lot(row.id, row.gtin, row.lot, row.expiry, row.recalled_by)
        return self._lot_by_pk[pk]

    def _remember_lot(
        self, pk: int, gtin: str, lot: str, expiry: str, recalled_by: str | None
    ) -> None:
        self._lots[(gtin, lot)] = (pk, expiry, recalled_by)
        self._lot_by_pk[pk] = (gtin, lot)

    def _lot(
        self, gtin: str, lot: str, expiry: str | None = None
    ) -> tuple[int, str, str | None] | None:
        cached = self._lots.get((gtin, lot))
        if cached is not None:  # looked up once per new pack: keep the hit cheap
            if expiry and not cached[1]:
                self._set_expiry(cached[0], gtin, lot, expiry)
                return self._lots[(gtin, lot)]
            return cached
        row = self.conn.execute(
            select(L.id, L.expiry, L.recalled_by).where(L.gtin == gtin, L.lot == lot)
        ).one_or_none()
        if row is not None:
            self._remember_lot(row.id, gtin, lot, row.expiry, row.recalled_by)
            if not row.expiry and expiry:
                self._set_expiry(row.id, gtin, lot, expiry)
        elif expiry is not None:
            pk = self.conn.execute(
                insert(LOTS).values(gtin=gtin, lot=lot, expiry=expiry)
            ).inserted_primary_key[0]  # type: ignore[index]
            self._remember_lot(int(pk), gtin, lot, expiry, None)
        else:
            return None
        return self._lots[(gtin, lot)]

    def _set_expiry(self, pk: int, gtin: str, lot: str, expiry: str) -> None:
        """A lot first seen through a recall learns its expiry when its commissioning arrives."""
        self.conn.execute(update(LOTS).where(L.id == pk).values(expiry=expiry))
        self._lots[(gtin, lot)] = (pk, expiry, self._lots[(gtin, lot)][2])

    def recall_of(self, gtin: str, lot: str) -> str | None:
        found = self._lot(gtin, lot)
        recall = found[2] if found else None
        self._saw_entry(recall)
        return recall

    def _saw_entry(self, entry_id: str | None) -> None:
        """A lot's recall or a product's withdrawal counts like a state the entry read: if it is
        ordered after the entry, the entry arrived late and must be refolded under it."""
        pk = self.ids.entry_pk_of(entry_id)
        if pk is not None:
            _, ts, feed, seq = self.ids.entry(pk)
            self._saw((ts, feed, seq))

    def put_recall(self, gtin: str, lot: str, entry_id: str) -> None:
        found = self._lot(gtin, lot)
        if found is None:
            # A recall may name a lot this node has not seen commissioned (yet): keep it anyway.
            found = self._lot(gtin, lot, expiry="")
            assert found is not None
        if found[2] is None:
            self.conn.execute(update(LOTS).where(L.id == found[0]).values(recalled_by=entry_id))
            self._lots[(gtin, lot)] = (found[0], found[1], entry_id)

    def withdrawal_of(self, gtin: str) -> str | None:
        if gtin not in self._withdrawals:
            self._withdrawals[gtin] = self.conn.execute(
                select(W.entry_id).where(W.gtin == gtin)
            ).scalar()
        self._saw_entry(self._withdrawals[gtin])
        return self._withdrawals[gtin]

    def put_withdrawal(self, gtin: str, entry_id: str) -> None:
        if self.withdrawal_of(gtin) is None:
            self.conn.execute(insert(WITHDRAWALS).values(gtin=gtin, entry_id=entry_id))
            self._withdrawals[gtin] = entry_id

    def put_record(self, record: Record) -> None:
        """A product's or a declaration's version (ADR 0020): ``node/store/records.py``."""
        put_record(self.conn, record)

    def record_of(self, kind: str, key: str, before: OrderKey) -> Record | None:
        """A decision's predecessor (ADR 0022): ``node/store/customs_records.py``."""
        return record_before(self.conn, kind, key, before)

    # -- containers ----------------------------------------------------------------------------
    def get_container(self, uri: str) -> ContainerState | None:
        if uri not in self._containers:
            row = self.conn.execute(select(CONTAINERS).where(C.uri == uri)).one_or_none()
            if row is None:
                self._containers[uri] = None
            else:
                children = {
                    pack_uri_of(g, s)
                    for g, s in self.conn.execute(
                        select(P.gtin, P.serial).where(P.container == uri)
                    )
                }
                children |= set(self.conn.execute(select(C.uri).where(C.parent == uri)).scalars())
                last = self.ids.entry(row.last) if row.last is not None else None
                self._saw((last[1], last[2], last[3]) if last else None)
                self._containers[uri] = ContainerState(
                    uri=uri,
                    custodian=self.ids.name(row.custodian),
                    status=Status(row.status),
                    destination=row.destination,
                    parent=row.parent,
                    children=children,
                    prior=Status(row.prior) if row.prior else None,
                    last=(last[1], last[2], last[3]) if last else None,
                )
        return self._containers[uri]

    def put_container(self, state: ContainerState) -> None:
        self._containers[state.uri] = state
        self._container_dirty[state.uri] = state

    # -- write back ----------------------------------------------------------------------------
    def _entry_pk(self, key: OrderKey | None) -> int | None:
        if key is None:
            return None
        if key not in self.ids.entry_by_key:
            pk = self.conn.execute(
                select(E.id).where(E.feed == self.ids.feed(key[1]), E.seq == key[2])
            ).scalar_one()
            self.ids.entry(int(pk))
        return self.ids.entry_by_key[key]

    def _columns(self, state: PackState) -> tuple[object, ...]:
        """The values of ``_STATE_COLUMNS`` for a pack's row."""
        return (
            self.ids.feed(state.custodian),
            _STATUS_TEXT[state.status],
            state.destination,
            state.container,
            _STATUS_TEXT[state.prior] if state.prior else None,
            self.ids.entry_pk_of(state.changed_by),
            self._entry_pk(state.last),
        )

    def _made_rows(self) -> list[tuple[object, ...]]:
        """The values of ``_NEW_COLUMNS`` for the packs of ``_batches``, in the order they were
        made; a pack taken out into ``_new`` is written from its own state, here."""
        rows: list[tuple[object, ...]] = []
        made = self._made_index() if self._taken_out else self._made
        for template, serials in self._batches:
            columns = self._row_columns(template)
            if not self._taken_out:
                rows += zip(repeat(template.gtin), serials, *map(repeat, columns))
                continue
            for uri, serial in zip(pack_uris(template.gtin, serials), serials, strict=True):
                if made.get(uri) is template:
                    rows.append((template.gtin, serial, *columns))
                elif (state := self._new.pop(uri, None)) is not None:
                    rows.append((state.gtin, state.serial, *self._row_columns(state)))
        return rows

    def _row_columns(self, state: PackState) -> tuple[object, ...]:
        """The values of ``_NEW_COLUMNS`` after the serial."""
        lot = self._lot(state.gtin, state.lot, expiry=state.expiry)
        assert lot is not None
        return (lot[0], self.ids.entry_pk_of(state.commissioned), *self._columns(state))

    def _new_rows(self) -> list[tuple[object, ...]]:
        """The values of ``_NEW_COLUMNS`` for each new pack. The packs of one commissioning
        entry differ only in their serial, so the columns after it, which take lookups, are
        worked out once for each distinct rest of the state."""
        rows = []
        known: dict[tuple[object, ...], tuple[object, ...]] = {}
        for state in self._new.values():
            rest = _ALL_BUT_URI_AND_SERIAL(state)
            columns = known.get(rest)
            if columns is None:
                columns = known[rest] = self._row_columns(state)
            rows.append((state.gtin, state.serial, *columns))
        return rows

    @property
    def pending(self) -> int:
        """Packs changed or added since the last ``flush``."""
        return self._made_count + len(self._new) + len(self._dirty)

    def flush(self) -> None:
        paramstyle = self.conn.dialect.paramstyle
        if self._batches or self._new:
            rows = self._made_rows()
            rows += self._new_rows()
            try:
                self.conn.exec_driver_sql(_insert_packs_sql(paramstyle), rows)
            except IntegrityError as exc:
                if self._unchecked:
                    raise PacksTaken(str(exc.orig)) from exc
                raise
            self._made.clear()
            self._indexed = 0
            self._batches.clear()
            self._made_count = 0
            self._taken_out = False
            self._new.clear()
            self._unchecked = False
        if self._dirty:
            changed = [(*self._columns(s), self._pack_pk[uri]) for uri, s in self._dirty.items()]
            self.conn.exec_driver_sql(_update_packs_sql(paramstyle), changed)
            self._dirty.clear()
        for box in self._container_dirty.values():
            values = {
                "custodian": self.ids.feed(box.custodian),
                "status": box.status.value,
                "destination": box.destination,
                "parent": box.parent,
                "prior": box.prior.value if box.prior else None,
                "last": self._entry_pk(box.last),
            }
            found = self.conn.execute(select(C.id).where(C.uri == box.uri)).scalar()
            if found is None:
                self.conn.execute(insert(CONTAINERS).values(uri=box.uri, **values))
            else:
                self.conn.execute(update(CONTAINERS).where(C.id == found).values(**values))
        self._container_dirty.clear()
