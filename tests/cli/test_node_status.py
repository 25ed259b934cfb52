"""`medtrace node status` against real node processes: acme with two peers, dist running and
apo down (tests/web/network_nodes.py); and `node run`'s banner, which lists the pages."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from node.localnet.processes import free_port
from tests.api.conftest import _no_ambient_passphrase, consortium_dir  # noqa: F401 (fixtures)
from tests.api.test_server import _run_on_a_terminal, acme_data  # noqa: F401 (a fixture)
from tests.tls.conftest import init_tls_nodes, running, tls_consortium
from tests.web.network_nodes import Network, network_of_nodes

MEDTRACE = str(Path(sys.executable).with_name("medtrace"))


@pytest.fixture(scope="module")
def net(consortium_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Network]:  # noqa: F811
    with network_of_nodes(consortium_dir, tmp_path_factory.mktemp("cli-network")) as network:
        yield network


def _status(*args: str, token: str | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MEDTRACE_")}
    if token is not None:
        clean["MEDTRACE_TOKEN"] = token
    return subprocess.run(
        [MEDTRACE, "node", "status", *args],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env={**clean, "COLUMNS": "200"},
        timeout=120,
        check=False,
    )


def _json(net: Network, token: str | None = None) -> dict[str, Any]:
    done = _status("--data", str(net.acme.data), "--json", token=token or net.operator)
    assert done.returncode == 0, done.stderr
    value: dict[str, Any] = json.loads(done.stdout)
    return value


def test_node_status_json_lists_every_peer_with_its_lag(net: Network) -> None:
    view = _json(net)
    peers = {p["name"]: p for p in view["peers"]}
    assert set(peers) == {"dist", "apo"}
    dist, apo = peers["dist"], peers["apo"]
    assert dist["reachable"]
    assert dist["behind"] == view["entries"]
    assert dist["ahead"] == 0
    assert dist["digest_agrees"] is False
    assert dist["last_contact"] is not None
    assert not apo["reachable"]
    assert apo["last_contact"] is None
    assert apo["behind"] is None
    assert "refused" in apo["error"]
    assert view["newest_cosigned_checkpoint_age_s"] is None
    assert view["agreement"]["reachable"] == 1


def test_node_status_json_is_the_api_answer_for_an_auditor(net: Network) -> None:
    done = _status("--node", net.acme.url, "--json", token=net.auditor)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["node"] == "acme"


def test_node_status_table_shows_reachable_and_unreachable_peers(net: Network) -> None:
    done = _status("--data", str(net.acme.data), "--token", net.operator)
    assert done.returncode == 0, done.stderr
    shown = done.stdout
    for text in ("dist", "apo", "reachable", "unreachable", "never", "differs", "behind us"):
        assert text in shown, text
    assert "newest cosigned checkpoint: —" in shown
    assert "1 of 2 peers reachable" in shown


def test_node_status_with_a_verifier_token_is_one_line(net: Network) -> None:
    done = _status("--data", str(net.acme.data), token=net.verifier)
    assert done.returncode == 1
    assert done.stderr.strip().count("\n") == 0
    assert "403" in done.stderr
    assert "operator" in done.stderr
    assert "Traceback" not in done.stderr


def test_node_status_of_a_node_that_is_not_running_is_one_line() -> None:
    done = _status("--node", f"http://127.0.0.1:{free_port()}", token="mt_" + "A" * 43)
    assert done.returncode == 1
    assert done.stderr.strip().count("\n") == 0
    assert "nothing answers" in done.stderr


def test_node_status_needs_a_node_or_its_data() -> None:
    done = _status(token="mt_" + "A" * 43)
    assert done.returncode == 2
    assert "--node URL or --data DIR" in done.stderr


def test_node_status_keeps_the_last_contact_of_a_peer_that_went_down(net: Network) -> None:
    """Last in this module: it stops dist."""
    contacted = {p["name"]: p for p in _json(net)["peers"]}["dist"]["last_contact"]
    assert contacted is not None
    net.dist.stop(signal.SIGKILL)
    dist = {p["name"]: p for p in _json(net)["peers"]}["dist"]
    assert dist["reachable"] is False
    assert dist["last_contact"] is not None
    assert dist["last_contact"] >= contacted


def test_node_run_banner_lists_scan_alerts_docs_and_network(acme_data: Path) -> None:  # noqa: F811
    shown, running = _run_on_a_terminal(acme_data)
    lines = [line for line in shown.splitlines() if line.strip()]
    for path in ("/scan", "/alerts", "/docs", "/network"):
        assert f"  {running.url}{path}" in lines, path


def test_node_status_over_tls_reaches_peers_with_signed_requests(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """TLS nodes (the consortium's CA, ADR 0011) that check every peer request's signature
    (ADR 0015): the view reaches the peer, and --data finds the node's address and CA."""
    root = tmp_path_factory.mktemp("tls-status")
    nodes, tokens = init_tls_nodes(root, tls_consortium(root), ["acme", "dist"], "granian")
    with running(nodes):
        done = _status(
            "--data", str(nodes["acme"].data), "--json", token=tokens["acme"]["operator"]
        )
    assert done.returncode == 0, done.stderr
    view = json.loads(done.stdout)
    (dist,) = view["peers"]
    assert dist["url"].startswith("https://")
    assert dist["reachable"] is True, dist["error"]
    assert dist["digest_agrees"] is True
    assert view["agreement"]["all_agree"] is True
