"""One pack's view of a ledger whose entries commit to many packs (architecture §7).

A node holds every entry with its sidecar (every pack of a commitment, with salts). A verifier
is to see only what is about the pack it asks for: each entry with the disclosure of that
pack's leaf (or of the containers the pack was in) and nothing else, and no entry whose signed
bytes themselves list other packs (a v1 commissioning lists its serials; a captured EPCIS event
keeps its epcList). This module makes that view from a list of node-view entries (a bundle),
and screens any list of entries before a verifier sees it (``api/queries.py`` uses it on top
of ``Store.pack_provenance``, so that what the two make is the same).

Pure: no store, no network.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Collection, Iterable, Sequence, Set
from dataclasses import dataclass, field, replace
from typing import Any

from ledger.entry import SignedEntry
from ledger.epcis import jsontext
from ledger.epcis.normalise import ledger_subject, subject_type
from ledger.errors import LedgerError
from ledger.identifiers import SubjectType, lot_uri, pack_uri, parse_subject, product_uri
from ledger.kinds import Kind
from ledger.openings import Disclosure, OpenedTree, Sidecar, open_sidecar, opened_subjects

#: The members of an EPCIS event that list instance identifiers (packs or containers).
EPC_LISTS = ("epcList", "childEPCs", "inputEPCList", "outputEPCList")
#: The members that list class-level quantities (lots, products): no pack, but not the asked one.
QUANTITY_LISTS = ("quantityList", "childQuantityList", "inputQuantityList", "outputQuantityList")
_AGGREGATION = (Kind.PACK, Kind.UNPACK)


def _is_pack(uri: str) -> bool:
    return "/21/" in uri and uri.startswith("https://id.gs1.org/01/")


def leaf_value(entry: SignedEntry, uri: str) -> str | None:
    """The leaf value ``uri`` would have in ``entry``'s commitment (a commissioning's leaves are
    serials of its GTIN; any other kind's are subject URIs)."""
    p = entry.payload
    if p.kind is not Kind.COMMISSION:
        return uri
    try:
        subject = parse_subject(uri)
    except LedgerError:
        return None
    if subject.type is not SubjectType.PACK or subject.gtin != p.body.get("gtin"):
        return None
    return subject.serial


def _opens(entry: SignedEntry, d: Disclosure) -> str:
    p = entry.payload
    return opened_subjects(p.kind, p.subjects, p.body, p.v, (d,))[-1]


class _Trees:
    """Opened trees of the last entries disclosed from, per process: a 100,000-pack entry
    takes ~0.2 s to open, and the packs verifiers ask about cluster in few entries."""

    def __init__(self, size: int = 16) -> None:
        self._kept: OrderedDict[str, OpenedTree] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    def of(self, entry: SignedEntry, sidecar: Sidecar) -> OpenedTree:
        with self._lock:
            tree = self._kept.get(entry.id)
            if tree is not None and tree.sidecar == sidecar:
                self._kept.move_to_end(entry.id)
                return tree
        p = entry.payload
        tree = open_sidecar(p.kind, p.subjects, p.body, p.v, sidecar)
        with self._lock:
            self._kept[entry.id] = tree
            while len(self._kept) > self._size:
                self._kept.popitem(last=False)
        return tree


_TREES = _Trees()


def disclose(entry: SignedEntry, asked: Collection[str]) -> SignedEntry:
    """``entry`` with only the leaves of ``asked`` opened beside it: a sidecar becomes the
    disclosures (salt, index, inclusion path) of those of ``asked`` that are leaves, a list of
    disclosures keeps those about ``asked``; nothing opened when none is."""
    opening = entry.opening
    if opening is None:
        return entry
    if isinstance(opening, Sidecar):
        tree = _TREES.of(entry, opening)
        values = [v for v in (leaf_value(entry, u) for u in asked) if v is not None]
        found: tuple[Disclosure, ...] = tree.disclose(values)
    else:
        found = tuple(d for d in opening if _opens(entry, d) in asked)
    # checked already (against the root, when the entry was read): no second check needed
    return replace(entry, opening=found or None)


def event_packs(event: Any) -> set[str]:
    """The packs an EPCIS event names (canonical Digital Links), in its EPC lists or parent."""
    if not isinstance(event, dict):
        return set()
    named: list[Any] = [event.get("parentID")]
    for key in EPC_LISTS:
        value = event.get(key)
        if isinstance(value, list):
            named.extend(value)
    packs = set()
    for value in named:
        subject = ledger_subject(value)
        if subject is not None and subject_type(subject) is SubjectType.PACK:
            packs.add(subject)
    return packs


def _captured_event(entry: SignedEntry) -> Any:
    epcis = entry.payload.body.get("epcis")
    if not isinstance(epcis, dict) or not isinstance(epcis.get("event"), str):
        return None
    try:
        return jsontext.loads(epcis["event"])
    except ValueError:
        return {"unreadable": True}


