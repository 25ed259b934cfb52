"""The offline source: a node's data directory or SQLite store on this machine (read through
the ``Store`` façade), or a sync bundle; and how fresh that data is.

Both hand the scanner the feeds' checkpoints with inclusion proofs (ADR 0024): a store its own,
a bundle (v2) those the exporter held, proved against the tree of the bundle's own entries of
the feed (a bundle that starts a feed midway, ``export --since``, proves none of it: import it
into the post's store, which holds the start)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from ledger.checkpoint import parse_checkpoint
from ledger.digits import ASCII_NUMBER
from ledger.entry import SignedEntry
from ledger.errors import LedgerError
from ledger.feedlog import FeedTree, feed_of_origin
from ledger.identifiers import container_uri, pack_uri
from ledger.kinds import Kind
from ledger.lifecycle import fold
from ledger.membership import Membership, SignedMembership
from ledger.notes import parse_note
from ledger.state import ContainerState, MemoryState
from ledger.timefmt import parse_ts
from ledger.witness import open_feed_checkpoint
from node.config import ConfigError, load_config
from node.replication.bundle_format import Bundle, BundleError, read_bundle
from node.store import Store
from scanner.disclosure import PackView, screen, select_provenance
from scanner.outcome import Basis, Freshness, Outcome
from scanner.reading import ScanData
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
    #: a bundle's checkpoint notes, with those of its checkpoint forks (unverified)
    _notes: list[bytes] = field(default_factory=list)
    _trees: dict[str, FeedTree] | None = None

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
        """For each feed of ``entries``: the checkpoint to show (the newest with the policy's
        quorum of cosignatures that the data's tree reaches, else the newest), with an
        inclusion proof of each entry it covers; each split view the data holds evidence of.
        ``scanner.witnessed.witness`` verifies them all."""
        feeds: dict[str, list[SignedEntry]] = {}
        for entry in entries:
            feeds.setdefault(entry.payload.feed, []).append(entry)
        quorum = self.memberships[-1].membership.witnesses().quorum if self.memberships else 1
        store = self._store
        forks: list[tuple[str, str]] = []
        trees: Callable[[str], FeedTree] = self._bundle_tree
        if store is not None:  # its forks were verified as they were taken
            forks = [(f.feed, f"at size {f.size}: {f.reason}") for f in store.checkpoint_forks()]
            trees = store.feed_tree
            pairs = {f: (store.checkpoint(f, cosigners=quorum), store.checkpoint(f)) for f in feeds}
            notes = {f: [c.note for c in pair if c is not None] for f, pair in pairs.items()}
        else:
            notes = self._notes_by_feed()
        found: list[dict[str, Any]] = [
            {"feed": feed, "fork": why} for feed, why in forks if feed in feeds
        ]
        for feed, held in sorted(feeds.items()):
            if notes.get(feed):
                found.extend(self._items(feed, held, notes[feed], trees(feed), quorum))
        return found

    def _genesis(self) -> str | None:
        first = self.memberships[0] if self.memberships else None
        if self.pin or first is None or first.membership.version != 1:
            return self.pin
        return first.id

    def _notes_by_feed(self) -> dict[str, list[bytes]]:
        genesis = self._genesis()
        found: dict[str, list[bytes]] = {}
        for note in self._notes:
            try:
                origin = parse_checkpoint(parse_note(note).text).origin
                feed = feed_of_origin(genesis or "", origin)
            except LedgerError:
                continue  # not a checkpoint of this consortium: nothing it could prove
            found.setdefault(feed, []).append(note)
        return found

    def _bundle_tree(self, feed: str) -> FeedTree:
        """The tree of the bundle's entries of ``feed`` from its first entry on, as far as
        they follow one another (two entries at one position: no further). Built once per
        bundle for every feed: a batch of scans asks again for each pack."""
        if self._trees is None:
            by_seq: dict[str, dict[int, set[str]]] = {}
            for entry in self._entries:
                by_seq.setdefault(entry.payload.feed, {}).setdefault(entry.payload.seq, set()).add(
                    entry.id
                )
            self._trees = {}
            for name, seqs in by_seq.items():
                ids: list[str] = []
                while len(seqs.get(len(ids), ())) == 1:
                    ids.extend(seqs[len(ids)])
                self._trees[name] = FeedTree(name, ids)
        return self._trees.get(feed) or FeedTree(feed)

    def _items(
        self,
        feed: str,
        entries: Sequence[SignedEntry],
        notes: Sequence[bytes],
        tree: FeedTree,
        quorum: int,
    ) -> list[dict[str, Any]]:
        """The note to show for ``feed``; or, when the notes held give two roots at one size
        (or a root the entries held do not give), every such note, for the check to verify
        and name as a split view."""
        genesis = self._genesis()
        membership = self.memberships[-1].membership if self.memberships else None
        ranked: list[tuple[tuple[bool, bool, int], bytes, int]] = []
        roots: dict[int, set[bytes]] = {}
        for note in notes:
            try:
                cp = parse_checkpoint(parse_note(note).text)
            except LedgerError:
                continue
            meets = False
            # A note that does not verify is shown only if nothing better is held: the check
            # then says why.
            if membership is not None and genesis is not None:
                with suppress(LedgerError):
                    meets = len(open_feed_checkpoint(membership, genesis, note).cosigned) >= quorum
            reached = cp.size <= tree.size
            roots.setdefault(cp.size, set()).add(cp.root)
            if reached:
                roots[cp.size].add(tree.root_at(cp.size))
            ranked.append(((meets and reached, reached, cp.size), note, cp.size))
        if not ranked:
            return []
        split = [(note, size) for _, note, size in ranked if len(roots[size]) > 1]
        best = max(ranked, key=lambda r: r[0])
        items = []
        for note, size in split or [(best[1], best[2])]:
            proofs = [
                {**tree.inclusion(e.payload.seq, size).to_json(), "entry": e.id}
                for e in sorted(entries, key=lambda e: e.payload.seq)
                if e.payload.seq < size <= tree.size
            ]
            items.append({"feed": feed, "note": note.decode(), "proofs": proofs})
        return items

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
        data,
        "bundle",
        pin,
        bundle.created,
        bundle.memberships,
        _entries=bundle.entries,
        _notes=_bundle_notes(bundle),
    )
    if bundle.truncated:
        local.notes.append(
            Reason(
                "incomplete_bundle",
                f"the bundle is cut ({bundle.truncated}): entries may be missing",
            )
        )
    return local


def _bundle_notes(bundle: Bundle) -> list[bytes]:
    """The bundle's checkpoints and the notes of its checkpoint forks, all unverified: a fork's
    notes give two roots at one size (or one the entries do not give), which the check then
    verifies and names; a note in a fork that is not signed cannot hold a pack up but by
    failing its own check."""
    return [*bundle.checkpoints, *(n for fork in bundle.checkpoint_evidence for n in fork.notes)]


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
