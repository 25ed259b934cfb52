"""The lifecycle's ``StateView`` over a database transaction.

Rows an entry touches are loaded in batches into an identity map, the pure lifecycle mutates
the plain ``PackState`` objects, and ``flush`` writes back only what changed, in bulk.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator
from typing import Any
from urllib.parse import quote, unquote

from sqlalchemy import ColumnElement, Connection, Row, and_, bindparam, insert, select, update

from ledger.identifiers import DL_ROOT
from ledger.state import ContainerState, OrderKey, PackState
from ledger.status import Status
from node.store.models import CONTAINERS, ENTRIES, FEEDS, LOTS, PACKS, WITHDRAWALS

_CHUNK = 400
P = PACKS.c
C = CONTAINERS.c
E = ENTRIES.c
L = LOTS.c
F = FEEDS.c
W = WITHDRAWALS.c
_PACK_PREFIX = f"{DL_ROOT}/01/"


def pack_key(uri: str) -> tuple[str, str]:
    """(gtin, serial) of a canonical pack URI."""
    gtin, serial = uri[len(_PACK_PREFIX) :].split("/21/", 1)
    return gtin, unquote(serial)


def pack_uri_of(gtin: str, serial: str) -> str:
    return f"{_PACK_PREFIX}{gtin}/21/{quote(serial, safe='')}"


def pack_filters(keys: Iterable[tuple[str, str]]) -> Iterator[ColumnElement[bool]]:
    """``gtin = ? AND serial IN (…)`` per GTIN, in chunks: the unique (gtin, serial) index
    serves that; SQLite answers a row-value ``(gtin, serial) IN (…)`` of two or more keys with a
    scan of the whole table."""
    by_gtin: dict[str, list[str]] = {}
    for gtin, serial in keys:
        by_gtin.setdefault(gtin, []).append(serial)
    for gtin, serials in by_gtin.items():
        for start in range(0, len(serials), _CHUNK):
            yield and_(P.gtin == gtin, P.serial.in_(serials[start : start + _CHUNK]))


class Ids:
    """Feed names and entry ids to their integer keys, and back, cached per store."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.feed_pk: dict[str, int] = {}
        self.feed_name: dict[int, str] = {}
        self.entry_pk: dict[str, int] = {}
        self.entry_info: dict[int, tuple[str, str, str, int]] = {}  # pk -> (id, ts, feed, seq)
        self.entry_by_key: dict[OrderKey, int] = {}

    def feed(self, name: str) -> int:
        if name not in self.feed_pk:
            pk = self.conn.execute(select(F.id).where(F.name == name)).scalar()
            if pk is None:
                pk = self.conn.execute(
                    insert(FEEDS).values(name=name, size=0)
                ).inserted_primary_key[0]  # type: ignore[index]
            self.remember_feed(name, int(pk))
        return self.feed_pk[name]

    def remember_feed(self, name: str, pk: int) -> None:
        self.feed_pk[name] = pk
        self.feed_name[pk] = name

    def name(self, pk: int) -> str:
        if pk not in self.feed_name:
            name = self.conn.execute(select(F.name).where(F.id == pk)).scalar_one()
            self.remember_feed(name, pk)
        return self.feed_name[pk]

    def remember_entry(self, pk: int, entry_id: str, ts: str, feed: str, seq: int) -> None:
        self.entry_pk[entry_id] = pk
        self.entry_info[pk] = (entry_id, ts, feed, seq)
        self.entry_by_key[(ts, feed, seq)] = pk

    def entry(self, pk: int) -> tuple[str, str, str, int]:
        if pk not in self.entry_info:
            row = self.conn.execute(select(E.entry_id, E.ts, E.feed, E.seq).where(E.id == pk)).one()
            self.remember_entry(pk, row.entry_id, row.ts, self.name(row.feed), row.seq)
        return self.entry_info[pk]

    def entry_pk_of(self, entry_id: str | None) -> int | None:
        if entry_id is None:
            return None
        if entry_id not in self.entry_pk:
            pk = self.conn.execute(select(E.id).where(E.entry_id == entry_id)).scalar()
            if pk is None:
                return None
            self.entry_pk[entry_id] = int(pk)
        return self.entry_pk[entry_id]


class DbStateView:
    def __init__(self, conn: Connection, ids: Ids) -> None:
        self.conn = conn
        self.ids = ids
        self._packs: dict[str, PackState] = {}
        self._pack_pk: dict[str, int] = {}
        self._new: dict[str, PackState] = {}
        self._dirty: dict[str, PackState] = {}
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
        wanted = [u for u in uris if u not in self._packs and u not in self._new]
        for condition in pack_filters(pack_key(u) for u in wanted):
            rows = self.conn.execute(select(PACKS).where(condition)).all()
            for row in rows:
                state = self._to_state(row)
                self._saw(state.last)
                self._packs[state.uri] = state
                self._pack_pk[state.uri] = row.id
        return {u: s for u in uris if (s := self._packs.get(u) or self._new.get(u)) is not None}

    def put_packs(self, states: Iterable[PackState]) -> None:
        for state in states:
            if state.uri in self._pack_pk:
                self._dirty[state.uri] = state
            else:
                self._new[state.uri] = state

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
        if cached is not None and not cached[1] and expiry:
            self._set_expiry(cached[0], gtin, lot, expiry)
        if (gtin, lot) not in self._lots:
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

    def _columns(self, state: PackState) -> dict[str, object]:
        changed = self.ids.entry_pk_of(state.changed_by)
        return {
            "custodian": self.ids.feed(state.custodian),
            "status": state.status.value,
            "destination": state.destination,
            "container": state.container,
            "prior": state.prior.value if state.prior else None,
            "changed_by": changed,
            "last": self._entry_pk(state.last),
        }

    def flush(self) -> None:
        if self._new:
            rows = []
            for state in self._new.values():
                lot = self._lot(state.gtin, state.lot, expiry=state.expiry)
                assert lot is not None
                commissioned = self.ids.entry_pk_of(state.commissioned)
                rows.append(
                    {
                        "gtin": state.gtin,
                        "serial": state.serial,
                        "lot": lot[0],
                        "commissioned": commissioned,
                    }
                    | self._columns(state)
                )
            self.conn.execute(insert(PACKS), rows)
            self._new.clear()
        if self._dirty:
            rows = [{"pk": self._pack_pk[uri]} | self._columns(s) for uri, s in self._dirty.items()]
            self.conn.execute(
                update(PACKS).where(P.id == bindparam("pk")),
                rows,
            )
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
