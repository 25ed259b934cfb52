"""Foreign roots: another consortium's genesis pinned by governance decision (issue 17, ADR 0028).

A foreign root says "the consortium whose genesis is ``genesis`` answers for the GTINs under
``prefixes``; its verification service is at ``endpoint``". It is a field of the membership
document (``foreign_roots``), so pinning one, changing one and removing one are membership
versions signed k of n like any governance change. The field is written only when non-empty:
documents without it keep their bytes and ids (the golden vectors do not change).

Routing is by GS1 company prefix and must be unambiguous: no prefix of a foreign root may
overlap (be equal to, or a prefix of) another foreign root's or one of the consortium's own
organisations' prefixes, and no genesis is pinned twice.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from ledger.errors import IdentifierError, MembershipError
from ledger.identifiers import check_company_prefix, gtin14

#: A genesis id as the CLI prints it: 64 lower-case hex digits.
_GENESIS = re.compile(r"\A[0-9a-f]{64}\Z")
#: ISO 3166-1 alpha-2, by shape: two ASCII capital letters.
_COUNTRY = re.compile(r"\A[A-Z]{2}\Z")
_FIELDS = {"country", "endpoint", "genesis", "name", "prefixes"}
MAX_NAME = 100


@dataclass(frozen=True, slots=True)
class ForeignRoot:
    """Another consortium this one trusts for the GTINs under ``prefixes``."""

    genesis: str
    name: str
    country: str
    prefixes: tuple[str, ...]
    endpoint: str | None = None

    def check(self) -> None:
        """Refuse a malformed root (``MembershipError`` naming the field)."""
        if not (isinstance(self.genesis, str) and _GENESIS.match(self.genesis)):
            raise MembershipError(
                f"foreign root: expected a genesis id of 64 lower-case hex digits, "
                f"found {self.genesis!r}"
            )
        what = f"foreign root {self.genesis[:16]}…"
        if not (isinstance(self.name, str) and 0 < len(self.name) <= MAX_NAME):
            raise MembershipError(f"{what}: expected a name of 1 to {MAX_NAME} characters")
        if not (isinstance(self.country, str) and _COUNTRY.match(self.country)):
            raise MembershipError(
                f"{what}: expected an ISO 3166-1 alpha-2 country code like 'DE', "
                f"found {self.country!r}"
            )
        if not self.prefixes:
            raise MembershipError(f"{what}: expected at least one GS1 company prefix")
        for prefix in self.prefixes:
            try:
                check_company_prefix(prefix)
            except IdentifierError as exc:
                raise MembershipError(f"{what}: {exc}") from None
        if list(self.prefixes) != sorted(set(self.prefixes)):
            raise MembershipError(f"{what}: expected sorted, distinct company prefixes")
        if self.endpoint is not None:
            parts = urlsplit(self.endpoint) if isinstance(self.endpoint, str) else None
            if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
                raise MembershipError(
                    f"{what}: expected an endpoint URL like https://host:port, "
                    f"found {self.endpoint!r}"
                )

    def answers_for(self, gtin: str) -> bool:
        """Whether ``gtin`` (any GTIN length) is under one of this root's prefixes."""
        body = gtin14(gtin)[1:]
        return any(body.startswith(prefix) for prefix in self.prefixes)

    def to_json(self) -> dict[str, Any]:
        return {
            "country": self.country,
            "endpoint": self.endpoint,
            "genesis": self.genesis,
            "name": self.name,
            "prefixes": list(self.prefixes),
        }


def foreign_root(
    genesis: str,
    name: str,
    country: str,
    prefixes: Iterable[str],
    endpoint: str | None = None,
) -> ForeignRoot:
    """A checked root; prefixes are sorted and made distinct, the country upper-cased."""
    root = ForeignRoot(
        genesis.strip().lower(),
        name,
        country.strip().upper(),
        tuple(sorted(set(prefixes))),
        endpoint.rstrip("/") if endpoint else None,
    )
    root.check()
    return root


def foreign_root_from_json(raw: Any) -> ForeignRoot:
    if not isinstance(raw, dict) or set(raw) != _FIELDS:
        raise MembershipError(
            f"foreign_roots: expected objects with {sorted(_FIELDS)}, found {str(raw)[:200]}"
        )
    prefixes = raw["prefixes"]
    if not (isinstance(prefixes, list) and all(isinstance(p, str) for p in prefixes)):
        raise MembershipError("foreign_roots: expected prefixes as a list of digit strings")
    root = ForeignRoot(
        raw["genesis"], raw["name"], raw["country"], tuple(prefixes), raw["endpoint"]
    )
    root.check()
    return root


def _overlap(a: str, b: str) -> bool:
    return a.startswith(b) or b.startswith(a)


def check_foreign_roots(
    roots: tuple[ForeignRoot, ...], own_prefixes: Mapping[str, Iterable[str]]
) -> None:
    """Refuse roots out of order (sorted by genesis), a genesis pinned twice, or prefixes that
    route ambiguously: overlapping another root's or an own organisation's (``own_prefixes``:
    organisation id -> its prefixes)."""
    if [r.genesis for r in roots] != sorted({r.genesis for r in roots}):
        raise MembershipError("foreign_roots: expected distinct geneses, sorted by genesis")
    seen: list[tuple[str, str]] = [
        (prefix, f"organisation {org}") for org, ps in own_prefixes.items() for prefix in ps
    ]
    for root in roots:
        root.check()
        for prefix in root.prefixes:
            for other, owner in seen:
                if _overlap(prefix, other):
                    raise MembershipError(
                        f"foreign root {root.name!r}: company prefix {prefix} overlaps {other} "
                        f"of {owner}: a GTIN must route to one ledger"
                    )
        seen.extend((p, f"foreign root {root.name!r}") for p in root.prefixes)


__all__ = [
    "ForeignRoot",
    "check_foreign_roots",
    "foreign_root",
    "foreign_root_from_json",
]
