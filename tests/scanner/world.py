"""A small consortium for scanner tests: fixed keys (tests/node/world.py), a signed genesis,
and entries dated in the last hour, so offline freshness behaves as it would at a counter."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from ledger import membership as ms
from ledger.action import Action
from ledger.entry import SignedEntry
from ledger.feed import FeedWriter
from ledger.identifiers import container_uri, lot_uri, pack_uri
from ledger.kinds import Kind
from ledger.openings import commit
from ledger.timefmt import format_ts
from node.config import NodeConfig, save_config
from node.store import Store
from tests.node.world import EXPIRY, GTIN, LOT, key, make_world, sscc

__all__ = ["EXPIRY", "GTIN", "LOT", "ScanWorld", "pack", "scan_world"]


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

    def store(self, directory: Path) -> Path:
        """A node data directory (node.json + node.db) holding every entry written so far."""
        directory.mkdir(parents=True, exist_ok=True)
        with Store(directory / "node.db") as store:
            store.save_membership(self.signed)
            store.set_meta("genesis_id", self.pin)
            report = store.ingest(self.entries, self.membership)
            assert not report.rejected, report.rejected
        save_config(directory, NodeConfig(name="ph", feed="ph/a", genesis_id=self.pin))
        return directory


def scan_world(start: datetime | None = None) -> ScanWorld:
    base = make_world()
    signed = ms.sign_membership(base.membership, {"gov-1": key(1)})
    when = start or datetime.now(UTC) - timedelta(hours=1)
    return ScanWorld(base.membership, signed, base.writers, when)
