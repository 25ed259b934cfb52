"""The pack query's own PostgreSQL connections (node/store/pack_query.py): one per thread in
autocommit, replaced when the server drops it, closed with the store."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, text

from node.store import Store
from tests.node.test_reads import history
from tests.node.world import GTIN, make_world

pytestmark = pytest.mark.postgres


@pytest.fixture
def database(postgres_url: str) -> Iterator[tuple[str, str]]:
    """(URL of a new database, its name)."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield postgres_url.rsplit("/", 1)[0] + f"/{name}", name
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _sessions(postgres_url: str, name: str, *, kill: bool = False) -> int:
    admin = create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            pids = (
                conn.execute(
                    text("SELECT pid FROM pg_stat_activity WHERE datname = :name"), {"name": name}
                )
                .scalars()
                .all()
            )
            for pid in pids if kill else []:
                conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        return len(pids)
    finally:
        admin.dispose()


def test_a_pack_query_after_the_server_dropped_its_connection_is_answered(
    postgres_url: str, database: tuple[str, str]
) -> None:
    url, name = database
    world = make_world()
    with Store(url) as store:
        assert not store.ingest(history(world), world.membership).rejected
        before = store.read_pack(GTIN, "ACT1")
        assert before is not None
        assert _sessions(postgres_url, name, kill=True) >= 1  # every session of the node's
        assert store.read_pack(GTIN, "ACT1") == before


def test_closing_the_store_closes_the_pack_query_connections(
    postgres_url: str, database: tuple[str, str]
) -> None:
    url, name = database
    world = make_world()
    with Store(url) as store:
        assert not store.ingest(history(world), world.membership).rejected
        assert store.read_pack(GTIN, "ACT1") is not None
    assert _sessions(postgres_url, name) == 0
