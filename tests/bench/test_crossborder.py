"""The cross-border bench (bench/crossborder.py): the delaying proxy, a short run over two
consortia of real node processes, and the figures ``medtrace bench`` prints."""

from __future__ import annotations

import socket
import threading
from pathlib import Path
from time import perf_counter

from bench import crossborder
from bench.delay_proxy import DelayProxy
from bench.progress import NoProgress


def _echo_server() -> tuple[socket.socket, int]:
    server = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        conn, _ = server.accept()
        with conn:
            while data := conn.recv(1024):
                conn.sendall(data)

    threading.Thread(target=serve, daemon=True).start()
    return server, server.getsockname()[1]


def test_delay_proxy_adds_its_delay_each_way() -> None:
    server, port = _echo_server()
    with (
        server,
        DelayProxy("127.0.0.1", port, 0.05) as proxy,
        socket.create_connection(("127.0.0.1", proxy.port)) as client,
    ):
        began = perf_counter()
        client.sendall(b"ping")
        assert client.recv(16) == b"ping"
        elapsed = perf_counter() - began
    assert 0.1 <= elapsed < 0.5  # 50 ms there and 50 ms back
    assert proxy.connections == 1


def test_crossborder_bench_times_both_countries(tmp_path: Path) -> None:
    figures = crossborder.measure(tmp_path, NoProgress(), scans=4)
    assert figures["crossborder_scans"] == 4
    assert figures["crossborder_link_delay_ms"] == 100
    assert figures["crossborder_scan_p50_ms"] >= 200  # one round trip at least
    assert 0 < figures["same_country_scan_p50_ms"] < figures["crossborder_scan_p50_ms"]
    rows = crossborder.table_rows(figures)
    assert [row[0] for row in rows] == [
        "cross-border scan, +100 ms each way: p50 / p95 (target p95 ≤ 1,000 ms)"
    ]


def test_crossborder_rows_are_absent_without_its_figures() -> None:
    assert crossborder.table_rows({}) == []
