"""The open-loop load generator (bench/openloop.py): it holds the offered rate, and times each
request from when it should have been sent, so a stall counts for every request it delays."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

BODY = b'{"status": "active"}'
STALL_AT = 80


class _Pack(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the node
    disable_nagle_algorithm = True  # headers and body go out as two writes
    stall_once_s = 0.0
    answered: list[int]  # one per answer so far; the 80th stalls (after the warm-up)

    def do_GET(self) -> None:
        self.answered.append(1)
        if self.stall_once_s and len(self.answered) == STALL_AT:
            time.sleep(self.stall_once_s)
        ok = self.path.startswith("/api/v1/packs/") and self.headers["Authorization"] == "Bearer t"
        self.send_response(200 if ok else 401)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY)

    def log_message(self, *_: Any) -> None:
        pass


@contextmanager
def pack_server(stall_once_s: float = 0.0) -> Iterator[str]:
    handler = type("Handler", (_Pack,), {"stall_once_s": stall_once_s, "answered": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def open_loop(url: str, keys: Path, rate: int, connections: int, duration: float) -> Any:
    keys.write_text("09506000134352 AAAA\n09506000134352 BBBB\n")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.openloop",
            *("--url", url, "--token", "t", "--keys", str(keys), "--rates", str(rate)),
            *("--connections", str(connections), "--processes", "1"),
            *("--warmup", "0.3", "--duration", str(duration)),
        ],
        capture_output=True,
        check=True,
        timeout=60,
    )
    return json.loads(done.stdout.decode().splitlines()[-1])["rates"][0]


def test_the_offered_rate_is_held_and_every_answer_counted(tmp_path: Path) -> None:
    with pack_server() as url:
        rate = open_loop(url, tmp_path / "keys.txt", rate=200, connections=4, duration=1.5)
    assert rate["non_200"] == rate["errors"] == rate["unsent"] == 0
    assert 0.8 * 200 <= rate["achieved_rps"] <= 1.2 * 200
    assert 0.8 * 300 <= rate["requests"] <= 1.05 * 300  # intended in the 1.5 s window
    assert 0 < rate["p50_ms"] <= rate["p95_ms"] <= rate["p99_ms"]


def test_a_stall_counts_for_every_request_it_delays(tmp_path: Path) -> None:
    """One connection at 100 req/s and one answer held 0.5 s: the ~50 requests due meanwhile
    are late by up to 0.5 s. Timed from their actual send (closed loop: coordinated omission)
    only the stalled one would be slow, and p95 would stay near 1 ms."""
    with pack_server(stall_once_s=0.5) as url:
        rate = open_loop(url, tmp_path / "keys.txt", rate=100, connections=1, duration=2.0)
    assert rate["unsent"] == 0
    assert rate["p95_ms"] > 150
