"""A peer node over HTTP: the client side of the replication API.

Nothing a peer answers is trusted. This class only makes sure an answer is an answer to the
question asked, and small enough to hold:

* bodies are read as a stream and refused past ``MAX_BODY`` (32 MiB) or past a total deadline;
  compressed bodies are refused (asked for with ``Accept-Encoding: identity``), so a small
  compressed bomb cannot expand in memory before the count stops it;
* JSON must be plain (no NaN, no duplicate keys) and of the documented shape;
* a page holds at most the entries asked for, all of the feed asked for, from the position
  asked for, without gaps; every entry's claimed id must match its bytes.

Anything else raises ``PeerError``: the replicator logs it and goes on with the other peers.
Signatures, chain links and membership are the store's business (``Store.ingest``).

Over ``https://`` a peer is reached with an ``ssl.SSLContext`` (``keys.tls.client_context``)
that trusts the consortium CA only and presents this node's certificate (ADR 0011): the one
given, else the one the node set for its process with ``use_client_tls``.
"""

from __future__ import annotations

import json
import re
import ssl
import time
from typing import Any, TypeGuard

import requests

from ledger.entry import ENTRY_ID, FEED_ID, SignedEntry
from ledger.errors import LedgerError
from ledger.membership import SignedMembership
from ledger.strictjson import refuse_constant, unique_members
from node.https import tls_session
from node.replication import PAGE, PeerError
from node.store import FeedHead

MAX_BODY = 32 * 1024 * 1024
#: Feeds and membership versions one answer may list.
MAX_FEEDS = 100_000
MAX_VERSIONS = 10_000
_MAX_INT = 2**53 - 1
_CHUNK = 64 * 1024

__all__ = ["MAX_BODY", "HttpPeer", "PeerError", "use_client_tls"]

#: The TLS client context of this process's node (one node per process: its identity).
_client_tls: ssl.SSLContext | None = None


def use_client_tls(context: ssl.SSLContext | None) -> None:
    """Make ``context`` the default of every ``HttpPeer`` built after this in this process."""
    global _client_tls  # noqa: PLW0603 (a node process has exactly one TLS identity)
    _client_tls = context


def _count(value: Any) -> TypeGuard[int]:
    """A non-negative JSON integer (``True`` is not one)."""
    return type(value) is int and 0 <= value <= _MAX_INT


