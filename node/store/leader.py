"""The replicator's election on PostgreSQL: a session-level advisory lock (ADR 0021).

Every server of a node (every worker process, on every host) asks for the same advisory lock on
a connection of its own; the one that gets it runs the replication loop. The lock belongs to
the session: when the holder's process dies its connection closes and PostgreSQL releases the
lock at once; when its host dies or is cut off, the server's TCP keepalives (set per session
below: 5 s idle, then 3 probes 2 s apart) end the session within about 11 s. The holder checks
its session every few seconds (``held``) and stops replicating when it is gone.

The connection runs in autocommit: it never holds a transaction (and so never a snapshot that
would hold back vacuum) while it waits.
"""

from __future__ import annotations

import contextlib

from sqlalchemy import Connection, create_engine, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

#: The advisory lock key of the replicator ("mtrp"); one node per database.
REPLICATOR_LOCK = 0x6D747270
_KEEPALIVES = {
    "keepalives": 1,
    "keepalives_idle": 5,
    "keepalives_interval": 2,
    "keepalives_count": 3,
}
_SESSION = (
    "SET tcp_keepalives_idle = 5",
    "SET tcp_keepalives_interval = 2",
    "SET tcp_keepalives_count = 3",
)


class DatabaseLock:
    """A PostgreSQL session-level advisory lock on a connection of its own."""

    def __init__(self, url: str, key: int = REPLICATOR_LOCK) -> None:
        self.key = key
        self._engine = create_engine(
            url, poolclass=NullPool, isolation_level="AUTOCOMMIT", connect_args=_KEEPALIVES
        )
        self._conn: Connection | None = None

    def try_take(self) -> bool:
        """Take the lock if nobody holds it; ``True`` if this process holds it now."""
        if self._conn is not None:
            return self.held()
        try:
            conn = self._engine.connect()
        except SQLAlchemyError:
            return False  # the database is unreachable: nobody can take it now
        try:
            for statement in _SESSION:
                conn.exec_driver_sql(statement)
            took = conn.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": self.key})
            if took.scalar_one():
                self._conn = conn
                return True
        except SQLAlchemyError:
            pass
        conn.close()
        return False

    def held(self) -> bool:
        """Whether the session holding the lock is still there (the lock lives as long)."""
        if self._conn is None:
            return False
        try:
            self._conn.exec_driver_sql("SELECT 1").scalar_one()
        except SQLAlchemyError:
            self._drop()
            return False
        return True

    def release(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(SQLAlchemyError):
                self._conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": self.key})
            self._drop()
        self._engine.dispose()

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(SQLAlchemyError):
                conn.close()
