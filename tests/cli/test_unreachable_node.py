"""A scanner or a node that cannot reach what it needs says so in one line, never a traceback
(issue 18): a closed port, http:// to an HTTPS node, a token the node refuses, a wrong
passphrase. Real node processes."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from keys.tls import NodeTlsFiles
from node.localnet.processes import free_port
from tests.tls.conftest import GTIN, init_tls_nodes, running, tls_consortium

MEDTRACE = str(Path(sys.executable).with_name("medtrace"))
CODE = f"(01){GTIN}(17)281031(10)A1(21)X1"
BAD_TOKEN = "mt_" + "A" * 43


@dataclass
class TlsNode:
    data: Path
    url: str
    genesis: str
    verifier: str

    @property
    def ca(self) -> Path:
        return NodeTlsFiles.in_dir(self.data).ca


@pytest.fixture(scope="module")
def tls_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsNode]:
    root = tmp_path_factory.mktemp("unreachable")
    consortium = tls_consortium(root)
    nodes, tokens = init_tls_nodes(root, consortium, ["acme"], "granian")
    with running(nodes):
        node = nodes["acme"]
        yield TlsNode(node.data, node.url, consortium.genesis_id, tokens["acme"]["verifier"])


def _medtrace(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MEDTRACE_")}
    return subprocess.run(
        [MEDTRACE, *args],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env={**clean, "COLUMNS": "400", **(env or {})},
        timeout=120,
        check=False,
    )


def _scan(node: TlsNode, url: str, token: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return _medtrace(
        "scan", CODE, "--node", url, "--token", token, "--genesis", node.genesis, "--json", *extra
    )


def _closed_port(node: TlsNode) -> subprocess.CompletedProcess[str]:
    return _scan(node, f"http://127.0.0.1:{free_port()}", node.verifier)


def _http_to_https(node: TlsNode) -> subprocess.CompletedProcess[str]:
    return _scan(node, node.url.replace("https://", "http://"), node.verifier)


def _bad_token(node: TlsNode) -> subprocess.CompletedProcess[str]:
    return _scan(node, node.url, BAD_TOKEN, "--ca", str(node.ca))


def _wrong_passphrase(node: TlsNode) -> subprocess.CompletedProcess[str]:
    wrong = node.data.parent / "wrong-passphrase"
    wrong.write_text("not the passphrase\n")
    return _medtrace(
        "node",
        "run",
        "--data",
        str(node.data),
        "--port",
        str(free_port()),
        "--passphrase-file",
        str(wrong),
    )


#: case -> (how to provoke it, what the one line must say)
CASES = {
    "closed port": (_closed_port, "nothing answers at"),
    "http:// to an https node": (_http_to_https, "answers HTTPS: use https:// and --ca"),
    "bad token": (_bad_token, "the node refused the token"),
    "wrong passphrase for node run": (_wrong_passphrase, "wrong passphrase"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_scan_reaches_no_node_without_traceback(case: str, tls_node: TlsNode) -> None:
    provoke, says = CASES[case]
    result = provoke(tls_node)
    assert result.returncode != 0
    assert "Traceback" not in result.stdout + result.stderr
    assert says in result.stdout + result.stderr
    stderr = result.stderr.splitlines()
    assert [line[:6] for line in stderr] in ([], ["error:"]), stderr
    assert len(result.stdout.splitlines()) <= 1, result.stdout
