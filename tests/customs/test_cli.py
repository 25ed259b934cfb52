"""``medtrace product`` and ``medtrace customs declare`` against real node processes: a
manufacturer's node and a customs node over HTTP, driven as their people drive them, with
--json for machines and one error line for people."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from keys.consortium import Consortium
from node.config import NodeConfig
from node.datadir import init_node
from node.localnet.processes import free_port
from node.process import NodeProcess
from node.store import Store
from node.tokens import Tokens
from tests.customs.conftest import GTIN, MEMBERS, doc_example
from tests.nodes_setup import PASSPHRASE, make_consortium

MEDTRACE = str(Path(sys.executable).with_name("medtrace"))


@dataclass
class Site:
    url: str
    token: str
    genesis: str

    def run(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        clean = {k: v for k, v in os.environ.items() if not k.startswith("MEDTRACE_")}
        return subprocess.run(
            [MEDTRACE, *args, "--node", self.url, "--token", self.token, "--genesis", self.genesis],
            input=stdin,
            capture_output=True,
            text=True,
            env={**clean, "COLUMNS": "200", "MEDTRACE_PROFILE": os.devnull + ".none"},
            timeout=120,
            check=False,
        )


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "Traceback" not in result.stdout + result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


@pytest.fixture(scope="module")
def sites(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Site]]:
    root = tmp_path_factory.mktemp("customs-cli")
    consortium: Consortium = make_consortium(
        root / "consortium", "Customs CLI", MEMBERS, PASSPHRASE
    )
    processes, sites = [], {}
    for org in ("acme", "border"):
        port = free_port()
        data = root / org
        config = NodeConfig(
            name=org,
            feed=f"{org}/{MEMBERS[org].feeds[0]}",
            genesis_id=consortium.genesis_id,
            port=port,
            replication_interval_s=3600.0,
        )
        init_node(data, consortium, config, PASSPHRASE.encode(), keep_passphrase=True)
        with Store(config.database_url(data)) as store:
            token = Tokens(store).create("operator-1", "operator")[0]
        processes.append(NodeProcess(org, data, f"http://127.0.0.1:{port}"))
        sites[org] = Site(f"http://127.0.0.1:{port}", token, consortium.genesis_id)
    try:
        for process in processes:
            process.start()
        deadline = time.monotonic() + 60
        for process in processes:
            process.wait_healthy(deadline)
        yield sites
    finally:
        for process in processes:
            process.stop()


def test_product_register_and_show(sites: dict[str, Site], tmp_path: Path) -> None:
    acme = sites["acme"]
    request = doc_example("product-request")
    path = tmp_path / "product.json"
    path.write_text(json.dumps(request))
    done = acme.run("product", "register", "--file", str(path), "--json")
    assert done.returncode == 0, done.stderr
    registered: dict[str, Any] = json.loads(done.stdout)
    assert registered["gtin"] == GTIN
    assert registered["referencePrice"] == {"amount": "7.90", "currency": "EUR"}
    shown = acme.run("product", "show", GTIN)
    assert shown.returncode == 0, shown.stderr
    assert "Amoxicillin Acme 500 mg hard capsules" in shown.stdout
    assert "7.90 EUR" in shown.stdout
    again = acme.run("product", "show", GTIN, "--json")
    assert json.loads(again.stdout)["product"]["hsCode"] == "300410"


def test_product_register_from_options_refuses_chapter_44(sites: dict[str, Site]) -> None:
    line = one_error_line(
        sites["acme"].run(
            "product",
            "register",
            "--gtin",
            GTIN,
            "--name",
            "Oak planks",
            "--common-name",
            "oak",
            "--form",
            "plank",
            "--strength",
            "n/a",
            "--pack-size",
            "1",
            "--pack-type",
            "bundle",
            "--atc",
            "V07",
            "--hs-code",
            "440890",
            "--net-mass-kg",
            "12.5",
            "--price",
            "1.00",
            "--currency",
            "EUR",
            "--mah",
            "Nobody",
            "--market",
            "DE",
        )
    )
    assert "$.hsCode: expected an HS code of chapter 30" in line


def test_unregistered_product_is_one_error_line(sites: dict[str, Site]) -> None:
    line = one_error_line(sites["border"].run("product", "show", "04012345000023"))
    assert "no product is registered" in line


def test_customs_declare_many_from_stdin(sites: dict[str, Site]) -> None:
    border = sites["border"]
    base = doc_example("declaration-request")
    batch = []
    for i in range(25):
        item = json.loads(json.dumps(base))
        item["reference"] = f"CLI-{i:04d}"
        item["packages"] = [{"gtin": GTIN, "serial": f"C{i}"}]
        batch.append(item)
    done = border.run("customs", "declare", "-", "--batch", "10", "--json", stdin=json.dumps(batch))
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert answer["count"] == 25
    assert [d["reference"] for d in answer["declared"]] == [f"CLI-{i:04d}" for i in range(25)]


def test_customs_declare_bad_file_sends_nothing(sites: dict[str, Site], tmp_path: Path) -> None:
    border = sites["border"]
    good = doc_example("declaration-request")
    good["reference"] = "CLI-GOOD-1"
    bad = json.loads(json.dumps(good))
    bad["reference"] = "CLI-BAD-1"
    bad["goods"][0]["hsCode"] = "30041"
    path = tmp_path / "declarations.json"
    path.write_text(json.dumps({"declarations": [good, bad]}))
    line = one_error_line(border.run("customs", "declare", str(path), "--batch", "1"))
    assert f"{path}: $.declarations[1].goods[0].hsCode" in line
    # nothing was sent: not even the good first one
    asked = requests.get(
        f"{border.url}/api/v1/declarations/CLI-GOOD-1",
        headers={"Authorization": f"Bearer {border.token}"},
        timeout=30,
    )
    assert asked.status_code == 404
    assert "expected JSON" in one_error_line(border.run("customs", "declare", "-", stdin="{"))
