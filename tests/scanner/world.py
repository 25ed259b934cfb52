"""A small consortium for scanner tests: fixed keys (tests/node/world.py), a signed genesis,
and entries dated in the last hour, so offline freshness behaves as it would at a counter."""

from __future__ import annotations

import time
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from ledger import membership as ms
from ledger.action import Action
from ledger.entry import SignedEntry
from ledger.feed import FeedWriter
from ledger.feedlog import sign_feed_checkpoint
from ledger.identifiers import container_uri, lot_uri, pack_uri
from ledger.kinds import Kind
from ledger.lifecycle.products import product_step
from ledger.openings import commit
from ledger.timefmt import format_ts
from ledger.witness import cosign_feed_checkpoint, open_feed_checkpoint
from node.config import NodeConfig, save_config
from node.replication.witnessing import take_note
from node.store import Store
from tests.node.world import EXPIRY, FEEDS, GTIN, LOT, key, make_world, sscc
from tests.products import AMOXIL

__all__ = ["EXPIRY", "GTIN", "LOT", "PRODUCT", "ScanWorld", "pack", "scan_world"]

#: The master data the story's manufacturer registers for its GTIN (docs/spec/customs.md).
PRODUCT = AMOXIL


def pack(serial: str) -> str:
    return pack_uri(GTIN, serial)


@dataclass
class ScanWorld:
    membership: ms.Membership
    signed: ms.SignedMembership
    writers: dict[str, FeedWriter]
    start: datetime
    entries: list[SignedEntry] = field(default_factory=list)
    clock: int = 0

    @property
    def pin(self) -> str:
        return self.signed.id

    def ts(self) -> str:
        self.clock += 1
        return format_ts(self.start + timedelta(seconds=self.clock))

    def write(self, feed: str, kind: Kind, **fields: Any) -> SignedEntry:
        """Sign the next entry of ``feed`` as a node writes it: an entry naming many packs in
        the current format, a commitment with its sidecar (``ledger.openings.commit``)."""
        subjects, body, sidecar = commit(
            kind, tuple(fields.get("subjects", ())), dict(fields.get("body") or {})
        )
        action = Action(kind, subjects, tuple(fields.get("refs", ())), body)
        writer = self.writers[feed]
        entry = writer.sign(writer.next_payload(action, ts=self.ts())).with_opening(sidecar)
        self.entries.append(entry)
        return entry

    def register_product(self, gtin: str = GTIN, **changes: Any) -> SignedEntry:
        """The GTIN owner's signed master data of ``gtin`` (its reference price sealed)."""
        step, _ = product_step(
            {
                "gtin": gtin,
                **PRODUCT,
                **changes,
                "referencePrice": {"amount": "12.50", "currency": "EUR"},
            }
        )
        return self.write(
            "acme/line1", step.kind, subjects=list(step.subjects), body=dict(step.body)
        )

    def commission(
        self, serials: list[str], *, lot: str = LOT, expiry: str = EXPIRY
    ) -> SignedEntry:
        body = {
            "gtin": GTIN,
            "ilmd": {"lotNumber": lot, "itemExpirationDate": expiry},
            "serials": serials,
        }
        return self.write("acme/line1", Kind.COMMISSION, subjects=[lot_uri(GTIN, lot)], body=body)

    def deliver(self, serials: list[str], case: int) -> str:
        """Pack ``serials`` into a case and move it acme → dist → ph (customs releasing it)."""
        box = container_uri(sscc(case))
        self.write("acme/line1", Kind.PACK, subjects=[box, *map(pack, serials)])
        ship = self.write("acme/line1", Kind.SHIP, subjects=[box], body={"destination": "dist"})
        self.write("dist/wh", Kind.RECEIVE, subjects=[box], refs=[ship.id])
        cross = self.write("dist/wh", Kind.SHIP, subjects=[box], body={"destination": "ph"})
        self.write("border/post", Kind.INSPECT, subjects=[box], body={"decision": "release"})
        self.write("ph/a", Kind.RECEIVE, subjects=[box], refs=[cross.id])
        return box

    def checkpoint_note(self, store: Store, feed: str, *, size: int | None = None) -> bytes:
        """``feed``'s checkpoint at ``size`` (default: all entries held), signed by its key."""
        tree = store.feed_tree(feed)
        return sign_feed_checkpoint(self.pin, tree.checkpoint(self.pin, size), key(FEEDS[feed][2]))

    def cosign(self, note: bytes, *, at: int, witnesses: Collection[str] | None = None) -> bytes:
        """``note`` cosigned at ``at`` by a node of every other organisation (or ``witnesses``)."""
        feed = open_feed_checkpoint(self.membership, self.pin, note).feed
        writer = feed.split("/", 1)[0]
        for witness_feed, (org, _, seed) in FEEDS.items():
            if org == writer or (witnesses is not None and org not in witnesses):
                continue
            opened = open_feed_checkpoint(self.membership, self.pin, note)
            note = cosign_feed_checkpoint(opened, self.pin, witness_feed, key(seed), at)
        return note

    def witness(
        self,
        store: Store,
        *,
        at: int | None = None,
        witnesses: Collection[str] | None = None,
        feeds: Collection[str] | None = None,
    ) -> None:
        """What the nodes' witnessing does (ADR 0018): each feed's checkpoint at its size,
        signed by its key and cosigned at ``at`` (default: now) by the other organisations
        (or ``witnesses``), kept in ``store``."""
        now = int(time.time()) if at is None else at
        for feed in sorted(feeds if feeds is not None else {e.payload.feed for e in self.entries}):
            if store.feed_tree(feed).size == 0:
                continue
            note = self.cosign(self.checkpoint_note(store, feed), at=now, witnesses=witnesses)
            taken = take_note(store, self.membership, note, now, genesis_id=self.pin)
            assert taken.status in {"taken", "held"}, taken

    def store(self, directory: Path, *, witnessed: bool = True) -> Path:
        """A node data directory (node.json + node.db) holding every entry written so far,
        with every feed's checkpoint cosigned now (``witnessed``)."""
        directory.mkdir(parents=True, exist_ok=True)
        with Store(directory / "node.db") as store:
            store.save_membership(self.signed)
            store.set_meta("genesis_id", self.pin)
            report = store.ingest(self.entries, self.membership)
            assert not report.rejected, report.rejected
            if witnessed:
                self.witness(store)
        save_config(directory, NodeConfig(name="ph", feed="ph/a", genesis_id=self.pin))
        return directory


def scan_world(start: datetime | None = None) -> ScanWorld:
    base = make_world()
    signed = ms.sign_membership(base.membership, {"gov-1": key(1)})
    when = start or datetime.now(UTC) - timedelta(hours=1)
    return ScanWorld(base.membership, signed, base.writers, when)
