"""Whether an event is medtrace's: it names a pack or lot of a member's GTIN, a container the
ledger knows (or this document packs), or a member's SSCC."""

from __future__ import annotations

from collections.abc import Sequence

from ledger.epcis.capture.reader import EventReader, LedgerView
from ledger.epcis.normalise import ledger_subject
from ledger.epcis.vocab import Vocab, expand
from ledger.identifiers import gtin_in_prefixes, parse_subject
from ledger.membership import Membership

_ALL_IDS = ("epcList", "parentID", "childEPCs", "inputEPCList", "outputEPCList")
_ALL_CLASSES = ("quantityList", "childQuantityList", "inputQuantityList", "outputQuantityList")
_COMMISSIONING = expand("commissioning", Vocab.BIZ_STEP)


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


def commissions_foreign_gtin(
    reader: EventReader, subjects: Sequence[str], membership: Membership, org: str
) -> bool:
    """Whether the event commissions packs (an ObjectEvent, ADD, business step commissioning)
    of a GTIN outside ``org``'s company prefixes. Such an event is planned as a commissioning
    even when no member owns the GTIN, so the ledger refuses it as it refuses the same
    commissioning on /api/v1: a capture must not bring into being packs under a prefix the
    capturing member does not own. Observing or shipping others' packs commissions nothing.
    """
    if (
        reader.text("type") != "ObjectEvent"
        or reader.text("action") != "ADD"
        or reader.term("bizStep", Vocab.BIZ_STEP) != _COMMISSIONING
    ):
        return False
    member = membership.organisations.get(org)
    own = tuple(member.company_prefixes) if member is not None else ()
    gtins = {parse_subject(s).gtin for s in subjects}
    return any(gtin is not None and not gtin_in_prefixes(gtin, own) for gtin in gtins)
