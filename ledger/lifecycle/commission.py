"""Commissioning: a manufacturer brings a batch of serialised packs of one lot into being."""

from __future__ import annotations

from datetime import date
from itertools import repeat

from ledger.alerts import Code
from ledger.errors import MalformedEntry
from ledger.identifiers import check_cset82, gtin14, lot_uri, pack_uris
from ledger.lifecycle.step import Step, guard
from ledger.openings import OpeningMissing, serials_of
from ledger.state import PackState
from ledger.status import Status

#: ``str`` for ever, for ``map(isinstance, serials, _STR)``: the check runs in C.
_STR = repeat(str)


def commission(step: Step) -> None:
    body = step.entry.payload.body
    gtin = gtin14(step.body_str("gtin") or "")
    ilmd = body.get("ilmd")
    if not isinstance(ilmd, dict):
        raise MalformedEntry(
            "commission body: expected an 'ilmd' object with lotNumber and itemExpirationDate"
        )
    lot = ilmd.get("lotNumber")
    expiry = ilmd.get("itemExpirationDate")
    if not isinstance(lot, str):
        raise MalformedEntry(f"commission body: expected ilmd.lotNumber, found {lot!r}")
    check_cset82(lot, "lot")
    expiry = _iso_date(expiry, "commission body: ilmd.itemExpirationDate")
    p = step.entry.payload
    if p.commits and "serials" in body:
        raise MalformedEntry("commission body: expected a commitment or serials, found both")
    serials = serials_of(p.v, body, step.entry.opening, commitment=p.commitment)
    if serials is None and p.commits:
        raise OpeningMissing(
            "commission: expected the packs its commitment signs beside it (a sidecar or a "
            "disclosure), found none"
        )
    if not isinstance(serials, list) or not serials or not all(map(isinstance, serials, _STR)):
        raise MalformedEntry("commission body: expected a non-empty list of serial strings")
    if len(set(serials)) != len(serials):
        raise MalformedEntry(
            "commission body: expected distinct serials, found a serial listed twice"
        )
    expected_subjects = (lot_uri(gtin, lot),)
    if step.entry.payload.subjects != expected_subjects:
        raise MalformedEntry(
            f"commission: expected subjects {list(expected_subjects)}, found {list(step.entry.payload.subjects)}"
        )
    if not p.commits:  # a v2 entry's opening was checked serial by serial when it was opened
        for serial in serials:
            check_cset82(serial, "serial")
    if step.day > expiry and not guard(
        step.breach,
        Code.DATED_AFTER_EXPIRY,
        expected_subjects[0],
        f"expected a commission of lot {lot} of {gtin} dated no later than its expiry "
        f"{expiry}, found it dated {step.entry.payload.ts}: its packs would be expired before "
        "they exist",
    ):
        return
    existing = step.view.existing_packs(gtin, serials, strict=step.strict)
    entry_id, feed, ts = step.entry.id, step.feed, step.entry.payload.ts
    if existing:  # strict: refused at the first; replicated: an alert each, the pack skipped
        serials = [
            serial
            for uri, serial in zip(pack_uris(gtin, serials), serials, strict=True)
            if uri not in existing
            or guard(
                step.breach,
                Code.DUPLICATE_COMMISSION,
                uri,
                f"serial {serial} of {gtin} is already commissioned",
                existing[uri].commissioned,
            )
        ]
    # One state for the batch, handed over with the serials, rather than a state per pack: a
    # million of them a batch. Positional: keywords made the call twice as slow.
    template = PackState(
        "",  # uri: each pack's own
        gtin,
        "",  # serial: each pack's own
        lot,
        expiry,
        entry_id,  # commissioned
        feed,  # custodian
        Status.ACTIVE,
        None,  # destination
        None,  # container
        None,  # prior
        entry_id,  # changed_by
        feed,  # changed_feed
        ts,  # changed_ts
        p.order_key,  # last
    )
    step.view.put_made_packs(template, serials)


def _iso_date(value: object, what: str) -> str:
    if isinstance(value, str) and len(value) == 10:
        try:
            date.fromisoformat(value)
        except ValueError:
            pass
        else:
            return value
    raise MalformedEntry(f"{what}: expected a date YYYY-MM-DD, found {value!r}")
