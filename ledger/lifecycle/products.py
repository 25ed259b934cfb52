"""Product master data (ADR 0020, docs/spec/customs.md): one GTIN registered by its owner.

A ``product`` entry's only subject is the product (``https://id.gs1.org/01/{gtin}``); its body
holds ``gtin``, the public master data under ``product`` and the reference price **sealed**
(``ledger/sealed.py``): other organisations learn that a price was fixed, never what it is.
Only the owner of the GTIN's company prefix may write one (``Membership.authorise``); a later
registration of the same GTIN supersedes the earlier one (the newest by order key is held).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from ledger.action import Action
from ledger.errors import IdentifierError, MalformedEntry
from ledger.identifiers import gtin14, product_uri
from ledger.kinds import Kind
from ledger.lifecycle.step import Step
from ledger.sealed import SEALED, Opening, seal, seal_of
from ledger.state import Record

#: The public fields, in the order docs/spec/customs.md lists them; all required.
PUBLIC_FIELDS = (
    "name",
    "commonName",
    "form",
    "strength",
    "packSize",
    "packType",
    "atc",
    "hsCode",
    "netMassKg",
    "mah",
    "markets",
)
#: The sealed (committed, not shown) fields.
SEALED_FIELDS = ("referencePrice",)

_TEXT = {"name": 200, "commonName": 200, "form": 100, "strength": 100, "packType": 50, "mah": 200}
_ATC = re.compile(r"\A[A-Z](?:[0-9]{2}(?:[A-Z](?:[A-Z](?:[0-9]{2})?)?)?)?\Z")
HS6 = re.compile(r"\A[0-9]{6}\Z")
#: HS chapter 30: pharmaceutical products.
MEDICINES_CHAPTER = "30"
DECIMAL = re.compile(r"\A(?:0|[1-9][0-9]{0,11})(?:\.[0-9]{1,6})?\Z")
COUNTRY = re.compile(r"\A[A-Z]{2}\Z")
CURRENCY = re.compile(r"\A[A-Z]{3}\Z")


def _bad(path: str, expected: str, found: Any) -> MalformedEntry:
    return MalformedEntry(f"{path}: expected {expected}, found {found!r}")


def check_decimal(value: Any, path: str, *, positive: bool = True) -> str:
    """A quantity as a decimal string (entries carry no floats): ``"0.025"``, ``"12"``."""
    if not (isinstance(value, str) and DECIMAL.match(value)):
        raise _bad(path, "a decimal number as a string like '12.50'", value)
    if positive and not value.strip("0."):
        raise _bad(path, "a number above zero", value)
    return value


def check_hs(value: Any, path: str, *, medicine: bool) -> str:
    """A 6-digit HS code; of chapter 30 (pharmaceutical products) when ``medicine``."""
    if not (isinstance(value, str) and HS6.match(value)):
        raise _bad(path, "an HS code of 6 digits", value)
    if medicine and not value.startswith(MEDICINES_CHAPTER):
        raise MalformedEntry(
            f"{path}: expected an HS code of chapter 30 (pharmaceutical products, 30xxxx), "
            f"found {value!r} (chapter {value[:2]})"
        )
    return value


def check_money(value: Any, path: str) -> dict[str, str]:
    if not (isinstance(value, dict) and value.keys() == {"amount", "currency"}):
        raise _bad(path, "{'amount': '<decimal>', 'currency': '<ISO 4217>'}", value)
    check_decimal(value["amount"], f"{path}.amount", positive=False)
    if not (isinstance(value["currency"], str) and CURRENCY.match(value["currency"])):
        raise _bad(f"{path}.currency", "an ISO 4217 code like 'EUR'", value["currency"])
    return dict(value)


def check_countries(value: Any, path: str, *, least: int = 0) -> list[str]:
    if not (isinstance(value, list) and len(value) >= least and len(value) == len(set(value))):
        raise _bad(path, f"a list of at least {least} distinct ISO 3166 country codes", value)
    for i, country in enumerate(value):
        if not (isinstance(country, str) and COUNTRY.match(country)):
            raise _bad(f"{path}[{i}]", "an ISO 3166-1 alpha-2 code like 'DE'", country)
    return list(value)


def check_public(product: Any, path: str = "$") -> dict[str, Any]:
    """The public master data, every field checked (``MalformedEntry`` naming the path)."""
    if not isinstance(product, Mapping):
        raise _bad(path, "an object of product master data", product)
    missing = [f for f in PUBLIC_FIELDS if f not in product]
    if missing:
        raise MalformedEntry(f"{path}: expected the member {missing[0]!r}, found it missing")
    extra = sorted(set(product) - set(PUBLIC_FIELDS))
    if extra:
        raise MalformedEntry(f"{path}.{extra[0]}: expected no such member")
    for name, longest in _TEXT.items():
        value = product[name]
        if not (isinstance(value, str) and len(value.strip()) > 0 and len(value) <= longest):
            raise _bad(f"{path}.{name}", f"a text of 1 to {longest} characters", value)
    size = product["packSize"]
    if not (type(size) is int and 1 <= size <= 100_000):
        raise _bad(f"{path}.packSize", "a whole number of units from 1 to 100000", size)
    if not (isinstance(product["atc"], str) and _ATC.match(product["atc"])):
        raise _bad(f"{path}.atc", "a WHO ATC code like 'J01CA04'", product["atc"])
    check_hs(product["hsCode"], f"{path}.hsCode", medicine=True)
    check_decimal(product["netMassKg"], f"{path}.netMassKg")
    check_countries(product["markets"], f"{path}.markets", least=1)
    return {name: product[name] for name in PUBLIC_FIELDS}


def product_step(request: Mapping[str, Any], salt: bytes | None = None) -> tuple[Action, Opening]:
    """The ``product`` entry a registration request asks for, and the opening of its seal.

    ``request`` is ``{"gtin", <PUBLIC_FIELDS>, "referencePrice": {"amount", "currency"}}``.
    """
    try:
        gtin = gtin14(str(request.get("gtin", "")))
    except IdentifierError as exc:
        raise MalformedEntry(f"$.gtin: {exc}") from None
    public = check_public({k: v for k, v in request.items() if k in PUBLIC_FIELDS})
    if "referencePrice" not in request:
        raise MalformedEntry("$: expected the member 'referencePrice', found it missing")
    opening = seal(
        {"referencePrice": check_money(request["referencePrice"], "$.referencePrice")}, salt
    )
    body = {"gtin": gtin, "product": public, SEALED: opening.seal()}
    return Action(Kind.PRODUCT, [product_uri(gtin)], (), body), opening


def product(step: Step) -> None:
    """Check the form and hold the newest registration of the GTIN (no pack changes)."""
    body = step.entry.payload.body
    gtin = body.get("gtin")
    try:
        gtin = gtin14(gtin) if isinstance(gtin, str) else None
    except IdentifierError as exc:
        raise MalformedEntry(f"product body: {exc}") from None
    if gtin is None or list(step.subjects) != [product_uri(gtin)]:
        raise MalformedEntry(
            f"product: expected one subject, the product of body.gtin, found {list(step.subjects)}"
        )
    public = check_public(body.get("product"), "product body.product")
    seal_of("product", body)
    p = step.entry.payload
    data = {"gtin": gtin, **public, SEALED: body[SEALED]}
    step.view.put_record(Record(Kind.PRODUCT.value, gtin, step.entry.id, p.feed, p.order_key, data))
