"""A peer node over HTTP: the client side of the replication API.

Nothing a peer answers is trusted. This class only makes sure an answer is an answer to the
question asked, and small enough to hold:

* each request runs within a wall-clock deadline a trickling peer cannot stretch
  (``node.replication.deadline``: 10 s to connect and for each read, 60 s for the whole answer);
* bodies are read as a stream, one socket read at a time, and refused past ``protocol.MAX_BODY``
  (32 MiB); compressed bodies are refused (asked for with ``Accept-Encoding: identity``), so a
  small compressed bomb cannot expand in memory before the count stops it;
* JSON must be plain (no NaN, no duplicate keys) and of the documented shape;
* a page holds at most the entries asked for, all of the feed asked for, from the position
  asked for, without gaps; every entry's claimed id must match its bytes;
* fork evidence is two entries of a feed the peer says is frozen, at one position before its
  size, with different ids (their signatures are the store's business, as for any entry).

Anything else raises ``PeerError``: the replicator logs it and goes on with the other peers.
Signatures, chain links and membership are the store's business (``Store.ingest``).

Over ``https://`` a peer is reached with an ``ssl.SSLContext`` (``keys.tls.client_context``)
that trusts the consortium CA only (ADR 0011): the one given, else the one the node set for its
process with ``use_client_tls``. Every request is signed with this node's feed key (RFC 9421,
``node.replication.signed_requests``, ADR 0015), which is how the peer knows which organisation
asks: the signer given, else the one the node set with ``use_request_signer``.
"""

from __future__ import annotations

import json
import re
import ssl
from typing import Any, TypeGuard

import requests
import urllib3

from ledger.digits import ascii_int
from ledger.entry import ENTRY_ID, FEED_ID, SignedEntry
from ledger.errors import LedgerError
from ledger.membership import SignedMembership
from ledger.strictjson import refuse_constant, unique_members
from node.https import tls_session
from node.replication.deadline import (
    READ_TIMEOUT_S,
    REQUEST_DEADLINE_S,
    Aborted,
    DeadlineExceeded,
    Deadlines,
    Exchange,
    PeerBusy,
)
from node.replication.protocol import (
    AUTHORIZATION,
    BEARER,
    FEEDS_PATH,
    FROM_PARAM,
    HINT_PATH,
    LIMIT_PARAM,
    MAX_BODY,
    MAX_FEEDS,
    MAX_FORKS,
    MAX_JSON_INT,
    MAX_VERSIONS,
    MEMBERSHIP_PATH,
    PAGE_MAX,
    entries_path,
)
from node.replication.pull import PeerError
from node.replication.signed_requests import RequestSigner
from node.store import FeedHead

_CHUNK = 64 * 1024

__all__ = ["HttpPeer", "PeerError", "use_client_tls", "use_request_signer"]

#: The TLS client context of this process's node (one node per process: its identity).
_client_tls: ssl.SSLContext | None = None


def use_client_tls(context: ssl.SSLContext | None) -> None:
    """Make ``context`` the default of every ``HttpPeer`` built after this in this process."""
    global _client_tls  # noqa: PLW0603 (a node process has exactly one TLS identity)
    _client_tls = context


#: What signs this process's requests to its peers: its node's feed and key.
_request_signer: RequestSigner | None = None


def use_request_signer(signer: RequestSigner | None) -> None:
    """Make ``signer`` the default of every ``HttpPeer`` built after this in this process."""
    global _request_signer  # noqa: PLW0603 (a node process has exactly one feed key)
    _request_signer = signer


def _count(value: Any) -> TypeGuard[int]:
    """A non-negative JSON integer (``True`` is not one)."""
    return type(value) is int and 0 <= value <= MAX_JSON_INT


_ERRNO = re.compile(r"\[Errno -?[0-9]+\] ([^'\")\]]+)")


