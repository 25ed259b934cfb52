"""Ledger entries as EPCIS events (ADR 0009), for the query interface.

An entry captured through EPCIS carries its event (``body.epcis``) and comes back as captured.
An entry written through medtrace's own API is shown as the EPCIS event it stands for,
deterministically, so it has a stable event hash too.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from ledger.entry import SignedEntry
from ledger.epcis import jsontext
from ledger.epcis.capture.reader import location
from ledger.epcis.context import HashContext, prefixes_of, standard_prefixes
from ledger.epcis.hash import event_hash
from ledger.epcis.vocab import EPCIS_CONTEXT, EPCIS_CONTEXTS, MT, MT_PREFIX, STANDARD_PREFIXES
from ledger.errors import LedgerError
from ledger.identifiers import DL_ROOT
from ledger.kinds import BIZ_STEP, Kind
from ledger.membership import Membership
from ledger.status import DISPOSITION, Status

#: The JSON-LD context of every document medtrace writes.
MEDTRACE_PREFIXES = {MT_PREFIX: MT}
OUTPUT_CONTEXT: list[Any] = [EPCIS_CONTEXT, dict(MEDTRACE_PREFIXES)]


@dataclass(frozen=True)
class EntryEvent:
    """An entry seen as an EPCIS event: the event, the context to read it in, its hash."""

    entry: SignedEntry
    event: dict[str, Any]
    prefixes: dict[str, str]
    hash: str
    context: Any = None  # the captured document's @context (None: rendered by medtrace)
    corrects: str | None = None
    ignore: tuple[str, ...] = ()  # ignoreFields of the captured document (CURIEs)

    @property
    def captured(self) -> bool:
        return self.context is not None

    @property
    def captured_prefixes(self) -> dict[str, str]:
        """The prefixes the capturing document defined inline (the standard ones aside)."""
        return prefixes_of(self.context) if self.captured else {}

    @property
    def remote_contexts(self) -> list[str]:
        """Context URLs of the capturing document other than the standard EPCIS context."""
        items = self.context if isinstance(self.context, list) else [self.context]
        return [c for c in items if isinstance(c, str) and c not in EPCIS_CONTEXTS]


def stored(entry: SignedEntry) -> EntryEvent | None:
    """The captured event an entry carries (``body.epcis``), else ``None``."""
    epcis = entry.payload.body.get("epcis")
    if not isinstance(epcis, Mapping) or not isinstance(epcis.get("event"), str):
        return None
    event = jsontext.loads(epcis["event"])
    lists = epcis.get("lists")
    if isinstance(lists, list) and entry.payload.commits:
        # The packs the step committed to, as far as they are opened here (ledger/openings.py).
        kind, public = entry.payload.kind, set(entry.payload.subjects)
        about = list(entry.about)
        if kind in (Kind.PACK, Kind.UNPACK):
            opened = about[1:]
        elif kind is Kind.COMMISSION:
            opened = about
        else:
            opened = [s for s in about if s not in public]
        for name in lists:
            if name in ("epcList", "childEPCs") and isinstance(event.get(name), list):
                event[name] = [*event[name], *opened]
    context = jsontext.loads(epcis["context"]) if isinstance(epcis.get("context"), str) else []
    prefixes = standard_prefixes(context) | prefixes_of(context)
    ignore = tuple(str(i) for i in epcis.get("ignore", []) if isinstance(i, str))
    digest = epcis.get("hash")
    if not isinstance(digest, str):
        ctx = HashContext(prefixes)
        digest = event_hash(
            event, HashContext(prefixes, frozenset(ctx.expand_name(i) for i in ignore))
        )
    corrects = epcis.get("corrects")
    return EntryEvent(
        entry,
        event,
        prefixes,
        digest,
        context,
        corrects if isinstance(corrects, str) else None,
        ignore,
    )


def _gln_uri(membership: Membership, org: str) -> str | None:
    found = membership.organisations.get(org)
    return f"{DL_ROOT}/414/{found.gln}" if found is not None else None


_RENDER_DISPOSITION: dict[Kind, Status | None] = {
    Kind.COMMISSION: Status.ACTIVE,
    Kind.PACK: Status.ACTIVE,
    Kind.UNPACK: Status.ACTIVE,
    Kind.SHIP: Status.IN_TRANSIT,
    Kind.RECEIVE: Status.ACTIVE,
    Kind.DISPENSE: Status.DISPENSED,
    Kind.UNDO: Status.ACTIVE,
    Kind.DESTROY: Status.DESTROYED,
    Kind.STOLEN: Status.STOLEN,
    Kind.EXPORT: Status.EXPORTED,
    Kind.SAMPLE: Status.SAMPLE,
    Kind.LOCK: Status.LOCKED,
    Kind.UNLOCK: Status.ACTIVE,
    Kind.RECALL: Status.RECALLED,
    Kind.WITHDRAW: Status.WITHDRAWN,
}


class NotAnEvent(LedgerError):
    """An entry no EPCIS event stands for: product master data and customs declarations
    (ADR 0020). The EPCIS views leave it out, as they do an entry they cannot read."""


#: Kinds rendered as no event: GS1 master data is not an EPCIS event, nor is a declaration, a
#: failed check's report, a customs decision record or an inspection outcome (ADR 0022).
NOT_EVENTS = frozenset({Kind.PRODUCT, Kind.DECLARE, Kind.CHECK, Kind.DECIDE, Kind.OUTCOME})


def render(entry: SignedEntry, membership: Membership) -> EntryEvent:
    """The EPCIS event of an entry: the captured one, or the one a native entry stands for."""
    if entry.payload.kind in NOT_EVENTS:
        raise NotAnEvent(f"a {entry.payload.kind.value} entry is not an EPCIS event (ADR 0020)")
    captured = stored(entry)
    if captured is not None:
        return captured
    p = entry.payload
    body = p.body
    event: dict[str, Any] = {
        "type": "ObjectEvent",
        "eventTime": p.ts,
        "eventTimeZoneOffset": "+00:00",
        "recordTime": p.ts,
    }
    kind = p.kind
    # What the entry is about, as far as it is opened here: every pack at a node, the one pack
    # asked about in a verifier's answer (architecture §7).
    subjects = list(entry.about)
    if kind is Kind.COMMISSION:
        event["epcList"] = subjects
        event["action"] = "ADD"
    elif kind in (Kind.PACK, Kind.UNPACK):
        event["type"] = "AggregationEvent"
        event["action"] = "ADD" if kind is Kind.PACK else "DELETE"
        if subjects:
            event["parentID"] = subjects[0]
            if subjects[1:] or kind is Kind.PACK:
                event["childEPCs"] = subjects[1:]
    elif kind in (Kind.RECALL, Kind.WITHDRAW):
        event["quantityList"] = [{"epcClass": s} for s in subjects]
        event["action"] = "OBSERVE"
    else:
        event["epcList"] = subjects
        event["action"] = "OBSERVE"
    step = BIZ_STEP.get(kind)
    if step is not None:
        event["bizStep"] = step
    status = _RENDER_DISPOSITION.get(kind)
    if kind is Kind.RETURN:
        event["disposition"] = "returned"
    elif kind is Kind.SAMPLE and body.get("free") is True:
        event["disposition"] = DISPOSITION[Status.FREE_SAMPLE]
    elif kind is Kind.INSPECT:
        decision = body.get("decision")
        event["disposition"] = DISPOSITION[
            Status.ACTIVE if decision == "release" else Status.QUARANTINED
        ]
    elif status is not None:
        event["disposition"] = DISPOSITION[status]
    read_point = location(body.get("readPoint")) or (
        {"id": gln} if (gln := _gln_uri(membership, p.org)) else None
    )
    if read_point is not None:
        event["readPoint"] = read_point
    biz_location = location(body.get("bizLocation"))
    if biz_location is not None:
        event["bizLocation"] = biz_location
    destination = body.get("destination")
    if kind in (Kind.SHIP, Kind.RETURN) and isinstance(destination, str):
        gln = (
            membership.organisations[destination].gln
            if destination in membership.organisations
            else None
        )
        if gln:
            event["destinationList"] = [
                {"type": "owning_party", "destination": f"{DL_ROOT}/417/{gln}"}
            ]
        event[f"{MT_PREFIX}:destination"] = destination
    if kind is Kind.COMMISSION:
        ilmd = body.get("ilmd")
        if isinstance(ilmd, Mapping):
            event["ilmd"] = {
                f"cbvmda:{name}": ilmd[name]
                for name in ("lotNumber", "itemExpirationDate")
                if isinstance(ilmd.get(name), str)
            }
    if kind is Kind.INSPECT:
        if isinstance(body.get("decision"), str):
            event[f"{MT_PREFIX}:decision"] = body["decision"]
        if isinstance(body.get("reasons"), list):
            event[f"{MT_PREFIX}:reasons"] = [str(r) for r in body["reasons"]]
    event[f"{MT_PREFIX}:kind"] = kind.value
    event[f"{MT_PREFIX}:feed"] = p.feed
    event[f"{MT_PREFIX}:entry"] = entry.id
    prefixes = {**STANDARD_PREFIXES, **MEDTRACE_PREFIXES}
    digest = event_hash(_hashed_form(entry, event), HashContext(prefixes))
    event = {"eventID": digest, **event}
    return EntryEvent(entry, event, prefixes, digest)


def _hashed_form(entry: SignedEntry, event: dict[str, Any]) -> dict[str, Any]:
    """What the event hash covers. For an entry that commits to its packs, the signed root
    instead of the packs' lists: a node (which opens them all) and a verifier (which opens
    one) then give the event the same ``eventID``."""
    commitment = entry.payload.body.get("commitment")
    if not entry.payload.commits or not isinstance(commitment, Mapping):
        return event
    hashed = {k: v for k, v in event.items() if k not in ("epcList", "childEPCs")}
    hashed[f"{MT_PREFIX}:commitment"] = str(commitment.get("root"))
    return hashed


def _enc(serial: object) -> str:
    return quote(str(serial), safe="")


__all__ = ["OUTPUT_CONTEXT", "EntryEvent", "render", "stored"]
