"""GS1 Lightweight Verification Messaging at a real node process, asked by a client written
from the standard (``standard_client``): every answer is checked against the standard's
response definition, and medtrace's protections (tokens, the serial-harvesting guard, nothing
about other packs) hold on these routes as on every other."""

from __future__ import annotations

import uuid

import pytest
import requests

from tests.api.conftest import GTIN
from tests.vrs.conftest import (
    HARVEST_MAX_UNKNOWN,
    LOT,
    RECALLED_LOT,
    SLASHED_LOT,
    VERIFY_RATE_PER_MINUTE,
    VrsNode,
)
from tests.vrs.standard_client import CONNECTIVITY_SCHEMA, Requestor, standard_answer

#: acme, the first member of the consortium (tests/nodes_setup.py: 400000000000N + check digit).
ACME_GLN = "4000000000013"
#: dist's GLN: who asks, as the standard's reqGLN.
REQUESTOR_GLN = "4000000000020"
EXP = "301231"  # the packs' expiry, 2030-12-31


def requestor(node: VrsNode, token: str | None = "") -> Requestor:
    return Requestor(node.base, node.token() if token == "" else token, REQUESTOR_GLN)


#: case -> (serial, lot, exp as sent; verified, verificationFailureReason, additionalInfo)
CASES: dict[str, tuple[str, str, str, bool, str | None, str | None]] = {
    "authentic-is-verified": ("AUTH1", LOT, EXP, True, None, None),
    "slashes-in-lot-and-serial": ("SL/1", SLASHED_LOT, EXP, True, None, None),
    "unknown-serial": ("NOSUCH1", LOT, EXP, False, "No_match_GTIN_Serial", None),
    "lot-mismatch": ("AUTH1", "X9", EXP, False, "No_match_GTIN_Serial_Lot", None),
    "expiry-mismatch": ("AUTH1", LOT, "301130", False, "No_match_GTIN_Serial_Expiry", None),
    "lot-and-expiry-mismatch": (
        "AUTH1", "X9", "301130", False, "No_match_GTIN_Serial_Lot_Expiry", None,
    ),
    "recalled-lot": ("RCL1", RECALLED_LOT, EXP, False, "Not_for_re-distribution", "Recalled"),
    "reported-stolen-is-suspect": (
        "STOL1", LOT, EXP, False, "Not_for_re-distribution", "Suspect",
    ),
}  # fmt: skip


@pytest.mark.parametrize(
    ("serial", "lot", "exp", "verified", "reason", "info"), CASES.values(), ids=CASES.keys()
)
def test_the_standard_answer_for_each_case(
    vrs_node: VrsNode,
    serial: str,
    lot: str,
    exp: str,
    verified: bool,
    reason: str | None,
    info: str | None,
) -> None:
    corr = str(uuid.uuid4())
    answer = standard_answer(requestor(vrs_node).verify(GTIN, lot, serial, exp, corr))
    assert answer["data"]["verified"] is verified
    assert answer["data"].get("verificationFailureReason") == reason
    assert answer["data"].get("additionalInfo") == info
    assert answer["responderGLN"] == ACME_GLN
    assert answer["corrUUID"] == corr


def test_corr_uuid_is_echoed_and_the_answer_is_not_cached(vrs_node: VrsNode) -> None:
    corr = str(uuid.uuid4())
    response = requestor(vrs_node).verify(GTIN, LOT, "AUTH2", EXP, corr)
    assert standard_answer(response)["corrUUID"] == corr
    assert response.headers["Cache-Control"] == "no-store"


def test_a_bad_gtin_check_digit_is_a_bad_request(vrs_node: VrsNode) -> None:
    bad = GTIN[:-1] + str((int(GTIN[-1]) + 1) % 10)
    response = requestor(vrs_node).verify(bad, LOT, "AUTH1", EXP, str(uuid.uuid4()))
    assert response.status_code == 400
    assert "check digit" in response.json()["detail"]


@pytest.mark.parametrize(
    ("uri_tail", "wrong"),
    [
        ("?linkType=verificationService", "exp"),  # the expiry is part of the identifier
        ("?exp=301331", "exp"),  # no 13th month
        ("?exp=301231&linkType=pip", "linkType"),
        ("?exp=301231&context=nonsense", "context"),
        ("?exp=301231&reqGLN=4000000000021", "reqGLN"),  # check digit
        ("?exp=301231&corrUUID=not-a-uuid", "corrUUID"),
    ],
)
def test_a_malformed_request_is_a_bad_request(vrs_node: VrsNode, uri_tail: str, wrong: str) -> None:
    response = requests.get(
        f"{vrs_node.base}/gtin/{GTIN}/lot/{LOT}/ser/AUTH1{uri_tail}",
        headers={"Authorization": f"Bearer {vrs_node.token()}"},
        timeout=20,
    )
    assert response.status_code == 400, response.text
    assert response.json()["parameter"] == wrong


