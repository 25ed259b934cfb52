"""Two consortia over real node processes (``medtrace node run``) for the cases between
authorities (issue 17, ADR 0029, docs/spec/cases.md).

Country B (consortium B): a customs post (``bcus``) and a regulator (``breg``), peers of each
other so that each witnesses the other's feed; a manufacturer (``bmfr``) runs no node (its key
signs the case a non-authority makes). Country A (consortium A): a manufacturer whose packs
are cloned (prefix 9506000, ``acme``) and a regulator (``areg``) whose membership pins B's
genesis as a foreign root, and the same regulator's node from before the pin
(``areg-plain``). The nodes run for the whole module: each case has its own id.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from ledger.identifiers import pack_uri
from ledger.membership import foreign_root
from node.config import PeerConfig, load_config, save_config
from tests.nodes_setup import Member, make_consortium
from tests.replication.test_network import (
    MEDTRACE,
    PASSPHRASE,
    Node,
    _token_of,
    free_port,
    medtrace,
)

GTIN_A = "09506000134352"  # consortium A's manufacturer's
CLONE = "CLONE0000001"  # the serial a counterfeiter copied (dispensed in A)
OTHER = "OTHERPACK002"  # another pack of the same consignment: never in the case
REFERENCE = "AT-2026-000777"
UNRELATED = "AT-2026-000778"  # another declaration of the same post: never in the case
B_ROOT_PREFIX = "4099999"

MEMBERS_B = {
    "bcus": Member("customs", ("post",)),
    "breg": Member("regulator", ("office",)),
    "bmfr": Member("manufacturer", ("line",), (B_ROOT_PREFIX,)),
}
MEMBERS_A = {
    "acme": Member("manufacturer", ("line-1",), ("9506000",)),
    "areg": Member("regulator", ("office",)),
}


def declaration(reference: str, serials: list[str]) -> dict[str, Any]:
    return {
        "reference": reference,
        "consignor": {
            "name": "Sunrise Generics Pvt Ltd",
            "id": "IN0512345678",
            "address": {"city": "Pune", "country": "IN"},
        },
        "consignee": {
            "name": "Alpen Pharma Handel GmbH",
            "addressType": "business",
            "address": {"street": "Ringstrasse 1", "city": "Wien", "country": "AT"},
        },
        "declarant": {"name": "Donau Brokers GmbH", "address": {"city": "Wien", "country": "AT"}},
        "countryOfOrigin": "IN",
        "countryOfDispatch": "AE",
        "transportMode": 4,
        "officeOfEntry": "AT100000",
        "goods": [
            {
                "hsCode": "300410",
                "description": "Amoxicillin 500 mg hard capsules",
                "gtin": GTIN_A,
                "quantity": len(serials),
                "netMassKg": "0.056",
                "value": {"amount": "11.20", "currency": "EUR"},
            }
        ],
        "packages": [{"gtin": GTIN_A, "serial": s} for s in serials],
    }


@dataclass
class Countries:
    root: Path
    genesis_a: str
    genesis_b: str
    nodes: dict[str, Node]
    consortium_b: Path

    def __getitem__(self, name: str) -> Node:
        return self.nodes[name]

    def request(
        self, node: str, method: str, path: str, body: Any = None, **kw: Any
    ) -> requests.Response:
        return requests.request(
            method,
            self.nodes[node].url + path,
            json=body,
            headers={"Authorization": f"Bearer {self.nodes[node].operator}"},
            timeout=60,
            **kw,
        )

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        """``medtrace ARGS`` as a person runs it (a process of its own)."""
        return subprocess.run(
            [MEDTRACE, *args], capture_output=True, text=True, timeout=120, check=False
        )

    def foreign_alerts(self, node: str = "areg") -> list[dict[str, Any]]:
        answer = self.request(node, "GET", "/api/v1/alerts?code=foreign_case")
        assert answer.status_code == 200, answer.text
        found: list[dict[str, Any]] = answer.json()["alerts"]
        return found


def _init(consortium: Path, data: Path, feed: str) -> str:
    medtrace(
        "node", "init", "--data", str(data), "--consortium", str(consortium), "--feed", feed,
        "--name", data.name, "--keep-passphrase",
    )  # fmt: skip
    out = medtrace(
        "node", "token", "create", "--data", str(data), "--user", "ops", "--role", "operator"
    )
    return _token_of(out)


def _peer(holder: Path, issuer: Path, url: str) -> None:
    token = _token_of(
        medtrace(
            "node",
            "token",
            "create",
            "--data",
            str(issuer),
            "--user",
            holder.name,
            "--role",
            "peer",
        )
    )
    medtrace(
        "node", "peer", "add", "--data", str(holder), "--name", issuer.name, "--url", url,
        "--token", token,
    )  # fmt: skip


@pytest.fixture(scope="module")
def countries(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Countries]:
    root = tmp_path_factory.mktemp("cases")
    b = make_consortium(root / "consortium-b", "Consortium B", MEMBERS_B, PASSPHRASE)
    a = make_consortium(root / "consortium-a", "Consortium A", MEMBERS_A, PASSPHRASE)
    tokens = {"areg-plain": _init(a.path, root / "areg-plain", "areg/office")}
    pinned = a.membership.with_foreign_root(
        foreign_root(b.genesis_id, "Consortium B", "AT", [B_ROOT_PREFIX])
    )
    a.publish(a.sign(pinned, PASSPHRASE))
    for name, consortium, feed in (
        ("areg", a.path, "areg/office"),
        ("acme", a.path, "acme/line-1"),
        ("bcus", b.path, "bcus/post"),
        ("breg", b.path, "breg/office"),
    ):
        tokens[name] = _init(consortium, root / name, feed)
    ports = {name: free_port() for name in tokens}
    _peer(root / "bcus", root / "breg", f"http://127.0.0.1:{ports['breg']}")
    _peer(root / "breg", root / "bcus", f"http://127.0.0.1:{ports['bcus']}")
    nodes: dict[str, Node] = {}
    for name, port in ports.items():
        config = load_config(root / name)
        peers = tuple(PeerConfig(p.name, p.url, p.token) for p in config.peers)
        save_config(
            root / name,
            dataclasses.replace(config, port=port, peers=peers, replication_interval_s=0.5),
        )
        nodes[name] = Node(name, root / name, port, tokens[name], root / f"{name}.log")
    try:
        for node in nodes.values():
            node.start()
        for node in nodes.values():
            node.wait_ready()
        yield Countries(root, a.genesis_id, b.genesis_id, nodes, b.path)
    finally:
        for node in nodes.values():
            node.kill_all()


@dataclass
class Seizure:
    """B's customs post found a clone of an A pack in a consignment, checked and seized it."""

    alert: dict[str, Any]  # the check_rejected alert about the clone at B's customs node
    file: Path  # its case, exported by B's customs node with a photo
    doc: dict[str, Any]
    raw: bytes
    photo: bytes


