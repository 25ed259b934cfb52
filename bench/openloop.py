"""An open-loop load generator: pack queries at a fixed offered rate, latency from the intended
send time. Run as ``python -m bench.openloop``; it prints one JSON object.

wrk (and ``bench.loadgen``) is closed-loop: each connection sends its next request when the
previous answer arrives, so a slow answer delays the requests behind it and they are never
timed from when they should have left (coordinated omission). Here, as in wrk2, every request
has an *intended* send time fixed in advance: ``connections`` keep-alive connections, spread
over ``processes`` processes with one thread per connection, and connection ``j`` of ``n``
sends its ``k``-th request at ``t0 + (k·n + j) / rate``. A connection still waiting for an
answer at that time sends as soon as the answer is in, and the request's latency still runs
from its intended time, so a stall shows in every request it delays. Requests intended in the
measured window are all sent and timed, however late (up to ``DRAIN_S`` after the window);
``unsent`` counts any left then.

Per rate: ``achieved_rps`` is the 200 answers whose arrival falls in the window, per second;
``p50/p95/p99_ms`` are over the requests intended in the window; ``send_lag_p99_ms`` is how
late a free connection's thread woke for a send (the client's own scheduling delay, which the
latency includes: a high figure means the client, not the server, fell behind);
``client_cpu_share`` is the generator's CPU time over the run (1.0 = one core).

The request is raw HTTP/1.1 bytes built once per key, over a plain or TLS socket (``ssl``,
checked against ``--ca``); the answer is read by its ``Content-Length``. Every process forks
from this one before it opens a connection.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import random
import resource
import socket
import ssl
import sys
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bench.loadgen import percentile

#: After the window, requests intended in it are still sent and timed for up to this long.
DRAIN_S = 10.0
TIMEOUT_S = 30.0


@dataclass(frozen=True)
class Target:
    host: str
    port: int
    tls: bool
    ca: str | None
    token: str
    paths: tuple[str, ...]


@dataclass(frozen=True)
class Schedule:
    rate: float
    connections: int
    t0: float  # time.monotonic() of the first intended send (CLOCK_MONOTONIC: one clock for all)
    measure_from: float
    measure_to: float


def _connect(target: Target, context: ssl.SSLContext | None) -> socket.socket:
    raw = socket.create_connection((target.host, target.port), timeout=TIMEOUT_S)
    raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if context is None:
        return raw
    return context.wrap_socket(raw, server_hostname=target.host)


def _read_answer(sock: socket.socket, buffer: bytearray) -> int:
    """Read one HTTP/1.1 answer (``Content-Length`` framed); its status."""
    while (end := buffer.find(b"\r\n\r\n")) < 0:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("connection closed by the server")
        buffer += chunk
    head = bytes(buffer[:end]).lower()
    status = int(head[9:12])
    at = head.find(b"content-length:")
    length = 0
    if at >= 0:
        stop = head.find(b"\r\n", at)
        length = int(head[at + 15 : stop if stop >= 0 else len(head)])
    total = end + 4 + length
    while len(buffer) < total:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("connection closed by the server")
        buffer += chunk
    del buffer[:total]
    return status


class _Connection(threading.Thread):
    def __init__(
        self, target: Target, schedule: Schedule, index: int, context: ssl.SSLContext | None
    ) -> None:
        super().__init__(daemon=True)
        self.target, self.schedule, self.index, self.context = target, schedule, index, context
        self.latencies: list[float] = []  # requests intended in the window, seconds
        self.arrivals_ok = 0  # 200 answers arriving inside the window
        self.non_200 = 0
        self.errors = 0
        self.unsent = 0
        self.lags: list[float] = []

    def run(self) -> None:
        s, target = self.schedule, self.target
        rng = random.Random(self.index)
        head = f"Host: {target.host}:{target.port}\r\nAuthorization: Bearer {target.token}\r\n\r\n"
        requests = [f"GET {p} HTTP/1.1\r\n{head}".encode() for p in target.paths]
        interval = s.connections / s.rate
        clock = time.monotonic
        sock = _connect(target, self.context)
        buffer = bytearray()
        k = 0
        try:
            while True:
                intended = s.t0 + (k * s.connections + self.index) / s.rate
                k += 1
                if intended >= s.measure_to:
                    break
                now = clock()
                if now > s.measure_to + DRAIN_S:
                    self.unsent += 1 + int((s.measure_to - intended) / interval)
                    break
                if intended > now:
                    time.sleep(intended - now)
                    sent = clock()
                    if intended >= s.measure_from:
                        self.lags.append(sent - intended)
                counted = intended >= s.measure_from
                try:
                    sock.sendall(rng.choice(requests))
                    status = _read_answer(sock, buffer)
                except (OSError, ValueError):
                    sock.close()
                    buffer.clear()
                    if counted:
                        self.errors += 1
                    sock = _connect(target, self.context)
                    continue
                done = clock()
                if counted:
                    self.latencies.append(done - intended)
                    if status != 200:
                        self.non_200 += 1
                if status == 200 and s.measure_from <= done < s.measure_to:
                    self.arrivals_ok += 1
        finally:
            sock.close()


def _process(target: Target, schedule: Schedule, indexes: list[int]) -> dict[str, Any]:
    """One process's connections (one thread each); their raw figures."""
    context = None
    if target.tls:
        context = ssl.create_default_context(cafile=target.ca)
        if target.ca is None:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
    before = resource.getrusage(resource.RUSAGE_SELF)
    threads = [_Connection(target, schedule, i, context) for i in indexes]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    after = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "latencies": [x for t in threads for x in t.latencies],
        "lags": [x for t in threads for x in t.lags],
        "arrivals_ok": sum(t.arrivals_ok for t in threads),
        "non_200": sum(t.non_200 for t in threads),
        "errors": sum(t.errors for t in threads),
        "unsent": sum(t.unsent for t in threads),
        "cpu_s": (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime),
    }


