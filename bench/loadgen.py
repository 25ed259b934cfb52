"""The load generator for ``verify_http_*``: a separate process, run as ``python -m bench.loadgen``.

``clients`` threads, each with its own keep-alive ``http.client.HTTPConnection``, send
``GET /api/v1/packs/<gtin>/<serial>`` for random keys from a file (``gtin serial`` per line)
back to back for ``warmup`` seconds (not counted), then for ``duration`` seconds (counted). It
prints one JSON object: requests, errors and statuses, latency percentiles in ms, requests per
second, and the process's own CPU time, so the caller can tell whether the client was the
bottleneck.
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
import resource
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any


def percentile(ordered: list[float], fraction: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    if not ordered:
        return float("nan")
    rank = max(0, min(len(ordered) - 1, round(fraction * len(ordered) + 0.5) - 1))
    return ordered[rank]


class _Client(threading.Thread):
    def __init__(
        self,
        host: str,
        port: int,
        token: str,
        keys: list[str],
        seed: int,
        start: float,
        measure_from: float,
        stop_at: float,
    ) -> None:
        super().__init__(daemon=True)
        self.host, self.port, self.keys = host, port, keys
        self.headers = {"Authorization": f"Bearer {token}", "Connection": "keep-alive"}
        self.rng = random.Random(seed)
        self.start_at, self.measure_from, self.stop_at = start, measure_from, stop_at
        self.latencies: list[float] = []
        self.statuses: Counter[int] = Counter()
        self.errors = 0

    def run(self) -> None:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
        clock = time.perf_counter
        keys, choice = self.keys, self.rng.choice
        while True:
            began = clock()
            if began >= self.stop_at:
                break
            try:
                conn.request("GET", f"/api/v1/packs/{choice(keys)}", headers=self.headers)
                response = conn.getresponse()
                response.read()
                status = response.status
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
                if began >= self.measure_from:
                    self.errors += 1
                continue
            ended = clock()
            if began >= self.measure_from and ended <= self.stop_at:
                self.latencies.append(ended - began)
                self.statuses[status] += 1
        conn.close()


def run(
    host: str,
    port: int,
    token: str,
    keys: list[str],
    clients: int,
    warmup: float,
    duration: float,
) -> dict[str, Any]:
    now = time.perf_counter()
    measure_from = now + warmup
    stop_at = measure_from + duration
    threads = [
        _Client(host, port, token, keys, i, now, measure_from, stop_at) for i in range(clients)
    ]
    cpu_before = resource.getrusage(resource.RUSAGE_SELF)
    for thread in threads:
        thread.start()
    time.sleep(max(0.0, measure_from - time.perf_counter()))
    cpu_measured = resource.getrusage(resource.RUSAGE_SELF)
    for thread in threads:
        thread.join()
    cpu_after = resource.getrusage(resource.RUSAGE_SELF)
    del cpu_before
    latencies = sorted(x for t in threads for x in t.latencies)
    statuses: Counter[int] = Counter()
    for t in threads:
        statuses.update(t.statuses)
    ok = statuses.get(200, 0)
    cpu = (cpu_after.ru_utime + cpu_after.ru_stime) - (
        cpu_measured.ru_utime + cpu_measured.ru_stime
    )
    return {
        "requests": len(latencies),
        "ok": ok,
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "errors": sum(t.errors for t in threads),
        "duration_s": duration,
        "rps": ok / duration,
        "p50_ms": 1000 * percentile(latencies, 0.50),
        "p95_ms": 1000 * percentile(latencies, 0.95),
        "p99_ms": 1000 * percentile(latencies, 0.99),
        "client_cpu_s": cpu,
        "client_cpu_share": cpu / duration,  # 1.0 = one core busy all the time
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.loadgen")
    parser.add_argument("--url", required=True, help="http://host:port")
    parser.add_argument("--token", required=True)
    parser.add_argument("--keys", required=True, type=Path, help="file of 'gtin serial' lines")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--duration", type=float, default=15.0)
    args = parser.parse_args(argv)
    host, _, port = args.url.removeprefix("http://").partition(":")
    keys = ["/".join(line.split()) for line in args.keys.read_text().splitlines() if line.strip()]
    result = run(host, int(port), args.token, keys, args.clients, args.warmup, args.duration)
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
