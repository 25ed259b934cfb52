"""Idle and slow connections against a real TLS node (issue 13, finding 2).

Under gunicorn's gthread worker, which did the TLS handshake and read the headers in one of the
worker's threads without a time limit, 16 idle TCP connections put a legitimate verification at
p95 14.6 s, and 8 slowloris connections made requests time out. A TLS node now runs under granian
(ADR 0015), whose event loop does handshakes and header reads beside the app's threads, with time
limits (``medtrace/serve/settings.py``).

``SERVER`` is what the node runs under: set it to "gunicorn" to see the old set-up fail.
"""

from __future__ import annotations

import socket
import ssl
import statistics
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests

from keys.tls_contexts import client_context
from medtrace.serve.settings import HEADER_READ_TIMEOUT_S
from node.https import tls_session
from node.process import NodeProcess
from tests.tls.conftest import GTIN, commission, init_tls_nodes, running, tls_consortium

SERVER = "auto"  # granian; "gunicorn" shows the stall this test guards against
IDLE_CONNECTIONS = 40
SLOWLORIS_CONNECTIONS = 8
LEGIT_REQUESTS = 20
LEGIT_TIMEOUT_S = 2.0
#: The start of a request whose header block never ends: one byte a second after this.
_SLOW_REQUEST = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "


@dataclass
class Node:
    process: NodeProcess
    operator: str
    verifier: str
    ca: Path

    @property
    def address(self) -> tuple[str, int]:
        host, port = self.process.url.removeprefix("https://").rsplit(":", 1)
        return host, int(port)


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    root = tmp_path_factory.mktemp("slowloris")
    processes, tokens = init_tls_nodes(root, tls_consortium(root), ["acme"], SERVER, workers=2)
    acme = processes["acme"]
    with running(processes):
        yield Node(
            acme, tokens["acme"]["operator"], tokens["acme"]["verifier"], acme.data / "tls-ca.crt"
        )


IDLE, SLOW = "idle", "slowloris"


@dataclass
class Attack:
    """Threads that hold connections open: idle TCP ones that never start a TLS handshake, and
    slowloris ones that finish the handshake and then send a header one byte a second. Each
    reconnects when the node cuts it, so the pressure lasts as long as the attack."""

    address: tuple[str, int]
    context: ssl.SSLContext
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    #: connections of each kind open now
    open: dict[str, int] = field(default_factory=lambda: {IDLE: 0, SLOW: 0})
    #: seconds from connecting to the node's cut, per kind
    cuts: dict[str, list[float]] = field(default_factory=lambda: {IDLE: [], SLOW: []})
    threads: list[threading.Thread] = field(default_factory=list)

    def start(self, idle: int, slow: int) -> None:
        for kind, count in ((IDLE, idle), (SLOW, slow)):
            for _ in range(count):
                thread = threading.Thread(target=self._hold, args=(kind,), daemon=True)
                thread.start()
                self.threads.append(thread)

    def wait_open(self, idle: int, slow: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while (self.open[IDLE], self.open[SLOW]) < (idle, slow) and time.monotonic() < deadline:
            time.sleep(0.05)

    def close(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=5)

    def _count(self, kind: str, delta: int) -> None:
        with self.lock:
            self.open[kind] += delta

    def _hold(self, kind: str) -> None:
        while not self.stop.is_set():
            try:
                sock = self._connect(kind)
            except OSError:
                time.sleep(0.2)
                continue
            began = time.monotonic()
            self._count(kind, 1)
            try:
                if kind == SLOW:
                    self._dribble(sock)
                else:
                    self._wait(sock)
            except OSError:
                self.cuts[kind].append(time.monotonic() - began)
            finally:
                self._count(kind, -1)
                sock.close()

    def _connect(self, kind: str) -> socket.socket:
        sock = socket.create_connection(self.address, timeout=5)
        if kind == IDLE:
            return sock
        try:
            return self.context.wrap_socket(sock, server_hostname=self.address[0])
        except OSError:
            sock.close()
            raise

    def _wait(self, sock: socket.socket) -> None:
        """Send nothing; ``OSError`` once the node closes the connection."""
        sock.settimeout(0.5)
        while not self.stop.is_set():
            try:
                if sock.recv(1) == b"":
                    raise ConnectionResetError
            except TimeoutError:
                continue

    def _dribble(self, sock: socket.socket) -> None:
        """A header that never ends, a byte a second; ``OSError`` once the node closes it."""
        sock.settimeout(1.0)
        for byte in _SLOW_REQUEST + b"x" * 10_000:
            if self.stop.is_set():
                return
            sock.sendall(bytes([byte]))
            try:
                sock.recv(1)
            except TimeoutError:
                continue  # the node still waits for the header: the next byte
            raise ConnectionResetError  # closed, or answered: this one is over


@pytest.fixture
def attack(node: Node) -> Iterator[Attack]:
    running_attack = Attack(node.address, client_context(node.ca))
    try:
        yield running_attack
    finally:
        running_attack.close()


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def test_slowloris_stalls_tls_node(node: Node, attack: Attack) -> None:
    """40 idle TCP connections and 8 slowloris ones; meanwhile 20 verifications, each on a new
    connection with a 2 s timeout, must all be answered."""
    with tls_session(client_context(node.ca)) as http:
        (serial,) = commission(http, node.process.url, node.operator, "SLOW1", 1)
    attack.start(IDLE_CONNECTIONS, SLOWLORIS_CONNECTIONS)
    attack.wait_open(IDLE_CONNECTIONS, SLOWLORIS_CONNECTIONS, timeout=10)
    time.sleep(1.0)  # the slowloris connections are sending their headers by now
    latencies: list[float] = []
    failures: list[str] = []
    for _ in range(LEGIT_REQUESTS):
        began = time.monotonic()
        try:
            # a new client each time: a new connection and a new TLS handshake
            with tls_session(client_context(node.ca)) as http:
                answer = http.get(
                    f"{node.process.url}/api/v1/packs/{GTIN}/{serial}",
                    headers={"Authorization": f"Bearer {node.verifier}"},
                    timeout=LEGIT_TIMEOUT_S,
                )
            if answer.status_code != 200:
                failures.append(f"HTTP {answer.status_code}")
        except requests.RequestException as exc:
            failures.append(type(exc).__name__)
        latencies.append(time.monotonic() - began)
    figures = (
        f"{SERVER}: legit p50 {statistics.median(latencies) * 1000:.0f} ms, p95 "
        f"{_p(latencies, 0.95) * 1000:.0f} ms, max {max(latencies) * 1000:.0f} ms; "
        f"under attack {attack.open[IDLE]} idle + {attack.open[SLOW]} slowloris connections open, "
        f"cut so far: {len(attack.cuts[IDLE])} idle, {len(attack.cuts[SLOW])} slowloris"
    )
    print(figures)  # the figures the report quotes (-s or -rP shows them)
    assert not failures, f"{len(failures)} of {LEGIT_REQUESTS} failed ({failures}); {figures}"


def test_a_header_sent_byte_by_byte_is_cut_after_the_header_timeout(
    node: Node, attack: Attack
) -> None:
    """Without the limit a slowloris connection is held as long as the attacker likes."""
    attack.start(idle=0, slow=1)
    deadline = time.monotonic() + HEADER_READ_TIMEOUT_S + 10
    while not attack.cuts[SLOW] and time.monotonic() < deadline:
        time.sleep(0.1)
    assert attack.cuts[SLOW], "expected the node to cut a slow header, found it still open"
    assert attack.cuts[SLOW][0] <= HEADER_READ_TIMEOUT_S + 2, attack.cuts[SLOW]
