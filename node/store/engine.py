"""The database under a store: its engines, SQLite's pragmas, the schema and the write lock.

The same code runs on SQLite and PostgreSQL. On SQLite a node keeps two engines: writers
begin with ``BEGIN IMMEDIATE`` so two writers never deadlock upgrading a read lock, readers
with a plain ``BEGIN``. On PostgreSQL one engine serves both, and writers queue on an advisory
lock instead (``Database.write``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, MetaData, create_engine, event
from sqlalchemy.engine import make_url
from sqlmodel import SQLModel

#: Any fixed numbers: the PostgreSQL advisory locks schema set-up and writers take.
_SCHEMA_LOCK = 0x6D7472  # "mtr"
_WRITE_LOCK = 0x6D7477  # "mtw"


def database_url(path_or_url: str | Path) -> str:
    """A SQLAlchemy URL: a plain path means a SQLite file."""
    text = str(path_or_url)
    if "://" in text:
        return text
    return f"sqlite:///{Path(text).resolve()}"


def _open_engine(url: str, *, sqlite: bool, writer: bool) -> Engine:
    if not sqlite:
        return create_engine(url, pool_pre_ping=True)
    engine = create_engine(url, connect_args={"timeout": 30})

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


def open_sqlite(url: str, *, writer: bool) -> Engine:
    """An engine on a SQLite file with the store's pragmas (node/store/counters.py)."""
    return _open_engine(url, sqlite=True, writer=writer)


class Database:
    """One node's database: a writing and a reading engine, and the store's schema in it.

    ``read_url`` (node.json ``database_read_url``) names a PostgreSQL read replica: the
    ``replica`` engine, which only verification queries use (``Store.read_pack``,
    ``provenance``, ``pack_provenance``, ``entries_naming``, ``container``); without it
    ``replica`` is the reader. Writes, tokens, membership and replication never read it.
    """

    def __init__(self, path_or_url: str | Path, read_url: str | None = None) -> None:
        self.url = database_url(path_or_url)
        self.is_sqlite = make_url(self.url).get_backend_name() == "sqlite"
        self.writer = _open_engine(self.url, sqlite=self.is_sqlite, writer=True)
        self.reader = (
            _open_engine(self.url, sqlite=True, writer=False) if self.is_sqlite else self.writer
        )
        self._setup_schema()
        self.replica = (
            _open_engine(read_url, sqlite=False, writer=False) if read_url else self.reader
        )

    def close(self) -> None:
        self.writer.dispose()
        if self.reader is not self.writer:
            self.reader.dispose()
        if self.replica is not self.reader:
            self.replica.dispose()

    def _schema_lock(self, conn: Connection) -> None:
        if not self.is_sqlite:
            conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_SCHEMA_LOCK})")

    def create_tables(self, metadata: MetaData) -> None:
        """Create tables kept beside the ledger's (if missing) under the lock the store's own
        schema set-up takes, so the workers of one node starting together do not race."""
        with self.writer.begin() as conn:
            self._schema_lock(conn)
            metadata.create_all(conn)

    def _setup_schema(self) -> None:
        """Tables, and triggers by which the database itself refuses to change or delete a
        stored entry. Several processes may open one PostgreSQL database at once: an advisory
        lock makes them take turns."""
        with self.writer.begin() as conn:
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

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """One writer at a time, as SQLite's BEGIN IMMEDIATE gives: a local write and an ingest
        of different feeds may still change the same pack, and each decides from what it read
        (the stored head, the high-water mark, the pack's last entry), so on PostgreSQL writers
        queue on one transaction-scoped advisory lock, taken before any row lock."""
        with self.writer.begin() as conn:
            if not self.is_sqlite:
                conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_WRITE_LOCK})")
            yield conn
