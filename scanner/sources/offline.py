"""The offline source: a node's data directory or SQLite store on this machine (read through
the ``Store`` façade), or a sync bundle; and how fresh that data is."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from ledger.digits import ASCII_NUMBER
from ledger.entry import SignedEntry
from ledger.errors import LedgerError
from ledger.identifiers import container_uri, pack_uri
from ledger.kinds import Kind
from ledger.lifecycle import fold
from ledger.membership import Membership, SignedMembership
from ledger.state import ContainerState, MemoryState
from ledger.timefmt import parse_ts
from node.config import ConfigError, load_config
from node.replication.bundle_format import BundleError, read_bundle
from node.store import Store
from scanner.disclosure import PackView, screen, select_provenance
from scanner.outcome import Basis, Freshness, Outcome
from scanner.reading import ScanData
from scanner.sources.checkpoints import checkpoints_of_store
from scanner.verdict import Reason
from scanner.verifying import VerifyError, check, combine, today_iso

DEFAULT_MAX_AGE = timedelta(hours=24)


@dataclass
class LocalData:
    """A node's store or a bundle on this machine: provenance, memberships, freshness."""

    path: Path
    kind: str  # "store" | "bundle"
    pin: str | None
    as_of: str | None
    memberships: list[SignedMembership]
    _store: Store | None = None
    _entries: list[SignedEntry] = field(default_factory=list)
    notes: list[Reason] = field(default_factory=list)

    def provenance(self, uri: str) -> PackView:
        """The pack's provenance as a verifier is sent it online (``Store.pack_provenance``;
        for a bundle the same selection and disclosures, ``scanner.disclosure``): offline and
        online decide on the same data."""
        if self._store is not None:
            found = self._store.pack_provenance(uri)
            view = screen(found.entries, uri)
            view.withheld = [*found.withheld, *view.withheld]
            return view
        return screen(select_provenance(self._entries, uri), uri)

    def checkpoints(self, entries: Iterable[SignedEntry]) -> list[dict[str, Any]]:
        """The store's newest checkpoints of the feeds of ``entries``, with inclusion proofs
        (a bundle holds no checkpoints: none)."""
        if self._store is None:
            return []
        return checkpoints_of_store(self._store, entries)

    def close(self) -> None:
        if self._store is not None:
            self._store.close()

    def __enter__(self) -> LocalData:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def container_packs(self, sscc: str, membership: Membership) -> list[str]:
        uri = container_uri(sscc)
        if self._store is not None:
            with self._store.state_view() as view:
                return _packs_inside(uri, view.get_container)
        state = MemoryState()
        fold([e for e in self._entries if e.payload.kind in _CONTAINER_KINDS], membership, state)
        return _packs_inside(uri, state.containers.get)


_CONTAINER_KINDS = frozenset({Kind.COMMISSION, Kind.PACK, Kind.UNPACK})


def _packs_inside(uri: str, get: Callable[[str], ContainerState | None]) -> list[str]:
    """The packs in the container ``uri`` and in the containers inside it."""
    container = get(uri)
    if container is None:
        raise VerifyError(f"no container {uri} is known in this data")
    packs: list[str] = []
    todo, seen = [container], {uri}
    while todo:
        current = todo.pop()
        for child in sorted(current.children):
            if child in seen:
                continue
            seen.add(child)
            if "/00/" in child:
                inner = get(child)
                if inner is not None:
                    todo.append(inner)
            else:
                packs.append(child)
    return packs


def open_local(data: Path, *, pin: str | None = None) -> LocalData:
    """A node data directory (``node.json``), a SQLite store file, or a sync bundle file."""
    if data.is_dir():
        try:
            config = load_config(data)
        except ConfigError as exc:
            raise VerifyError(str(exc)) from None
        url = config.database_url(data)
        if "://" not in url and not Path(url).is_file():
            raise VerifyError(f"{data}: no ledger database at {url}")
        return _from_store(data, Store(url), pin or config.genesis_id)
    if not data.is_file():
        raise VerifyError(f"{data}: no such data directory or bundle file")
    with data.open("rb") as handle:
        magic = handle.read(16)
    if magic.startswith(b"SQLite format 3"):
        store = Store(data)
        return _from_store(data, store, pin or store.meta("genesis_id"))
    try:
        bundle = read_bundle(data)
    except BundleError as exc:
        raise VerifyError(str(exc)) from None
    local = LocalData(
        data, "bundle", pin, bundle.created, bundle.memberships, _entries=bundle.entries
    )
    if bundle.truncated:
        local.notes.append(
            Reason(
                "incomplete_bundle",
                f"the bundle is cut ({bundle.truncated}): entries may be missing",
            )
        )
    return local


