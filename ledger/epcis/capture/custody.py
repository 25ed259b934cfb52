"""Shipping, returning and receiving events: where the goods go (a member organisation) and the
ship or return entries they arrive under."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ledger.alerts import Code
from ledger.epcis.capture.reader import EventReader, LedgerView
from ledger.epcis.normalise import parse, subject_type
from ledger.epcis.vocab import Vocab, compact, expand
from ledger.identifiers import DL_ROOT, SubjectType
from ledger.membership import Membership
from ledger.status import Status


def destination(reader: EventReader, membership: Membership) -> str:
    """The member organisation a ship or return goes to: ``mt:destination``, else the
    destinationList party or location whose GLN a member has (owning party first)."""
    named = reader.ext("destination")
    if isinstance(named, str) and named in membership.organisations:
        return named
    by_gln = {org.gln: org.id for org in membership.organisations.values()}
    ranked: list[tuple[int, str]] = []
    order = {"owning_party": 0, "possessing_party": 1, "location": 2}
    for item in reader.event.get("destinationList") or []:
        if not isinstance(item, Mapping):
            continue
        kind = compact(
            expand(str(item.get("type", "")), Vocab.SOURCE_DEST_TYPE), Vocab.SOURCE_DEST_TYPE
        )
        uri = ledger_gln(item.get("destination"))
        if uri is not None and uri in by_gln:
            ranked.append((order.get(kind, 3), by_gln[uri]))
    if ranked:
        return min(ranked)[1]
    raise reader.refuse(
        "ship: expected a destinationList naming a member organisation's GLN (owning_party "
        "or possessing_party as urn:epc:id:pgln or https://id.gs1.org/417/…), or mt:destination",
        "destinationList",
    )


def ledger_gln(uri: object) -> str | None:
    """The GLN of a party or location identifier (PGLN 417, SGLN 414 without extension)."""
    key = parse(uri)
    if key is None or key.ai not in ("414", "417"):
        return None
    return key.key


def receive_refs(
    reader: EventReader, subjects: Sequence[str], state: LedgerView, org: str
) -> list[str]:
    """The ship or return entries the goods are in transit under, towards ``org``."""
    packs: list[str] = []
    for subject in subjects:
        if subject_type(subject) is SubjectType.CONTAINER:
            container = state.get_container(subject)
            todo = list(container.children) if container else []
            seen: set[str] = set()
            while todo:
                uri = todo.pop()
                if uri in seen:
                    continue
                seen.add(uri)
                inner = state.get_container(uri) if uri.startswith(f"{DL_ROOT}/00/") else None
                if inner is not None:
                    todo.extend(inner.children)
                elif "/21/" in uri:
                    packs.append(uri)
        else:
            packs.append(subject)
    found = state.get_packs(packs)
    refs = sorted(
        {
            p.changed_by
            for p in found.values()
            if p.changed_by and p.status is Status.IN_TRANSIT and p.destination == org
        }
    )
    if not refs:
        raise reader.refuse(
            f"receive: expected goods in transit to {org} (a ship or return entry to refer to), "
            "found none",
            "epcList",
            code=Code.CUSTODY_VIOLATION,
        )
    return refs
