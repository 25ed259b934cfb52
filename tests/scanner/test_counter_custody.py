"""A counter releases only packs it holds (security review, finding 7).

A pharmacy's ``POST /api/v1/scan`` used to answer RELEASE for a pack the ledger places at the
manufacturer, which the same node then refuses to dispense (409 ``custody_violation``). At a
pharmacy's counter the scan now expects the pharmacy as custodian; customs (``border``) still
release packs in transit that they never hold. Nodes are Flask apps over real stores, synced
with the real pull; ``medtrace scan --then dispense`` runs against the scanner tests' node.
"""

from __future__ import annotations

import json
from typing import Any

from click.testing import CliRunner
from werkzeug.test import TestResponse

from medtrace.cli.main import cli
from node.replication.pull import LocalPeer, pull
from tests.api.conftest import GTIN, Node, NodeFactory, pack, register_product
from tests.scanner.conftest import Story
from tests.scanner.server import OPERATOR, VERIFIER, open_node, serve
from tests.scanner.world import GTIN as STORY_GTIN
from tests.scanner.world import LOT as STORY_LOT

LOT = "L7"
EXPIRY = "2030-12-31"


def act(node: Node, kind: str, subjects: list[str], **fields: Any) -> dict[str, Any]:
    response = node.post(f"/api/v1/actions/{kind}", {"subjects": subjects, **fields})
    assert response.status_code == 201, response.get_json()
    return dict(response.get_json()["entry"])


def sync(node: Node, *others: Node) -> None:
    for other in others:
        pull(LocalPeer(other.ctx.name, other.ctx.store), node.ctx.store, node.ctx.membership)


def scan(node: Node, serial: str, context: str = "counter") -> dict[str, Any]:
    text = f"]d201{GTIN}17{EXPIRY[2:4]}{EXPIRY[5:7]}{EXPIRY[8:]}10{LOT}\x1d21{serial}"
    response: TestResponse = node.client.post(
        "/api/v1/scan", json={"text": text, "context": context}, headers=node.auth("verifier")
    )
    assert response.status_code == 200, response.get_json()
    return dict(response.get_json())


def codes(result: dict[str, Any]) -> list[str]:
    return [r["code"] for r in result["reasons"]]


def test_counter_scan_of_pack_held_elsewhere(make_node: NodeFactory) -> None:
    acme, apo = make_node("acme"), make_node("apo")
    response = acme.post(
        "/api/v1/commission", {"gtin": GTIN, "lot": LOT, "expiry": EXPIRY, "serials": ["P1"]}
    )
    assert response.status_code == 201, response.get_json()
    sync(apo, acme)

    at_maker = scan(apo, "P1")
    assert at_maker["verdict"] == "HOLD"
    assert codes(at_maker) == ["not_in_custody"]
    message = at_maker["reasons"][0]["message"]
    assert "held by another organisation" in message
    assert "receipt" in message
    assert "quarantine" in message
    # who holds the pack is not the counter's business: no other organisation is named
    assert "acme" not in json.dumps(at_maker["reasons"])
    assert at_maker["custodian"] is None
    # the node would refuse the dispense the RELEASE used to invite
    refused = apo.post("/api/v1/actions/dispense", {"subjects": [pack("P1")]})
    assert refused.status_code == 409
    assert refused.get_json()["code"] == "custody_violation"

    ship = act(acme, "ship", [pack("P1")], body={"destination": "apo"})
    sync(apo, acme)
    assert codes(scan(apo, "P1")) == ["in_transit"]  # on its way: receive it first

    act(apo, "receive", [pack("P1")], refs=[ship["id"]])
    received = scan(apo, "P1")
    assert received["verdict"] == "RELEASE", received["reasons"]
    assert received["custodian"] == "apo/counter"
    act(apo, "dispense", [pack("P1")])


def test_customs_scan_of_pack_in_transit_still_releases(make_node: NodeFactory) -> None:
    acme, border, apo = make_node("acme"), make_node("border"), make_node("apo")
    response = acme.post(
        "/api/v1/commission",
        {"gtin": GTIN, "lot": LOT, "expiry": EXPIRY, "serials": ["C1", "C2"]},
    )
    assert response.status_code == 201
    register_product(acme)  # a border holds an unregistered product
    act(acme, "ship", [pack("C1")], body={"destination": "apo"})
    sync(border, acme)
    sync(apo, acme)
    assert scan(border, "C1", "border")["verdict"] == "RELEASE"  # in transit is expected
    # the border context at a pharmacy's node is a customs check too: no custody expected
    assert scan(apo, "C1", "border")["verdict"] == "RELEASE"
    # customs hold no packs: their node's counter context expects no custody either
    assert scan(border, "C2")["verdict"] == "RELEASE"


def test_dispense_from_the_command_line_needs_the_pack_in_custody(fresh_story: Story) -> None:
    """``medtrace scan --then dispense`` expects the node's own organisation (from its
    ``/healthz``) as custodian: a pack still at its manufacturer is held, not dispensed."""
    world = fresh_story.world
    world.commission(["HOME01"])
    text = f"(01){STORY_GTIN}(17)301231(10){STORY_LOT}(21)HOME01"
    node = open_node(world, fresh_story.data)
    try:
        node.store.ingest(world.entries[-1:], world.membership)
        world.witness(node.store)  # the witnesses cosign the new checkpoint (ADR 0018)
        with serve(node) as running:
            args = ["scan", text, "--node", running.url, "--token", VERIFIER]
            args += ["--genesis", world.pin, "--json"]
            plain = CliRunner().invoke(cli, args)
            then = ["--then", "dispense", "--operator-token", OPERATOR]
            dispensing = CliRunner().invoke(cli, [*args, *then])
    finally:
        node.store.close()
    # a scan that says nothing about who scans gets the verdict on the pack alone
    assert json.loads(plain.stdout)["verdict"] == "RELEASE", plain.output
    assert dispensing.exit_code == 1, dispensing.output
    value = json.loads(dispensing.stdout)
    assert [r["code"] for r in value["reasons"]] == ["not_in_custody"]
    assert "not with ph:" in value["reasons"][0]["message"]
    assert "acme" not in value["reasons"][0]["message"]
    assert value["action"]["done"] is False
    # nothing is dispensed; the failed check is reported (ADR 0022)
    assert not any(r.startswith("POST /api/v1/actions") for r in running.requests)
    assert "POST /api/v1/checks" in running.requests
