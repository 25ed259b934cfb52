"""The golden consortium and scenario: fixed keys, fixed timestamps, exact bytes.

Everything here is deterministic (Ed25519 signatures are), so ``build_vectors`` gives the same
text on every machine. ``golden.json`` is that text, committed; ``python -m
tests.vectors.regenerate`` rewrites it on purpose, and ``tests/ledger/test_golden.py`` fails
when the code would produce anything else.

The seeds are public test material (``bytes([n]) * 32``): never use them outside tests.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger.entry import SignedEntry
from ledger.feed import FeedWriter
from ledger.identifiers import container_uri, lot_uri, pack_uri
from ledger.kinds import BIZ_STEP, Kind, Role
from ledger.membership import (
    Membership,
    Organisation,
    SignedMembership,
    genesis,
    organisation,
    raw_public,
    sign_membership,
)
from ledger.openings import commit
from ledger.status import DISPOSITION, Status

GOLDEN_PATH = Path(__file__).with_name("golden.json")
#: The same scenario in entry format v2: commission and pack sign a root over salted leaves,
#: their packs travel beside them as a sidecar (docs/spec/entry.md, docs/spec/proofs.md).
GOLDEN_V2_PATH = Path(__file__).with_name("golden_v2.json")

CONSORTIUM = "medtrace-golden"
THRESHOLD = 2
#: governance key name -> seed byte
GOVERNANCE_SEEDS: dict[str, int] = {"gov-1": 1, "gov-2": 2, "gov-3": 3}
#: the governance keys that sign the genesis (exactly the threshold)
GENESIS_SIGNERS = ("gov-1", "gov-2")

MANUFACTURER = "acme-pharma/line-1"
DISTRIBUTOR = "nordic-dist/wh-1"
CUSTOMS = "border-customs/post-1"
PHARMACY = "city-pharmacy/counter-1"
REGULATOR = "medicines-agency/desk-1"

COMPANY_PREFIX = "9506000"
GTIN = "09506000123455"
LOT = "L2026-03A"
EXPIRY = "2028-06-30"
SERIALS = ("4XN7QH2B9KDM", "8TCV3W5ZR1PE", "J6F0YGMA7S2Q")
SSCC = "095060000000000015"

PACKS = tuple(pack_uri(GTIN, serial) for serial in SERIALS)
CASE = container_uri(SSCC)
LOT_URI = lot_uri(GTIN, LOT)


def seed_key(seed: int) -> Ed25519PrivateKey:
    """The Ed25519 key whose 32-byte seed is ``seed`` repeated."""
    return Ed25519PrivateKey.from_private_bytes(bytes([seed]) * 32)


@dataclass(frozen=True)
class Member:
    """One organisation of the golden consortium with its single feed."""

    org: str
    name: str
    role: Role
    gln: str
    feed: str
    seed: int
    prefixes: tuple[str, ...] = ()

    def organisation(self) -> Organisation:
        return organisation(
            self.org,
            name=self.name,
            role=self.role,
            gln=self.gln,
            company_prefixes=self.prefixes,
            feeds={self.feed: raw_public(seed_key(self.seed))},
        )


MEMBERS: tuple[Member, ...] = (
    Member(
        "acme-pharma",
        "Acme Pharma",
        Role.MANUFACTURER,
        "9506000000008",
        MANUFACTURER,
        0x11,
        (COMPANY_PREFIX,),
    ),
    Member(
        "nordic-dist", "Nordic Distribution", Role.DISTRIBUTOR, "9506100000007", DISTRIBUTOR, 0x12
    ),
    Member("border-customs", "Border Customs", Role.CUSTOMS, "9506110000004", CUSTOMS, 0x13),
    Member("city-pharmacy", "City Pharmacy", Role.PHARMACY, "9506120000001", PHARMACY, 0x14),
    Member(
        "medicines-agency", "Medicines Agency", Role.REGULATOR, "9506130000008", REGULATOR, 0x15
    ),
)
MEMBER_BY_FEED: dict[str, Member] = {m.feed: m for m in MEMBERS}


def governance_keys() -> dict[str, Ed25519PrivateKey]:
    return {name: seed_key(seed) for name, seed in GOVERNANCE_SEEDS.items()}


def feed_keys() -> dict[str, Ed25519PrivateKey]:
    return {m.feed: seed_key(m.seed) for m in MEMBERS}


def genesis_membership() -> Membership:
    return genesis(
        CONSORTIUM,
        {name: raw_public(key) for name, key in governance_keys().items()},
        THRESHOLD,
        [m.organisation() for m in MEMBERS],
    )


def signed_genesis() -> SignedMembership:
    keys = governance_keys()
    return sign_membership(genesis_membership(), {name: keys[name] for name in GENESIS_SIGNERS})


def epcis_body(kind: Kind, status: Status, feed: str, **extra: Any) -> dict[str, Any]:
    """The CBV 2.0 shaped part of a body: bizStep, disposition and the GLN read point."""
    body: dict[str, Any] = {
        "disposition": DISPOSITION[status],
        "readPoint": {"id": f"https://id.gs1.org/414/{MEMBER_BY_FEED[feed].gln}"},
    }
    step = BIZ_STEP[kind]
    if step is not None:
        body["bizStep"] = step
    body.update(extra)
    return body


@dataclass
class Scenario:
    """The golden supply chain, one named step at a time."""

    version: int = 1
    writers: dict[str, FeedWriter] = field(default_factory=dict)
    steps: list[tuple[str, SignedEntry]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.writers = {
            feed: FeedWriter(feed, key, version=self.version) for feed, key in feed_keys().items()
        }

    def write(
        self,
        step: str,
        feed: str,
        kind: Kind,
        ts: str,
        *,
        subjects: tuple[str, ...],
        body: Mapping[str, Any],
        refs: tuple[SignedEntry, ...] = (),
    ) -> SignedEntry:
        sidecar = None
        if self.version >= 2:
            # Fixed salts (0x40, 0x41, … repeated) so that the vectors are reproducible; a node
            # draws them from the CSPRNG.
            salts = (bytes([0x40 + i]) * 16 for i in range(len(subjects) + 8))
            subjects, body, sidecar = commit(kind, subjects, body, salts=salts)
        entry = (
            self.writers[feed]
            .append(
                kind,
                subjects=subjects,
                refs=[r.id for r in refs],
                body=body,
                ts=ts,
                not_before=[r.payload.ts for r in refs],
            )
            .with_opening(sidecar)
        )
        if entry.payload.ts != ts:
            raise AssertionError(f"{step}: the writer moved ts {ts} to {entry.payload.ts}")
        self.steps.append((step, entry))
        return entry


def scenario(version: int = 1) -> list[tuple[str, SignedEntry]]:
    """Commission 3 packs, pack them into a case, ship, receive, inspect, ship, receive, dispense."""
    s = Scenario(version)
    m, d, c, p = MANUFACTURER, DISTRIBUTOR, CUSTOMS, PHARMACY
    s.write(
        "commission",
        m,
        Kind.COMMISSION,
        "2026-03-02T08:00:00.000Z",
        subjects=(LOT_URI,),
        body=epcis_body(
            Kind.COMMISSION,
            Status.ACTIVE,
            m,
            gtin=GTIN,
            ilmd={"lotNumber": LOT, "itemExpirationDate": EXPIRY},
            serials=list(SERIALS),
        ),
    )
    s.write(
        "pack",
        m,
        Kind.PACK,
        "2026-03-02T08:05:00.000Z",
        subjects=(CASE, *PACKS),
        body=epcis_body(Kind.PACK, Status.ACTIVE, m),
    )
    ship = s.write(
        "ship-to-distributor",
        m,
        Kind.SHIP,
        "2026-03-02T16:30:00.000Z",
        subjects=(CASE,),
        body=epcis_body(Kind.SHIP, Status.IN_TRANSIT, m, destination="nordic-dist"),
    )
    s.write(
        "receive-at-distributor",
        d,
        Kind.RECEIVE,
        "2026-03-03T09:10:00.000Z",
        subjects=(CASE,),
        refs=(ship,),
        body=epcis_body(Kind.RECEIVE, Status.ACTIVE, d),
    )
    s.write(
        "inspect-release",
        c,
        Kind.INSPECT,
        "2026-03-03T11:00:00.000Z",
        subjects=(CASE,),
        body=epcis_body(Kind.INSPECT, Status.ACTIVE, c, decision="release"),
    )
    ship = s.write(
        "ship-to-pharmacy",
        d,
        Kind.SHIP,
        "2026-03-04T07:45:00.000Z",
        subjects=(CASE,),
        body=epcis_body(Kind.SHIP, Status.IN_TRANSIT, d, destination="city-pharmacy"),
    )
    s.write(
        "receive-at-pharmacy",
        p,
        Kind.RECEIVE,
        "2026-03-04T11:20:00.000Z",
        subjects=(CASE,),
        refs=(ship,),
        body=epcis_body(Kind.RECEIVE, Status.ACTIVE, p),
    )
    s.write(
        "dispense",
        p,
        Kind.DISPENSE,
        "2026-03-05T15:42:00.000Z",
        subjects=(PACKS[0],),
        body=epcis_body(Kind.DISPENSE, Status.DISPENSED, p),
    )
    return s.steps


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _entry_vector(step: str, entry: SignedEntry) -> dict[str, Any]:
    vector: dict[str, Any] = {
        "step": step,
        "id": entry.id,
        "payload": entry.payload_bytes.decode("utf-8"),
        "signature": _b64(entry.signature),
    }
    if entry.opening is not None:
        vector["sidecar"] = entry.to_wire()["sidecar"]
    return vector


def build_vectors(version: int = 1) -> dict[str, Any]:
    signed = signed_genesis()
    return {
        "about": (
            "medtrace golden vectors: payloads are the exact canonical bytes (UTF-8 text), "
            "signatures are Ed25519 over 'medtrace/entry/v1\\u0000' + payload, base64. "
            "Keys: Ed25519 private key = seed byte repeated 32 times (public test material). "
            "Regenerate deliberately with: python -m tests.vectors.regenerate"
        ),
        "keys": {
            "governance": {
                name: {"seed_byte": seed, "public": _b64(raw_public(seed_key(seed)))}
                for name, seed in GOVERNANCE_SEEDS.items()
            },
            "feeds": {
                m.feed: {"seed_byte": m.seed, "public": _b64(raw_public(seed_key(m.seed)))}
                for m in MEMBERS
            },
        },
        "membership": {
            "id": signed.id,
            "document": signed.doc_bytes.decode("utf-8"),
            "wire": signed.to_wire(),
        },
        "entries": [_entry_vector(step, entry) for step, entry in scenario(version)],
    }


def render(vectors: Mapping[str, Any]) -> str:
    """The file text: stable key order as built, two-space indent, final newline."""
    return json.dumps(vectors, indent=2, ensure_ascii=False) + "\n"
