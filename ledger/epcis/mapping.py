"""Between EPCIS 2.0 events and ledger entries (ADR 0009).

Capture (``plan``): each event of a valid EPCIS document becomes one step for the submitting
organisation's feed:

* an event that is **in medtrace's scope** (it names a pack or lot whose GTIN is under a member's
  company prefix, or a container the ledger knows or a member's SSCC) **and whose business step
  the lifecycle models** becomes that kind (``commission``, ``ship``, ``dispense`` …), with the
  subjects, refs and body the lifecycle reads, and goes through the rules strictly;
* every other event, and every error declaration, is recorded as an ``event`` entry: a signed
  fact with no lifecycle effect. Its subjects are the identifiers of it the ledger can name.

Either way the body carries ``epcis``: the event as captured (JSON text, numbers exact), the
document's JSON-LD context (JSON text) and the CBV 2.0 event hash computed at capture, so the
query interface returns the event as it came and anyone can recompute its hash from the entry.

Query (``render``): an entry written through medtrace's own API (no ``epcis`` in its body) is
shown as the EPCIS event it stands for, deterministically, so it has a stable event hash too.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import quote

from ledger.entry import SignedEntry
from ledger.epcis import jsontext
from ledger.epcis.hash import (
    HashContext,
    document_context,
    event_hash,
    ignore_fields,
    prefixes_of,
    standard_prefixes,
)
from ledger.epcis.normalise import ledger_subject, parse, subject_type
from ledger.epcis.vocab import (
    EPCIS_CONTEXT,
    EPCIS_CONTEXTS,
    MT,
    MT_PREFIX,
    STANDARD_PREFIXES,
    Vocab,
    compact,
    expand,
)
from ledger.errors import LedgerError
from ledger.identifiers import DL_ROOT, SubjectType, gtin_in_prefixes, lot_uri, parse_subject
from ledger.kinds import BIZ_STEP, Kind
from ledger.membership import Membership
from ledger.state import ContainerState, PackState
from ledger.status import DISPOSITION, Status

#: The JSON-LD context of every document medtrace writes.
MEDTRACE_PREFIXES = {MT_PREFIX: MT}
OUTPUT_CONTEXT: list[Any] = [EPCIS_CONTEXT, dict(MEDTRACE_PREFIXES)]
_CBVMDA = STANDARD_PREFIXES["cbvmda"]


class MappingRefused(LedgerError):
    """An event in medtrace's scope that cannot become the entry its business step means."""

    def __init__(self, code: str, message: str, path: str) -> None:
        super().__init__(message)
        self.code = code
        self.path = path


class LedgerView(Protocol):
    """What planning reads from the node's state (``ledger.state.StateView`` has it)."""

    def get_packs(self, uris: Sequence[str]) -> dict[str, PackState]: ...
    def get_container(self, uri: str) -> ContainerState | None: ...


Step = tuple[Kind, list[str], list[str], dict[str, Any]]


@dataclass
class Planned:
    """One event of a document and the step it becomes."""

    index: int
    event: Mapping[str, Any]
    hash: str
    kind: Kind
    subjects: list[str]
    refs: list[str]
    body: dict[str, Any]
    why: str  # "lifecycle" or why the event is recorded without effect

    @property
    def step(self) -> Step:
        return (self.kind, list(self.subjects), list(self.refs), dict(self.body))


# -- reading events ------------------------------------------------------------------------------


@dataclass
class _Reader:
    event: Mapping[str, Any]
    path: str
    prefixes: Mapping[str, str] = field(default_factory=dict)

    def text(self, key: str) -> str | None:
        value = self.event.get(key)
        return value if isinstance(value, str) else None

    def term(self, key: str, vocab: Vocab) -> str | None:
        value = self.text(key)
        return expand(value, vocab) if value is not None else None

    def ext(self, name: str, namespace: str = MT) -> Any:
        """An extension member by its full IRI, whatever prefix the document gave it."""
        for key, value in self.event.items():
            prefix, sep, local = key.partition(":")
            if sep and self.prefixes.get(prefix) == namespace and local == name:
                return value
            if key == namespace + name:
                return value
        return None

    def ilmd(self, name: str) -> Any:
        ilmd = self.event.get("ilmd")
        if not isinstance(ilmd, Mapping):
            return None
        for key, value in ilmd.items():
            prefix, sep, local = key.partition(":")
            if sep and self.prefixes.get(prefix) == _CBVMDA and local == name:
                return value
            if key == _CBVMDA + name:
                return value
        return None

    def ids(self, *keys: str) -> list[str]:
        found: list[str] = []
        for key in keys:
            value = self.event.get(key)
            if isinstance(value, str):
                found.append(value)
            elif isinstance(value, list):
                found.extend(v for v in value if isinstance(v, str))
        return found

    def classes(self, *keys: str) -> list[str]:
        found: list[str] = []
        for key in keys:
            for element in self.event.get(key) or []:
                if isinstance(element, Mapping) and isinstance(element.get("epcClass"), str):
                    found.append(element["epcClass"])
        return found

    def refuse(self, message: str, member: str = "", code: str = "malformed") -> MappingRefused:
        path = self.path + (f".{member}" if member else "")
        return MappingRefused(code, message, path)


