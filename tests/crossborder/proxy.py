"""A man in the middle between a node of one consortium and the node of another it asks: an
HTTP server on loopback that forwards each request to ``target`` and hands the answer to
``tamper`` first, so a test can alter it in transit (or answer from another node entirely).
And a GS1 Digital Link resolver that names a verification service for GTINs."""

from __future__ import annotations

import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import requests

#: ``tamper(path, status, body) -> (status, body)``: what the asking node is sent instead.
Tamper = Callable[[str, int, bytes], tuple[int, bytes]]


#: What the asking node sends that is passed on: its token and its request signature.
_SIGNATURE = frozenset({"signature-input", "signature", "medtrace-consortium"})
_FORWARDED = frozenset({"authorization"}) | _SIGNATURE


def untouched(path: str, status: int, body: bytes) -> tuple[int, bytes]:
    return status, body


class Proxy:
    def __init__(self, target: str) -> None:
        self.target = target
        self.tamper: Tamper = untouched
        self.paths: list[str] = []
        #: the bearer token sent on instead of the asking node's (answering from another node)
        self.token: str | None = None
        #: the headers of each request, as the asking node sent them
        self.headers: list[dict[str, str]] = []
        #: send requests on without their signature (a man in the middle who strips it)
        self.strip_signatures = False
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                proxy.paths.append(self.path)
                proxy.headers.append(dict(self.headers.items()))
                forwarded = _FORWARDED - (_SIGNATURE if proxy.strip_signatures else frozenset())
                headers = {k: v for k, v in self.headers.items() if k.lower() in forwarded}
                if proxy.token is not None:
                    headers = {"Authorization": f"Bearer {proxy.token}"}
                try:
                    answer = requests.get(proxy.target + self.path, headers=headers, timeout=30)
                except requests.RequestException:
                    self.send_response(502)  # a gateway whose upstream is down
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                status, body = proxy.tamper(self.path, answer.status_code, answer.content)
                self.send_response(status)
                self.send_header("Content-Type", answer.headers.get("Content-Type", "text/plain"))
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def reset(self) -> None:
        self.tamper = untouched
        self.token = None
        self.strip_signatures = False
        self.paths.clear()
        self.headers.clear()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Resolver:
    """Answers ``/01/{gtin}?linkType=gs1:verificationService`` with a 307 to ``services[gtin]``
    (a node's verification-messaging base), anything else 404; ``asked`` holds the paths."""

    def __init__(self, services: dict[str, str]) -> None:
        self.services = services
        self.asked: list[str] = []
        resolver = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                resolver.asked.append(self.path)
                path, _, query = self.path.partition("?")
                target = resolver.services.get(path.removeprefix("/01/"))
                if query == "linkType=gs1:verificationService" and target is not None:
                    self.send_response(307)
                    self.send_header("Location", target)
                else:
                    self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
