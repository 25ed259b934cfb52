"""What both ends of replication agree on: endpoint paths, query parameters, page sizes, limits.

The client (``node.replication.http_peer``), the server's route table and views (``api/routes.py``,
``api/peer_endpoints.py``) and the signature check (``api/peer_auth.py``) all take them from
here, so one edit cannot make a node ask for what its peers no longer serve. The answers' shapes
are in ``docs/spec/replication.md``.
"""

from __future__ import annotations

#: The version prefix every replication path starts with.
API_PREFIX = "/api/v1"

#: ``GET``: every feed held, with size, head and fork point, the digest over all heads, and the
#: evidence of every fork held (both signed entries), for the caller to verify and record.
FEEDS_PATH = f"{API_PREFIX}/feeds"
#: ``GET``: a page of one feed's entries (the Flask rule; a client builds it with ``entries_path``).
ENTRIES_RULE = f"{FEEDS_PATH}/<org>/<site>/entries"
#: ``GET``: the pinned genesis id and every signed membership version held.
MEMBERSHIP_PATH = f"{API_PREFIX}/membership"
#: ``POST {"peer": name}``: the caller appended; pull from it soon.
HINT_PATH = f"{API_PREFIX}/replication/hint"
#: ``POST`` (operator): pull from every peer now and report what was added.
SYNC_PATH = f"{API_PREFIX}/replication/sync"

#: Path prefixes of the routes a token of role ``peer`` is accepted on (``api/auth.py``:
#: REPLICATORS, HINTERS): there a TLS node also wants its organisation's signature.
PEER_TOKEN_PATHS = (FEEDS_PATH, MEMBERSHIP_PATH, f"{API_PREFIX}/replication/")

#: The query parameters of the entries page: first sequence number, entries at most.
FROM_PARAM = "from"
LIMIT_PARAM = "limit"

#: Entries one page holds at most: the server refuses a larger ``limit``, the client asks for
#: this many and refuses a longer page.
PAGE_MAX = 1_000
#: Entries a page holds when the request names no ``limit``.
PAGE_DEFAULT = 500

#: The largest integer (sequence number, size) both ends exchange exactly: JSON numbers are
#: IEEE doubles in many readers.
MAX_JSON_INT = 2**53 - 1
#: Bytes one answer may take, uncompressed: a client stops reading past it.
MAX_BODY = 32 * 1024 * 1024
#: Feeds one heads answer may list, and membership versions one membership answer may list.
MAX_FEEDS = 100_000
MAX_VERSIONS = 10_000
#: Forks (pairs of entries) one heads answer may carry as evidence.
MAX_FORKS = 10_000

#: The header and scheme a peer's token travels in (``Authorization: Bearer <token>``).
AUTHORIZATION = "Authorization"
BEARER = "Bearer"


def entries_path(feed: str) -> str:
    """The path of ``feed``'s entries page: ``acme/line-1`` -> ``…/feeds/acme/line-1/entries``."""
    return f"{FEEDS_PATH}/{feed}/entries"


__all__ = [
    "API_PREFIX",
    "AUTHORIZATION",
    "BEARER",
    "ENTRIES_RULE",
    "FEEDS_PATH",
    "FROM_PARAM",
    "HINT_PATH",
    "LIMIT_PARAM",
    "MAX_BODY",
    "MAX_FEEDS",
    "MAX_FORKS",
    "MAX_JSON_INT",
    "MAX_VERSIONS",
    "MEMBERSHIP_PATH",
    "PAGE_DEFAULT",
    "PAGE_MAX",
    "PEER_TOKEN_PATHS",
    "SYNC_PATH",
    "entries_path",
]
