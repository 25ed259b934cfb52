"""Bearer tokens for the users, devices and peers of one node.

A token is ``mt_`` followed by 32 random bytes in URL-safe base64 (43 characters). It is shown
once, when it is created, and never stored: the node keeps the SHA-256 of it in the table
``tokens`` of its own database (node/store/tokens_table.py). A presented token is looked up by its hash, so checking it
compares no secret byte by byte (nothing to time), and a token of another node is simply
unknown here.

Each process remembers a token it found for ``CACHE_TTL_S`` (by its hash), so a verification
query does not cost a SELECT. Revoking through a ``Tokens`` forgets that process's cache at
once; in the other processes (the node's other worker processes, its other servers on other
hosts, or a node running while ``medtrace node token revoke`` changes its database) a revoked
token stops working within ``CACHE_TTL_S`` (0.5 s): the token's row is the version each
process re-reads (from the primary database, never a read replica; ADR 0021). Unknown tokens
are never cached: a new token works at once everywhere.

Roles (what the HTTP API lets a token do, see docs/spec/api.md):

* ``operator``: write the kinds the node's feed may write, and everything a reader may do;
* ``verifier``: pack, provenance and container queries and alerts (a pharmacist's scanner);
* ``peer``: the replication endpoints only (another node of the consortium);
* ``auditor``: read alerts, feeds, provenance; no writes.

A ``verifier`` token issued to another consortium's node may be **bound** to that consortium
(its genesis id, ``consortium``): a request with it then counts only when signed by the current
key of a feed of that consortium's membership (``api/foreign_auth.py``; ADR 0028, addendum).
"""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from ledger.timefmt import format_ts, now_ts
from node.store import Store

TOKEN_PREFIX = "mt_"  # noqa: S105 (the public prefix, not a secret)
_TOKEN = re.compile(r"\Amt_[A-Za-z0-9_-]{43}\Z")
_USER = re.compile(r"\A[A-Za-z0-9][A-Za-z0-9._@-]{0,63}\Z")
_GENESIS = re.compile(r"\A[0-9a-f]{64}\Z")
#: Seconds a process trusts what it read of a token (docs/spec/api.md: revocation).
CACHE_TTL_S = 0.5
#: Tokens remembered per process; past that the cache starts again empty.
_CACHE_MAX = 4096


class TokenRole(StrEnum):
    OPERATOR = "operator"
    VERIFIER = "verifier"
    PEER = "peer"
    AUDITOR = "auditor"


class TokenError(Exception):
    """A token cannot be created or changed as asked."""


@dataclass(frozen=True)
class TokenInfo:
    id: int
    user: str
    role: TokenRole
    created: str
    expires: str | None
    revoked: bool
    fingerprint: str  # the first 12 hex digits of the hash: to tell tokens apart, not a secret
    #: The foreign consortium (genesis id) the token is bound to; ``None``: not bound.
    consortium: str | None = None

    def active(self, now: str | None = None) -> bool:
        if self.revoked:
            return False
        return self.expires is None or (now or now_ts()) < self.expires

    def to_json(self) -> dict[str, object]:
        return {
            "id": self.id,
            "user": self.user,
            "role": self.role.value,
            "created": self.created,
            "expires": self.expires,
            "revoked": self.revoked,
            "active": self.active(),
            "fingerprint": self.fingerprint,
            "consortium": self.consortium,
        }


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def looks_like_token(value: str) -> bool:
    return _TOKEN.match(value) is not None


def parse_role(value: str) -> TokenRole:
    try:
        return TokenRole(value)
    except ValueError:
        raise TokenError(
            f"expected a role from {[r.value for r in TokenRole]}, found {value!r}"
        ) from None


def _info(row: Mapping[Any, Any]) -> TokenInfo:
    expires = row["expires"]
    return TokenInfo(
        id=int(row["id"]),
        user=str(row["user"]),
        role=TokenRole(row["role"]),
        created=str(row["created"]),
        expires=str(expires) if expires is not None else None,
        revoked=bool(row["revoked"]),
        fingerprint=str(row["hash"])[:12],
        consortium=str(row["consortium"]) if row.get("consortium") is not None else None,
    )


