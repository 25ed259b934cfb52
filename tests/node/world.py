"""A small consortium held in memory, for storage and node tests.

Keys come from fixed seeds so failures reproduce; each feed has a ``FeedWriter``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger import membership as ms
from ledger.entry import SignedEntry
from ledger.feed import FeedWriter
from ledger.identifiers import container_uri, lot_uri, pack_uri, with_check_digit
from ledger.kinds import Kind, Role

GTIN = "09506000134352"
LOT = "L1"
EXPIRY = "2030-12-31"


def key(seed: int) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(bytes([seed]) * 32)


def sscc(serial: int, prefix: str = "9506000") -> str:
    body = "0" + prefix + f"{serial:0{16 - len(prefix)}d}"
    return with_check_digit(body)


FEEDS: dict[str, tuple[str, Role, int]] = {
    "acme/line1": ("acme", Role.MANUFACTURER, 11),
    "dist/wh": ("dist", Role.DISTRIBUTOR, 12),
    "border/post": ("border", Role.CUSTOMS, 13),
    "ph/a": ("ph", Role.PHARMACY, 14),
    "ph/b": ("ph", Role.PHARMACY, 15),
    "reg/main": ("reg", Role.REGULATOR, 16),
}


@dataclass
class World:
    membership: ms.Membership
    writers: dict[str, FeedWriter] = field(default_factory=dict)
    clock: int = 0

    def ts(self) -> str:
        """Strictly increasing fixed times, so entry order is the order tests write them in."""
        self.clock += 1
        seconds = self.clock
        return f"2026-11-22T10:{seconds // 60 % 60:02d}:{seconds % 60:02d}.000Z"

    def write(self, feed: str, kind: Kind, **fields: Any) -> SignedEntry:
        return self.writers[feed].append(kind, ts=self.ts(), **fields)

    def commission(
        self, serials: list[str], *, lot: str = LOT, feed: str = "acme/line1"
    ) -> SignedEntry:
        body = {
            "gtin": GTIN,
            "ilmd": {"lotNumber": lot, "itemExpirationDate": EXPIRY},
            "serials": serials,
        }
        return self.write(feed, Kind.COMMISSION, subjects=[lot_uri(GTIN, lot)], body=body)


def pack(serial: str) -> str:
    return pack_uri(GTIN, serial)


def case(n: int) -> str:
    return container_uri(sscc(n))


def make_world() -> World:
    orgs: dict[str, dict[str, bytes]] = {}
    roles: dict[str, Role] = {}
    for feed, (org, role, seed) in FEEDS.items():
        orgs.setdefault(org, {})[feed] = ms.raw_public(key(seed))
        roles[org] = role
    organisations = [
        ms.organisation(
            org,
            name=org.title(),
            role=roles[org],
            gln=f"95060000{index:04d}0",
            company_prefixes=["9506000"] if roles[org] is Role.MANUFACTURER else [],
            feeds=feeds,
        )
        for index, (org, feeds) in enumerate(sorted(orgs.items()))
    ]
    membership = ms.genesis("test", {"gov-1": ms.raw_public(key(1))}, 1, organisations)
    world = World(membership)
    world.writers = {feed: FeedWriter(feed, key(seed)) for feed, (_, _, seed) in FEEDS.items()}
    return world


def equivocate(world: World) -> tuple[SignedEntry, SignedEntry, SignedEntry]:
    """Pack A1 commissioned by acme/line1, then shipped to dist and to ph by two entries that
    acme/line1's key signed at the same position (#1): equivocation."""
    commission = world.commission(["A1"])
    writer = world.writers["acme/line1"]
    base = writer.head
    to_dist = world.write(
        "acme/line1", Kind.SHIP, subjects=[pack("A1")], body={"destination": "dist"}
    )
    writer.head = base
    to_ph = world.write("acme/line1", Kind.SHIP, subjects=[pack("A1")], body={"destination": "ph"})
    assert to_dist.payload.seq == to_ph.payload.seq == 1
    return commission, to_dist, to_ph
