"""``medtrace scan "(00)SSCC" --customs`` and ``--declaration`` against a real node process:
one ``POST /api/v1/scan`` checks the whole pallet at the node; no pack is asked about one by
one (the node's request log shows it, and a per-pack loop would run into the node's rate
limit of a few queries per minute)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from ledger.identifiers import lot_uri
from node.config import load_config, save_config
from node.localnet.processes import free_port
from node.process import NodeProcess
from node.tokens import TokenRole
from tests.customs.conftest import GTIN, replicate
from tests.customs.test_consignment import (
    ALL_PACKS,
    PALLET,
    RECALLED_LOT,
    act,
    build,
    clone_templates,
    declare,
    make,
)
from tests.nodes_setup import PASSPHRASE, NodeFactory

__all__ = ["clone_templates", "make"]  # the fixtures, shared with test_consignment.py
MEDTRACE = str(Path(sys.executable).with_name("medtrace"))


@dataclass
class Served:
    url: str
    genesis: str
    operator: str
    verifier: str
    log: Path

    def scan(self, *args: str, token: str | None = None) -> subprocess.CompletedProcess[str]:
        clean = {k: v for k, v in os.environ.items() if not k.startswith("MEDTRACE_")}
        return subprocess.run(
            [MEDTRACE, "scan", *args, "--node", self.url, "--genesis", self.genesis,
             "--token", token or self.verifier],
            capture_output=True,
            text=True,
            env={**clean, "COLUMNS": "200", "MEDTRACE_PROFILE": os.devnull + ".none"},
            timeout=120,
            check=False,
        )  # fmt: skip

    def requests(self) -> list[str]:
        paths = []
        for line in self.log.read_text(encoding="utf-8").splitlines():
            if line.startswith("{") and '"event": "request"' in line:
                record: dict[str, Any] = json.loads(line)
                paths.append(f"{record['method']} {record['path']}")
        return paths


@pytest.fixture
def border(make: NodeFactory, declaration_request: dict[str, Any]) -> Iterator[Served]:
    """The border node of the consignment world (a recalled lot on the pallet, a declaration
    lodged), served by ``medtrace node run`` with a query rate of 5 per minute per token."""
    world = build(make)
    reg = world.node("reg")
    replicate(world.acme, reg)
    act(reg, "recall", [lot_uri(GTIN, RECALLED_LOT)])
    world.to_border(reg)
    declare(world, declaration_request)
    node = world.border
    tokens = (node.token(TokenRole.OPERATOR), node.token(TokenRole.VERIFIER))
    port = free_port()
    config = load_config(node.data)
    save_config(node.data, replace(config, port=port, verify_rate_per_minute=5))
    passphrase = node.data / "passphrase"  # as for a demo node: the process reads it there
    passphrase.write_text(PASSPHRASE)
    passphrase.chmod(0o600)
    process = NodeProcess("border-cli", node.data, f"http://127.0.0.1:{port}")
    process.start()
    try:
        process.wait_healthy(time.monotonic() + 60)
        yield Served(process.url, config.genesis_id, *tokens, node.data / "node.log")
    finally:
        process.stop()


def test_cli_scans_a_pallet_in_one_request(border: Served) -> None:
    done = border.scan(f"(00){PALLET}", "--customs", "--json", "--operator-token", border.operator)
    assert done.returncode == 2, done.stderr  # REJECT
    answer = json.loads(done.stdout)
    assert (answer["kind"], answer["checked"], answer["total"]) == (
        "consignment",
        ALL_PACKS,
        ALL_PACKS,
    )
    assert answer["reasons"]["recalled"] == 4
    assert len(answer["offending"]) == 4  # the customs operator is told which packs
    assert [r for r in border.requests() if "/api/v1/" in r] == ["POST /api/v1/scan"]


def test_cli_shows_the_consignment_as_a_table(border: Served) -> None:
    done = border.scan(f"(00){PALLET}", "--customs")  # a verifier: counts, no serials
    assert done.returncode == 2, done.stderr
    for words in ("REJECT", f"{ALL_PACKS} of {ALL_PACKS} packs checked", "recalled",
                  "Amoxicillin Acme 500 mg hard capsules", "not named to this token"):  # fmt: skip
        assert words in done.stdout, done.stdout
    assert "C0" not in done.stdout


def test_cli_checks_a_declaration(border: Served) -> None:
    done = border.scan(
        "--declaration", "DE-2026-000777", "--json", "--operator-token", border.operator
    )
    answer = json.loads(done.stdout)
    assert done.returncode == 2, done.stderr  # the recalled lot is on the declared pallet
    assert answer["declaration"] == "DE-2026-000777"
    assert answer["declaration_check"] == {"agrees": True, "findings": []}


def test_cli_declaration_with_a_verifier_token_is_one_error_line(border: Served) -> None:
    done = border.scan("--declaration", "DE-2026-000777")
    assert done.returncode == 4
    assert done.stderr.startswith("error: the node refused the token (403")
    assert "Traceback" not in done.stderr
