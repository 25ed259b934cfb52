"""Found by the crash harness on PostgreSQL: after a restart, one worker's catch-up
before its first write (or a ``POST /api/v1/replication/sync``) ingested the same peer page as
the replication loop in the other worker. Both read the feed's size before either inserted,
and the slower one failed on the unique (feed, seq) key: "replication round failed" with a
stack trace in the log, and a 500 for a sync. SQLite never showed it (writers take the
database lock up front); on PostgreSQL writers now queue on one advisory lock (``Store._write``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from ledger.entry import SignedEntry
from ledger.kinds import Kind
from ledger.membership import Membership
from node.store import IngestReport, Store
from tests.node.world import make_world, pack

ROUNDS = 20
PAGE = 8


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return str(tmp_path / "node.db")
    make: Callable[[str], str] = request.getfixturevalue("postgres_databases")
    return make("ingest-race")


@pytest.mark.parametrize("known", [False, True], ids=["new-feed", "known-feed"])
def test_two_workers_ingesting_the_same_page_at_once_both_succeed(
    database: str, known: bool
) -> None:
    """``known``: the feed's row exists already (the race seen in the crash run); otherwise
    both workers would create it at once too."""
    world = make_world()
    with Store(database) as store:  # the schema, before the two "workers" open it
        if known:
            store.ingest([world.commission(["K0"], lot="K0")], world.membership)
    workers = [Store(database), Store(database)]
    try:
        for round_ in range(ROUNDS):
            page = [world.commission([f"R{round_}S{i}"], lot=f"L{round_}-{i}") for i in range(PAGE)]
            reports = _at_once(workers, page, world.membership)
            assert sum(r.added for r in reports) == PAGE
            assert sum(r.duplicates for r in reports) == PAGE
        assert workers[0].heads()["acme/line1"].size == ROUNDS * PAGE + known
    finally:
        for store in workers:
            store.close()


def _at_once(
    stores: list[Store], page: list[SignedEntry], membership: Membership
) -> list[IngestReport]:
    barrier = threading.Barrier(len(stores))
    reports: list[IngestReport] = []
    errors: list[BaseException] = []

    def ingest(store: Store) -> None:
        barrier.wait()
        try:
            reports.append(store.ingest(page, membership))
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=ingest, args=(s,)) for s in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    return reports


def test_an_ingest_waits_for_a_local_write_of_another_feed(database: str) -> None:
    """Found in review: on PostgreSQL a local write and an ingest of a different feed ran side
    by side; both may change one pack, each deciding from what it read before the other's
    commit, so one could overwrite the other's change. Writers now queue, as on SQLite."""
    world = make_world()
    with Store(database):
        pass  # the schema, before the two "workers" open it
    writing, ingesting = Store(database), Store(database)
    inside, release, ingested = threading.Event(), threading.Event(), threading.Event()
    local = world.commission(["W1"], lot="W")
    peer = world.write("ph/a", Kind.DISPENSE, subjects=[pack("W1")])

    def build(_head: SignedEntry | None) -> list[SignedEntry]:
        inside.set()
        assert release.wait(30)
        return [local]

    def ingest() -> None:
        assert inside.wait(30)
        ingesting.ingest([peer], world.membership)
        ingested.set()

    other = threading.Thread(target=ingest)
    other.start()
    try:
        writer = threading.Thread(
            target=writing.write_local, args=("acme/line1", build, world.membership)
        )
        writer.start()
        assert not ingested.wait(1.0), "the ingest ran while a local write was open"
        release.set()
        writer.join(30)
        other.join(30)
        assert ingested.is_set()
        assert writing.heads().keys() == {"acme/line1", "ph/a"}
    finally:
        release.set()
        writing.close()
        ingesting.close()
