"""How soon a hint is pulled (node/replication/loop.py): at most one hinted round per
``MIN_GAP_S`` however many hints come, but neither a background round nor the witnessing of the
peer's checkpoints after a pull makes a hint wait."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from flask import Response, request

from node.replication.loop import MIN_GAP_S, Replicator
from node.replication.witnessing import CHECKPOINTS_PATH
from tests.replication.support import Honest, base_history, ingest_all, open_node, peer, serve
from tests.replication.test_replicator import wait_for

FEEDS = "/api/v1/feeds"


def test_a_burst_of_hints_makes_at_most_one_pull_per_min_gap(tmp_path: Path) -> None:
    h = base_history()
    w = h.world
    with open_node(tmp_path / "h.db", w) as honest, open_node(tmp_path / "v.db", w) as victim:
        ingest_all(honest, h.base, w)
        pulls: list[float] = []
        app = Honest(honest).app()
        app.before_request(
            lambda: pulls.append(time.monotonic()) if request.path == FEEDS else None
        )
        with serve(app) as url:
            replicator = Replicator(victim, w.membership, [peer("honest", url)], interval_s=60)
            replicator.start()
            try:
                assert wait_for(lambda: victim.digest() == honest.digest())
                before = len(pulls)
                began = time.monotonic()
                while time.monotonic() - began < 1.0:  # a hint every 10 ms for a second
                    replicator.hint("honest")
                    time.sleep(0.01)
                time.sleep(MIN_GAP_S + 0.1)
            finally:
                replicator.stop()
        hinted = len(pulls) - before
        assert 1 <= hinted <= 1.0 / MIN_GAP_S + 2  # ~100 hints; without the gap ~20 pulls


def test_a_hint_just_after_a_background_round_is_pulled_without_waiting_the_gap(
    tmp_path: Path,
) -> None:
    h = base_history()
    w = h.world
    with open_node(tmp_path / "h.db", w) as honest, open_node(tmp_path / "v.db", w) as victim:
        ingest_all(honest, h.base[:2], w)
        pulls: list[float] = []
        app = Honest(honest).app()
        app.before_request(
            lambda: pulls.append(time.monotonic()) if request.path == FEEDS else None
        )
        with serve(app) as url:
            replicator = Replicator(victim, w.membership, [peer("honest", url)], interval_s=60)
            replicator.start()
            try:
                assert wait_for(lambda: replicator.status()["rounds"] >= 1, timeout=10)
                background = pulls[-1]  # the first round: the timer's, not a hint's
                replicator.hint("honest")
                assert wait_for(lambda: len(pulls) >= 2, timeout=5)
            finally:
                replicator.stop()
        # Counted from the background round, the hinted pull would wait for MIN_GAP_S.
        assert pulls[1] - background < MIN_GAP_S


def test_a_hint_during_a_slow_witnessing_is_pulled_at_once(tmp_path: Path) -> None:
    """The peer takes seconds to answer for its checkpoints (the witnessing after a pull): a
    hint that arrives meanwhile is pulled at once, not after the witnessing."""
    h = base_history()
    w = h.world
    with open_node(tmp_path / "h.db", w) as honest, open_node(tmp_path / "v.db", w) as victim:
        ingest_all(honest, h.base[:2], w)
        asked, release = threading.Event(), threading.Event()
        app = Honest(honest).app()

        @app.get(CHECKPOINTS_PATH)
        def checkpoints() -> Response:  # a slow peer: 5 s, or until the test ends
            asked.set()
            release.wait(5.0)
            return Response('{"checkpoints": [], "evidence": []}', mimetype="application/json")

        with serve(app) as url:
            replicator = Replicator(victim, w.membership, [peer("honest", url)], interval_s=60)
            replicator.start()
            try:
                assert asked.wait(10)  # the first round pulled, and is witnessing now
                assert victim.digest() == honest.digest()
                ingest_all(honest, h.base[2:], w)  # the peer appends and hints
                began = time.monotonic()
                replicator.hint("honest")
                assert wait_for(lambda: victim.digest() == honest.digest(), timeout=4)
                took = time.monotonic() - began
                assert not release.is_set()
            finally:
                release.set()
                replicator.stop()
        # Behind the witnessing, the pull would have waited the 5 s of the answer.
        assert took < 1.0


def test_run_once_witnesses_the_peers_before_it_returns(tmp_path: Path) -> None:
    h = base_history()
    w = h.world
    with open_node(tmp_path / "h.db", w) as honest, open_node(tmp_path / "v.db", w) as victim:
        ingest_all(honest, h.base, w)
        asked: list[str] = []
        app = Honest(honest).app()

        @app.get(CHECKPOINTS_PATH)
        def checkpoints() -> Response:
            time.sleep(0.3)
            asked.append(request.path)
            return Response('{"checkpoints": [], "evidence": []}', mimetype="application/json")

        with serve(app) as url:
            replicator = Replicator(victim, w.membership, [peer("honest", url)])
            try:
                report = replicator.run_once()
                witnessed = len(asked)
            finally:
                replicator.stop()
        assert report.added == len(h.base)
        assert witnessed == 1
