"""What replication tests share: stores of the test consortium, histories, and small real HTTP
servers on loopback ports (an honest node's replication API over a store, a scripted Byzantine
one, and a peer that trickles its answers) so ``HttpPeer`` and ``Replicator`` are tested over
real sockets."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flask import Flask, Response, request
from werkzeug.serving import make_server

from ledger import membership as ms
from ledger.entry import SignedEntry
from ledger.kinds import Kind
from ledger.serials import generate_serials
from node.config import PeerConfig
from node.store import Store
from tests.node.world import World, case, key, make_world, pack

TOKEN = "peer-token-for-tests"


def signed_genesis(world: World) -> ms.SignedMembership:
    return ms.sign_membership(world.membership, {"gov-1": key(1)})


def open_node(path: Path, world: World, *versions: ms.SignedMembership) -> Store:
    """A store holding the test consortium's genesis (and ``versions``), pinned as a node's."""
    store = Store(path)
    genesis = signed_genesis(world)
    store.save_membership(genesis)
    for version in versions:
        store.save_membership(version)
    store.set_meta("genesis_id", genesis.id)
    return store


@dataclass
class History:
    """A small supply chain: commissioned, packed, shipped to the distributor, received."""

    world: World
    uris: list[str]
    base: list[SignedEntry] = field(default_factory=list)


def base_history(world: World | None = None, count: int = 20) -> History:
    w = world or make_world()
    serials = generate_serials(count)
    uris = [pack(s) for s in serials]
    h = History(w, uris)
    h.base.append(w.commission(serials))
    h.base.append(w.write("acme/line1", Kind.PACK, subjects=[case(1), *uris[:10]]))
    ship = w.write("acme/line1", Kind.SHIP, subjects=[case(1)], body={"destination": "dist"})
    h.base.append(ship)
    h.base.append(w.write("dist/wh", Kind.RECEIVE, subjects=[case(1)], refs=[ship.id]))
    h.base.append(w.write("dist/wh", Kind.UNPACK, subjects=[case(1), *uris[:5]]))
    return h


def ingest_all(store: Store, entries: list[SignedEntry], world: World) -> None:
    report = store.ingest(entries, world.membership)
    assert not report.rejected, report.rejected


# -- HTTP servers ----------------------------------------------------------------------------


@contextmanager
def serve(app: Flask) -> Iterator[str]:
    """Run ``app`` on a free loopback port in a thread; yield its base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def _json(obj: Any, status: int = 200) -> Response:
    return Response(json.dumps(obj), status=status, mimetype="application/json")


def _authorised() -> Response | None:
    if request.headers.get("Authorization") != f"Bearer {TOKEN}":
        return _json({"title": "Unauthorized", "status": 401}, 401)
    return None


@dataclass
class Honest:
    """An honest node's replication API over ``store`` (the documented contract)."""

    store: Store
    name: str = "honest"
    hints: list[Any] = field(default_factory=list)
    hint_delay_s: float = 0.0  # a slow peer
    entries_delay_s: float = 0.0

    def app(self) -> Flask:
        app = Flask(f"honest-{self.name}")
        app.before_request(_authorised)
        store = self.store

        @app.get("/api/v1/feeds")
        def feeds() -> Response:
            heads = store.ledger_heads()
            return _json(
                {
                    "digest": heads.digest,
                    "node": self.name,
                    "feeds": heads.feeds_json(),
                    "forks": [[a.to_wire(), b.to_wire()] for a, b in store.forks()],
                }
            )

        @app.get("/api/v1/feeds/<org>/<site>/entries")
        def entries(org: str, site: str) -> Response:
            time.sleep(self.entries_delay_s)
            start = int(request.args.get("from", "0"))
            limit = min(int(request.args.get("limit", "1000")), 1000)
            feed = f"{org}/{site}"
            found = store.entries(feed, start, limit)
            return _json({"feed": feed, "entries": [e.to_wire() for e in found]})

        @app.get("/api/v1/membership")
        def membership() -> Response:
            versions = store.memberships()
            return _json({"genesis": versions[0].id, "versions": [v.to_wire() for v in versions]})

        @app.post("/api/v1/replication/hint")
        def hint() -> Response:
            time.sleep(self.hint_delay_s)
            self.hints.append(request.get_json(silent=True))
            return _json({"accepted": True}, 202)

        return app


