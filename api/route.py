"""What a route of the API is: its path, method, roles, guard, parameters, schemas and view.

The table of routes is ``api/routes.py``; the dispatcher (``api/dispatch.py``) and the OpenAPI
document (``api/openapi.py``) read these fields. ``Guard`` is the one rule of what a request
passes before its view: every authenticated route is guarded unless it says otherwise, and a
route a verifier may call can never say otherwise (issue 13: the EPCIS queries had been left
outside the rate limit and the serial-harvesting guard).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any, Literal

from flask import Response

from api.call import Call
from api.context import NodeContext
from api.validation import Schema
from ledger.kinds import Kind
from node.tokens import TokenRole

View = Callable[[NodeContext, Call], Response]


@dataclass(frozen=True)
class Param:
    name: str
    where: Literal["path", "query"]
    schema: Schema
    description: str
    default: Any = None


class Guard(Enum):
    """What a request passes before the route's view runs (``api/dispatch.py``)."""

    #: The token's query bucket (``verify_rate_per_minute``) and the serial-harvesting guard.
    QUERY = "query"
    #: The token's write bucket (``api.ratelimit.WRITE_RATE_PER_MINUTE``) and the guard.
    WRITE = "write"
    #: Nothing: a public route, or replication (a peer pages through every feed by design).
    OPEN = "open"


def default_guard(method: str, roles: frozenset[TokenRole] | None) -> Guard:
    """A route's guard when the table names none: a GET, or anything a verifier may call, is a
    query; any other authenticated route a write; a public route is open."""
    if roles is None:
        return Guard.OPEN
    if method == "GET" or TokenRole.VERIFIER in roles:
        return Guard.QUERY
    return Guard.WRITE


@dataclass(frozen=True)
class Route:
    path: str  # a Flask rule
    method: str
    endpoint: str  # the Flask endpoint and the OpenAPI operationId
    view: View
    summary: str
    tag: str
    roles: frozenset[TokenRole] | None  # None: no authentication
    request: Schema | None = None
    response: Schema | None = None
    status: int = 200
    params: tuple[Param, ...] = ()
    #: None: ``default_guard``. ``Guard.OPEN`` on a route a verifier may call is refused.
    guard: Guard | None = None
    #: A request from the node's own machine (loopback) needs no token (a local scraper).
    loopback_open: bool = False
    kind: Kind | None = None  # a write of this kind: refused early if the feed may not write it
    media_type: str = "application/json"
    description: str = ""
    #: Also accepted instead of the JSON ``request``: a multipart/form-data body with these
    #: fields (the view reads it; ``call.body`` is then ``None``).
    uploads: Schema | None = None
    #: Problem statuses this route answers beyond those derived from its other fields.
    problems: tuple[int, ...] = ()
    #: The pack ``(gtin, serial)`` the view reads, from the path's arguments (``None``: not a
    #: valid key): the dispatcher takes from the token's bucket and reads it at once, in one
    #: statement where the store can (``api/dispatch.py``, ``api.call.prefetched_pack``).
    reads_pack: Callable[[Mapping[str, str]], tuple[str, str] | None] | None = None

    def __post_init__(self) -> None:
        guard = self.guard or default_guard(self.method, self.roles)
        if self.roles is not None and TokenRole.VERIFIER in self.roles and guard is Guard.OPEN:
            raise ValueError(
                f"{self.method} {self.path}: expected a guard on a route a verifier may call "
                "(rate limit and serial-harvesting guard), found Guard.OPEN"
            )
        if self.roles is None and guard is not Guard.OPEN:
            raise ValueError(
                f"{self.method} {self.path}: expected Guard.OPEN on a route without a token "
                f"(the buckets are per token), found {guard.value}"
            )
        object.__setattr__(self, "guard", guard)

    @property
    def guarded(self) -> bool:
        """Rate limited per token and counted by the serial-harvesting guard."""
        return self.guard is not Guard.OPEN
