"""One organisation's node logic: signing its feed's entries and storing them.

The HTTP API (``api/``), the demo and the tests all write through ``NodeService``; it is the
only place that holds a feed's private key in memory. It never signs at a used position: the
next position comes from the stored head, under a lock, and a refused entry is never stored or
sent (the writer falls back to the stored head).
"""

from __future__ import annotations

import base64
import contextlib
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy.exc import IntegrityError

from ledger import cases
from ledger.action import Action
from ledger.alerts import Code
from ledger.entry import SignedEntry
from ledger.errors import RuleViolation
from ledger.feed import FeedWriter
from ledger.identifiers import gtin14, lot_uri
from ledger.kinds import Kind
from ledger.membership import Membership
from ledger.openings import commit
from ledger.serials import generate_serials
from node.store import StaleTimestamp, Store

#: Serials per commissioning entry: one signature per chunk, and a provenance a scanner
#: fetches stays small (ADR 0004).
COMMISSION_CHUNK = 1_000

#: Times a batch of generated serials is drawn again after it met serials already stored.
_REDRAWS = 3


@dataclass(frozen=True)
class Commissioned:
    gtin: str
    lot: str
    expiry: str
    serials: list[str]
    entries: list[SignedEntry]


class NodeService:
    def __init__(
        self, store: Store, membership: Membership, feed: str, key: Ed25519PrivateKey
    ) -> None:
        self.store = store
        self.membership = membership
        self.feed = feed
        self._writer = FeedWriter(feed, key, store.head(feed))
        self._key = key
        self._lock = threading.Lock()
        #: Called once, before this process signs its first entry: a node restored from an old
        #: backup learns its own feed's newer entries from its peers first, so it never signs at
        #: a position it already used (architecture §2). Best effort: an offline post still writes.
        self.before_first_write: Callable[[], object] | None = None
        self._caught_up = False

    @property
    def org(self) -> str:
        return self.feed.split("/", 1)[0]

    def sign_case(self, content: Mapping[str, Any]) -> dict[str, Any]:
        """A case file (ADR 0029): ``content`` with ``exporter`` (this feed, and the position
        whose key signs: the feed's next) and ``signature``, the feed key's Ed25519 signature
        over ``ledger.cases.signing_bytes``. The key never leaves the service."""
        head = self.store.head(self.feed)
        position = head.payload.seq + 1 if head is not None else 0
        doc = {k: v for k, v in content.items() if k != "signature"}
        doc["exporter"] = {"feed": self.feed, "position": position}
        signature = self._key.sign(cases.signing_bytes(doc))
        return {**doc, "signature": base64.b64encode(signature).decode("ascii")}

    def submit(self, action: Action) -> SignedEntry:
        """Sign and store one entry, the rules applied strictly (``RuleViolation`` if broken)."""
        return self.submit_many([action])[0]

    def submit_many(self, steps: Sequence[Action]) -> list[SignedEntry]:
        """Sign and store several entries all or nothing (one transaction)."""
        with self._lock:
            self._catch_up()
            floors = self._floors(steps)
            for _attempt in range(3):
                try:
                    return self._sign_and_store(steps, floors)
                except StaleTimestamp as stale:
                    floors = [max(f, stale.floor) for f in floors]
                except IntegrityError:
                    pass  # two processes created the feed's row at once: the next try finds it
            return self._sign_and_store(steps, floors)

    def _catch_up(self) -> None:
        if self._caught_up or self.before_first_write is None:
            return
        self._caught_up = True
        with contextlib.suppress(Exception):  # unreachable peers must not stop a border post
            self.before_first_write()

    def _sign_and_store(self, steps: Sequence[Action], floors: list[str]) -> list[SignedEntry]:
        def build(head: SignedEntry | None) -> list[SignedEntry]:
            # Signed only now, under the feed's lock, after the head the store holds: a
            # position is never signed twice, whatever other workers of this node do.
            self._writer.head = head
            entries = []
            for step, floor in zip(steps, floors, strict=True):
                # Many packs are committed to, not listed: their list travels beside the entry
                # to peers only (ledger/openings.py, architecture §7).
                subjects, body, sidecar = commit(step.kind, step.subjects, step.body)
                committed = Action(step.kind, subjects, step.refs, body)
                payload = self._writer.next_payload(committed, not_before=[floor] if floor else [])
                entries.append(self._writer.sign(payload).with_opening(sidecar, check=False))
            return entries

        try:
            return self.store.write_local(self.feed, build, self.membership)
        except BaseException:
            self._writer.head = self.store.head(self.feed)
            raise

    def _floors(self, steps: Sequence[Action]) -> list[str]:
        """``_floor`` of each step, asked once for each distinct step: the chunks of one
        commissioning batch all name the same lot."""
        found: dict[tuple[tuple[str, ...], tuple[str, ...]], str] = {}
        floors = []
        for step in steps:
            key = (tuple(step.subjects), tuple(step.refs))
            if key not in found:
                found[key] = self._floor(step.subjects, step.refs)
            floors.append(found[key])
        return floors

    def _floor(self, subjects: Sequence[str], refs: Sequence[str]) -> str:
        stamps = [e.payload.ts for e in self.store.entries_by_id(refs)]
        latest = self.store.latest_ts(subjects)
        return max([*stamps, latest or ""])

    def commission(
        self,
        gtin: str,
        lot: str,
        expiry: str,
        *,
        count: int = 0,
        serials: Sequence[str] = (),
        chunk: int = COMMISSION_CHUNK,
        extra: Mapping[str, Any] | None = None,
    ) -> Commissioned:
        """Commission a batch: ``serials`` as given, or ``count`` fresh random ones."""
        gtin = gtin14(gtin)
        if serials:
            return self._commission(gtin, lot, expiry, list(serials), chunk, extra)
        # A random serial the GTIN already has is a 2^-60 event per pack: rather than ask the
        # store about every serial up front (the lifecycle checks them all again anyway), the
        # rare refused batch gets its taken serials replaced and is signed again.
        chosen = generate_serials(count)
        for _attempt in range(_REDRAWS):
            try:
                return self._commission(gtin, lot, expiry, chosen, chunk, extra)
            except RuleViolation as refused:
                if refused.code != Code.DUPLICATE_COMMISSION:
                    raise
                chosen = self._redraw(gtin, chosen)
        return self._commission(gtin, lot, expiry, chosen, chunk, extra)

    def _redraw(self, gtin: str, serials: list[str]) -> list[str]:
        """``serials`` with those the store already holds for ``gtin`` replaced by fresh ones."""
        taken = self.store.existing_serials(gtin, serials)
        kept = set(serials) - taken
        fresh = generate_serials(
            len(serials) - len(kept),
            taken=lambda c: (set(c) & kept) | self.store.existing_serials(gtin, c),
        )
        return sorted(kept.union(fresh))

    def _commission(
        self,
        gtin: str,
        lot: str,
        expiry: str,
        serials: list[str],
        chunk: int,
        extra: Mapping[str, Any] | None,
    ) -> Commissioned:
        steps = [
            Action(
                Kind.COMMISSION,
                [lot_uri(gtin, lot)],
                body={
                    "gtin": gtin,
                    "ilmd": {"lotNumber": lot, "itemExpirationDate": expiry},
                    "serials": serials[i : i + chunk],
                    **(extra or {}),
                },
            )
            for i in range(0, len(serials), chunk)
        ]
        return Commissioned(gtin, lot, expiry, serials, self.submit_many(steps))
