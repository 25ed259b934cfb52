"""The pack query with its bucket's take (``Store.read_pack_taking``, issue 19): on PostgreSQL
one statement that takes and reads, on SQLite the take then the read; either way the reading
equals ``read_pack``'s and the bucket counts exactly as ``Counters.take`` does."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from ledger.kinds import Kind
from node.store import Store, TakeRequest
from tests.node.test_reads import KEYS, history
from tests.node.world import GTIN, World, make_world, pack


@pytest.fixture
def world() -> World:
    return make_world()


@pytest.fixture
def store(store_url: str, world: World) -> Iterator[Store]:
    with Store(store_url) as store:
        assert not store.ingest(history(world), world.membership).rejected
        yield store


def _take(subject: str, per_minute: int = 10**9, burst: int = 10**9) -> TakeRequest:
    return TakeRequest(subject, "query", per_minute, burst, time.time())


@pytest.mark.parametrize(("gtin", "serial"), KEYS, ids=[s for _, s in KEYS])
def test_the_reading_with_the_take_equals_read_pack(store: Store, gtin: str, serial: str) -> None:
    taken, reading = store.read_pack_taking(_take("token:1"), gtin, serial)
    assert taken.wait == 0.0
    assert reading is not None
    assert reading == store.read_pack(gtin, serial)


def test_an_unknown_pack_reads_none(store: Store) -> None:
    taken, reading = store.read_pack_taking(_take("token:1"), GTIN, "NOSUCH")
    assert taken.wait == 0.0
    assert reading is None


def test_several_alerts_keep_their_order(store: Store, world: World) -> None:
    again = [world.write("ph/b", Kind.DISPENSE, subjects=[pack("CLN1")]) for _ in range(2)]
    store.ingest(again, world.membership)
    _, reading = store.read_pack_taking(_take("token:1"), GTIN, "CLN1")
    assert reading is not None
    assert len(reading.alerts) >= 2
    assert reading == store.read_pack(GTIN, "CLN1")


def test_the_bucket_counts_each_take_once_and_refuses_past_its_burst(store: Store) -> None:
    answers = [store.read_pack_taking(_take("token:7", 1, 3), GTIN, "ACT1") for _ in range(4)]
    assert [t.wait == 0.0 for t, _ in answers] == [True, True, True, False]
    assert all(r is not None for _, r in answers[:3])
    assert answers[3][1] is None  # refused: not read
    assert answers[3][0].wait > 0.5
    # the same bucket as Counters.take's: the next plain take is refused too
    later = store.counters().take("token:7", "query", per_minute=1, burst=3, now=time.time())
    assert later.wait > 0
    # another subject's bucket is its own
    assert store.read_pack_taking(_take("token:8", 1, 3), GTIN, "ACT1")[0].wait == 0.0


def test_the_take_returns_the_harvest_throttle(store: Store) -> None:
    counters = store.counters()
    now = time.time()
    for i in range(3):
        counters.probe("token:9", f"p{i}", now=now, max_unknown=3, window_s=60, sample=10)
    taken, _ = store.read_pack_taking(_take("token:9"), GTIN, "ACT1")
    assert taken.harvest_until == pytest.approx(now + 60, abs=1)
