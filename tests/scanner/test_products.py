"""Every verdict says what the product is, from its GTIN owner's signed ``product`` entry; a
GTIN with no registered product is HOLD at the border and a warning at the counter (issue 15,
item 1; docs/spec/scanner.md, "Products"). Offline against a data directory, online against
the scanner tests' node over HTTP, and ``POST /api/v1/scan`` on a real node's store."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from ledger.feed import FeedWriter
from ledger.kinds import Kind
from ledger.lifecycle.products import product_step
from medtrace.cli.main import cli
from scanner.sources.offline import verify_offline
from scanner.verdict import Decision
from tests.api.conftest import GTIN as NODE_GTIN
from tests.api.conftest import NodeFactory, register_product
from tests.node.world import FEEDS, key
from tests.scanner.conftest import CASE, OK, Story, scanned
from tests.scanner.server import VERIFIER, Node, open_node, serve
from tests.scanner.world import GTIN, PRODUCT, scan_world

UNREGISTERED = "unregistered_product"


@pytest.fixture(scope="module")
def unregistered(tmp_path_factory: pytest.TempPathFactory) -> Story:
    """A pack delivered to the pharmacy whose GTIN no product entry registers."""
    world = scan_world()
    world.commission([OK])
    world.deliver([OK], CASE)
    return Story(world, world.store(tmp_path_factory.mktemp("unregistered") / "ph"))


def codes(reasons: list[Any]) -> list[str]:
    return [r["code"] if isinstance(r, dict) else r.code for r in reasons]


def test_unregistered_product_holds_at_the_border(unregistered: Story, story: Story) -> None:
    held = verify_offline(scanned(OK), unregistered.data, in_transit_ok=True).verdict
    assert held.decision is Decision.HOLD
    assert codes(held.reasons) == [UNREGISTERED]
    assert GTIN in held.reasons[0].message
    assert held.product is None
    released = verify_offline(scanned(OK), story.data, in_transit_ok=True).verdict
    assert released.decision is Decision.RELEASE, released.reasons
    assert released.warnings == []


def test_unregistered_product_warns_at_the_counter(unregistered: Story, story: Story) -> None:
    outcome = verify_offline(scanned(OK), unregistered.data, custodian="ph")
    assert outcome.decision is Decision.RELEASE, outcome.verdict.reasons
    assert codes(outcome.verdict.reasons) == ["authentic"]  # the warning changes nothing …
    answer = outcome.to_json()
    assert codes(answer["warnings"]) == [UNREGISTERED]  # … and is told apart from the reasons
    assert answer["product"] is None
    registered = verify_offline(scanned(OK), story.data, custodian="ph").to_json()
    assert registered["warnings"] == []


def _scan_cli(*args: str) -> Any:
    return CliRunner().invoke(cli, ["scan", f"(01){GTIN}(21){OK}", *args])


@pytest.fixture(scope="module")
def story_node(story: Story) -> Iterator[Node]:
    honest = open_node(story.world, story.data)
    with serve(honest) as running:
        yield running
    honest.store.close()


def test_verdict_names_the_product_cli(story: Story, story_node: Node) -> None:
    online = ["--node", story_node.url, "--token", VERIFIER, "--genesis", story.world.pin]
    for where in (["--offline", str(story.data)], online):
        result = _scan_cli(*where, "--customs", "--json")
        assert result.exit_code == 0, result.output
        product = json.loads(result.stdout)["product"]
        assert product["gtin"] == GTIN
        assert product["owner"] == "acme"
        for name in ("name", "commonName", "strength", "form", "packSize", "packType"):
            assert product[name] == PRODUCT[name], name
        shown = _scan_cli(*where, "--customs")
        flat = " ".join(shown.stdout.replace("│", " ").split())  # the panel wraps long lines
        assert (
            "PRODUCT Amoxil 500 mg (amoxicillin), capsule, hard, pack of 16 (blister pack)" in flat
        )


def test_verdict_names_the_product_api(make_node: NodeFactory) -> None:
    acme = make_node("acme")
    made = acme.post(
        "/api/v1/commission",
        {"gtin": NODE_GTIN, "lot": "L1", "expiry": "2031-12-31", "serials": ["P1", "P2", "P3"]},
    )
    assert made.status_code == 201, made.get_json()

    def scan(serial: str, context: str) -> dict[str, Any]:
        text = f"(01){NODE_GTIN}(17)311231(10)L1(21){serial}"
        answer = acme.client.post(
            "/api/v1/scan", json={"text": text, "context": context}, headers=acme.auth("verifier")
        )
        assert answer.status_code == 200, answer.get_json()
        return dict(answer.get_json())

    # one pack per scan: a HOLD raises an alert about its pack, which would hold it next time
    counter = scan("P1", "counter")
    assert counter["verdict"] == "RELEASE", counter["reasons"]
    assert codes(counter["warnings"]) == [UNREGISTERED]
    border = scan("P2", "border")
    assert (border["verdict"], codes(border["reasons"])) == ("HOLD", [UNREGISTERED])
    assert border["product"] is None
    register_product(acme)
    for serial, context in (("P3", "border"), ("P1", "counter")):
        answer = scan(serial, context)
        assert answer["verdict"] == "RELEASE", answer["reasons"]
        assert answer["warnings"] == []
        assert answer["product"]["name"] == "Amoxil"
        assert answer["product"]["packSize"] == 16
        assert "referencePrice" not in json.dumps(answer)  # sealed: never in a verdict


def _forge_product(how: str) -> dict[str, Any]:
    """A product entry for the story's GTIN that its owner did not sign (fresh writers: the
    story's own are shared by other tests)."""
    step, _ = product_step(
        {
            "gtin": GTIN,
            **PRODUCT,
            "name": "Fake-o-cillin",
            "referencePrice": {"amount": "1", "currency": "EUR"},
        }
    )
    if how == "bad_signature":
        wire = (
            FeedWriter("acme/line1", key(FEEDS["acme/line1"][2]))
            .append(Kind.PRODUCT, subjects=step.subjects, body=step.body)
            .to_wire()
        )
        signature = bytearray(base64.b64decode(wire["signature"]))
        signature[0] ^= 1
        return {**wire, "signature": base64.b64encode(bytes(signature)).decode()}
    # validly signed, by a member that owns no company prefix (the distributor)
    writer = FeedWriter("dist/wh", key(FEEDS["dist/wh"][2]))
    return writer.append(Kind.PRODUCT, subjects=step.subjects, body=step.body).to_wire()


@pytest.mark.parametrize("how", ["bad_signature", "signed_by_another_member"])
def test_forged_product_entry_is_not_shown(story: Story, tmp_path: Path, how: str) -> None:
    """A node that slips a product entry into the provenance that the GTIN's owner did not
    sign: the verdict says the product entry is forged and shows no product."""
    forged = _forge_product(how)
    node = open_node(story.world, story.data, tamper=lambda wires, _uri: [*wires, forged])
    try:
        with serve(node) as running:
            result = _scan_cli(
                "--node", running.url, "--token", VERIFIER, "--genesis", story.world.pin,
                "--customs", "--json",
            )  # fmt: skip
    finally:
        node.store.close()
    assert result.exit_code == 2, result.output
    answer = json.loads(result.stdout)
    assert answer["product"] is None
    assert codes(answer["reasons"]) == ["forged"]
    assert "product entry" in answer["reasons"][0]["message"]
    assert "Fake-o-cillin" not in result.stdout
