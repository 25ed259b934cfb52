"""From the route table to Flask rules: each route's view authenticates the caller, passes the
route's guard (``Guard``: the token's bucket and the serial-harvesting guard, ``api/harvest.py``),
checks the parameters and the body against the route's schemas, refuses early a write of a kind
the feed may not write, and then calls the route's view with a ``Call``.

The guard is applied here, from the table, to every route that has one, so a view cannot forget
it; ``api/route.py`` refuses a route a verifier may call without one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from flask import Blueprint, Response, request

from api import epcis, harvest, web
from api.auth import from_loopback, require
from api.body import read_body
from api.call import Call, prefetch_pack
from api.context import NodeContext, node_context
from api.problems import Problem
from api.ratelimit import SharedRateLimiter, retry_after_header
from api.refusals import kind_not_allowed, refused
from api.route import Guard, Route
from api.validation import Invalid, check_body, parse_json, validate
from ledger.digits import ascii_int
from ledger.errors import LedgerError
from ledger.kinds import Kind
from node.tokens import TokenInfo


def _is_json(mimetype: str) -> bool:
    return mimetype == "application/json" or (
        mimetype.startswith("application/") and mimetype.endswith("+json")
    )


def _integer(name: str, raw: str) -> int:
    # ASCII digits only: int() also reads other scripts' digits, " 12" and "1_2"
    value = ascii_int(raw)
    if value is not None:
        return value
    raise Problem(
        "invalid-request",
        f"{name}: expected an integer (digits 0-9), found {raw!r}"[:300],
        extra={"parameter": name},
    )


def _params(route: Route, path_args: Mapping[str, str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for param in route.params:
        raw = path_args.get(param.name) if param.where == "path" else request.args.get(param.name)
        if raw is None:
            if param.default is not None:
                values[param.name] = param.default
            continue
        value: Any = raw
        if param.schema.get("type") == "integer":
            value = _integer(param.name, raw)
        try:
            validate(value, param.schema, param.name)
        except Invalid as exc:
            raise Problem(
                "invalid-request", f"{exc.message}"[:400], extra={"parameter": param.name}
            ) from None
        values[param.name] = value
    return values


def _body(route: Route) -> Any:
    if route.request is None:
        return None
    if route.uploads is not None and request.mimetype == "multipart/form-data":
        return None  # the view reads the form (and sets its own size limit)
    if not _is_json(request.mimetype):
        expected = "application/json" + (
            " or multipart/form-data" if route.uploads is not None else ""
        )
        raise Problem(
            "unsupported-media-type",
            f"expected Content-Type: {expected}, found {request.mimetype or 'none'!r}",
        )
    value = parse_json(read_body())
    check_body(value, route.request)
    return value


def _take(ctx: NodeContext, route: Route, token: TokenInfo, path_args: Mapping[str, str]) -> None:
    """One request from the token's bucket for the route's guard: 429 when it is empty. A route
    that reads one pack (``Route.reads_pack``) has it read with the take, for its view."""
    write = route.guard is Guard.WRITE
    limiter = ctx.write_limiter if write else ctx.limiter
    key = f"token:{token.id}"
    pack = route.reads_pack(path_args) if route.reads_pack is not None else None
    if pack is not None and isinstance(limiter, SharedRateLimiter):
        wait, reading = limiter.take_reading(key, ctx.store, *pack)
        if wait <= 0:
            prefetch_pack(*pack, reading)
    else:
        wait = limiter.take(key)
    if wait > 0:
        ctx.metrics.rate_limited(route.path)
        seconds = retry_after_header(wait)
        what = "writes" if write else "queries"
        raise Problem(
            "rate-limited",
            f"expected at most {limiter.per_minute} {what} per minute for this token; retry in "
            f"{seconds} s",
            extra={"retry_after": int(seconds)},
            headers={"Retry-After": seconds},
        )


def _may_write(ctx: NodeContext, kind: Kind) -> None:
    if not ctx.membership.may_write(ctx.feed, kind):
        raise kind_not_allowed(ctx, kind)


def _token(ctx: NodeContext, route: Route) -> TokenInfo | None:
    if route.roles is None:
        return None
    if route.loopback_open and "Authorization" not in request.headers and from_loopback():
        return None
    return require(ctx, route.roles)


def _answer(
    ctx: NodeContext, route: Route, path_args: Mapping[str, str], token: TokenInfo | None
) -> Response:
    """The route's view, its ledger refusals as the caller may see them (``api/refusals.py``)."""
    args = _params(route, path_args)
    if route.roles is not None:
        ctx.refresh_membership()
    if route.kind is not None:
        _may_write(ctx, route.kind)
    try:
        return route.view(ctx, Call(args, _body(route), token))
    except LedgerError as exc:
        raise refused(ctx, exc) from None


def _dispatch(route: Route) -> Callable[..., Response]:
    def view(**path_args: str) -> Response:
        ctx = node_context()
        token = _token(ctx, route)
        if token is None or not route.guarded:
            return _answer(ctx, route, path_args, token)
        _take(ctx, route, token, path_args)
        harvest.check(ctx, route.path, token)
        try:
            response = _answer(ctx, route, path_args, token)
        except Problem as problem:
            harvest.after(ctx, token, problem)
            raise
        harvest.after(ctx, token, None)
        return response

    view.__name__ = route.endpoint
    return view


def blueprint(routes: Iterable[Route]) -> Blueprint:
    """The API's rules, and (nested, outside the OpenAPI document) the web pages."""
    bp = Blueprint("api", __name__)
    bp.register_blueprint(web.blueprint())
    bp.register_blueprint(epcis.blueprint())  # OPTIONS /epcis/…: advertised limits only
    for route in routes:
        bp.add_url_rule(
            route.path,
            endpoint=route.endpoint,
            view_func=_dispatch(route),
            methods=[route.method],
            provide_automatic_options=False,
        )
    return bp