class Tokens:
    """The token table of one store (created on first use, idempotently)."""

    def __init__(
        self,
        store: Store,
        *,
        cache_ttl_s: float = CACHE_TTL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.table = store.token_table()
        self.cache_ttl_s = cache_ttl_s
        self.clock = clock
        self._cache: dict[str, tuple[TokenInfo, float]] = {}  # hash -> (record, when read)

    def create(
        self,
        user: str,
        role: TokenRole | str,
        expires: datetime | None = None,
        *,
        consortium: str | None = None,
    ) -> tuple[str, TokenInfo]:
        """A new token (returned here only, never stored in clear) and what is stored of it;
        ``consortium``: the genesis id of the foreign consortium a verifier token is bound to."""
        if not isinstance(user, str) or not _USER.match(user):
            raise TokenError(
                "expected a user name of 1 to 64 letters, digits and . _ @ - (starting with a "
                f"letter or digit), found {user!r}"
            )
        the_role = parse_role(role) if isinstance(role, str) else role
        if expires is not None and expires.tzinfo is None:
            raise TokenError("expected an aware expiry time, found a naive one")
        if consortium is not None:
            _check_binding(the_role, consortium)
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        digest, created = token_hash(token), now_ts()
        until = format_ts(expires) if expires is not None else None
        pk = self.table.add(
            user=user,
            role=the_role.value,
            digest=digest,
            created=created,
            expires=until,
            consortium=consortium,
        )
        info = TokenInfo(
            id=pk,
            user=user,
            role=the_role,
            created=created,
            expires=until,
            revoked=False,
            fingerprint=digest[:12],
            consortium=consortium,
        )
        return token, info

    def revoke(self, token_id: int | None = None, *, user: str | None = None) -> int:
        """Revoke one token by id, or every token of ``user``; the number revoked."""
        if (token_id is None) == (user is None):
            raise TokenError("expected either a token id or a user to revoke, not both or neither")
        revoked = self.table.revoke(token_id, user=user)
        self._cache.clear()
        return revoked

    def list(self) -> list[TokenInfo]:
        return [_info(row) for row in self.table.rows()]

    def authenticate(self, token: str) -> TokenInfo | None:
        """The token's record if it is known here, not revoked and not expired; else ``None``."""
        if not isinstance(token, str) or not looks_like_token(token):
            return None
        digest = token_hash(token)
        now = self.clock()
        cached = self._cache.get(digest)
        if cached is not None and now - cached[1] < self.cache_ttl_s:
            info = cached[0]
        else:
            row = self.table.by_hash(digest)
            if row is None:
                self._cache.pop(digest, None)
                return None
            info = _info(row)
            if len(self._cache) >= _CACHE_MAX:
                self._cache.clear()
            self._cache[digest] = (info, now)
        return info if info.active() else None


def _check_binding(role: TokenRole, consortium: str) -> None:
    if role is not TokenRole.VERIFIER:
        raise TokenError(
            "expected role verifier for a token bound to a foreign consortium (what its node "
            f"asks with), found role {role.value}"
        )
    if not _GENESIS.match(consortium):
        raise TokenError(
            f"expected a consortium's genesis id (64 lower-case hex digits), found {consortium[:80]!r}"
        )


# -- module-level shortcuts (each opens the table; an app keeps one ``Tokens``) ------------------


def create_token(
    store: Store, user: str, role: TokenRole | str, expires: datetime | None = None
) -> str:
    return Tokens(store).create(user, role, expires)[0]


def revoke_token(store: Store, token_id: int | None = None, *, user: str | None = None) -> int:
    return Tokens(store).revoke(token_id, user=user)


def list_tokens(store: Store) -> list[TokenInfo]:
    return Tokens(store).list()


def authenticate(store: Store, token: str) -> TokenInfo | None:
    return Tokens(store).authenticate(token)


def expiry_in_days(days: int, *, now: datetime | None = None) -> datetime:
    if days < 1:
        raise TokenError(f"expected a positive number of days, found {days}")
    return (now or datetime.now(UTC)) + timedelta(days=days)


__all__ = [
    "CACHE_TTL_S",
    "TokenError",
    "TokenInfo",
    "TokenRole",
    "Tokens",
    "authenticate",
    "create_token",
    "expiry_in_days",
    "list_tokens",
    "revoke_token",
    "token_hash",
]