_ALL_IDS = ("epcList", "parentID", "childEPCs", "inputEPCList", "outputEPCList")
_ALL_CLASSES = ("quantityList", "childQuantityList", "inputQuantityList", "outputQuantityList")


def _subjects(reader: _Reader) -> list[str]:
    """Every identifier of the event the ledger can name, canonical, in order, once."""
    named = [
        ledger_subject(uri) for uri in [*reader.ids(*_ALL_IDS), *reader.classes(*_ALL_CLASSES)]
    ]
    return list(dict.fromkeys(s for s in named if s is not None and len(s) <= 200))


def _member_prefixes(membership: Membership) -> tuple[str, ...]:
    return tuple(p for org in membership.organisations.values() for p in org.company_prefixes)


def _in_scope(
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


_OBJECT_STEPS: dict[str, Kind] = {
    expand(step, Vocab.BIZ_STEP): kind
    for kind, step in BIZ_STEP.items()
    if step is not None
    and kind not in (Kind.PACK, Kind.UNPACK, Kind.RETURN, Kind.INSPECT, Kind.UNDO, Kind.EVENT)
}
_RETURNED = expand("returned", Vocab.DISPOSITION)
_STOLEN = expand(DISPOSITION[Status.STOLEN], Vocab.DISPOSITION)
_RECALLED = expand(DISPOSITION[Status.RECALLED], Vocab.DISPOSITION)
_WITHDRAWN = expand(DISPOSITION[Status.WITHDRAWN], Vocab.DISPOSITION)
_FREE_SAMPLE = expand(DISPOSITION[Status.FREE_SAMPLE], Vocab.DISPOSITION)
_UNDOING = expand(str(BIZ_STEP[Kind.UNDO]), Vocab.BIZ_STEP)
_INSPECTING = expand("inspecting", Vocab.BIZ_STEP)


def _kind_of(reader: _Reader) -> Kind | None:
    """The lifecycle kind an in-scope event stands for; ``None``: an observation only."""
    event_type = reader.text("type")
    step = reader.term("bizStep", Vocab.BIZ_STEP)
    disposition = reader.term("disposition", Vocab.DISPOSITION)
    action = reader.text("action")
    if event_type == "AggregationEvent":
        if step == expand("packing", Vocab.BIZ_STEP) and action == "ADD":
            return Kind.PACK
        if step == expand("unpacking", Vocab.BIZ_STEP) and action == "DELETE":
            return Kind.UNPACK
        return None
    if event_type != "ObjectEvent":
        return None
    if step == _UNDOING:
        raise reader.refuse(
            "an undo names the entry it reverts: write it with POST /api/v1/actions/undo",
            "bizStep",
        )
    if step == _INSPECTING:
        return Kind.INSPECT if reader.ext("decision") is not None else None
    if step is not None and step in _OBJECT_STEPS:
        kind = _OBJECT_STEPS[step]
        if kind is Kind.SHIP and disposition == _RETURNED:
            return Kind.RETURN
        if kind is Kind.COMMISSION and action != "ADD":
            raise reader.refuse("expected action ADD on a commissioning event", "action")
        return kind
    if disposition == _STOLEN:
        return Kind.STOLEN
    if disposition == _RECALLED:
        return Kind.RECALL
    if disposition == _WITHDRAWN:
        return Kind.WITHDRAW
    return None


def _location(value: Any) -> dict[str, str] | None:
    if isinstance(value, Mapping) and isinstance(value.get("id"), str):
        return {"id": value["id"]}
    return None


def _common_body(reader: _Reader) -> dict[str, Any]:
    body: dict[str, Any] = {}
    step = reader.text("bizStep")
    if step is not None:
        body["bizStep"] = compact(expand(step, Vocab.BIZ_STEP), Vocab.BIZ_STEP)
    disposition = reader.text("disposition")
    if disposition is not None:
        body["disposition"] = compact(expand(disposition, Vocab.DISPOSITION), Vocab.DISPOSITION)
    for key in ("readPoint", "bizLocation"):
        location = _location(reader.event.get(key))
        if location is not None:
            body[key] = location
    return body


def _packs_or_containers(reader: _Reader, kind: Kind, field: str, expected: str) -> list[str]:
    """The ledger subjects of the EPC list ``field``; anything but a pack or container refused."""
    subjects = []
    for index, uri in enumerate(reader.ids(field)):
        subject = ledger_subject(uri)
        if subject is None or subject_type(subject) not in (
            SubjectType.PACK,
            SubjectType.CONTAINER,
        ):
            raise reader.refuse(f"{kind.value}: {expected}, found {uri!r}", f"{field}[{index}]")
        subjects.append(subject)
    return subjects


def _goods(reader: _Reader, kind: Kind) -> list[str]:
    """The packs and containers an in-scope step names (its epcList), as ledger subjects."""
    if reader.classes("quantityList"):
        raise reader.refuse(
            f"{kind.value}: expected serialised packs or containers in epcList, found a "
            "quantityList (class-level quantities are not tracked here)",
            "quantityList",
        )
    subjects = _packs_or_containers(
        reader, kind, "epcList", "expected packs (SGTIN) or containers (SSCC)"
    )
    if not subjects:
        raise reader.refuse(f"{kind.value}: expected at least one pack or container", "epcList")
    return list(dict.fromkeys(subjects))


def _destination(reader: _Reader, membership: Membership) -> str:
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


def _receive_refs(
    reader: _Reader, subjects: Sequence[str], state: LedgerView, org: str
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
            code="custody_violation",
        )
    return refs


def _commission(reader: _Reader) -> tuple[list[str], dict[str, Any]]:
    subjects = _goods(reader, Kind.COMMISSION)
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


def _class_subject(reader: _Reader, kind: Kind) -> list[str]:
    classes = reader.classes("quantityList")
    expected = SubjectType.LOT if kind is Kind.RECALL else SubjectType.PRODUCT
    subjects = [ledger_subject(c) for c in classes]
    if len(subjects) != 1 or subjects[0] is None or subject_type(subjects[0]) is not expected:
        what = "one lot (LGTIN)" if kind is Kind.RECALL else "one product (GTIN class)"
        raise reader.refuse(f"{kind.value}: expected quantityList naming {what}", "quantityList")
    return [subjects[0]]


def _children(reader: _Reader, kind: Kind) -> list[str]:
    parent = ledger_subject(reader.event.get("parentID"))
    if parent is None or subject_type(parent) is not SubjectType.CONTAINER:
        raise reader.refuse(f"{kind.value}: expected parentID to be an SSCC", "parentID")
    if reader.classes("childQuantityList"):
        raise reader.refuse(
            f"{kind.value}: expected childEPCs, found a childQuantityList", "childQuantityList"
        )
    children = _packs_or_containers(
        reader, kind, "childEPCs", "expected packs or containers as children"
    )
    return [parent, *dict.fromkeys(children)]


def _epcis_member(
    event: Mapping[str, Any], context_text: str, digest: str, ignore: Sequence[str]
) -> dict[str, Any]:
    member: dict[str, Any] = {
        "event": jsontext.dumps(event),
        "context": context_text,
        "hash": digest,
    }
    if ignore:
        member["ignore"] = list(ignore)
    return member


def plan(
    document: Mapping[str, Any],
    membership: Membership,
    org: str,
    state: LedgerView,
    event_entries: Callable[[str], list[str]],
    events: Sequence[Mapping[str, Any]],
) -> list[Planned]:
    """The step each event of a validated document becomes, in document order; the first
    event that cannot become its kind raises ``MappingRefused`` (naming the rule and path)."""
    result = []
    for item in plan_each(document, membership, org, state, event_entries, events):
        if isinstance(item, MappingRefused):
            raise item
        result.append(item)
    return result


def plan_each(
    document: Mapping[str, Any],
    membership: Membership,
    org: str,
    state: LedgerView,
    event_entries: Callable[[str], list[str]],
    events: Sequence[Mapping[str, Any]],
) -> list[Planned | MappingRefused]:
    """Like ``plan``, one answer per event: its step, or why it cannot have one.

    ``event_entries(eventID)`` names the stored entries of an event id (for error declarations).
    """
    ctx = document_context(document)
    context_text = jsontext.dumps(document.get("@context", []))
    prefixes = standard_prefixes(document.get("@context")) | prefixes_of(document.get("@context"))
    planned: list[Planned | MappingRefused] = []
    packed: set[str] = set()
    ignore = ignore_fields(document)
    for index, event in enumerate(events):
        try:
            planned.append(
                _plan_one(
                    index,
                    event,
                    ctx,
                    context_text,
                    prefixes,
                    membership,
                    org,
                    state,
                    event_entries,
                    packed,
                    ignore,
                )
            )
        except MappingRefused as refused:
            planned.append(refused)
    return planned


def _plan_one(
    index: int,
    event: Mapping[str, Any],
    ctx: HashContext,
    context_text: str,
    prefixes: Mapping[str, str],
    membership: Membership,
    org: str,
    state: LedgerView,
    event_entries: Callable[[str], list[str]],
    packed: set[str],
    ignore: Sequence[str],
) -> Planned:
    path = f"$.epcisBody.eventList[{index}]"
    reader = _Reader(event, path, {**prefixes, **prefixes_of(event.get("@context"))})
    digest = event_hash(event, ctx)
    epcis = _epcis_member(event, context_text, digest, ignore)
    subjects = _subjects(reader)
    declaration = event.get("errorDeclaration")
    if isinstance(declaration, Mapping):
        event_id = reader.text("eventID")
        corrected = event_entries(event_id) if event_id else []
        epcis["corrects"] = event_id or digest
        return Planned(
            index,
            event,
            digest,
            Kind.EVENT,
            subjects,
            corrected,
            {"epcis": epcis},
            "error declaration",
        )
    in_scope = _in_scope(subjects, membership, state, packed)
    kind = _kind_of(reader) if in_scope else None
    if kind is None:
        why = "no lifecycle step for this event" if in_scope else "outside medtrace's scope"
        return Planned(index, event, digest, Kind.EVENT, subjects, [], {"epcis": epcis}, why)
    body = _common_body(reader)
    refs: list[str] = []
    if kind is Kind.COMMISSION:
        subjects, extra = _commission(reader)
        body.update(extra)
    elif kind in (Kind.PACK, Kind.UNPACK):
        subjects = _children(reader, kind)
        if kind is Kind.PACK:
            packed.add(subjects[0])
    elif kind in (Kind.RECALL, Kind.WITHDRAW):
        subjects = _class_subject(reader, kind)
    else:
        subjects = _goods(reader, kind)
        if kind in (Kind.SHIP, Kind.RETURN):
            body["destination"] = _destination(reader, membership)
        elif kind is Kind.RECEIVE:
            refs = _receive_refs(reader, subjects, state, org)
        elif kind is Kind.INSPECT:
            body["decision"] = reader.ext("decision")
            reasons = reader.ext("reasons")
            if isinstance(reasons, list):
                body["reasons"] = [str(r) for r in reasons]
        elif kind is Kind.SAMPLE and reader.term("disposition", Vocab.DISPOSITION) == _FREE_SAMPLE:
            body["free"] = True
    body["epcis"] = epcis
    return Planned(index, event, digest, kind, subjects, refs, body, "lifecycle")


# -- entries as events -----------------------------------------------------------------------------


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


def render(entry: SignedEntry, membership: Membership) -> EntryEvent:
    """The EPCIS event of an entry: the captured one, or the one a native entry stands for."""
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
    subjects = list(p.subjects)
    if kind is Kind.COMMISSION:
        gtin = str(body.get("gtin", ""))
        ilmd = body.get("ilmd") if isinstance(body.get("ilmd"), Mapping) else {}
        assert isinstance(ilmd, Mapping)
        event["epcList"] = [f"{DL_ROOT}/01/{gtin}/21/{_enc(s)}" for s in body.get("serials", [])]
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
    read_point = _location(body.get("readPoint")) or (
        {"id": gln} if (gln := _gln_uri(membership, p.org)) else None
    )
    if read_point is not None:
        event["readPoint"] = read_point
    biz_location = _location(body.get("bizLocation"))
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
    digest = event_hash(event, HashContext(prefixes))
    event = {"eventID": digest, **event}
    return EntryEvent(entry, event, prefixes, digest)


def _enc(serial: object) -> str:
    return quote(str(serial), safe="")


__all__ = [
    "OUTPUT_CONTEXT",
    "EntryEvent",
    "LedgerView",
    "MappingRefused",
    "Planned",
    "plan",
    "render",
    "stored",
]