def test_a_gtin_no_member_commissions_is_not_found(vrs_node: VrsNode) -> None:
    foreign = "09506000134352"
    response = requestor(vrs_node).verify(foreign, LOT, "AUTH1", EXP, str(uuid.uuid4()))
    assert response.status_code == 404
    assert requestor(vrs_node).check_connectivity(foreign).status_code == 404


def test_no_token_is_unauthorized(vrs_node: VrsNode) -> None:
    anonymous = requestor(vrs_node, token=None)
    assert anonymous.verify(GTIN, LOT, "AUTH1", EXP, str(uuid.uuid4())).status_code == 401
    assert anonymous.check_connectivity(GTIN).status_code == 401
    unknown = requestor(vrs_node, token="mt_not-a-token")
    assert unknown.verify(GTIN, LOT, "AUTH1", EXP, str(uuid.uuid4())).status_code == 401


def test_an_operator_token_is_forbidden_a_peer_token_is_answered(vrs_node: VrsNode) -> None:
    """The standard's requestor is a verifier's device or another party's service (a peer)."""
    corr = str(uuid.uuid4())
    operator = requestor(vrs_node, token=vrs_node.operator)
    assert operator.verify(GTIN, LOT, "AUTH1", EXP, corr).status_code == 403
    peer = requestor(vrs_node, token=vrs_node.token("peer"))
    assert standard_answer(peer.verify(GTIN, LOT, "AUTH1", EXP, corr))["data"]["verified"]


def test_the_connectivity_check_names_the_responder(vrs_node: VrsNode) -> None:
    response = requestor(vrs_node).check_connectivity(GTIN)
    assert response.status_code == 200, response.text
    body = response.json()
    requests_schema_ok(body)
    assert body["responderGLN"] == ACME_GLN


def requests_schema_ok(body: object) -> None:
    import jsonschema  # noqa: PLC0415

    jsonschema.validate(body, CONNECTIVITY_SCHEMA)


def test_the_answer_names_no_other_pack(vrs_node: VrsNode) -> None:
    """AUTH1 was commissioned with AUTH2 and STOL1 in one entry: nothing of them comes back."""
    response = requestor(vrs_node).verify(GTIN, LOT, "AUTH1", EXP, str(uuid.uuid4()))
    standard_answer(response)  # the standard's members only (additionalProperties: false)
    assert "AUTH2" not in response.text
    assert "STOL1" not in response.text


def test_harvesting_unknown_serials_stops_at_the_guard_threshold(vrs_node: VrsNode) -> None:
    harvester = requestor(vrs_node)
    for n in range(HARVEST_MAX_UNKNOWN):
        answer = standard_answer(harvester.verify(GTIN, LOT, f"GUESS{n}", EXP, str(uuid.uuid4())))
        assert answer["data"]["verificationFailureReason"] == "No_match_GTIN_Serial"
    refused = harvester.verify(GTIN, LOT, "AUTH1", EXP, str(uuid.uuid4()))
    assert refused.status_code == 429, refused.text
    assert refused.json()["code"] == "serial_harvesting"
    assert int(refused.headers["Retry-After"]) > 0
    # the throttle is the token's, not the node's
    assert standard_answer(requestor(vrs_node).verify(GTIN, LOT, "AUTH1", EXP, str(uuid.uuid4())))


def test_genuine_packs_never_trip_the_guard(vrs_node: VrsNode) -> None:
    pharmacist = requestor(vrs_node)
    for _ in range(HARVEST_MAX_UNKNOWN * 2):
        answer = standard_answer(pharmacist.verify(GTIN, LOT, "AUTH1", EXP, str(uuid.uuid4())))
        assert answer["data"]["verified"] is True


def test_a_token_past_its_query_rate_is_throttled(vrs_node: VrsNode) -> None:
    """Genuine packs too: the verification service is a query like every other."""
    busy = requestor(vrs_node)
    statuses = [
        busy.verify(GTIN, LOT, "AUTH1", EXP, str(uuid.uuid4())).status_code
        for _ in range(VERIFY_RATE_PER_MINUTE + 2)
    ]
    assert statuses[: VERIFY_RATE_PER_MINUTE - 2] == [200] * (VERIFY_RATE_PER_MINUTE - 2)
    assert statuses[-1] == 429
    refused = busy.check_connectivity(GTIN)
    assert refused.status_code == 429
    assert refused.json().get("code") != "serial_harvesting"


def test_failed_verification_over_vrs_raises_alert(vrs_node: VrsNode) -> None:
    """A trading partner's check that fails is a failed verification like a scan's (ADR 0022):
    the node signs a ``check`` and every node holds a ``check_rejected`` alert about the pack."""
    corr = str(uuid.uuid4())
    answer = standard_answer(requestor(vrs_node).verify(GTIN, RECALLED_LOT, "RCL1", EXP, corr))
    assert answer["data"]["verified"] is False
    alerts = requests.get(
        f"{vrs_node.running.url}/api/v1/alerts",
        params={"code": "check_rejected"},
        headers={"Authorization": f"Bearer {vrs_node.token('auditor')}"},
        timeout=20,
    ).json()["alerts"]
    assert any(a["subject"].endswith(f"/01/{GTIN}/21/RCL1") for a in alerts), alerts
