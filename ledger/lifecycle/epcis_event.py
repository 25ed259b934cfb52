"""An EPCIS event recorded as a signed fact (ADR 0009): only its form is checked."""

from __future__ import annotations

import re

from ledger.errors import MalformedEntry
from ledger.lifecycle.step import Step

_EVENT_HASH = re.compile(r"\Ani:///sha-256;[0-9a-f]{64}\?ver=CBV2\.0\Z")


def event(step: Step) -> None:
    """No rule and no state change, only the form: ``body.epcis.event`` the event's JSON text,
    ``body.epcis.hash`` its CBV 2.0 hash."""
    epcis = step.entry.payload.body.get("epcis")
    if not isinstance(epcis, dict):
        raise MalformedEntry("event body: expected an 'epcis' object with the event and its hash")
    text = epcis.get("event")
    if not isinstance(text, str) or not text.startswith("{"):
        raise MalformedEntry("event body: expected epcis.event to be the event's JSON text")
    digest = epcis.get("hash")
    if not isinstance(digest, str) or not _EVENT_HASH.match(digest):
        raise MalformedEntry(
            f"event body: expected epcis.hash 'ni:///sha-256;<64 hex>?ver=CBV2.0', found {digest!r}"
        )
