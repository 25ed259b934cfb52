"""Three consortia of real node processes (issue 17): A (country DE) commissions, recalls and
dispenses packs; B (country NO) pins A as a foreign root and scans A's packs at its customs
post's node, asking A's node through a man in the middle the tests control; C is a consortium
B does not trust, whose manufacturer claims A's company prefix.

A pins B and C too, and issued B's node a verifier token bound to B (and one bound to C): B's
node signs what it asks A with its feed key, and A checks the signature against B's membership,
which it asks B's node for (A's ``node foreign`` setting for B; ADR 0028, addendum)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
from click.testing import CliRunner

from keys.consortium import Consortium
from keys.keystore import PASSPHRASE_ENV
from ledger.feed import FeedWriter
from ledger.identifiers import lot_uri, pack_uri
from ledger.kinds import Kind
from medtrace.cli.keys import keys_group
from medtrace.cli.node import node_group
from medtrace.cli.node_foreign import foreign_group
from node.config import load_config
from node.store import Store
from tests.api.test_server import Running, create_token, free_port, start
from tests.crossborder.proxy import Proxy, Resolver
from tests.nodes_setup import PASSPHRASE, Member, init_node, make_consortium
from tests.products import AMOXIL
from tests.proofs.conftest import witness_all

PREFIX = "4012345"
B_PREFIX = "7012345"  # what A routes to B's ledger
C_PREFIX = "8012345"  # what A routes to C's ledger
GTIN = "04012345000016"
EXPIRY = "2031-12-31"
A_MEMBERS = {
    "acme": Member("manufacturer", ("line-1",), (PREFIX,)),
    "dist": Member("distributor", ("wh",)),
    "apo": Member("pharmacy", ("counter",)),
}
A_FEEDS = ("acme/line-1", "dist/wh", "apo/counter")
B_MEMBERS = {"tull": Member("customs", ("post",)), "apotek": Member("pharmacy", ("disk",))}
C_MEMBERS = {
    "fake": Member("manufacturer", ("line",), (PREFIX,)),
    "dist": Member("distributor", ("wh",)),
}
C_FEEDS = ("fake/line", "dist/wh")


def _ok(response: requests.Response) -> Any:
    assert response.status_code in (200, 201, 202), response.text[:500]
    return response.json() if response.content else None


@dataclass
class Ledger:
    """One consortium's node: its directory, data, URL and tokens."""

    consortium: Path
    data: Path
    running: Running
    tokens: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return self.running.url

    @property
    def genesis(self) -> str:
        return load_config(self.data).genesis_id

    def post(self, path: str, body: Any, role: str = "operator") -> requests.Response:
        return requests.post(
            self.url + path,
            json=body,
            headers={"Authorization": f"Bearer {self.tokens[role]}"},
            timeout=60,
        )

    def get(self, path: str, role: str = "verifier") -> requests.Response:
        return requests.get(
            self.url + path, headers={"Authorization": f"Bearer {self.tokens[role]}"}, timeout=60
        )


@dataclass
class World:
    a: Ledger
    b: Ledger
    c: Ledger
    proxy: Proxy
    resolver: Resolver
    authentic: str
    recalled: str
    dispensed: str
    fake: str  # commissioned in C under A's prefix
    bound: dict[str, str]  # A's verifier tokens bound to a consortium: "b" and "c"

    def scan(self, serial: str, lot: str = "L1", context: str = "border") -> dict[str, Any]:
        text = f"(01){GTIN}(17){EXPIRY[2:4]}{EXPIRY[5:7]}{EXPIRY[8:10]}(10){lot}(21){serial}"
        answer = self.b.post("/api/v1/scan", {"text": text, "context": context}, "verifier")
        assert answer.status_code == 200, answer.text[:500]
        body: dict[str, Any] = answer.json()
        return body


def _start(
    consortium: Path, root: Path, feed: str, roles: tuple[str, ...], data: Path | None = None
) -> Ledger:
    data = data or init_node(consortium, root / feed.split("/", maxsplit=1)[0], feed)
    tokens = {role: create_token(data, role, f"{role}-1") for role in roles}
    return Ledger(consortium, data, start(data, free_port(), root), tokens)


def bound_token(data: Path, user: str, genesis: str) -> str:
    """A verifier token of the node at ``data`` bound to the consortium ``genesis``."""
    args = ["token", "create", "--data", str(data), "--user", user, "--consortium", genesis]
    result = CliRunner().invoke(node_group, args)
    assert result.exit_code == 0, result.output
    return result.stdout.strip()


def add_foreign(data: Path, genesis: str, token: str, *where: str) -> None:
    args = ["add", "--data", str(data), "--genesis", genesis, "--token", token, *where]
    result = CliRunner().invoke(foreign_group, args)
    assert result.exit_code == 0, result.output


