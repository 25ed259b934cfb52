"""Feed names and entry ids to their integer keys, and back.

Rows refer to feeds and entries by integer keys; the lifecycle and the wire speak names and
entry ids. ``Ids`` maps between them on one connection and remembers what it learnt. A store
keeps one per thread (``ThreadIds``): a server's worker serves requests on several threads,
and on PostgreSQL their transactions overlap.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

from sqlalchemy import Connection, bindparam, insert, select

from ledger.state import OrderKey
from node.store.models import ENTRIES, FEEDS

#: Entry keys per ``id IN (…)``: well under the bound-parameter limits of SQLite and PostgreSQL.
_CHUNK = 1_000
E = ENTRIES.c
F = FEEDS.c

_ENTRY_INFO = select(E.id, E.entry_id, E.ts, E.feed, E.seq).where(
    E.id.in_(bindparam("pks", expanding=True))
)


class Ids:
    """Feed names and entry ids to their integer keys, and back, remembered once read."""

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

    def load_entries(self, pks: Iterable[int | None]) -> None:
        """Learn many entries' info in a few SELECTs, rather than one ``entry`` SELECT each."""
        wanted = sorted({pk for pk in pks if pk is not None and pk not in self.entry_info})
        for start in range(0, len(wanted), _CHUNK):
            rows = self.conn.execute(_ENTRY_INFO, {"pks": wanted[start : start + _CHUNK]})
            for row in rows:
                self.remember_entry(row.id, row.entry_id, row.ts, self.name(row.feed), row.seq)

    def entry_pk_of(self, entry_id: str | None) -> int | None:
        if entry_id is None:
            return None
        if entry_id not in self.entry_pk:
            pk = self.conn.execute(select(E.id).where(E.entry_id == entry_id)).scalar()
            if pk is None:
                return None
            self.entry_pk[entry_id] = int(pk)
        return self.entry_pk[entry_id]


class ThreadIds:
    """One ``Ids`` per thread, kept from one write transaction to the next."""

    def __init__(self) -> None:
        self._local = threading.local()

    def on(self, conn: Connection) -> Ids:
        """This thread's ``Ids``, now reading through ``conn``."""
        ids: Ids | None = getattr(self._local, "ids", None)
        if ids is None:
            ids = self._local.ids = Ids(conn)
        ids.conn = conn
        return ids

    def forget(self) -> None:
        """Drop this thread's keys: rows they name may have been rolled back."""
        self._local.ids = None
