"""``HttpPeer`` against a real HTTP server on a loopback port: the honest contract, and the
answers it must refuse before anything reaches the store."""

from __future__ import annotations

import gzip
import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from flask import Flask, Response, redirect

from node.replication.http_peer import HttpPeer
from node.replication.protocol import MAX_BODY
from node.replication.pull import PeerError
from tests.replication.support import (
    TOKEN,
    Byzantine,
    Honest,
    Trickler,
    base_history,
    closed_port_url,
    ingest_all,
    open_node,
    serve,
    signed_genesis,
)


def test_an_honest_peer_answers_heads_pages_and_membership(tmp_path: Path) -> None:
    h = base_history()
    with open_node(tmp_path / "a.db", h.world) as store:
        ingest_all(store, h.base, h.world)
        server = Honest(store, "a")
        with serve(server.app()) as url, HttpPeer("a", url + "/", TOKEN) as peer:
            assert peer.heads() == store.heads()
            assert peer.digest == store.digest()
            page = peer.entries("acme/line1", 1, 2)
            assert [e.id for e in page] == [e.id for e in store.entries("acme/line1", 1, 2)]
            assert peer.entries("acme/line1", 3, 1000) == []
            versions = peer.memberships()
            assert [v.id for v in versions] == [signed_genesis(h.world).id]
            peer.hint("b")
            assert server.hints == [{"peer": "b"}]


def test_a_wrong_token_is_a_peer_error_that_never_shows_the_token(tmp_path: Path) -> None:
    h = base_history()
    with open_node(tmp_path / "a.db", h.world) as store, serve(Honest(store).app()) as url:
        peer = HttpPeer("a", url, "not-the-token")
        with pytest.raises(PeerError, match="HTTP 401: Unauthorized") as caught:
            peer.heads()
        assert "not-the-token" not in str(caught.value)
        assert "not-the-token" not in repr(peer)
        peer.close()


def test_an_unreachable_peer_is_a_peer_error() -> None:
    with (
        HttpPeer("gone", closed_port_url(), TOKEN, timeout=2) as peer,
        pytest.raises(PeerError, match="the connection failed"),
    ):
        peer.heads()


def test_a_trickling_peer_stretches_a_request_past_its_deadline() -> None:
    """A peer that answers one byte every 0.2 s never lets a socket read time out: the
    request is still given up at its wall-clock deadline, and the next one, while the first is
    still stuck in the trickled headers, fails at once instead of opening another connection."""
    pool = ThreadPoolExecutor(1)
    with Trickler(every_s=0.2) as slow, HttpPeer("slow", slow.url, TOKEN, deadline=1.5) as peer:
        try:
            started = time.monotonic()
            pending = pool.submit(peer.heads)
            with pytest.raises(PeerError, match=r"expected the whole answer within 1\.5 s"):
                pending.result(timeout=10)  # without a deadline: the 1 MB answer takes 2 days
            assert time.monotonic() - started < 2.5
            started = time.monotonic()
            with pytest.raises(PeerError, match="still being answered"):
                peer.heads()
            assert time.monotonic() - started < 0.5
            assert slow.connections == 1
        finally:
            pool.shutdown(wait=False, cancel_futures=True)


def test_a_redirect_is_not_followed_with_our_token() -> None:
    app = Flask("redirector")

    @app.get("/api/v1/feeds")
    def feeds() -> Response:
        return redirect("http://example.invalid/steal", 302)  # type: ignore[return-value]

    with (
        serve(app) as url,
        HttpPeer("r", url, TOKEN) as peer,
        pytest.raises(PeerError, match="HTTP 302"),
    ):
        peer.heads()


def test_a_declared_oversized_body_is_refused_before_reading() -> None:
    app = Flask("big")

    @app.get("/api/v1/feeds")
    def feeds() -> Response:
        response = Response(b"{}", mimetype="application/json")
        response.headers["Content-Length"] = str(MAX_BODY + 1)
        response.direct_passthrough = True
        return response

    with (
        serve(app) as url,
        HttpPeer("big", url, TOKEN, timeout=3) as peer,
        pytest.raises(PeerError, match="Content-Length"),
    ):
        peer.heads()


def test_membership_versions_out_of_order_are_refused(tmp_path: Path) -> None:
    h = base_history()
    genesis = signed_genesis(h.world)
    liar = Byzantine(memberships=[genesis, genesis])
    with (
        serve(liar.app()) as url,
        HttpPeer("m", url, TOKEN) as peer,
        pytest.raises(PeerError, match="in order"),
    ):
        peer.memberships()


def test_a_page_must_be_of_the_feed_and_position_asked(tmp_path: Path) -> None:
    h = base_history()
    liar = Byzantine()
    liar.put(h.base)
    with serve(liar.app()) as url, HttpPeer("x", url, TOKEN) as peer:
        assert len(peer.entries("acme/line1", 0, 10)) == 3
        liar.entries_answer = lambda feed, start, limit: Response(
            '{"feed": "acme/line1", "entries": '
            + str([e.to_wire() for e in h.base[1:3]]).replace("'", '"')
            + "}",
            mimetype="application/json",
        )
        with pytest.raises(PeerError, match=r"expected acme/line1 #0 .* found acme/line1 #1"):
            peer.entries("acme/line1", 0, 10)
        with pytest.raises(PeerError, match="expected at most 1 entries"):
            peer.entries("acme/line1", 1, 1)


def test_a_compressed_body_is_refused_not_expanded() -> None:
    """A gzip bomb: 32 KiB on the wire that would expand to 32 MiB."""
    app = Flask("bomb")
    bomb = gzip.compress(b" " * MAX_BODY)

    @app.get("/api/v1/feeds")
    def feeds() -> Response:
        response = Response(bomb, mimetype="application/json")
        response.headers["Content-Encoding"] = "gzip"
        return response

    with (
        serve(app) as url,
        HttpPeer("bomb", url, TOKEN) as peer,
        pytest.raises(
            PeerError, match="expected an uncompressed body, found Content-Encoding 'gzip'"
        ),
    ):
        peer.heads()


@pytest.mark.parametrize("shape", ["open-feed", "two-positions", "one-entry", "not-an-array"])
def test_fork_evidence_outside_a_frozen_feed_is_a_peer_error(shape: str) -> None:
    """Fork evidence is two entries at one position of a feed the peer says is frozen there
    or before, below its size; anything else is an answer outside the protocol."""
    h = base_history()
    chain = [e for e in h.base if e.payload.feed == "acme/line1"]
    frozen_at = None if shape == "open-feed" else 1
    pair: object = [chain[1].to_wire(), chain[2].to_wire()]  # positions 1 and 2
    if shape == "open-feed":
        pair = [chain[1].to_wire(), chain[1].to_wire()]
    elif shape == "one-entry":
        pair = [chain[1].to_wire()]
    forks: object = {"x": pair} if shape == "not-an-array" else [pair]
    answer = {
        "digest": "0" * 64,
        "node": "liar",
        "feeds": {"acme/line1": {"size": 3, "head": chain[2].id, "frozen_at": frozen_at}},
        "forks": forks,
    }
    liar = Byzantine(feeds_answer=lambda: Response(json.dumps(answer), mimetype="application/json"))
    with (
        serve(liar.app()) as url,
        HttpPeer("liar", url, TOKEN) as peer,
        pytest.raises(PeerError, match="fork"),
    ):
        peer.heads()
