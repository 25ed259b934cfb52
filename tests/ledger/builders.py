"""A test network over the golden consortium, and small entry builders.

``Net`` holds one ``FeedWriter`` per feed, a ``MemoryState`` and a clock. Entries are named, so a
test can state the evidence an alert must carry by name. The membership is the golden genesis
extended (version 2) by a second pharmacy and a second manufacturer, for clone and foreign-GTIN
cases.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger import lifecycle
from ledger.alerts import Alert
from ledger.entry import Payload, SignedEntry, sign
from ledger.feed import FeedWriter
from ledger.identifiers import container_uri, lot_uri, product_uri, with_check_digit
from ledger.kinds import Kind, Role
from ledger.membership import (
    Membership,
    MembershipChain,
    organisation,
    raw_public,
    sign_membership,
)
from ledger.state import MemoryState
from ledger.timefmt import format_ts, parse_ts
from tests.vectors import golden

MFR = golden.MANUFACTURER
DIST = golden.DISTRIBUTOR
CUSTOMS = golden.CUSTOMS
PHARMACY = golden.PHARMACY
REGULATOR = golden.REGULATOR
PHARMACY2 = "corner-pharmacy/counter-1"
MFR2 = "generic-labs/line-1"

GTIN = golden.GTIN
LOT = golden.LOT
EXPIRY = golden.EXPIRY
SERIALS = golden.SERIALS
PACKS = golden.PACKS
PACK = PACKS[0]
CASE = golden.CASE
CASE2 = container_uri("095060000000000022")
LOT_URI = lot_uri(GTIN, LOT)
PRODUCT_URI = product_uri(GTIN)
GTIN2 = "09506001543214"  # under generic-labs' prefix 9506001
LOT2_URI = lot_uri(GTIN2, "G1")

START = "2026-03-02T08:00:00.000Z"

EXTRA_SEEDS = {PHARMACY2: 0x16, MFR2: 0x17}


def org_of(feed: str) -> str:
    return feed.split("/", 1)[0]


def chain() -> MembershipChain:
    """Genesis plus version 2 (two more organisations), both checked by ``MembershipChain``."""
    signed = golden.signed_genesis()
    added = (
        organisation(
            "corner-pharmacy",
            name="Corner Pharmacy",
            role=Role.PHARMACY,
            gln="9506140000005",
            feeds={PHARMACY2: raw_public(golden.seed_key(EXTRA_SEEDS[PHARMACY2]))},
        ),
        organisation(
            "generic-labs",
            name="Generic Labs",
            role=Role.MANUFACTURER,
            gln="9506001000007",
            company_prefixes=["9506001"],
            feeds={MFR2: raw_public(golden.seed_key(EXTRA_SEEDS[MFR2]))},
        ),
    )
    g = signed.membership
    v2 = g.next_version(organisations={**g.organisations, **{o.id: o for o in added}})
    gov = golden.governance_keys()
    result = MembershipChain(signed, signed.id)
    result.extend(sign_membership(v2, {"gov-1": gov["gov-1"], "gov-3": gov["gov-3"]}))
    return result


@cache
def membership() -> Membership:
    return chain().current


def keys() -> dict[str, Ed25519PrivateKey]:
    all_keys = golden.feed_keys()
    all_keys.update({feed: golden.seed_key(seed) for feed, seed in EXTRA_SEEDS.items()})
    return all_keys


def later(ts: str, **delta: float) -> str:
    return format_ts(parse_ts(ts) + timedelta(**delta))


def commission_body(
    serials: Sequence[str] = SERIALS,
    *,
    gtin: str = GTIN,
    lot: str = LOT,
    expiry: str = EXPIRY,
) -> dict[str, Any]:
    return {
        "gtin": gtin,
        "ilmd": {"lotNumber": lot, "itemExpirationDate": expiry},
        "serials": list(serials),
    }


class Net:
    """Writers for every feed, a state, a clock, and every entry written so far by name."""

    def __init__(self, start: str = START) -> None:
        self.membership = membership()
        self.keys = keys()
        self.writers = {feed: FeedWriter(feed, key) for feed, key in self.keys.items()}
        self.state = MemoryState()
        self.clock: datetime = parse_ts(start)
        self.entries: dict[str, SignedEntry] = {}
        self.alerts: list[Alert] = []

    # -- writing -----------------------------------------------------------------------------
    def sign(
        self,
        name: str,
        feed: str,
        kind: Kind,
        *,
        subjects: Iterable[str] = (),
        refs: Iterable[str] = (),
        body: Mapping[str, Any] | None = None,
        ts: str | None = None,
    ) -> SignedEntry:
        """Sign the next entry of ``feed`` (not applied); ``refs`` are entry names."""
        if name in self.entries:
            raise AssertionError(f"entry name {name!r} used twice")
        ref_entries = [self.entries[r] for r in refs]
        if ts is None:
            self.clock += timedelta(minutes=1)
            ts = format_ts(self.clock)
        entry = self.writers[feed].append(
            kind,
            subjects=list(subjects),
            refs=[r.id for r in ref_entries],
            body=body or {},
            ts=ts,
            not_before=[r.payload.ts for r in ref_entries],
        )
        self.clock = max(self.clock, parse_ts(entry.payload.ts))
        self.entries[name] = entry
        return entry

    def apply(self, entry: SignedEntry, *, strict: bool = True) -> list[Alert]:
        alerts = lifecycle.apply(self.state, entry, self.membership, strict=strict)
        self.alerts.extend(alerts)
        return alerts

    def do(
        self,
        name: str,
        feed: str,
        kind: Kind,
        *,
        subjects: Iterable[str] = (),
        refs: Iterable[str] = (),
        body: Mapping[str, Any] | None = None,
        ts: str | None = None,
        strict: bool = True,
    ) -> SignedEntry:
        """Sign and apply (strictly by default): the way a node takes a local submission."""
        entry = self.sign(name, feed, kind, subjects=subjects, refs=refs, body=body, ts=ts)
        self.apply(entry, strict=strict)
        return entry

    def ids(self, *names: str) -> tuple[str, ...]:
        return tuple(self.entries[name].id for name in names)

    # -- business steps ----------------------------------------------------------------------
    def commission(
        self,
        name: str = "commission",
        serials: Sequence[str] = SERIALS,
        *,
        feed: str = MFR,
        gtin: str = GTIN,
        lot: str = LOT,
        expiry: str = EXPIRY,
        ts: str | None = None,
    ) -> SignedEntry:
        return self.do(
            name,
            feed,
            Kind.COMMISSION,
            subjects=[lot_uri(gtin, lot)],
            body=commission_body(serials, gtin=gtin, lot=lot, expiry=expiry),
            ts=ts,
        )

    def ship(
        self, name: str, feed: str, subjects: Iterable[str], to: str, *, strict: bool = True
    ) -> SignedEntry:
        return self.do(
            name,
            feed,
            Kind.SHIP,
            subjects=subjects,
            body={"destination": org_of(to)},
            strict=strict,
        )

    def receive(
        self, name: str, feed: str, subjects: Iterable[str], ship: str, *, strict: bool = True
    ) -> SignedEntry:
        return self.do(name, feed, Kind.RECEIVE, subjects=subjects, refs=[ship], strict=strict)

    def deliver(self, tag: str, src: str, dst: str, subjects: Sequence[str] = (PACK,)) -> None:
        """Ship and receive: ``ship-{tag}`` and ``receive-{tag}``."""
        self.ship(f"ship-{tag}", src, subjects, dst)
        self.receive(f"receive-{tag}", dst, subjects, f"ship-{tag}")

    def at_pharmacy(self, subjects: Sequence[str] = PACKS) -> None:
        """Commissioned by the manufacturer, delivered through the distributor to the pharmacy."""
        self.commission()
        self.deliver("dist", MFR, DIST, subjects)
        self.deliver("pharmacy", DIST, PHARMACY, subjects)


def forge(payload: Payload, key: Ed25519PrivateKey) -> SignedEntry:
    """Sign any payload (no writer bookkeeping): for entries a honest writer would never make."""
    return sign(payload, key)


def sscc(n: int, prefix: str = "9506000") -> str:
    """The ``n``-th SSCC under ``prefix`` (extension digit 0), with its check digit."""
    body = "0" + prefix + f"{n:0{16 - len(prefix)}d}"
    return with_check_digit(body)
