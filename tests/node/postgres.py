"""A throw-away PostgreSQL server on loopback for the storage tests.

``make test`` installs Debian's postgresql when missing; this starts a private cluster
(``node.localnet.postgres``, as the benchmarks do, but with ``fsync`` off) and stops it at the
end of the session. ``MEDTRACE_TEST_POSTGRES_URL`` points the tests at an existing server
instead.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from node.localnet import postgres


def unavailable_reason() -> str | None:
    if os.environ.get("MEDTRACE_TEST_POSTGRES_URL"):
        return None
    return postgres.unavailable_reason()


@contextmanager
def postgres_server() -> Iterator[str]:
    """Yield a SQLAlchemy URL of a fresh, empty database."""
    given = os.environ.get("MEDTRACE_TEST_POSTGRES_URL")
    if given:
        yield given
        return
    with postgres.postgres_server({"fsync": "off"}, stop_mode="immediate") as server:
        yield server.url