def run_rate(
    pool: ProcessPoolExecutor,
    target: Target,
    rate: float,
    connections: int,
    processes: int,
    warmup: float,
    duration: float,
) -> dict[str, Any]:
    """One offered rate: ``warmup`` seconds at that rate (not counted), then ``duration``."""
    t0 = time.monotonic() + 0.5  # every process has forked and connected by then
    schedule = Schedule(rate, connections, t0, t0 + warmup, t0 + warmup + duration)
    shares = [list(range(p, connections, processes)) for p in range(processes)]
    parts = [f.result() for f in [pool.submit(_process, target, schedule, s) for s in shares]]
    latencies = sorted(x for p in parts for x in p["latencies"])
    lags = sorted(x for p in parts for x in p["lags"])
    return {
        "offered_rps": rate,
        "achieved_rps": sum(p["arrivals_ok"] for p in parts) / duration,
        "requests": len(latencies),
        "non_200": sum(p["non_200"] for p in parts),
        "errors": sum(p["errors"] for p in parts),
        "unsent": sum(p["unsent"] for p in parts),
        "p50_ms": 1000 * percentile(latencies, 0.50),
        "p95_ms": 1000 * percentile(latencies, 0.95),
        "p99_ms": 1000 * percentile(latencies, 0.99),
        "send_lag_p99_ms": 1000 * percentile(lags, 0.99) if lags else 0.0,
        "client_cpu_share": sum(p["cpu_s"] for p in parts) / (warmup + duration + 0.5),
    }


def target_of(url: str, token: str, keys: Path, ca: Path | None) -> Target:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or parts.hostname is None or parts.port is None:
        raise ValueError(f"expected a URL like https://127.0.0.1:8443, found {url!r}")
    paths = tuple(
        "/api/v1/packs/" + "/".join(line.split())
        for line in keys.read_text().splitlines()
        if line.strip()
    )
    return Target(
        parts.hostname,
        parts.port,
        parts.scheme == "https",
        str(ca) if ca else None,
        token,
        paths[:20_000],  # each connection keeps its own copy of the request bytes
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.openloop")
    parser.add_argument("--url", required=True, help="http://host:port or https://host:port")
    parser.add_argument("--token", required=True)
    parser.add_argument("--keys", required=True, type=Path, help="file of 'gtin serial' lines")
    parser.add_argument("--ca", type=Path, help="CA certificate of an https node")
    parser.add_argument("--rates", default="500,1500,3000", help="offered req/s, comma-separated")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--duration", type=float, default=10.0)
    args = parser.parse_args(argv)
    try:
        rates = [float(r) for r in args.rates.split(",")]
        target = target_of(args.url, args.token, args.keys, args.ca)
    except ValueError as exc:
        parser.error(str(exc))
    if any(r <= 0 for r in rates) or args.connections < args.processes or args.processes < 1:
        parser.error("expected rates > 0 and connections ≥ processes ≥ 1")
    # Forked before any thread or connection exists in this process.
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(args.processes, mp_context=context) as pool:
        results = [
            run_rate(
                pool, target, rate, args.connections, args.processes, args.warmup, args.duration
            )
            for rate in rates
        ]
    sys.stdout.write(json.dumps({"client": "openloop", "rates": results}) + "\n")


if __name__ == "__main__":
    main()
