"""A small consortium held in memory, with fixed keys, for the benchmarks.

A manufacturer (``acme/line1``) commissions and ships, a pharmacy (``ph/a``) receives and
dispenses. Keys come from fixed seeds and timestamps from a fixed clock, so every run signs the
same kind of entries; nothing here depends on the test suite.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger import membership as ms
from ledger.kinds import Role
from ledger.timefmt import format_ts

GTIN = "09506000134352"
LOT = "L1"
EXPIRY = "2030-12-31"
MANUFACTURER_FEED = "acme/line1"
PHARMACY_ORG = "ph"
PHARMACY_FEED = "ph/a"

_SEEDS = {"gov-1": 1, MANUFACTURER_FEED: 11, PHARMACY_FEED: 14}


def key(seed: int) -> Ed25519PrivateKey:
    """A fixed Ed25519 key: the same 32 seed bytes every run."""
    return Ed25519PrivateKey.from_private_bytes(bytes([seed]) * 32)


def feed_key(feed: str) -> Ed25519PrivateKey:
    return key(_SEEDS[feed])


def membership() -> ms.Membership:
    """Genesis membership of the benchmark consortium."""
    organisations = [
        ms.organisation(
            "acme",
            name="Acme Pharma",
            role=Role.MANUFACTURER,
            gln="9506000000015",
            company_prefixes=["9506000"],
            feeds={MANUFACTURER_FEED: ms.raw_public(feed_key(MANUFACTURER_FEED))},
        ),
        ms.organisation(
            PHARMACY_ORG,
            name="Pharmacy",
            role=Role.PHARMACY,
            gln="9506000000022",
            feeds={PHARMACY_FEED: ms.raw_public(feed_key(PHARMACY_FEED))},
        ),
    ]
    return ms.genesis("bench", {"gov-1": ms.raw_public(key(_SEEDS["gov-1"]))}, 1, organisations)


class Clock:
    """Strictly increasing fixed timestamps, one millisecond apart."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2026, 1, 5, 8, 0, tzinfo=UTC)

    def __call__(self) -> str:
        self._now += timedelta(milliseconds=1)
        return format_ts(self._now)