def _populate_a(a: Ledger) -> tuple[str, str, str]:
    price = {"amount": "12.50", "currency": "EUR"}
    _ok(a.post("/api/v1/products", {"gtin": GTIN, **AMOXIL, "referencePrice": price}))
    made = _ok(
        a.post("/api/v1/commission", {"gtin": GTIN, "lot": "L1", "expiry": EXPIRY, "count": 4})
    )
    authentic, dispensed = made["serials"][0], made["serials"][1]
    bad = _ok(
        a.post("/api/v1/commission", {"gtin": GTIN, "lot": "LR", "expiry": EXPIRY, "count": 2})
    )
    recalled = bad["serials"][0]
    _ok(a.post("/api/v1/actions/recall", {"subjects": [lot_uri(GTIN, "LR")]}))
    ship = _ok(
        a.post(
            "/api/v1/actions/ship",
            {"subjects": [pack_uri(GTIN, dispensed)], "body": {"destination": "apo"}},
        )
    )
    # the pharmacy's node receives and dispenses it; A's node takes the entries as a peer's
    opened = Consortium.open(a.consortium)
    apo = FeedWriter("apo/counter", opened.feed_key("apo/counter", PASSPHRASE))
    subjects = [pack_uri(GTIN, dispensed)]
    received = apo.append(Kind.RECEIVE, subjects=subjects, refs=[ship["entry"]["id"]])
    sold = apo.append(Kind.DISPENSE, subjects=subjects)
    store = Store(load_config(a.data).database_url(a.data))
    try:
        report = store.ingest([received, sold], opened.membership)
        assert not report.rejected, report.rejected
    finally:
        store.close()
    witness_all(a.data, a.consortium, A_FEEDS)
    return authentic, recalled, dispensed


def trust(
    b_dir: Path, a_dir: Path, endpoint: str | None, country: str = "DE", prefix: str = PREFIX
) -> None:
    where = ["--endpoint", endpoint] if endpoint is not None else []
    result = CliRunner().invoke(
        keys_group,
        [
            "trust-foreign",
            "--dir",
            str(b_dir),
            "--genesis-file",
            str(a_dir / "membership" / "v0001.json"),
            "--country",
            country,
            "--prefix",
            prefix,
            *where,
        ],
        env={PASSPHRASE_ENV: PASSPHRASE},
    )
    assert result.exit_code == 0, result.output


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    root = tmp_path_factory.mktemp("crossborder")
    started: list[Running] = []
    proxy: Proxy | None = None
    resolver: Resolver | None = None
    try:
        a_dir, b_dir, c_dir = (root / f"consortium-{x}" for x in "abc")
        make_consortium(a_dir, "Medicines DE", A_MEMBERS, PASSPHRASE)
        make_consortium(b_dir, "Legemidler NO", B_MEMBERS, PASSPHRASE)
        make_consortium(c_dir, "Not trusted", C_MEMBERS, PASSPHRASE)
        trust(b_dir, a_dir, None)  # B pins A
        trust(a_dir, b_dir, None, "NO", B_PREFIX)  # A pins B, and C: its tokens may be bound
        trust(a_dir, c_dir, None, "SE", C_PREFIX)
        # B's node is made first: A's node asks it for B's membership, with a token B issued
        b_data = init_node(b_dir, root / "b" / "tull", "tull/post")
        b_port = free_port()
        a_data = init_node(a_dir, root / "a" / "acme", "acme/line-1")
        b_genesis, c_genesis = load_config(b_data).genesis_id, _genesis(c_dir)
        add_foreign(
            a_data, b_genesis, create_token(b_data, "verifier", "de-acme"),
            "--url", f"http://127.0.0.1:{b_port}",
        )  # fmt: skip
        bound = {
            "b": bound_token(a_data, "no-tull", b_genesis),
            "c": bound_token(a_data, "se-node", c_genesis),
        }
        a = _start(a_dir, root / "a", "acme/line-1", ("operator", "verifier"), a_data)
        started.append(a.running)
        authentic, recalled, dispensed = _populate_a(a)
        c = _start(c_dir, root / "c", "fake/line", ("operator", "verifier"))
        started.append(c.running)
        made = _ok(
            c.post("/api/v1/commission", {"gtin": GTIN, "lot": "L1", "expiry": EXPIRY, "count": 1})
        )
        witness_all(c.data, c_dir, C_FEEDS)
        proxy = Proxy(a.url)
        # B pins A without an endpoint: B's node finds A's service through a GS1 resolver,
        # which names the man in the middle (A's verification-messaging base behind it)
        resolver = Resolver({GTIN: f"{proxy.url}/vrs/v1/gtin/{GTIN}"})
        # B's node asks A with the token A bound to B (and signs every request)
        add_foreign(b_data, a.genesis, bound["b"], "--resolver", resolver.url)
        tokens = {
            role: create_token(b_data, role, f"{role}-1") for role in ("operator", "verifier")
        }
        b = Ledger(b_dir, b_data, start(b_data, b_port, root), tokens)
        started.append(b.running)
        yield World(
            a, b, c, proxy, resolver, authentic, recalled, dispensed, made["serials"][0], bound
        )
    finally:
        if proxy is not None:
            proxy.close()
        if resolver is not None:
            resolver.close()
        for running in started:
            running.stop()


@pytest.fixture
def w(world: World) -> Iterator[World]:
    """The world with the man in the middle passing answers on untouched."""
    world.proxy.reset()
    world.proxy.target = world.a.url
    yield world
    world.proxy.reset()
    world.proxy.target = world.a.url


def _genesis(consortium: Path) -> str:
    return Consortium.open(consortium).genesis_id


def rewrite_json(body: bytes, change: Any) -> bytes:
    value = json.loads(body)
    change(value)
    return json.dumps(value).encode()


__all__ = ["GTIN", "PREFIX", "World", "bound_token", "rewrite_json", "trust", "witness_all"]
