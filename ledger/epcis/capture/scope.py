"""Whether an event is medtrace's: it names a pack or lot of a member's GTIN, a container the
ledger knows (or this document packs), or a member's SSCC."""

from __future__ import annotations

from collections.abc import Sequence

from ledger.epcis.capture.reader import EventReader, LedgerView
from ledger.epcis.normalise import ledger_subject
from ledger.identifiers import gtin_in_prefixes, parse_subject
from ledger.membership import Membership

_ALL_IDS = ("epcList", "parentID", "childEPCs", "inputEPCList", "outputEPCList")
_ALL_CLASSES = ("quantityList", "childQuantityList", "inputQuantityList", "outputQuantityList")


def event_subjects(reader: EventReader) -> list[str]:
    """Every identifier of the event the ledger can name, canonical, in order, once."""
    named = [
        ledger_subject(uri) for uri in [*reader.ids(*_ALL_IDS), *reader.classes(*_ALL_CLASSES)]
    ]
    return list(dict.fromkeys(s for s in named if s is not None and len(s) <= 200))


def _member_prefixes(membership: Membership) -> tuple[str, ...]:
    return tuple(p for org in membership.organisations.values() for p in org.company_prefixes)


def in_scope(
    subjects: Sequence[str],
    membership: Membership,
    state: LedgerView,
    packed: set[str],
) -> bool:
    prefixes = _member_prefixes(membership)
    for subject in subjects:
        parsed = parse_subject(subject)
        if parsed.gtin is not None and gtin_in_prefixes(parsed.gtin, prefixes):
            return True
        if parsed.sscc is not None:
            if subject in packed or state.get_container(subject) is not None:
                return True
            if any(parsed.sscc[1:].startswith(p) for p in prefixes):
                return True
    return False