EntriesHook = Callable[[str, int, int], Response | None]


@dataclass
class Byzantine:
    """A scripted malicious peer: it serves ``feeds`` (wire entries by position) under heads it
    computes from them unless ``heads`` says otherwise, and any hook may answer instead."""

    feeds: dict[str, list[dict[str, str]]] = field(default_factory=dict)
    heads: dict[str, dict[str, Any]] | None = None
    memberships: list[ms.SignedMembership] = field(default_factory=list)
    genesis: str | None = None
    feeds_answer: Callable[[], Response] | None = None
    entries_answer: EntriesHook | None = None
    requests: list[str] = field(default_factory=list)

    def put(self, entries: list[SignedEntry]) -> None:
        for entry in entries:
            held = self.feeds.setdefault(entry.payload.feed, [])
            if entry.payload.seq < len(held):
                held[entry.payload.seq] = entry.to_wire()
            else:
                assert entry.payload.seq == len(held)
                held.append(entry.to_wire())

    def app(self) -> Flask:
        app = Flask("byzantine")
        app.before_request(_authorised)

        @app.before_request
        def note() -> None:
            self.requests.append(request.full_path)

        @app.get("/api/v1/feeds")
        def feeds() -> Response:
            if self.feeds_answer is not None:
                return self.feeds_answer()
            heads = self.heads
            if heads is None:
                heads = {
                    feed: {"size": len(items), "head": items[-1]["id"], "frozen_at": None}
                    for feed, items in self.feeds.items()
                    if items
                }
            return _json({"digest": "0" * 64, "node": "byzantine", "feeds": heads})

        @app.get("/api/v1/feeds/<org>/<site>/entries")
        def entries(org: str, site: str) -> Response:
            feed = f"{org}/{site}"
            start = int(request.args.get("from", "0"))
            limit = int(request.args.get("limit", "1000"))
            if self.entries_answer is not None:
                answer = self.entries_answer(feed, start, limit)
                if answer is not None:
                    return answer
            items = self.feeds.get(feed, [])[start : start + limit]
            return _json({"feed": feed, "entries": items})

        @app.get("/api/v1/membership")
        def membership() -> Response:
            versions = self.memberships
            genesis = self.genesis or (versions[0].id if versions else "0" * 64)
            return _json({"genesis": genesis, "versions": [v.to_wire() for v in versions]})

        @app.post("/api/v1/replication/hint")
        def hint() -> Response:
            return _json({"accepted": True}, 202)

        return app


def peer(name: str, url: str) -> PeerConfig:
    return PeerConfig(name, url, TOKEN)


def closed_port_url() -> str:
    """A loopback URL nobody listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


class Trickler:
    """A TCP server on a loopback port that answers every request one byte every ``every_s``
    seconds (status line and headers too), forever: a peer that never lets a read time out."""

    ANSWER = (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000000\r\n\r\n"
        + b'{"digest": "'
        + b"0" * 999_900
    )

    def __init__(self, every_s: float = 1.0) -> None:
        self.every_s = every_s
        self.connections = 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.1)
        self.port: int = self._listener.getsockname()[1]
        self._stopped = threading.Event()
        self._threads = [threading.Thread(target=self._accept, daemon=True)]
        self._threads[0].start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while not self._stopped.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections += 1
            thread = threading.Thread(target=self._trickle, args=(conn,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _trickle(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(1.0)
            try:
                conn.recv(65536)  # the request; its content does not matter
                for byte in self.ANSWER:
                    if self._stopped.wait(self.every_s):
                        return
                    conn.sendall(bytes([byte]))
            except OSError:
                return  # the client gave up and closed: what a deadline is for

    def close(self) -> None:
        self._stopped.set()
        self._listener.close()
        for thread in self._threads:
            thread.join(timeout=5)

    def __enter__(self) -> Trickler:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
