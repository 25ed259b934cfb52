"""The ``Replicator`` over real HTTP (test servers that follow the documented API): rounds,
the background loop, push hints both ways, backoff, status, and membership adoption."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from ledger import membership as ms
from ledger.feed import FeedWriter
from ledger.kinds import Kind, Role
from ledger.membership import Membership
from node.replication.loop import Replicator
from node.store import Store
from tests.node.test_store_order import history
from tests.node.world import key, make_world
from tests.replication.support import (
    Honest,
    base_history,
    closed_port_url,
    ingest_all,
    open_node,
    peer,
    serve,
    signed_genesis,
)


def wait_for(condition: Callable[[], bool], timeout: float = 5.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


def test_run_once_pulls_from_every_peer(tmp_path: Path) -> None:
    """The manufacturer's and the distributor's nodes each hold their own feed; a third node
    pulls both in one round and holds what both hold."""
    h = base_history()
    w = h.world
    acme = [e for e in h.base if e.payload.feed == "acme/line1"]
    with (
        open_node(tmp_path / "a.db", w) as a,
        open_node(tmp_path / "b.db", w) as b,
        open_node(tmp_path / "c.db", w) as c,
    ):
        ingest_all(a, acme, w)
        ingest_all(b, h.base, w)
        with serve(Honest(a, "a").app()) as url_a, serve(Honest(b, "b").app()) as url_b:
            replicator = Replicator(c, w.membership, [peer("a", url_a), peer("b", url_b)])
            try:
                report = replicator.run_once()
                status = replicator.status()
            finally:
                replicator.stop()
        assert report.added == len(h.base)
        assert report.rejected == []
        assert c.digest() == b.digest()
        assert status["rounds"] == 1
        assert status["last_round"]["added"] == len(h.base)
        for name in ("a", "b"):
            assert status["peers"][name]["last_success"] is not None
            assert status["peers"][name]["last_error"] is None
        assert status["peers"]["b"]["digest"] == b.digest()


def test_a_hint_wakes_the_loop_long_before_the_timer(tmp_path: Path) -> None:
    h = base_history()
    w = h.world
    with open_node(tmp_path / "h.db", w) as honest, open_node(tmp_path / "v.db", w) as victim:
        ingest_all(honest, h.base[:2], w)
        with serve(Honest(honest).app()) as url:
            replicator = Replicator(victim, w.membership, [peer("honest", url)], interval_s=60)
            replicator.start()
            try:
                assert wait_for(lambda: victim.digest() == honest.digest())  # the first round
                assert replicator.status()["running"]
                ingest_all(honest, h.base[2:], w)
                time.sleep(0.3)
                assert victim.digest() != honest.digest()  # the timer is 60 s away
                replicator.hint("honest")
                assert wait_for(lambda: victim.digest() == honest.digest(), timeout=3)
                status = replicator.status()
                assert status["peers"]["honest"]["hints_received"] == 1
            finally:
                replicator.stop()
            assert not replicator.status()["running"]


def test_notify_peers_never_blocks_and_coalesces(tmp_path: Path) -> None:
    """A slow peer (each hint takes 0.3 s to answer) and an unreachable one: twenty
    notifications return at once, reach the slow peer as a few hints, and fail quietly for
    the other."""
    h = base_history()
    with open_node(tmp_path / "a.db", h.world) as store:
        slow = Honest(store, "slow", hint_delay_s=0.3)
        with serve(slow.app()) as url:
            replicator = Replicator(
                store,
                h.world.membership,
                [peer("slow", url), peer("gone", closed_port_url())],
                self_name="me",
            )
            try:
                started = time.monotonic()
                for _ in range(20):
                    replicator.notify_peers()
                assert time.monotonic() - started < 0.2
                assert wait_for(lambda: len(slow.hints) >= 1)
                time.sleep(0.8)  # any coalesced follow-up has arrived
                assert slow.hints[0] == {"peer": "me"}
                assert 1 <= len(slow.hints) <= 3
                assert replicator.status()["notifications"] == 20
            finally:
                replicator.stop()


def test_a_failing_peer_backs_off_and_a_hint_from_it_retries_at_once(tmp_path: Path) -> None:
    h = base_history()
    with open_node(tmp_path / "a.db", h.world) as store:
        replicator = Replicator(
            store, h.world.membership, [peer("gone", closed_port_url())], interval_s=0.05
        )
        replicator.start()
        try:
            assert wait_for(
                lambda: replicator.status()["peers"]["gone"]["consecutive_failures"] >= 2
            )
            gone = replicator.status()["peers"]["gone"]
            assert gone["retry_in_s"] > 0
            assert "the connection failed" in gone["last_error"]
            replicator.hint("gone")
            assert replicator.status()["peers"]["gone"]["retry_in_s"] == 0
        finally:
            replicator.stop()


def _with_new_member(genesis: ms.SignedMembership) -> ms.SignedMembership:
    newcomer = ms.organisation(
        "ph2",
        name="Second Pharmacy",
        role=Role.PHARMACY,
        gln="9506000000046",
        feeds={"ph2/counter": ms.raw_public(key(21))},
    )
    return ms.sign_membership(genesis.membership.with_organisation(newcomer), {"gov-1": key(1)})


def test_a_new_membership_version_is_adopted_before_its_entries(tmp_path: Path) -> None:
    """The honest peer holds membership v2 (a new pharmacy) and that pharmacy's entries; the
    node holds v1 only. One round adopts v2 (verified from the pinned genesis, saved in the
    store, handed to the callback) and then takes the new feed's entries."""
    h = base_history()
    w = h.world
    v2 = _with_new_member(signed_genesis(w))
    ship = w.write("dist/wh", Kind.SHIP, subjects=h.uris[:2], body={"destination": "ph2"})
    receive = FeedWriter("ph2/counter", key(21)).append(
        Kind.RECEIVE, ts=w.ts(), subjects=h.uris[:2], refs=[ship.id]
    )
    adopted: list[Membership] = []
    with open_node(tmp_path / "h.db", w, v2) as honest, open_node(tmp_path / "v.db", w) as victim:
        ingest_all(honest, h.base, w)
        assert not honest.ingest([ship, receive], v2.membership).rejected
        with serve(Honest(honest).app()) as url:
            replicator = Replicator(
                victim, w.membership, [peer("honest", url)], on_membership=adopted.append
            )
            try:
                report = replicator.run_once()
            finally:
                replicator.stop()
        assert [v.membership.version for v in victim.memberships()] == [1, 2]
        assert [m.version for m in adopted] == [2]
        assert replicator.membership.version == 2
        assert report.rejected == []
        assert victim.digest() == honest.digest()
        pack = victim.pack(h.uris[0])
        assert pack is not None
        assert pack.custodian == "ph2/counter"


def test_without_a_pinned_genesis_membership_updates_are_off(tmp_path: Path) -> None:
    h = base_history()
    with Store(tmp_path / "bare.db") as bare:
        replicator = Replicator(bare, h.world.membership, [])
        try:
            assert replicator.run_once().added == 0
            assert replicator.status()["membership_version"] == 1
        finally:
            replicator.stop()


def test_stop_cuts_a_long_round_short(tmp_path: Path) -> None:
    """Six feeds to fetch from a peer that takes 0.5 s per page: stop() does not wait for the
    whole round, only for the request in flight."""
    entries, _ = history()
    w = make_world()
    with open_node(tmp_path / "h.db", w) as honest, open_node(tmp_path / "v.db", w) as victim:
        ingest_all(honest, entries, w)
        with serve(Honest(honest, entries_delay_s=0.5).app()) as url:
            replicator = Replicator(victim, w.membership, [peer("slow", url)], interval_s=60)
            replicator.start()
            time.sleep(0.7)
            started = time.monotonic()
            replicator.stop()
            assert time.monotonic() - started < 1.0
        assert len(victim.heads()) < 6
