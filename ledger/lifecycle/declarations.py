"""Import declarations (ADR 0020, docs/spec/customs.md): recorded on a customs post's feed.

A ``declare`` entry names the declared packages as its subjects (SSCCs stay subjects; two or
more GTIN + serial packs are committed to by ``ledger/openings.py``, as any step naming many
packs). Its body holds the public part of the declaration under ``declaration`` (reference,
MRN, office of entry, countries, transport, the low-value flag, counts) and the commercial part
**sealed** (``ledger/sealed.py``): consignor, consignee, declarant and the goods items with
their values and net masses, in clear only at the customs node that took the declaration.
A later declaration with the same reference by the same organisation supersedes (an amendment).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date
from typing import Any

from ledger.action import Action
from ledger.errors import IdentifierError, MalformedEntry
from ledger.identifiers import (
    SubjectType,
    check_cset82,
    container_uri,
    pack_uri,
    parse_subject,
)
from ledger.kinds import Kind
from ledger.lifecycle.products import check_countries, check_decimal, check_hs, check_money
from ledger.lifecycle.step import Step
from ledger.sealed import SEALED, Opening, seal, seal_of
from ledger.state import Record

REFERENCE = re.compile(r"\A[A-Z0-9][A-Z0-9/-]{0,34}\Z")  # a UCR: up to 35 characters
MRN = re.compile(r"\A[0-9]{2}[A-Z]{2}[A-Z0-9]{14}\Z")  # 18 characters: year, country, rest
OFFICE = re.compile(r"\A[A-Z]{2}[A-Z0-9]{6}\Z")  # a customs office reference number
#: UN/ECE Recommendation 19 modes of transport (WCO data element 7/4 and 7/5).
TRANSPORT_MODES = {
    1: "sea",
    2: "rail",
    3: "road",
    4: "air",
    5: "post",
    7: "fixed installation",
    8: "inland waterway",
}
CONSIGNMENT_TYPES = ("general", "postal", "express")
ADDRESS_TYPES = ("business", "private")
#: The public members of ``body.declaration`` besides the counts.
PUBLIC_FIELDS = (
    "reference",
    "mrn",
    "officeOfEntry",
    "countryOfOrigin",
    "countryOfDispatch",
    "transit",
    "transportMode",
    "consignmentType",
    "lowValue",
)
SEALED_FIELDS = ("consignee", "consignor", "declarant", "goods")
#: A sealed field present only when a declared pack states its lot or expiry: what the packing
#: list says is printed on each pack, which risk indicator R1 compares with the commissioning.
MARKS = "marks"
_ISO_DATE = re.compile(r"\A[0-9]{4}-[0-9]{2}-[0-9]{2}\Z")


def _bad(path: str, expected: str, found: Any) -> MalformedEntry:
    return MalformedEntry(f"{path}: expected {expected}, found {found!r}")


def _text(value: Any, path: str, longest: int = 200) -> str:
    if not (isinstance(value, str) and value.strip() and len(value) <= longest):
        raise _bad(path, f"a text of 1 to {longest} characters", value)
    return value


def _party(value: Any, path: str, *, address_type: bool = False) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _bad(path, "an object with 'name' and 'address'", value)
    _text(value.get("name"), f"{path}.name")
    address = value.get("address")
    if not isinstance(address, dict):
        raise _bad(
            f"{path}.address", "an object with 'country' (and street, city, postcode)", address
        )
    check_countries([address.get("country")], f"{path}.address.country")
    if address_type and value.get("addressType") not in ADDRESS_TYPES:
        raise _bad(f"{path}.addressType", "'business' or 'private'", value.get("addressType"))
    return dict(value)


def _goods(value: Any) -> list[dict[str, Any]]:
    if not (isinstance(value, list) and value):
        raise _bad("$.goods", "a non-empty list of goods items", value)
    for i, item in enumerate(value):
        path = f"$.goods[{i}]"
        if not isinstance(item, dict):
            raise _bad(path, "an object", item)
        check_hs(item.get("hsCode"), f"{path}.hsCode", medicine=False)
        _text(item.get("description"), f"{path}.description", 512)
        quantity = item.get("quantity")
        if not (type(quantity) is int and quantity >= 1):
            raise _bad(f"{path}.quantity", "a whole number of units, at least 1", quantity)
        check_decimal(item.get("netMassKg"), f"{path}.netMassKg")
        check_money(item.get("value"), f"{path}.value")
    return list(value)


def _marks(package: Mapping[str, Any], path: str) -> dict[str, str]:
    """The lot and expiry a declared pack states (either, both or neither)."""
    marks: dict[str, str] = {}
    if "lot" in package:
        lot = package["lot"]
        if not isinstance(lot, str):
            raise _bad(f"{path}.lot", "a lot of 1 to 20 GS1 AI characters", lot)
        marks["lot"] = check_cset82(lot, "lot")
    if "expiry" in package:
        expiry = package["expiry"]
        try:
            if not (isinstance(expiry, str) and _ISO_DATE.match(expiry)):
                raise ValueError
            date.fromisoformat(expiry)
        except ValueError:
            raise _bad(f"{path}.expiry", "an expiry date as YYYY-MM-DD", expiry) from None
        marks["expiry"] = expiry
    return marks


def _subjects(packages: Any) -> tuple[list[str], dict[str, dict[str, str]]]:
    """The declared packages as subjects, and the lot and expiry stated per pack URI."""
    if not (isinstance(packages, list) and packages):
        raise _bad("$.packages", "a non-empty list of packages (SSCCs or GTIN + serial)", packages)
    subjects = []
    marks: dict[str, dict[str, str]] = {}
    for i, package in enumerate(packages):
        path = f"$.packages[{i}]"
        try:
            if isinstance(package, dict) and package.keys() == {"sscc"}:
                subjects.append(container_uri(str(package["sscc"])))
            elif isinstance(package, dict) and {"gtin", "serial"} <= package.keys() <= {
                "gtin", "serial", "lot", "expiry"
            }:  # fmt: skip
                uri = pack_uri(str(package["gtin"]), str(package["serial"]))
                subjects.append(uri)
                if stated := _marks(package, path):
                    marks[uri] = stated
            else:
                raise _bad(
                    path, "{'sscc'} or {'gtin', 'serial'} (with 'lot' and 'expiry' if known)",
                    package,
                )  # fmt: skip
        except IdentifierError as exc:
            raise MalformedEntry(f"{path}: {exc}") from None
    if len(set(subjects)) != len(subjects):
        raise MalformedEntry("$.packages: expected each package once, found one listed twice")
    return subjects, marks


def check_public(declaration: Any, path: str = "$") -> dict[str, Any]:
    """The public part, checked (``MalformedEntry`` naming the path of the first problem)."""
    if not isinstance(declaration, Mapping):
        raise _bad(path, "a declaration object", declaration)
    reference = declaration.get("reference")
    if not (isinstance(reference, str) and REFERENCE.match(reference)):
        raise _bad(f"{path}.reference", "a UCR of 1 to 35 of A-Z 0-9 / -", reference)
    mrn = declaration.get("mrn")
    if mrn is not None and not (isinstance(mrn, str) and MRN.match(mrn)):
        raise _bad(f"{path}.mrn", "an 18-character MRN like '26DE123456789012A1'", mrn)
    office = declaration.get("officeOfEntry")
    if not (isinstance(office, str) and OFFICE.match(office)):
        raise _bad(f"{path}.officeOfEntry", "a customs office like 'DE004098'", office)
    for name in ("countryOfOrigin", "countryOfDispatch"):
        check_countries([declaration.get(name)], f"{path}.{name}")
    transit = declaration.get("transit", {"countries": [], "freeZones": []})
    if not (isinstance(transit, dict) and transit.keys() <= {"countries", "freeZones"}):
        raise _bad(f"{path}.transit", "{'countries': [...], 'freeZones': [...]}", transit)
    check_countries(transit.get("countries", []), f"{path}.transit.countries")
    zones = transit.get("freeZones", [])
    if not (isinstance(zones, list) and all(isinstance(z, str) and z.strip() for z in zones)):
        raise _bad(f"{path}.transit.freeZones", "a list of free zone names", zones)
    mode = declaration.get("transportMode")
    if not (type(mode) is int and mode in TRANSPORT_MODES):
        raise _bad(
            f"{path}.transportMode", f"a UN/ECE Rec. 19 code {sorted(TRANSPORT_MODES)}", mode
        )
    if declaration.get("consignmentType", "general") not in CONSIGNMENT_TYPES:
        raise _bad(
            f"{path}.consignmentType",
            "'general', 'postal' or 'express'",
            declaration.get("consignmentType"),
        )
    if not isinstance(declaration.get("lowValue", False), bool):
        raise _bad(f"{path}.lowValue", "true or false", declaration.get("lowValue"))
    public = {
        "reference": reference,
        "officeOfEntry": office,
        "countryOfOrigin": declaration["countryOfOrigin"],
        "countryOfDispatch": declaration["countryOfDispatch"],
        "transit": {"countries": list(transit.get("countries", [])), "freeZones": list(zones)},
        "transportMode": mode,
        "consignmentType": declaration.get("consignmentType", "general"),
        "lowValue": declaration.get("lowValue", False),
    }
    return public | ({"mrn": mrn} if mrn is not None else {})


def declaration_step(
    request: Mapping[str, Any], salt: bytes | None = None
) -> tuple[Action, Opening]:
    """The ``declare`` entry an import declaration asks for, and the opening of its seal."""
    known = {*PUBLIC_FIELDS, *SEALED_FIELDS, "packages"}
    extra = sorted(set(request) - known)
    if extra:
        raise MalformedEntry(f"$.{extra[0]}: expected no such member")
    public = check_public(request)
    fields = {
        "consignor": _party(request.get("consignor"), "$.consignor"),
        "consignee": _party(request.get("consignee"), "$.consignee", address_type=True),
        "declarant": _party(request.get("declarant"), "$.declarant"),
        "goods": _goods(request.get("goods")),
    }
    subjects, marks = _subjects(request.get("packages"))
    if marks:
        fields[MARKS] = marks  # sealed: what the packing list says is commercial
    opening = seal(fields, salt)
    public |= {"goodsItems": len(fields["goods"]), "packages": len(subjects)}
    body = {"declaration": public, SEALED: opening.seal()}
    return Action(Kind.DECLARE, subjects, (), body), opening


def declare(step: Step) -> None:
    """Check the form and hold the newest version of the declaration (no pack changes)."""
    body = step.entry.payload.body
    raw = body.get("declaration")
    public = check_public(raw, "declare body.declaration")
    assert isinstance(raw, Mapping)
    for count in ("goodsItems", "packages"):
        if not (type(raw.get(count)) is int and raw[count] >= 1):
            raise _bad(
                f"declare body.declaration.{count}", "a whole number, at least 1", raw.get(count)
            )
    seal_of("declare", body)
    about = tuple(step.subjects)
    for uri in about:
        if parse_subject(uri).type not in (SubjectType.CONTAINER, SubjectType.PACK):
            raise _bad("declare subjects", "SSCCs and packs only", uri)
    p = step.entry.payload
    data = {
        **public,
        "goodsItems": raw["goodsItems"],
        "packages": raw["packages"],
        SEALED: body[SEALED],
    }
    key = f"{p.org}/{public['reference']}"
    step.view.put_record(
        Record(Kind.DECLARE.value, key, step.entry.id, p.feed, p.order_key, data, about)
    )
