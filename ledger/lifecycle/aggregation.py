"""Packing packs and containers into a container (SSCC), and unpacking them."""

from __future__ import annotations

from ledger.alerts import Code
from ledger.errors import MalformedEntry
from ledger.identifiers import SubjectType, parse_subject
from ledger.lifecycle.rules import supply_rules
from ledger.lifecycle.step import Step, each, guard
from ledger.lifecycle.targets import enclosing, known_packs, touch
from ledger.state import ContainerState


def pack(step: Step) -> None:
    _aggregate(step, adding=True)


def unpack(step: Step) -> None:
    _aggregate(step, adding=False)


def _aggregate(step: Step, adding: bool) -> None:
    subjects = step.subjects
    if not subjects or parse_subject(subjects[0]).type is not SubjectType.CONTAINER:
        raise MalformedEntry(
            f"{step.kind.value}: expected the container (SSCC) as the first subject"
        )
    parent_uri, child_uris = subjects[0], subjects[1:]
    parent = step.view.get_container(parent_uri)
    if parent is None:
        if not adding:
            guard(
                step.breach,
                Code.UNKNOWN_CONTAINER,
                parent_uri,
                f"container {parent_uri} was never packed",
            )
            return
        parent = ContainerState(parent_uri, step.feed)
    elif not step.holds(parent.custodian):
        guard(
            step.breach,
            Code.CUSTODY_VIOLATION,
            parent_uri,
            f"expected {step.feed} to hold container {parent_uri}, found {parent.custodian}",
            blocking=False,
        )
    if not adding and not child_uris:
        child_uris = tuple(sorted(parent.children))
    child_containers: list[ContainerState] = []
    pack_uris: list[str] = []
    inside = enclosing(step.view, parent_uri) if adding else set()
    for uri in child_uris:
        if parse_subject(uri).type is SubjectType.CONTAINER:
            if uri in inside:
                raise MalformedEntry(
                    f"pack: expected container {uri} to go into another container, found it is "
                    f"{parent_uri} or encloses it",
                    subject=uri,
                )
            child = step.view.get_container(uri)
            if child is None:
                guard(step.breach, Code.UNKNOWN_CONTAINER, uri, f"container {uri} was never packed")
                continue
            child_containers.append(child)
        else:
            pack_uris.append(uri)
    found = known_packs(step, pack_uris)
    packs = [found[uri] for uri in pack_uris if uri in found]
    if adding:
        packs = each(step, packs, supply_rules)
    changed: list[ContainerState] = [parent]
    for pack_state in packs:
        pack_state.container = _regroup(
            step, parent, pack_state.uri, pack_state.container, adding, changed
        )
    for child in child_containers:
        child.parent = _regroup(step, parent, child.uri, child.parent, adding, changed)
        changed.append(child)
    touch(step, packs, changed)


def _regroup(
    step: Step,
    parent: ContainerState,
    uri: str,
    holder: str | None,
    adding: bool,
    changed: list[ContainerState],
) -> str | None:
    """The container ``uri`` is in once packed into (or unpacked from) ``parent``, when it was
    in ``holder``; a container it leaves is added to ``changed``."""
    if adding:
        if holder and holder != parent.uri and (old := step.view.get_container(holder)):
            old.children.discard(uri)
            changed.append(old)
        parent.children.add(uri)
        return parent.uri
    if holder == parent.uri:
        parent.children.discard(uri)
        return None
    return holder