def names_other_packs(entry: SignedEntry, asked: Collection[str]) -> bool:
    """Whether the signed bytes of ``entry`` (not what is opened beside them) name a pack
    outside ``asked``: a v1 commissioning's serials, a v1 entry's pack subjects, the EPC lists
    of a captured EPCIS event. Such an entry cannot be shown to a verifier at all."""
    p = entry.payload
    if p.kind is Kind.COMMISSION and not p.commits:
        serials = p.body.get("serials")
        gtin = p.body.get("gtin")
        if isinstance(serials, list) and isinstance(gtin, str):
            for serial in serials:
                try:
                    if pack_uri(gtin, str(serial)) not in asked:
                        return True
                except LedgerError:
                    return True
    if any(_is_pack(s) and s not in asked for s in p.subjects):
        return True
    event = _captured_event(entry)
    if event is None:
        return False
    if isinstance(event, dict) and event.get("unreadable"):
        return True
    return bool(event_packs(event) - set(asked))


@dataclass
class PackView:
    """What a verifier may see of a pack's provenance: entries with that pack's disclosures
    only, and the ids of the entries left out because their signed bytes list other packs."""

    entries: list[SignedEntry] = field(default_factory=list)
    withheld: list[str] = field(default_factory=list)


def screen(entries: Iterable[SignedEntry], uri: str) -> PackView:
    """``entries`` as a verifier asking about the pack ``uri`` may see them: openings cut to
    ``uri`` and the containers it was in, entries whose signed bytes name other packs withheld."""
    chosen = list(entries)
    asked = containers_of(chosen, uri) | {uri}
    view = PackView()
    for entry in chosen:
        if names_other_packs(entry, {uri}):
            view.withheld.append(entry.id)
        else:
            view.entries.append(disclose(entry, asked))
    return view


def containers_of(entries: Sequence[SignedEntry], uri: str) -> set[str]:
    """The containers ``uri`` was ever packed into, through containers inside containers."""
    parents: dict[str, set[str]] = {}
    for entry in entries:
        p = entry.payload
        if p.kind in _AGGREGATION and p.subjects:
            for child in entry.about[1:]:
                parents.setdefault(child, set()).add(p.subjects[0])
    found: set[str] = set()
    todo = [uri]
    while todo:
        for parent in parents.get(todo.pop(), ()):
            if parent not in found:
                found.add(parent)
                todo.append(parent)
    return found


def select_provenance(entries: Iterable[SignedEntry], uri: str) -> list[SignedEntry]:
    """What ``Store.provenance`` returns, from a list of node-view entries (a bundle): the
    commissioning of ``uri``, every entry about it or about a container it was in, and the
    recalls and withdrawals of its lot and product."""
    subject = parse_subject(uri)
    assert subject.gtin is not None
    naming: dict[str, list[SignedEntry]] = {}
    chosen: dict[str, SignedEntry] = {}
    lots: set[str] = set()
    for entry in entries:
        p = entry.payload
        about = entry.about
        if p.kind is Kind.COMMISSION:
            if uri in about:
                chosen[entry.id] = entry
                ilmd = p.body.get("ilmd")
                if isinstance(ilmd, dict):
                    lots.add(str(ilmd.get("lotNumber")))
            continue
        for name in dict.fromkeys(about):
            naming.setdefault(name, []).append(entry)
    subjects, todo = {uri}, [uri]
    while todo:
        current = todo.pop()
        for entry in naming.get(current, []):
            chosen[entry.id] = entry
            p = entry.payload
            if p.kind in _AGGREGATION and p.subjects and current in entry.about[1:]:
                parent = p.subjects[0]
                if parent not in subjects:
                    subjects.add(parent)
                    todo.append(parent)
    classes = {product_uri(subject.gtin)}
    for lot in lots:
        try:
            classes.add(lot_uri(subject.gtin, lot))
        except LedgerError:
            continue
    for name in classes:
        for entry in naming.get(name, []):
            chosen[entry.id] = entry
    return sorted(chosen.values(), key=lambda e: e.payload.order_key)


def redact_event(event: dict[str, Any], asked: str | Set[str]) -> dict[str, Any]:
    """A captured EPCIS event cut to the EPCs ``asked`` (canonical Digital Links; one for a
    verifier, those an auditor's query names): its EPC lists keep those alone, its quantity
    lists are emptied. A redaction of the captured document, not a proof: the redacted event
    no longer hashes to its ``eventID``."""
    wanted = {asked} if isinstance(asked, str) else asked
    shown = dict(event)
    for key in EPC_LISTS:
        value = shown.get(key)
        if isinstance(value, list):
            shown[key] = [v for v in value if ledger_subject(v) in wanted]
    parent = shown.get("parentID")
    if isinstance(parent, str) and _is_pack(parent) and ledger_subject(parent) not in wanted:
        del shown["parentID"]  # a pack as a parent is another pack's serial too
    for key in QUANTITY_LISTS:
        if isinstance(shown.get(key), list):
            shown[key] = []
    return shown


__all__ = [
    "PackView",
    "containers_of",
    "disclose",
    "event_packs",
    "leaf_value",
    "names_other_packs",
    "redact_event",
    "screen",
    "select_provenance",
]
