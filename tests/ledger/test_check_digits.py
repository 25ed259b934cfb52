"""Issue 18: a GTIN, GLN or SSCC with a wrong GS1 check digit is refused wherever one enters.

One table: each entry point is fed the same identifier once with its right check digit
(accepted) and once with a wrong one (refused, the message naming the identifier, the digit
expected and the digit found). Consortium.add_organisation (which also checks before asking
for a passphrase) is covered in tests/keys/test_keys_consortium.py.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest

from api.problems import Problem
from api.schemas import ACTION_SCHEMAS, COMMISSION
from api.validation import check_body
from ledger.epcis.validate.checker import EpcisInvalid
from ledger.epcis.validate.document import validate_document
from ledger.errors import IdentifierError, MembershipError
from ledger.identifiers import check_gln, check_sscc, container_uri, gtin14, parse_subject
from ledger.kinds import Kind, Role
from ledger.membership import Membership, organisation
from tests.epcis.documents import document, object_event

GLN_RIGHT, GLN_WRONG = "9506000000015", "9506000000019"  # the GLN of the issue: expected 5
GTIN_RIGHT, GTIN_WRONG = "04012345000016", "04012345000017"  # expected 6
SSCC_RIGHT, SSCC_WRONG = "376130321109103420", "376130321109103421"  # expected 0

Entry = Callable[[Membership, str], object]


def _new_member(membership: Membership, gln: str) -> object:
    return membership.with_organisation(
        organisation("newco", name="New Co", role=Role.PHARMACY, gln=gln)
    )


def _capture(event_fields: Callable[[str], dict[str, object]]) -> Entry:
    return lambda _, value: validate_document(document(object_event(**event_fields(value))))


def _aggregate_into(_: Membership, sscc: str) -> None:
    event = object_event(type="AggregationEvent", parentID=f"{DL}/00/{sscc}", action="ADD")
    event["childEPCs"] = event.pop("epcList")
    validate_document(document(event))


@dataclass(frozen=True)
class Case:
    right: str
    wrong: str
    entry: Entry
    refused: type[Exception]
    #: what the message names: "GLN 9506000000019 is not valid: expected check digit 5, found 9"
    says: str


DL = "https://id.gs1.org"
CASES = {
    "membership_new_organisation": Case(
        GLN_RIGHT,
        GLN_WRONG,
        _new_member,
        MembershipError,
        "GLN 9506000000019 is not valid: expected check digit 5, found 9",
    ),
    "gln_check": Case(
        GLN_RIGHT,
        GLN_WRONG,
        lambda _, v: check_gln(v),
        IdentifierError,
        "expected check digit 5, found 9",
    ),
    "epcis_read_point_414": Case(
        GLN_RIGHT,
        GLN_WRONG,
        _capture(lambda v: {"readPoint": {"id": f"{DL}/414/{v}"}}),
        EpcisInvalid,
        "readPoint.id: GLN 9506000000019 is not valid: expected check digit 5, found 9",
    ),
    "epcis_biz_location_414_with_extension": Case(
        GLN_RIGHT,
        GLN_WRONG,
        _capture(lambda v: {"bizLocation": {"id": f"{DL}/414/{v}/254/dock-1"}}),
        EpcisInvalid,
        "bizLocation.id: GLN 9506000000019 is not valid: expected check digit 5, found 9",
    ),
    "epcis_destination_417": Case(
        GLN_RIGHT,
        GLN_WRONG,
        _capture(
            lambda v: {
                "destinationList": [{"type": "owning_party", "destination": f"{DL}/417/{v}"}]
            }
        ),
        EpcisInvalid,
        "destination: GLN 9506000000019 is not valid: expected check digit 5, found 9",
    ),
    "epcis_source_gln_short_name": Case(
        GLN_RIGHT,
        GLN_WRONG,
        _capture(
            lambda v: {
                "sourceList": [{"type": "location", "source": f"https://example.com/gln/{v}"}]
            }
        ),
        EpcisInvalid,
        "source: GLN 9506000000019 is not valid: expected check digit 5, found 9",
    ),
    "epcis_epc_list_gtin": Case(
        GTIN_RIGHT,
        GTIN_WRONG,
        _capture(lambda v: {"epcList": [f"{DL}/01/{v}/21/S1"]}),
        EpcisInvalid,
        "epcList[0]: GTIN 04012345000017 is not valid: expected check digit 6, found 7",
    ),
    "epcis_parent_sscc": Case(
        SSCC_RIGHT,
        SSCC_WRONG,
        _aggregate_into,
        EpcisInvalid,
        "parentID: SSCC 376130321109103421 is not valid: expected check digit 0, found 1",
    ),
    "digital_link_parse_pack": Case(
        GTIN_RIGHT,
        GTIN_WRONG,
        lambda _, v: parse_subject(f"{DL}/01/{v}/21/S1"),
        IdentifierError,
        "GTIN 04012345000017 is not valid: expected check digit 6, found 7",
    ),
    "digital_link_parse_container": Case(
        SSCC_RIGHT,
        SSCC_WRONG,
        lambda _, v: parse_subject(f"{DL}/00/{v}"),
        IdentifierError,
        "SSCC 376130321109103421 is not valid: expected check digit 0, found 1",
    ),
    "sscc_check": Case(
        SSCC_RIGHT,
        SSCC_WRONG,
        lambda _, v: check_sscc(v),
        IdentifierError,
        "expected check digit 0, found 1",
    ),
    "sscc_subject": Case(
        SSCC_RIGHT,
        SSCC_WRONG,
        lambda _, v: container_uri(v),
        IdentifierError,
        "SSCC 376130321109103421",
    ),
    "gtin13": Case(
        GTIN_RIGHT[1:],
        GTIN_WRONG[1:],
        lambda _, v: gtin14(v),
        IdentifierError,
        "GTIN 4012345000017 is not valid: expected check digit 6, found 7",
    ),
    "api_commission_body_gtin": Case(
        GTIN_RIGHT,
        GTIN_WRONG,
        lambda _, v: check_body(
            {"gtin": v, "lot": "L1", "expiry": "2030-12-31", "count": 1}, COMMISSION
        ),
        Problem,
        "$.gtin: GTIN 04012345000017 is not valid: expected check digit 6, found 7",
    ),
    "api_action_subject_sscc": Case(
        SSCC_RIGHT,
        SSCC_WRONG,
        lambda _, v: check_body({"subjects": [f"{DL}/00/{v}"]}, ACTION_SCHEMAS[Kind.PACK]),
        Problem,
        "$.subjects[0]: SSCC 376130321109103421 is not valid: expected check digit 0, found 1",
    ),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_wrong_check_digit_refused(case: Case, golden_membership: Membership) -> None:
    case.entry(golden_membership, case.right)  # accepted
    with pytest.raises(case.refused) as refused:
        case.entry(golden_membership, case.wrong)
    assert case.says in getattr(refused.value, "detail", str(refused.value))


def test_a_signed_membership_with_a_wrong_gln_still_reads(golden_membership: Membership) -> None:
    """Reading checks the GLN's shape only: versions signed before issue 18 still verify."""
    doc = golden_membership.to_json()
    org = next(iter(doc["organisations"].values()))
    org["gln"] = GLN_WRONG
    assert Membership.from_json(doc).encode() != golden_membership.encode()