@pytest.fixture(scope="module")
def seizure(countries: Countries, tmp_path_factory: pytest.TempPathFactory) -> Seizure:
    c = countries
    for ref, serials in ((REFERENCE, [CLONE, OTHER]), (UNRELATED, ["UNRELATED0003"])):
        lodged = c.request(
            "bcus", "POST", "/api/v1/declarations", {"declarations": [declaration(ref, serials)]}
        )
        assert lodged.status_code == 201, lodged.text
    reported = c.request(
        "bcus",
        "POST",
        "/api/v1/checks",
        {
            "packs": [pack_uri(GTIN_A, CLONE), pack_uri(GTIN_A, OTHER)],
            "verdict": "REJECT",
            "reasons": ["already_dispensed"],
            "context": "border",
            "declaration": REFERENCE,
            "country": "AT",
        },
    )
    assert reported.status_code == 201, reported.text
    seized = c.request(
        "bcus", "POST", f"/api/v1/declarations/{REFERENCE}/decision",
        {"decision": "seize", "note": "serials already dispensed in country A"},
    )  # fmt: skip
    assert seized.status_code == 201, seized.text
    found = c.request(
        "bcus", "GET", f"/api/v1/alerts?code=check_rejected&subject={pack_uri(GTIN_A, CLONE)}"
    ).json()["alerts"]
    assert len(found) == 1, found
    folder = tmp_path_factory.mktemp("case-files")
    photo = folder / "seized-pack.png"
    photo.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4)
    out = folder / "clone.case.json"
    done = c.cli(
        "case", "export", "--alert", found[0]["id"], "--photo", str(photo), "--out", str(out),
        "--node", c["bcus"].url, "--token", c["bcus"].operator, "--wait", "60",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    raw = out.read_bytes()
    return Seizure(found[0], out, json.loads(raw), raw, photo.read_bytes())
