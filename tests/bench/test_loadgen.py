"""The closed-loop load generator's Python client (bench/loadgen.py), used when wrk is not
installed: it loads a TLS node as it loads a plain one."""

from __future__ import annotations

import json
import ssl
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from keys.tls import create_ca_certificate, generate_tls_key, issue_node_certificate
from tests.bench.test_openloop import _Pack


@contextmanager
def pack_server(tmp_path: Path, *, tls: bool) -> Iterator[str]:
    handler = type("Handler", (_Pack,), {"stall_once_s": 0.0, "answered": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    if tls:
        ca_key, node_key = generate_tls_key(), generate_tls_key()
        ca = create_ca_certificate("loadgen-test", ca_key)
        cert = issue_node_certificate(ca, ca_key, "acme", ["127.0.0.1"], node_key.public_key())
        (tmp_path / "node.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        (tmp_path / "node.key").write_bytes(
            node_key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(tmp_path / "node.pem", tmp_path / "node.key")
        server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        scheme = "https" if tls else "http"
        yield f"{scheme}://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def closed_loop(url: str, keys: Path) -> subprocess.CompletedProcess[bytes]:
    keys.write_text("09506000134352 AAAA\n09506000134352 BBBB\n")
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.loadgen",
            *("--url", url, "--token", "t", "--keys", str(keys), "--client", "python"),
            *("--clients", "2", "--warmup", "0.2", "--duration", "0.8"),
        ],
        capture_output=True,
        check=False,
        timeout=60,
    )


@pytest.mark.parametrize("tls", [False, True], ids=["plain-http", "tls"])
def test_the_python_client_loads_a_plain_or_tls_node(tmp_path: Path, tls: bool) -> None:
    with pack_server(tmp_path, tls=tls) as url:
        done = closed_loop(url, tmp_path / "keys.txt")
    assert done.returncode == 0, done.stderr.decode()[-500:]
    out = json.loads(done.stdout.decode().splitlines()[-1])
    assert out["client"] == "python"
    assert out["ok"] > 0
    assert out["errors"] == 0
    assert set(out["statuses"]) == {"200"}


def test_a_url_without_a_port_is_refused_in_one_line(tmp_path: Path) -> None:
    done = closed_loop("https://127.0.0.1", tmp_path / "keys.txt")
    assert done.returncode == 2
    assert "expected http://host:port or https://host:port" in done.stderr.decode()
    assert "Traceback" not in done.stderr.decode()
