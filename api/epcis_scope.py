"""What a verifier may ask of the EPCIS query interface: the events of one pack or container.

A verifier's token is a scanner's: it asks about the pack or case in someone's hand. EPCIS's
query language can ask for much more: every ObjectEvent (``eventType=ObjectEvent`` alone), every
serial of a GTIN (``urn:epc:idpat:sgtin:….*``), every event of a lot or product (class-level
identifiers), a thousand events a page. With a verifier's token that was a serial dump of the
whole ledger (issue 13, finding 1). So for a token whose role is not in ``LEDGER_READERS``
(operator, auditor) a query must name exactly one instance-level EPC, a pack (SGTIN) or a
container (SSCC), as an EPC URN or a GS1 Digital Link, through ``/epcis/epcs/{epc}/events`` or
one ``MATCH_epc`` / ``MATCH_anyEPC``, and ask for at most ``VERIFIER_PAGE_MAX`` events a page;
anything else is 403 ``query-too-broad``, saying so. Operators and auditors keep the full
query language; an auditor's answers show of each event's EPC lists only the EPCs the query
names by instance (``named_instances``; issue 14, ADR 0019), operators' the whole lists.

``named_epc`` is also what the serial-harvesting guard counts: a query of one EPC that no event
names asked about something this node does not know, like a 404 on ``/api/v1/packs``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from api.auth import LEDGER_READERS
from api.problems import Problem
from ledger.digits import ascii_int
from ledger.epcis.normalise import canonical, ledger_subject, subject_type
from ledger.identifiers import SubjectType
from node.tokens import TokenInfo

#: Events per page a verifier may ask for (EPCIS's default page; one pack has a few events).
VERIFIER_PAGE_MAX = 100
#: The parameters that name EPCs (``/epcis/epcs/{epc}/events`` arrives as ``MATCH_anyEPC``).
EPC_PARAMETERS = ("MATCH_epc", "MATCH_anyEPC")
_PATTERN = "urn:epc:idpat:"

ALLOWED = (
    "a verifier's EPCIS query must name exactly one pack or container (an SGTIN or SSCC, as an "
    "EPC URN or GS1 Digital Link) through /epcis/epcs/{epc}/events or one MATCH_epc or "
    f"MATCH_anyEPC, with at most {VERIFIER_PAGE_MAX} events per page (perPage)"
)


def _too_broad(found: str, parameter: str | None) -> Problem:
    extra = {"parameter": parameter} if parameter is not None else {}
    return Problem("query-too-broad", f"{ALLOWED}; found {found}", extra=extra)


def _instance(value: str) -> bool:
    """Whether ``value`` names one pack or one container, not a pattern or a class."""
    if value.startswith(_PATTERN) or "*" in value:
        return False
    subject = ledger_subject(value)
    return subject is not None and subject_type(subject) in (
        SubjectType.PACK,
        SubjectType.CONTAINER,
    )


def _named(params: Mapping[str, Sequence[str]]) -> list[tuple[str, str]]:
    return [(name, value) for name in EPC_PARAMETERS for value in params.get(name, ()) if value]


def named_epc(params: Mapping[str, Sequence[str]]) -> str | None:
    """The one pack or container the query names (its canonical Digital Link, as the event
    index keeps it), or ``None`` if it names none, several, a pattern or a class."""
    named = _named(params)
    if not named or not all(_instance(value) for _, value in named):
        return None
    epcs = {canonical(value) or value for _, value in named}
    return epcs.pop() if len(epcs) == 1 else None


def named_instances(params: Mapping[str, Sequence[str]]) -> set[str]:
    """Every pack or container the query names by instance (canonical Digital Links): what an
    auditor's answer may show of each event's EPC lists (patterns and classes name none)."""
    return {canonical(value) or value for _, value in _named(params) if _instance(value)}


def may_ask_anything(token: TokenInfo | None) -> bool:
    """Whether ``token`` keeps EPCIS's whole query language (operators and auditors)."""
    return token is None or token.role in LEDGER_READERS


def check_scope(
    token: TokenInfo | None, params: Mapping[str, Sequence[str]], *, epc_in_path: bool = False
) -> None:
    """403 ``query-too-broad`` unless the token may ask anything or the query is about one
    pack or container (``params``: the query's parameters once they parsed; with
    ``epc_in_path``, ``MATCH_anyEPC`` is the ``{epc}`` of ``/epcis/epcs/{epc}/events``)."""
    if may_ask_anything(token):
        return
    named = _named(params)
    for name, value in named:
        shown = "epc" if epc_in_path and name == "MATCH_anyEPC" else name
        if value.startswith(_PATTERN) or "*" in value:
            raise _too_broad(f"the pattern {shown}={value[:120]}", shown)
        if not _instance(value):
            raise _too_broad(f"{shown}={value[:120]}, not one pack or container", shown)
    if not named:
        asked = ", ".join(sorted(params)) or "no parameters"
        raise _too_broad(f"a query that names no EPC ({asked})", None)
    if named_epc(params) is None:
        raise _too_broad(f"{len(named)} EPCs", named[-1][0])
    # perPage parsed (ASCII digits, 1 to 1000) before the scope is checked
    per_page = params.get("perPage", [])
    if per_page and (ascii_int(per_page[0]) or 0) > VERIFIER_PAGE_MAX:
        raise _too_broad(f"perPage={per_page[0]}", "perPage")


__all__ = [
    "ALLOWED",
    "VERIFIER_PAGE_MAX",
    "check_scope",
    "may_ask_anything",
    "named_epc",
    "named_instances",
]