def transport_failure(exc: BaseException) -> str:
    """A failed request in words (requests' own text nests reprs and class names)."""
    if isinstance(exc, requests.Timeout | TimeoutError):
        return "no answer within the timeout"
    if isinstance(exc, requests.exceptions.SSLError | ssl.SSLError):
        return "the TLS handshake failed (is the consortium's CA the one this peer serves?)"
    found = _ERRNO.search(str(exc))
    if found is not None:
        return f"the connection failed: {found.group(1).strip()}"
    if isinstance(exc, OSError) and exc.strerror:
        return f"the connection failed: {exc.strerror}"
    return "the connection failed"


class HttpPeer:
    """The replication API of another node, with a bearer token that node issued to us."""

    def __init__(
        self,
        name: str,
        url: str,
        token: str,
        *,
        timeout: float = READ_TIMEOUT_S,
        deadline: float = REQUEST_DEADLINE_S,
        session: requests.Session | None = None,
        tls: ssl.SSLContext | None = None,
        signer: RequestSigner | None = None,
    ) -> None:
        self.name = name
        self.url = url.rstrip("/")
        self.timeout = timeout  # to connect, and for each read from the socket
        self.deadline = deadline  # for a whole request
        self._deadlines = Deadlines(name)
        self._token = token
        self._owns_session = session is None
        if session is None:
            context = tls if tls is not None else _client_tls
            session = requests.Session() if context is None else tls_session(context)
            # requests calls the session's auth on every request, once its URL and headers
            # are final; a session the caller gives is used as it is.
            session.auth = signer if signer is not None else _request_signer
        self._session = session
        #: from the last answers: the peer's digest over its heads, and its pinned genesis
        self.digest: str | None = None
        self.node: str | None = None
        self.genesis: str | None = None
        #: the fork evidence of the last heads answer: pairs of entries at one position
        self.forks: list[tuple[SignedEntry, SignedEntry]] = []

    def __repr__(self) -> str:
        return f"HttpPeer({self.name!r}, {self.url!r})"  # never the token

    def close(self) -> None:
        """Stop waiting for a request in progress (it fails at once), close the connections."""
        self._deadlines.abort()
        if self._owns_session:
            self._session.close()

    def __enter__(self) -> HttpPeer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the protocol --------------------------------------------------------------------------
    def heads(self) -> dict[str, FeedHead]:
        """``GET /api/v1/feeds``: every feed the peer holds, ``{feed: FeedHead}``."""
        obj = self._json("GET", FEEDS_PATH)
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
        self.forks = self._fork_evidence(obj.get("forks", []), heads)
        digest, node = obj.get("digest"), obj.get("node")
        self.digest = digest if isinstance(digest, str) else None
        self.node = node if isinstance(node, str) else None
        return heads

    def fork_evidence(self) -> list[tuple[SignedEntry, SignedEntry]]:
        """The forks the peer holds, as its last heads answer (``heads``) carried them."""
        return list(self.forks)

    def _fork_evidence(
        self, items: Any, heads: dict[str, FeedHead]
    ) -> list[tuple[SignedEntry, SignedEntry]]:
        """``"forks": [[wire, wire], …]``: two entries at one position of a feed it says is
        frozen there or before, below its size, with different ids."""
        if not isinstance(items, list) or len(items) > MAX_FORKS:
            raise self._error(
                f"expected 'forks' to be an array of at most {MAX_FORKS} pairs, found "
                f"{_kind(items) if not isinstance(items, list) else f'{len(items)} pairs'}"
            )
        pairs: list[tuple[SignedEntry, SignedEntry]] = []
        for index, item in enumerate(items):
            if not (
                isinstance(item, list) and len(item) == 2 and all(isinstance(w, dict) for w in item)
            ):
                raise self._error(f"fork {index}: expected a pair of entries, found {_kind(item)}")
            try:
                first, second = (SignedEntry.from_wire(wire) for wire in item)
            except LedgerError as exc:
                raise self._error(f"fork {index}: malformed entry: {exc}") from None
            a, b = first.payload, second.payload
            held = heads.get(a.feed)
            if (
                (a.feed, a.seq) != (b.feed, b.seq)
                or first.id == second.id
                or held is None
                or held.frozen_at is None
                or not held.frozen_at <= a.seq < held.size
            ):
                raise self._error(
                    f"fork {index}: expected two different entries at one position of a frozen "
                    f"feed, below its size, found {a.feed} #{a.seq} and {b.feed} #{b.seq}"
                )
            pairs.append((first, second))
        return pairs

    def entries(self, feed: str, from_seq: int, limit: int = PAGE_MAX) -> list[SignedEntry]:
        """``GET /api/v1/feeds/<org>/<site>/entries?from=N&limit=L``: at most ``limit`` entries
        of ``feed``, the first at ``from_seq``, without gaps."""
        if not FEED_ID.match(feed):
            raise ValueError(f"expected a feed id like 'acme/line-1', found {feed!r}")
        if not (_count(from_seq) and type(limit) is int and limit >= 1):
            raise ValueError(f"expected from_seq ≥ 0 and limit ≥ 1, found {from_seq}, {limit}")
        limit = min(limit, PAGE_MAX)
        obj = self._json(
            "GET", entries_path(feed), params={FROM_PARAM: from_seq, LIMIT_PARAM: limit}
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
                entry = SignedEntry.from_wire(wire, check_opening=False)
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
        obj = self._json("GET", MEMBERSHIP_PATH)
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
        self._request("POST", HINT_PATH, body={"peer": self_name})

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
        headers = {
            AUTHORIZATION: f"{BEARER} {self._token}",
            "Accept": "application/json",
            "Accept-Encoding": "identity",
        }

        def exchange(call: Exchange) -> tuple[int, bytes]:
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
                return response.status_code, self._read(response, method, path, call)

        try:
            status, data = self._deadlines.run(exchange, self.deadline)
        except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
            raise self._error(f"{method} {path}: {transport_failure(exc)}") from None
        except DeadlineExceeded:
            raise self._error(
                f"{method} {path}: expected the whole answer within {self.deadline:g} s, found "
                "it still arriving: given up"
            ) from None
        except PeerBusy:
            raise self._error(
                f"{method} {path}: not sent: the request before it was given up at its "
                "deadline and is still being answered"
            ) from None
        except Aborted:
            raise self._error(f"{method} {path}: given up: this node is stopping") from None
        if not 200 <= status < 300:
            raise self._error(f"{method} {path}: HTTP {status}: {_excerpt(data)}")
        return data

    def _read(self, response: requests.Response, method: str, path: str, call: Exchange) -> bytes:
        encoding = response.headers.get("Content-Encoding", "identity").strip().lower()
        if encoding not in ("", "identity"):
            # Refused rather than decoded: a small compressed body can expand a thousandfold
            # in one read before any count could stop it.
            raise self._error(
                f"{method} {path}: expected an uncompressed body, found Content-Encoding "
                f"{encoding[:40]!r}"
            )
        declared = response.headers.get("Content-Length", "")
        length = ascii_int(declared) if declared else None
        if declared and length is None:
            raise self._error(
                f"{method} {path}: expected a Content-Length of ASCII digits, found {declared[:40]!r}"
            )
        if length is not None and length > MAX_BODY:
            raise self._error(
                f"{method} {path}: expected a body of at most {MAX_BODY} bytes, found "
                f"Content-Length {declared}"
            )
        chunks: list[bytes] = []
        total = 0
        # One socket read at a time (``read1``), not "until 64 KiB arrived": a peer trickling
        # bytes would otherwise hold each read open as long as it likes.
        while chunk := response.raw.read1(_CHUNK, decode_content=False):
            if call.given_up.is_set():  # the caller left at the deadline: drop the connection
                raise self._error(f"{method} {path}: given up at the deadline")
            total += len(chunk)
            if total > MAX_BODY:
                raise self._error(
                    f"{method} {path}: expected a body of at most {MAX_BODY} bytes, found more"
                )
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
