"""Failed checks raise alerts (ADR 0022): a REJECT or an evidence HOLD at the web scan or
reported by a scanner becomes a signed ``check`` entry whose alert every node raises; scan and
network errors raise none; a report cannot put free text or oversized fields into an alert."""

from __future__ import annotations

from typing import Any

import pytest

from api.failed_checks import evidence_reasons
from ledger import lifecycle
from ledger.alerts import Code
from ledger.identifiers import pack_uri
from ledger.kinds import Kind
from node.tokens import TokenRole
from tests.customs.conftest import GTIN, replicate
from tests.ledger.builders import DIST, Net
from tests.ledger.builders import GTIN as NET_GTIN
from tests.nodes_setup import Node, NodeFactory

PACK = pack_uri(GTIN, "F1")


def _commissioned(make_node: NodeFactory) -> tuple[Node, Node, Node]:
    acme, apo, reg = make_node("acme"), make_node("apo"), make_node("reg")
    done = acme.post(
        "/api/v1/commission",
        {"gtin": GTIN, "lot": "L1", "expiry": "2030-12-31", "serials": ["F1", "F2"]},
    )
    assert done.status_code == 201, done.json
    replicate(acme, apo)
    return acme, apo, reg


def _scan(node: Node, text: str) -> Any:
    return node.client.post(
        "/api/v1/scan", json={"text": text}, headers=node.auth(TokenRole.VERIFIER)
    )


def _checks(node: Node) -> list[Any]:
    return [e for e in node.ctx.store.entries(node.ctx.feed) if e.payload.kind is Kind.CHECK]


def test_reject_at_the_web_scan_raises_an_alert_everywhere(make_node: NodeFactory) -> None:
    _acme, apo, reg = _commissioned(make_node)
    scanned = _scan(apo, f"(01){GTIN}(17)301231(10)WRONG(21)F1")
    assert scanned.status_code == 200, scanned.json
    assert scanned.json["verdict"] == "REJECT", scanned.json
    (check,) = _checks(apo)
    assert check.payload.subjects == (PACK,)  # one pack: only that pack
    assert check.payload.body["reasons"] == ["lot_mismatch"]
    assert check.payload.body["lot"] == "WRONG"
    replicate(apo, reg)
    for node in (apo, reg):
        (alert,) = node.ctx.store.alerts(code=Code.CHECK_REJECTED.value)
        assert alert.subject == PACK
        assert "lot_mismatch" in alert.message
        assert "apo" in alert.message
        assert alert.evidence == (check.id,)


def test_rescanning_a_failed_pack_raises_one_alert(make_node: NodeFactory) -> None:
    """The same failed check (pack, verdict, reasons, context, printed lot) is signed once a
    day: a pharmacist rescanning, or a token asking again and again, cannot fill the ledger
    with alerts. Another failure of the same pack is a new check."""
    _acme, apo, _reg = _commissioned(make_node)
    for _ in range(3):
        assert _scan(apo, f"(01){GTIN}(17)301231(10)WRONG(21)F1").json["verdict"] == "REJECT"
    assert len(_checks(apo)) == 1
    assert _scan(apo, f"(01){GTIN}(17)301231(10)OTHER(21)F1").json["verdict"] == "REJECT"
    assert len(_checks(apo)) == 2
    assert len(apo.ctx.store.alerts(code=Code.CHECK_REJECTED.value)) == 2


def test_release_raises_no_alert(make_node: NodeFactory) -> None:
    acme, _apo, _reg = _commissioned(make_node)
    scanned = _scan(acme, f"(01){GTIN}(17)301231(10)L1(21)F1")
    assert scanned.json["verdict"] == "RELEASE", scanned.json
    assert _checks(acme) == []


@pytest.mark.parametrize(
    "text",
    ["(01)04012345000017(21)F1", "not a code at all", f"(01){GTIN}(17)301231"],
    ids=["bad-check-digit", "no-code", "no-serial"],
)
def test_scan_errors_raise_no_alert(make_node: NodeFactory, text: str) -> None:
    _acme, apo, _reg = _commissioned(make_node)
    scanned = _scan(apo, text)
    assert scanned.status_code == 422, scanned.json
    assert _checks(apo) == []
    assert apo.ctx.store.alerts() == []


@pytest.mark.parametrize(
    ("verdict", "reasons", "kept"),
    [
        ("HOLD", ["ledger_unreachable"], []),
        ("HOLD", ["uncertain_scan", "lot_mismatch"], []),
        ("HOLD", ["ledger_unreachable", "unknown_pack"], ["unknown_pack"]),
        ("HOLD", ["unknown_pack"], ["unknown_pack"]),
        ("REJECT", ["recalled", "stale_data"], ["recalled"]),
        ("RELEASE", ["authentic"], []),
    ],
    ids=["unreachable", "bad-scan", "unreachable-and-unknown", "unknown", "reject", "release"],
)
def test_only_evidence_raises_an_alert(verdict: str, reasons: list[str], kept: list[str]) -> None:
    assert evidence_reasons(verdict, reasons) == kept


def test_hold_for_a_network_error_reported_raises_no_alert(make_node: NodeFactory) -> None:
    _acme, apo, _reg = _commissioned(make_node)
    report = {"packs": [PACK], "verdict": "HOLD", "reasons": ["ledger_unreachable"]}
    answer = apo.post("/api/v1/checks", report | {"context": "counter"}, TokenRole.VERIFIER)
    assert answer.status_code == 201, answer.json
    assert answer.json == {"entries": [], "alerts": 0}
    assert _checks(apo) == []


