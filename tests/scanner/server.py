"""A small real node for scanner tests: an HTTP server over a real ``Store``.

It answers what a medtrace node answers to a scanner (``GET …/provenance``, ``GET
/containers/…``, ``POST /actions/…``) in the same JSON shapes, from a store filled by a
``ScanWorld``. Given a ``tamper`` function it becomes the adversary: the provenance it serves is
forged, altered or cut before it leaves, and the scanner must notice.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from ledger.entry import SignedEntry
from ledger.errors import LedgerError, RuleViolation
from ledger.identifiers import container_uri, pack_uri
from ledger.kinds import Kind
from node.store import Store
from scanner.cases import Consignment, ConsignmentCheck
from tests.scanner.world import ScanWorld

VERIFIER = "verifier-token"
OPERATOR = "operator-token"

Tamper = Callable[[list[dict[str, Any]], str], list[dict[str, Any]]]
"""(entry wires as the store would serve them, pack URI) → what the node serves instead."""


@dataclass
class Node:
    world: ScanWorld
    store: Store
    feed: str = "ph/a"
    tamper: Tamper | None = None
    memberships: Callable[[], list[dict[str, Any]]] | None = None
    status: int | None = None  # answer every request with this status instead
    #: (a ``…/proof`` answer as the store gives it) → what the node serves instead
    proof_tamper: Callable[[dict[str, Any]], dict[str, Any]] | None = None
    requests: list[str] = field(default_factory=list)
    url: str = ""

    def provenance(self, gtin: str, serial: str) -> dict[str, Any]:
        uri = pack_uri(gtin, serial)
        wires = [e.to_wire() for e in self.store.provenance(uri)]
        if self.tamper is not None:
            wires = self.tamper(wires, uri)
        versions = (
            self.memberships()
            if self.memberships is not None
            else [v.to_wire() for v in self.store.memberships()]
        )
        return {"pack": uri, "genesis": self.world.pin, "entries": wires, "memberships": versions}

    def container(self, sscc: str) -> dict[str, Any] | None:
        uri = container_uri(sscc)
        state = self.store.container(uri)
        if state is None:
            return None
        return {"container": uri, "sscc": sscc, "children": sorted(state.children)}

    def proof(self, feed: str, seq: int, size: int | None) -> dict[str, Any] | None:
        """``GET /api/v1/feeds/{feed}/proof``: the entry's inclusion proof at ``size`` (default:
        the newest checkpoint's) with the checkpoint held at that size (api/peer_endpoints.py)."""
        tree = self.store.feed_tree(feed)
        newest = self.store.checkpoint(feed)
        size = size or (newest.size if newest is not None else tree.size)
        if not 0 <= seq < size <= tree.size:
            return None
        (entry,) = self.store.entries(feed, seq, 1)
        held = self.store.checkpoint(feed, size)
        answer = {
            **tree.inclusion(seq, size).to_json(),
            "entry": entry.id,
            "checkpoint": held.note.decode() if held is not None else None,
        }
        return self.proof_tamper(answer) if self.proof_tamper is not None else answer

    def consignment(self, body: dict[str, Any]) -> dict[str, Any]:
        """``POST /api/v1/scan`` of an SSCC: ``scanner.cases`` on this store (api/consignment.py)."""
        sscc = str(body["text"]).removeprefix("(00)")
        check = ConsignmentCheck(
            self.store,
            Consignment((sscc,), in_transit_ok=body.get("context") == "border"),
            membership=self.world.membership,
            org=self.feed.split("/", 1)[0],
            today=datetime.now(UTC).date().isoformat(),
        )
        return check.result().to_json(listed=True)

    def act(self, kind: str, body: dict[str, Any]) -> SignedEntry:
        writer = self.world.writers[self.feed]
        head = writer.head
        entry = self.world.write(
            self.feed,
            Kind(kind),
            subjects=body.get("subjects", []),
            refs=body.get("refs", []),
            body=body.get("body", {}),
        )
        try:
            self.store.append_local([entry], self.world.membership)
        except LedgerError:
            self.world.entries.pop()
            writer.head = head
            raise
        self.world.witness(self.store, feeds=[self.feed])  # as the witnesses soon would
        return entry


class _Handler(BaseHTTPRequestHandler):
    node: Node

    def log_message(self, format: str, *args: Any) -> None:
        return

    def _send(self, status: int, value: Any) -> None:
        body = json.dumps(value).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        if status == 429:
            self.send_header("Retry-After", "7")
        self.end_headers()
        self.wfile.write(body)

    def _authorised(self, token: str) -> bool:
        if self.headers.get("Authorization") != f"Bearer {token}":
            self._send(401, {"title": "Unauthenticated", "detail": "unknown token"})
            return False
        return True

    def _body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length", "0")))

    def do_GET(self) -> None:
        self.node.requests.append(f"GET {self.path}")
        if self.node.status is not None:
            self._send(self.node.status, {"detail": "as configured"})
            return
        if self.path == "/healthz":  # no token, as at a medtrace node
            self._send(200, {"status": "ok", "node": self.node.feed, "feed": self.node.feed})
            return
        if not self._authorised(VERIFIER):
            return
        parts = [unquote(p) for p in self.path.split("?")[0].split("/")]
        if len(parts) == 7 and parts[1:4] == ["api", "v1", "packs"] and parts[6] == "provenance":
            self._send(200, self.node.provenance(parts[4], parts[5]))
        elif len(parts) == 7 and parts[1:4] == ["api", "v1", "feeds"] and parts[6] == "proof":
            query = dict(q.split("=", 1) for q in self.path.partition("?")[2].split("&") if q)
            size = int(query["size"]) if "size" in query else None
            answer = self.node.proof(f"{parts[4]}/{parts[5]}", int(query["seq"]), size)
            if answer is None:
                self._send(404, {"detail": "no such tree size"})
            else:
                self._send(200, answer)
        elif len(parts) == 5 and parts[1:4] == ["api", "v1", "containers"]:
            found = self.node.container(parts[4])
            if found is None:
                self._send(404, {"detail": "no such container"})
            else:
                self._send(200, found)
        else:
            self._send(404, {"detail": "no such route"})

    def do_POST(self) -> None:
        self.node.requests.append(f"POST {self.path}")
        if self.path == "/api/v1/scan":  # a case or pallet, checked whole as a node does
            self._send(200, self.node.consignment(json.loads(self._body() or b"{}")))
            return
        if not self._authorised(OPERATOR):
            return
        body = json.loads(self._body() or b"{}")
        kind = self.path.rsplit("/", 1)[-1]
        try:
            entry = self.node.act(kind, body)
        except RuleViolation as exc:
            self._send(409, {"detail": str(exc), "code": exc.code})
            return
        except LedgerError as exc:  # what the membership refuses: the node's 403
            self._send(403, {"detail": str(exc), "code": "unauthorised_kind"})
            return
        self._send(201, {"entry": entry.to_wire()})


@contextmanager
def serve(node: Node) -> Iterator[Node]:
    handler = type("Handler", (_Handler,), {"node": node})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    node.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield node
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def open_node(world: ScanWorld, data: Path, **kwargs: Any) -> Node:
    return Node(world, Store(data / "node.db"), **kwargs)
