"""The step each event of a validated document becomes, in document order."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ledger.action import Action
from ledger.epcis import jsontext
from ledger.epcis.capture.commission import commission
from ledger.epcis.capture.custody import destination, receive_refs
from ledger.epcis.capture.goods import children, class_subject, goods
from ledger.epcis.capture.kinds import FREE_SAMPLE, kind_of
from ledger.epcis.capture.reader import (
    EventReader,
    LedgerView,
    MappingRefused,
    location,
)
from ledger.epcis.capture.scope import commissions_foreign_gtin, event_subjects, in_scope
from ledger.epcis.context import (
    HashContext,
    document_context,
    ignore_fields,
    prefixes_of,
    standard_prefixes,
)
from ledger.epcis.hash import event_hash
from ledger.epcis.normalise import ledger_subject
from ledger.epcis.vocab import Vocab, compact, expand
from ledger.identifiers import DL_ROOT, pack_uri
from ledger.kinds import Kind
from ledger.membership import Membership
from ledger.openings import will_commit


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
    def step(self) -> Action:
        return Action(self.kind, list(self.subjects), list(self.refs), dict(self.body))

    @property
    def named(self) -> frozenset[str]:
        """Every ledger subject the step is about: its subjects and, for a commissioning (whose
        subject is the lot), the packs it brings into being."""
        if self.kind is not Kind.COMMISSION:
            return frozenset(self.subjects)
        gtin = str(self.body["gtin"])
        return frozenset([*self.subjects, *(pack_uri(gtin, s) for s in self.body["serials"])])


#: ``(event id or hash, whether an error declaration of it) -> the entries holding it``.
HeldEntries = Callable[[str, bool], list[str]]


@dataclass(frozen=True)
class Held:
    """An event the ledger already holds (the same ``eventID`` or the same CBV 2.0 hash as a
    stored entry, or as an earlier event of the same document): not planned again, so a
    document captured twice stores nothing the second time."""

    index: int
    event_id: str | None
    hash: str
    entries: list[str]  # the stored entries holding it (empty: held earlier in the document)


def plan(
    document: Mapping[str, Any],
    membership: Membership,
    org: str,
    state: LedgerView,
    event_entries: Callable[[str], list[str]],
    events: Sequence[Mapping[str, Any]],
    held_entries: HeldEntries | None = None,
) -> list[Planned]:
    """The step each event of a validated document becomes, in document order; the first
    event that cannot become its kind raises ``MappingRefused`` (naming the rule and path)."""
    result = []
    for item in plan_each(document, membership, org, state, event_entries, events, held_entries):
        if isinstance(item, MappingRefused):
            raise item
        if isinstance(item, Planned):
            result.append(item)
    return result


def plan_each(
    document: Mapping[str, Any],
    membership: Membership,
    org: str,
    state: LedgerView,
    event_entries: Callable[[str], list[str]],
    events: Sequence[Mapping[str, Any]],
    held_entries: HeldEntries | None = None,
) -> list[Planned | Held | MappingRefused]:
    """Like ``plan``, one answer per event: its step, that it is already held, or why it cannot
    have a step.

    ``event_entries(key)`` names the stored entries of an event id or CBV 2.0 event hash (for
    error declarations); ``held_entries(key, declaration)`` the stored entries already holding
    an event of that id or hash (an error declaration, when ``declaration``): such an event is
    answered ``Held``, as is an event an earlier event of the document repeats.
    """
    held = held_entries or (lambda key, declaration: [])
    ctx = document_context(document)
    context_text = jsontext.dumps(document.get("@context", []))
    prefixes = standard_prefixes(document.get("@context")) | prefixes_of(document.get("@context"))
    planned: list[Planned | Held | MappingRefused] = []
    packed: set[str] = set()
    seen: set[str] = set()
    ignore = ignore_fields(document)
    for index, event in enumerate(events):
        try:
            planned.append(
                _without_committed_lists(
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
                        held,
                        seen,
                    )
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
    held_entries: HeldEntries,
    seen: set[str],
) -> Planned | Held:
    path = f"$.epcisBody.eventList[{index}]"
    reader = EventReader(event, path, {**prefixes, **prefixes_of(event.get("@context"))})
    digest = event_hash(event, ctx)
    event_id = reader.text("eventID")
    declaration = event.get("errorDeclaration")
    declares = isinstance(declaration, Mapping)
    # A declaration repeats the eventID and the hash of the event it corrects: it is held
    # only if a declaration of that event is.
    keys = [digest] if declares else [k for k in (event_id, digest) if k]
    mark = "declaration " if declares else ""
    found = next((k for k in keys if mark + k in seen or held_entries(k, declares)), None)
    seen.update(mark + k for k in keys)
    if found is not None:
        return Held(index, event_id, digest, held_entries(found, declares))
    epcis = _epcis_member(event, context_text, digest, ignore)
    subjects = event_subjects(reader)
    if isinstance(declaration, Mapping):
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
    ours = in_scope(subjects, membership, state, packed)
    if ours:
        kind = kind_of(reader)
    elif commissions_foreign_gtin(reader, subjects, membership, org):
        kind = Kind.COMMISSION  # refused by the ledger's prefix rule, as on /api/v1
    else:
        kind = None
    if kind is None:
        why = "no lifecycle step for this event" if ours else "outside medtrace's scope"
        return Planned(index, event, digest, Kind.EVENT, subjects, [], {"epcis": epcis}, why)
    body = _common_body(reader)
    refs: list[str] = []
    if kind is Kind.COMMISSION:
        subjects, extra = commission(reader)
        body.update(extra)
    elif kind in (Kind.PACK, Kind.UNPACK):
        subjects = children(reader, kind)
        if kind is Kind.PACK:
            packed.add(subjects[0])
    elif kind in (Kind.RECALL, Kind.WITHDRAW):
        subjects = class_subject(reader, kind)
    else:
        subjects = goods(reader, kind)
        if kind in (Kind.SHIP, Kind.RETURN):
            body["destination"] = destination(reader, membership)
        elif kind is Kind.RECEIVE:
            refs = receive_refs(reader, subjects, state, org)
        elif kind is Kind.INSPECT:
            body["decision"] = reader.ext("decision")
            reasons = reader.ext("reasons")
            if isinstance(reasons, list):
                body["reasons"] = [str(r) for r in reasons]
        elif kind is Kind.SAMPLE and reader.term("disposition", Vocab.DISPOSITION) == FREE_SAMPLE:
            body["free"] = True
    body["epcis"] = epcis
    return Planned(index, event, digest, kind, subjects, refs, body, "lifecycle")


def _common_body(reader: EventReader) -> dict[str, Any]:
    """What every lifecycle step keeps of its event: business step, disposition, locations."""
    body: dict[str, Any] = {}
    step = reader.text("bizStep")
    if step is not None:
        body["bizStep"] = compact(expand(step, Vocab.BIZ_STEP), Vocab.BIZ_STEP)
    disposition = reader.text("disposition")
    if disposition is not None:
        body["disposition"] = compact(expand(disposition, Vocab.DISPOSITION), Vocab.DISPOSITION)
    for key in ("readPoint", "bizLocation"):
        where = location(reader.event.get(key))
        if where is not None:
            body[key] = where
    return body


#: The members of a captured event that list EPCs one by one: a step that commits to its packs
#: keeps them out of its signed body (architecture §7); ``render.stored`` puts back the opened
#: ones. Input and output lists of transformation events are not committed yet.
COMMITTED_LISTS = ("epcList", "childEPCs")
PACK_PREFIX = f"{DL_ROOT}/01/"


def _without_committed_lists(item: Planned | Held) -> Planned | Held:
    """A planned step that will commit to its packs (``ledger.openings.will_commit``) stores
    its captured event without their lists, and names the lists it left out; its CBV hash was
    computed before and is stored."""
    if not isinstance(item, Planned) or not will_commit(item.kind, item.subjects, item.body):
        return item
    epcis = item.body.get("epcis")
    if not isinstance(epcis, dict) or not isinstance(epcis.get("event"), str):
        return item
    committed = _committed(item)
    event = dict(jsontext.loads(epcis["event"]))
    removed = []
    for name in COMMITTED_LISTS:
        listed = event.get(name)
        if isinstance(listed, list):
            # Identifiers the ledger does not commit to (other EPC schemes) stay listed.
            event[name] = [e for e in listed if ledger_subject(e) not in committed]
            removed.append(name)
    if removed:
        item.body["epcis"] = {**epcis, "event": jsontext.dumps(event), "lists": removed}
    return item


def _committed(item: Planned) -> set[str]:
    """The subjects ``ledger.openings.commit`` will put under the step's root."""
    if item.kind is Kind.COMMISSION:
        return set(item.named) - set(item.subjects)
    if item.kind in (Kind.PACK, Kind.UNPACK):
        return set(item.subjects[1:])
    return {s for s in item.subjects if s.startswith(PACK_PREFIX) and "/21/" in s}


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


__all__ = ["Held", "HeldEntries", "Planned", "plan", "plan_each"]