def test_reported_reject_raises_an_alert(make_node: NodeFactory) -> None:
    _acme, apo, reg = _commissioned(make_node)
    report = {"packs": [PACK], "verdict": "REJECT", "reasons": ["recalled"], "context": "counter"}
    answer = apo.post("/api/v1/checks", report | {"country": "DE"}, TokenRole.VERIFIER)
    assert answer.status_code == 201, answer.json
    assert answer.json["alerts"] == 1
    replicate(apo, reg)
    (alert,) = reg.ctx.store.alerts(code=Code.CHECK_REJECTED.value)
    assert alert.subject == PACK


@pytest.mark.parametrize(
    ("change", "where"),
    [
        ({"reasons": ["<script>alert(1)</script>"]}, "reasons"),
        ({"reasons": ["a" * 41]}, "reasons"),
        ({"reasons": [f"r{i}" for i in range(17)]}, "reasons"),
        ({"lot": "L" * 21}, "lot"),
        ({"message": "free text for the regulator"}, "message"),
        ({"declaration": "x" * 36}, "declaration"),
        ({"country": "Germany"}, "country"),
        ({"packs": [PACK, pack_uri(GTIN, "F2")]}, "packs"),
        ({"packs": ["https://example.com/not-a-pack"]}, "packs"),
    ],
    ids=[
        "markup-reason",
        "long-reason",
        "many-reasons",
        "long-lot",
        "free-text",
        "long-declaration",
        "country-name",
        "verifier-many-packs",
        "not-a-pack",
    ],
)
def test_report_cannot_inject_oversized_fields(
    make_node: NodeFactory, change: dict[str, Any], where: str
) -> None:
    _acme, apo, _reg = _commissioned(make_node)
    report = {"packs": [PACK], "verdict": "REJECT", "reasons": ["recalled"], "context": "counter"}
    answer = apo.post("/api/v1/checks", report | change, TokenRole.VERIFIER)
    assert answer.status_code == 400, answer.json
    assert where in answer.json["detail"]
    assert _checks(apo) == []


def test_replicated_check_with_free_text_raises_only_malformed() -> None:
    """A member that signs a check past the API's bounds gets no words into anyone's alert."""
    net = Net()
    pack = pack_uri(NET_GTIN, "X1")
    body = {"verdict": "REJECT", "reasons": ["recalled"], "context": "counter", "note": "x" * 999}
    entry = net.sign("forged", DIST, Kind.CHECK, subjects=[pack], body=body)
    alerts = lifecycle.apply(net.state, entry, net.membership, strict=False)
    assert [a.code for a in alerts] == [Code.MALFORMED]
    assert "x" * 50 not in alerts[0].message


def test_check_alerts_survive_a_rebuild(make_node: NodeFactory) -> None:
    """The writer keeps the alerts of its own check; a rebuild from entries alone raises the
    same ones (same ids), as every peer does."""
    _acme, apo, _reg = _commissioned(make_node)
    assert _scan(apo, f"(01){GTIN}(17)301231(10)WRONG(21)F1").json["verdict"] == "REJECT"
    before = {a.id for a in apo.ctx.store.alerts()}
    assert before
    apo.ctx.store.rebuild(apo.ctx.membership)
    assert {a.id for a in apo.ctx.store.alerts()} == before


def test_many_packs_in_one_check_are_committed_not_listed(make_node: NodeFactory) -> None:
    _acme, apo, reg = _commissioned(make_node)
    packs = [PACK, pack_uri(GTIN, "F2")]
    report = {"packs": packs, "verdict": "REJECT", "reasons": ["recalled"], "context": "counter"}
    answer = apo.post("/api/v1/checks", report)
    assert answer.status_code == 201, answer.json
    (check,) = _checks(apo)
    assert check.payload.subjects == ()
    assert "commitment" in check.payload.body
    replicate(apo, reg)
    assert {a.subject for a in reg.ctx.store.alerts(code=Code.CHECK_REJECTED.value)} == set(packs)
    # a verifier asking about one pack sees its alert, never the other's
    shown = reg.get(f"/api/v1/alerts?subject={PACK}", TokenRole.VERIFIER).json
    assert [a["subject"] for a in shown["alerts"]] == [PACK]
    assert "/21/F2" not in str(shown)


def test_a_failed_check_holds_no_pack(make_node: NodeFactory) -> None:
    """A HOLD at a counter that does not hold the pack is reported, and the next scan where the
    pack belongs still answers RELEASE: a report is no fact against the pack (else any one
    verifier could hold any pack for everyone)."""
    acme, apo, _reg = _commissioned(make_node)
    text = f"(01){GTIN}(17)301231(10)L1(21)F1"
    held = _scan(apo, text).json
    assert held["verdict"] == "HOLD", held
    (check,) = _checks(apo)
    replicate(apo, acme)
    assert acme.ctx.store.alerts(code=Code.CHECK_HELD.value)
    assert _scan(acme, text).json["verdict"] == "RELEASE"
    shown = acme.get(f"/api/v1/packs/{GTIN}/F1/provenance", TokenRole.VERIFIER).json
    assert check.id not in {e["id"] for e in shown["entries"]}