def _from_store(data: Path, store: Store, pin: str | None) -> LocalData:
    return LocalData(
        data,
        "store",
        pin,
        store.newest_timestamp(),
        store.memberships(),
        _store=store,
    )


def _freshness(local: LocalData, max_age: timedelta, now: datetime) -> Freshness:
    if local.as_of is None:
        return Freshness(local.kind, None, None, max_age.total_seconds(), True)
    try:
        when = parse_ts(local.as_of)
    except LedgerError:
        return Freshness(local.kind, local.as_of, None, max_age.total_seconds(), True)
    age = (now - when).total_seconds()
    return Freshness(
        local.kind, local.as_of, age, max_age.total_seconds(), age > max_age.total_seconds()
    )


def verify_offline(
    scan: ScanData,
    data: Path | LocalData,
    *,
    max_age: timedelta = DEFAULT_MAX_AGE,
    membership_pin: str | None = None,
    today: str | None = None,
    now: datetime | None = None,
    in_transit_ok: bool = False,
    custodian: str | None = None,
) -> Outcome:
    """Verify against a node's data directory or a sync bundle on this machine.

    The answer states how fresh the data is: the newest entry's ts in a store, the creation
    time of a bundle. Data older than ``max_age`` turns a RELEASE into HOLD (``stale_data``):
    a recall or a dispense may have happened since.
    """
    local = data if isinstance(data, LocalData) else open_local(data, pin=membership_pin)
    try:
        pin = membership_pin or local.pin
        if not pin:
            raise VerifyError(
                f"{local.path}: the data names no pinned genesis membership: pass --genesis"
            )
        uri = pack_uri(scan.gtin, scan.serial)
        view = local.provenance(uri)
        verdict = check(
            scan,
            view.entries,
            local.memberships,
            pin=pin,
            today=today or today_iso(),
            in_transit_ok=in_transit_ok,
            custodian=custodian,
            withheld=view.withheld,
        )
        verdict = combine(verdict, local.notes, reject=False)
        freshness = _freshness(local, max_age, now or datetime.now(UTC))
        if freshness.stale:
            when = freshness.as_of or "an unknown time"
            verdict = combine(
                verdict,
                [
                    Reason(
                        "stale_data",
                        f"the {local.kind} is from {when}, older than "
                        f"{_human(max_age)}: a recall or a dispense since then would not show; "
                        "sync, or verify online",
                    )
                ],
                reject=False,
            )
        basis = Basis(tuple(view.entries), tuple(local.memberships), tuple(view.withheld))
        return Outcome(scan, verdict, "offline", freshness, str(local.path), basis)
    finally:
        if not isinstance(data, LocalData):
            local.close()


def _human(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds % 86400 == 0:
        days = seconds // 86400
        return f"{days} day{'s' if days != 1 else ''}"
    if seconds % 3600 == 0:
        hours = seconds // 3600
        return f"{hours} hour{'s' if hours != 1 else ''}"
    return f"{seconds} s"


def parse_age(text: str) -> timedelta:
    """``90s``, ``30m``, ``24h``, ``7d`` (or plain seconds)."""
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    text = text.strip().lower()
    number, unit = (text[:-1], text[-1]) if text and text[-1] in units else (text, "s")
    if not ASCII_NUMBER.match(number) or "e" in number:
        raise ValueError(f"expected an age like 90s, 30m, 24h or 7d, found {text!r}")
    value = float(number)
    if value < 0:
        raise ValueError(f"expected a non-negative age, found {text!r}")
    return timedelta(seconds=value * units[unit])
