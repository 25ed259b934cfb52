"""The packs and containers an entry is about (a container brings everything inside it), and
how a change to them is written back."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from ledger.alerts import Code
from ledger.errors import MalformedEntry
from ledger.identifiers import DL_ROOT, SubjectType, parse_subject
from ledger.lifecycle.step import Rules, Step, each, guard
from ledger.state import ContainerState, PackState, StateView
from ledger.status import Status


def descendants(
    view: StateView, container: ContainerState
) -> tuple[list[ContainerState], list[str]]:
    containers, packs, todo = [container], [], list(container.children)
    seen = {container.uri}
    while todo:
        uri = todo.pop()
        if uri in seen:
            continue  # a cycle can only come from a corrupt store: never loop on it
        seen.add(uri)
        if uri.startswith(f"{DL_ROOT}/00/"):
            child = view.get_container(uri)
            if child is not None:
                containers.append(child)
                todo.extend(child.children)
        else:
            packs.append(uri)
    return containers, packs


def enclosing(view: StateView, uri: str) -> set[str]:
    """``uri`` and every container it is inside."""
    chain: set[str] = set()
    current: str | None = uri
    while current is not None and current not in chain:
        chain.add(current)
        container = view.get_container(current)
        current = container.parent if container is not None else None
    return chain


def known_packs(step: Step, uris: list[str]) -> dict[str, PackState]:
    """The packs of ``uris`` that were commissioned; each of the others is a breach."""
    found = step.view.get_packs(uris)
    for uri in uris:
        if uri not in found:
            guard(step.breach, Code.UNKNOWN_PACK, uri, f"pack {uri} was never commissioned")
    return found


def targets(step: Step, subjects: Iterable[str]) -> tuple[list[ContainerState], list[PackState]]:
    """Containers and packs named by ``subjects``; a container brings everything inside it."""
    containers: list[ContainerState] = []
    pack_uris: list[str] = []
    for uri in subjects:
        subject = parse_subject(uri)
        if subject.type is SubjectType.CONTAINER:
            container = step.view.get_container(uri)
            if container is None:
                guard(step.breach, Code.UNKNOWN_CONTAINER, uri, f"container {uri} was never packed")
                continue
            inner, packs = descendants(step.view, container)
            containers.extend(inner)
            pack_uris.extend(packs)
        elif subject.type is SubjectType.PACK:
            pack_uris.append(uri)
        else:
            raise MalformedEntry(
                f"{step.kind.value}: expected pack or container subjects, found {uri}",
                subject=uri,
            )
    found = known_packs(step, pack_uris)
    return containers, [found[uri] for uri in dict.fromkeys(pack_uris) if uri in found]


def set_status(step: Step, pack: PackState, status: Status, *, prior: Status | None = None) -> None:
    pack.prior = prior
    pack.status = status
    pack.changed_by = step.entry.id
    pack.changed_feed = step.feed
    pack.changed_ts = step.entry.payload.ts


def touch(
    step: Step, packs: Iterable[PackState], containers: Iterable[ContainerState] = ()
) -> None:
    key = step.entry.payload.order_key
    packs = list(packs)
    for pack in packs:
        pack.last = key
    step.view.put_packs(packs)
    for container in containers:
        container.last = key
        step.view.put_container(container)


def transition(
    step: Step, rules: Rules, to: Callable[[PackState], tuple[Status, Status | None]]
) -> None:
    """The common shape of a status change: the packs named (containers expanded), those that
    pass ``rules``, each moved to ``to(pack)`` = (new status, the status an undo returns to)."""
    containers, packs = targets(step, step.subjects)
    done = each(step, packs, rules)
    for pack in done:
        status, prior = to(pack)
        set_status(step, pack, status, prior=prior)
    touch(step, done, containers)
