"""The load generator for ``verify_http_*``: a separate process, run as ``python -m bench.loadgen``.

``clients`` keep-alive connections send ``GET /api/v1/packs/<gtin>/<serial>`` for random keys
from a file (``gtin serial`` per line) back to back for ``warmup`` seconds (not counted), then
for ``duration`` seconds (counted). It prints one JSON object: which client ran, requests,
errors and statuses, latency percentiles in ms, requests per second, and the client's own CPU
time, so the caller can tell whether the client was the bottleneck.

Two clients, the same measurement:

* ``wrk`` (Debian's package; ``make bench`` installs it) with ``bench/wrk_packs.lua``, in two
  threads: the server shares the machine's cores with the client, and wrk's event loop in C
  costs a few percent of what Python threads cost per request. The warm-up is a first wrk run.
* the fallback when wrk is missing: ``clients`` Python threads, each with its own
  ``http.client.HTTPConnection`` (``HTTPSConnection`` for an ``https://`` URL; like wrk, it
  does not check the server's certificate: it measures a node, it does not trust it).

With ``--client auto`` (the default) wrk runs if it is on the ``PATH``.
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
import resource
import shutil
import ssl
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit


def percentile(ordered: list[float], fraction: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    if not ordered:
        return float("nan")
    rank = max(0, min(len(ordered) - 1, round(fraction * len(ordered) + 0.5) - 1))
    return ordered[rank]


def _connect(host: str, port: int, tls: bool) -> http.client.HTTPConnection:
    if not tls:
        return http.client.HTTPConnection(host, port, timeout=30)
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # a load generator, as wrk: nothing is trusted here
    return http.client.HTTPSConnection(host, port, timeout=30, context=context)


class _Client(threading.Thread):
    def __init__(
        self,
        host: str,
        port: int,
        tls: bool,
        token: str,
        keys: list[str],
        seed: int,
        start: float,
        measure_from: float,
        stop_at: float,
    ) -> None:
        super().__init__(daemon=True)
        self.host, self.port, self.tls, self.keys = host, port, tls, keys
        self.headers = {"Authorization": f"Bearer {token}", "Connection": "keep-alive"}
        self.rng = random.Random(seed)
        self.start_at, self.measure_from, self.stop_at = start, measure_from, stop_at
        self.latencies: list[float] = []
        self.statuses: Counter[int] = Counter()
        self.errors = 0

    def run(self) -> None:
        conn = _connect(self.host, self.port, self.tls)
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
                conn = _connect(self.host, self.port, self.tls)
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
    tls: bool,
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
        _Client(host, port, tls, token, keys, i, now, measure_from, stop_at) for i in range(clients)
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
        "client": "python",
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


WRK_SCRIPT = Path(__file__).with_name("wrk_packs.lua")
WRK_THREADS = 2


def _wrk(wrk: str, url: str, token: str, keys_file: Path, clients: int, seconds: float) -> Any:
    """One wrk run; its JSON line (``done`` in wrk_packs.lua)."""
    done = subprocess.run(  # noqa: S603 - wrk from the PATH, fixed arguments
        [
            wrk,
            f"-t{min(WRK_THREADS, clients)}",
            f"-c{clients}",
            f"-d{max(1, round(seconds))}s",
            "--timeout",
            "30s",
            "-s",
            str(WRK_SCRIPT),
            url,
            "--",
            str(keys_file),
            token,
            "7",
        ],
        capture_output=True,
        check=False,
        timeout=seconds + 60,
    )
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed: {done.stderr.decode(errors='replace')[-500:]}")
    return json.loads(done.stdout.decode().strip().splitlines()[-1])


def run_wrk(
    wrk: str, url: str, token: str, keys_file: Path, clients: int, warmup: float, duration: float
) -> dict[str, Any]:
    """The same figures as ``run``, measured by wrk: a warm-up run, then the measured run."""
    if warmup > 0:
        _wrk(wrk, url, token, keys_file, clients, warmup)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = _wrk(wrk, url, token, keys_file, clients, duration)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    seconds = out["duration_us"] / 1e6
    requests = int(out["requests"])
    ok = requests - int(out["non_2xx_3xx"])  # the pack query answers 200 or a problem (4xx/5xx)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return {
        "client": "wrk",
        "requests": requests,
        "ok": ok,
        "statuses": {"200": ok, "other": requests - ok},
        "errors": sum(int(out[k]) for k in ("connect", "read", "write", "timeout")),
        "duration_s": seconds,
        "rps": ok / seconds,
        "p50_ms": out["p50_us"] / 1000,
        "p95_ms": out["p95_us"] / 1000,
        "p99_ms": out["p99_us"] / 1000,
        "client_cpu_s": cpu,
        "client_cpu_share": cpu / seconds,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.loadgen")
    parser.add_argument("--url", required=True, help="http://host:port or https://host:port")
    parser.add_argument("--token", required=True)
    parser.add_argument("--keys", required=True, type=Path, help="file of 'gtin serial' lines")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--duration", type=float, default=15.0)
    parser.add_argument(
        "--client",
        choices=("auto", "wrk", "python"),
        default="auto",
        help="wrk, Python threads, or wrk when it is installed (default)",
    )
    args = parser.parse_args(argv)
    wrk = shutil.which("wrk") if args.client != "python" else None
    if args.client == "wrk" and wrk is None:
        parser.error("--client wrk: wrk is not installed (apt-get install wrk)")
    if wrk is not None:
        result = run_wrk(
            wrk, args.url, args.token, args.keys, args.clients, args.warmup, args.duration
        )
    else:
        url = urlsplit(args.url)
        if url.scheme not in {"http", "https"} or url.hostname is None or url.port is None:
            parser.error(f"--url: expected http://host:port or https://host:port, found {args.url}")
        lines = args.keys.read_text().splitlines()
        keys = ["/".join(line.split()) for line in lines if line.strip()]
        result = run(
            url.hostname,
            url.port,
            url.scheme == "https",
            args.token,
            keys,
            args.clients,
            args.warmup,
            args.duration,
        )
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
