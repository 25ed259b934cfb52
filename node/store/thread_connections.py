"""One DB-API connection per thread, for hot paths that bypass SQLAlchemy's pool: the pack
query's reads (``pack_query``) and the shared counters' single statements (``counters``)."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from typing import Any, TypeVar

import psycopg

T = TypeVar("T")


class ThreadConnections:
    """Each thread's connection from ``connect``, opened on first use; a PostgreSQL connection
    that went away is replaced once, and every connection opened is closed by ``close``."""

    def __init__(self, connect: Callable[[], Any]) -> None:
        self._connect = connect
        self._local = threading.local()
        self._opened: list[Any] = []
        self._lock = threading.Lock()

    def run(self, use: Callable[[Any], T]) -> T:
        """``use(connection)`` on this thread's connection."""
        for attempt in (1, 2):
            conn = getattr(self._local, "conn", None)
            if conn is None:
                conn = self._local.conn = self._connect()
                with self._lock:
                    self._opened.append(conn)
            try:
                return use(conn)
            except psycopg.OperationalError:
                self._local.conn = None  # the server went away: once more, connected anew
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def close(self) -> None:
        with self._lock:
            opened, self._opened = self._opened, []
        for conn in opened:
            with contextlib.suppress(Exception):
                conn.close()