class HttpPeer:
    """The replication API of another node, with a bearer token that node issued to us."""

    def __init__(
        self,
        name: str,
        url: str,
        token: str,
        *,
        timeout: float = 10,
        session: requests.Session | None = None,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.name = name
        self.url = url.rstrip("/")
        self.timeout = timeout
        self._token = token
        self._owns_session = session is None
        if session is None:
            context = tls if tls is not None else _client_tls
            session = requests.Session() if context is None else tls_session(context)
        self._session = session
        #: from the last answers: the peer's digest over its heads, and its pinned genesis
        self.digest: str | None = None
        self.node: str | None = None
        self.genesis: str | None = None

    def __repr__(self) -> str:
        return f"HttpPeer({self.name!r}, {self.url!r})"  # never the token

    def close(self) -> None:
        if self._owns_session:
            self._session.close()

    def __enter__(self) -> HttpPeer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the protocol --------------------------------------------------------------------------
    def heads(self) -> dict[str, FeedHead]:
        """``GET /api/v1/feeds``: every feed the peer holds, ``{feed: FeedHead}``."""
        obj = self._json("GET", "/api/v1/feeds")
        feeds = self._field(obj, "feeds", dict, "the feeds answer")
        if len(feeds) > MAX_FEEDS:
            raise self._error(f"expected at most {MAX_FEEDS} feeds, found {len(feeds)}")
        heads: dict[str, FeedHead] = {}
        for feed, info in feeds.items():
            if not FEED_ID.match(feed):
                raise self._error(f"expected feed ids like 'acme/line-1', found {feed[:80]!r}")
            if not isinstance(info, dict):
                raise self._error(f"feed {feed}: expected an object, found {_kind(info)}")
            size, head, frozen = info.get("size"), info.get("head"), info.get("frozen_at")
            if not _count(size):
                raise self._error(f"feed {feed}: expected a count 'size', found {size!r:.80}")
            if head is not None and not (isinstance(head, str) and ENTRY_ID.match(head)):
                raise self._error(f"feed {feed}: expected a 64-hex 'head', found {head!r:.80}")
            if (head is None) != (size == 0):
                raise self._error(
                    f"feed {feed}: expected a head exactly when size > 0, found size {size} "
                    f"and head {head!r}"
                )
            if frozen is not None and not (_count(frozen) and frozen < max(size, 1)):
                raise self._error(
                    f"feed {feed}: expected 'frozen_at' null or a position below the size, "
                    f"found {frozen!r:.80}"
                )
            heads[feed] = FeedHead(feed, size, head, frozen)
        digest, node = obj.get("digest"), obj.get("node")
        self.digest = digest if isinstance(digest, str) else None
        self.node = node if isinstance(node, str) else None
        return heads

    def entries(self, feed: str, from_seq: int, limit: int = PAGE) -> list[SignedEntry]:
        """``GET /api/v1/feeds/<org>/<site>/entries?from=N&limit=L``: at most ``limit`` entries
        of ``feed``, the first at ``from_seq``, without gaps."""
        if not FEED_ID.match(feed):
            raise ValueError(f"expected a feed id like 'acme/line-1', found {feed!r}")
        if not (_count(from_seq) and type(limit) is int and limit >= 1):
            raise ValueError(f"expected from_seq ≥ 0 and limit ≥ 1, found {from_seq}, {limit}")
        limit = min(limit, PAGE)
        obj = self._json(
            "GET", f"/api/v1/feeds/{feed}/entries", params={"from": from_seq, "limit": limit}
        )
        if obj.get("feed") != feed:
            raise self._error(f"expected entries of feed {feed}, found {obj.get('feed')!r:.80}")
        items = self._field(obj, "entries", list, "the entries answer")
        if len(items) > limit:
            raise self._error(
                f"feed {feed}: expected at most {limit} entries, found {len(items)} (oversized page)"
            )
        page: list[SignedEntry] = []
        for offset, wire in enumerate(items):
            seq = from_seq + offset
            if not isinstance(wire, dict) or not isinstance(wire.get("id"), str):
                raise self._error(f"feed {feed} #{seq}: expected an entry with an id")
            try:
                entry = SignedEntry.from_wire(wire)
            except LedgerError as exc:
                raise self._error(f"feed {feed} #{seq}: malformed entry: {exc}") from None
            p = entry.payload
            if p.feed != feed or p.seq != seq:
                raise self._error(
                    f"expected {feed} #{seq} at position {offset} of the page, found "
                    f"{p.feed} #{p.seq}"
                )
            page.append(entry)
        return page

    def memberships(self) -> list[SignedMembership]:
        """``GET /api/v1/membership``: the signed membership versions the peer holds, in order
        (not yet verified: ``MembershipChain.extend`` does that from our pinned genesis)."""
        obj = self._json("GET", "/api/v1/membership")
        genesis = obj.get("genesis")
        if not (isinstance(genesis, str) and ENTRY_ID.match(genesis)):
            raise self._error(f"expected a 64-hex 'genesis', found {genesis!r:.80}")
        items = self._field(obj, "versions", list, "the membership answer")
        if len(items) > MAX_VERSIONS:
            raise self._error(f"expected at most {MAX_VERSIONS} versions, found {len(items)}")
        versions: list[SignedMembership] = []
        for index, wire in enumerate(items, 1):
            if not isinstance(wire, dict):
                raise self._error(f"membership version {index}: expected an object")
            try:
                signed = SignedMembership.from_wire(wire)
            except (LedgerError, ValueError, TypeError, KeyError, AttributeError) as exc:
                raise self._error(f"membership version {index}: malformed: {exc}") from None
            if signed.membership.version != index:
                raise self._error(
                    f"expected membership versions 1, 2, … in order, found "
                    f"v{signed.membership.version} at position {index}"
                )
            versions.append(signed)
        if versions and versions[0].id != genesis:
            raise self._error(
                f"expected version 1 to be the genesis it names ({genesis}), found {versions[0].id}"
            )
        self.genesis = genesis
        return versions

    def hint(self, self_name: str) -> None:
        """``POST /api/v1/replication/hint``: tell the peer we have news, so it pulls soon."""
        self._request("POST", "/api/v1/replication/hint", body={"peer": self_name})

    # -- transport -----------------------------------------------------------------------------
    def _error(self, message: str) -> PeerError:
        return PeerError(f"peer {self.name} ({self.url}): {message}")

    def _field(self, obj: dict[str, Any], key: str, kind: type, what: str) -> Any:
        value = obj.get(key)
        if not isinstance(value, kind):
            raise self._error(
                f"{what}: expected {key!r} to be a JSON {'object' if kind is dict else 'array'}, "
                f"found {_kind(value)}"
            )
        return value

    def _json(
        self, method: str, path: str, *, params: dict[str, int] | None = None
    ) -> dict[str, Any]:
        body = self._request(method, path, params=params)
        try:
            obj = json.loads(
                body.decode("utf-8"),
                parse_constant=refuse_constant,
                object_pairs_hook=unique_members,
            )
        except (ValueError, RecursionError) as exc:
            raise self._error(f"{method} {path}: expected JSON, found an error: {exc}") from None
        if not isinstance(obj, dict):
            raise self._error(f"{method} {path}: expected a JSON object, found {_kind(obj)}")
        return obj

    def _request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, int] | None = None,
        body: dict[str, Any] | None = None,
    ) -> bytes:
        deadline = time.monotonic() + max(6 * self.timeout, 1.0)
        headers = {
            "Authorization": f"Bearer {self._token}",
            "Accept": "application/json",
            "Accept-Encoding": "identity",
        }
        try:
            with self._session.request(
                method,
                self.url + path,
                params=params,
                json=body,
                headers=headers,
                timeout=self.timeout,
                stream=True,
                allow_redirects=False,  # a redirect would carry our token elsewhere
            ) as response:
                data = self._read(response, method, path, deadline)
                status = response.status_code
        except requests.RequestException as exc:
            raise self._error(f"{method} {path}: {type(exc).__name__}: {exc}") from None
        if not 200 <= status < 300:
            raise self._error(f"{method} {path}: HTTP {status}: {_excerpt(data)}")
        return data

    def _read(self, response: requests.Response, method: str, path: str, deadline: float) -> bytes:
        encoding = response.headers.get("Content-Encoding", "identity").strip().lower()
        if encoding not in ("", "identity"):
            # Refused rather than decoded: a small compressed body can expand a thousandfold
            # in one read before any count could stop it.
            raise self._error(
                f"{method} {path}: expected an uncompressed body, found Content-Encoding "
                f"{encoding[:40]!r}"
            )
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > MAX_BODY:
            raise self._error(
                f"{method} {path}: expected a body of at most {MAX_BODY} bytes, found "
                f"Content-Length {declared}"
            )
        chunks: list[bytes] = []
        total = 0
        for chunk in response.iter_content(_CHUNK):
            total += len(chunk)
            if total > MAX_BODY:
                raise self._error(
                    f"{method} {path}: expected a body of at most {MAX_BODY} bytes, found more"
                )
            if time.monotonic() > deadline:
                raise self._error(f"{method} {path}: the answer took too long to arrive")
            chunks.append(chunk)
        return b"".join(chunks)


def _kind(value: Any) -> str:
    return {dict: "an object", list: "an array", str: "a string", type(None): "null"}.get(
        type(value), type(value).__name__
    )


def _excerpt(data: bytes) -> str:
    """What an error answer says (an RFC 9457 problem's title and detail, or its first bytes)."""
    try:
        obj = json.loads(data[:4096].decode("utf-8"))
    except (ValueError, RecursionError):
        obj = None
    if isinstance(obj, dict) and any(isinstance(obj.get(k), str) for k in ("title", "detail")):
        return " — ".join(str(obj[k]) for k in ("title", "detail") if isinstance(obj.get(k), str))
    text = data[:200].decode("utf-8", "replace")
    return re.sub(r"\s+", " ", text).strip() or "(no body)"
