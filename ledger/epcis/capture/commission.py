"""A commissioning event: the packs of one GTIN, with the lot and expiry every pack carries."""

from __future__ import annotations

from typing import Any

from ledger.epcis.capture.goods import goods
from ledger.epcis.capture.reader import EventReader
from ledger.errors import LedgerError
from ledger.identifiers import SubjectType, lot_uri, parse_subject
from ledger.kinds import Kind


def commission(reader: EventReader) -> tuple[list[str], dict[str, Any]]:
    """The entry's subjects (the lot) and body (GTIN, lot and expiry, serials)."""
    subjects = goods(reader, Kind.COMMISSION)
    parsed = [parse_subject(s) for s in subjects]
    if any(p.type is not SubjectType.PACK for p in parsed):
        raise reader.refuse("commission: expected SGTINs only", "epcList")
    gtins = {p.gtin for p in parsed}
    if len(gtins) != 1:
        raise reader.refuse(
            f"commission: expected the packs of one GTIN, found {sorted(g or '' for g in gtins)}",
            "epcList",
        )
    lot, expiry = reader.ilmd("lotNumber"), reader.ilmd("itemExpirationDate")
    if not isinstance(lot, str) or not isinstance(expiry, str):
        raise reader.refuse(
            "commission: expected ilmd with cbvmda:lotNumber and cbvmda:itemExpirationDate "
            "(YYYY-MM-DD): every commissioned pack carries its lot and expiry",
            "ilmd",
        )
    gtin = parsed[0].gtin or ""
    try:
        lot_subject = lot_uri(gtin, lot)
    except LedgerError as exc:
        raise reader.refuse(f"commission: {exc}", "ilmd") from None
    body = {
        "gtin": gtin,
        "ilmd": {"lotNumber": lot, "itemExpirationDate": expiry},
        "serials": [p.serial or "" for p in parsed],
    }
    return [lot_subject], body
