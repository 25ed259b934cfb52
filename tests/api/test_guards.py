"""The guard is structural (issue 13, findings 1 and 5): every route a verifier may call, and
every write, passes the token's bucket and the serial-harvesting guard in the dispatcher; the
route table cannot even be built with a verifier route left open."""

from __future__ import annotations

import pytest

from api import ops
from api.route import Guard, Route
from api.routes import ROUTES
from ledger.kinds import Kind
from node.tokens import TokenRole
from tests.api.conftest import NodeFactory
from tests.api.test_auth import REMOTE, url
from tests.api.test_problems import assert_problem

VERIFIER_ROUTES = [r for r in ROUTES if r.roles is not None and TokenRole.VERIFIER in r.roles]
WRITE_ROUTES = [r for r in ROUTES if r.kind is not None or r.endpoint == "epcis_capture"]


def test_every_verifier_route_is_rate_limited_and_harvest_guarded() -> None:
    gets = [r for r in VERIFIER_ROUTES if r.method == "GET"]
    assert {r.endpoint for r in gets} >= {
        "pack_state",
        "pack_provenance",
        "container",
        "alerts",
        "epcis_events",
        "epcis_epc_events",
    }
    for route in VERIFIER_ROUTES:
        assert route.guard is Guard.QUERY, f"{route.method} {route.path}"
        assert route.guarded


def test_every_write_is_rate_limited_and_harvest_guarded() -> None:
    # commission and every action (every kind but event, which EPCIS writes), and the capture
    assert len(WRITE_ROUTES) == (len(Kind) - 1) + 1
    for route in WRITE_ROUTES:
        # a verifier's failed-check report (ADR 0022) takes the verifier's one query bucket
        expected = Guard.QUERY if TokenRole.VERIFIER in (route.roles or ()) else Guard.WRITE
        assert route.guard is expected, f"{route.method} {route.path}"


def test_a_route_a_verifier_may_call_cannot_be_left_unguarded() -> None:
    with pytest.raises(ValueError, match="expected a guard on a route a verifier may call"):
        Route(
            "/api/v1/new-query",
            "GET",
            "new_query",
            ops.healthz,
            "A future query someone forgot to guard.",
            "queries",
            frozenset({TokenRole.VERIFIER}),
            guard=Guard.OPEN,
        )
    unnamed = Route(
        "/api/v1/new-query",
        "GET",
        "new_query",
        ops.healthz,
        "…",
        "queries",
        frozenset({TokenRole.VERIFIER}),
    )
    assert unnamed.guard is Guard.QUERY  # named or not, a verifier's route is a query


@pytest.mark.parametrize("route", VERIFIER_ROUTES, ids=lambda r: f"{r.method} {r.path}")
def test_the_dispatcher_applies_the_guard_on_every_verifier_route(
    make_node: NodeFactory, route: Route
) -> None:
    """Not only the table: a verifier whose bucket is empty, or who is past the unknown-serial
    threshold, is refused on every route it may call, before the route answers."""
    node = make_node("acme", verify_rate_per_minute=1, harvest_max_unknown=2)
    headers = node.auth(TokenRole.VERIFIER)

    def ask() -> object:
        if route.method == "GET":
            return node.client.get(url(route), headers=headers, environ_base=REMOTE)
        return node.client.post(url(route), json={"text": "x"}, headers=headers)

    first = ask()
    assert getattr(first, "status_code", None) != 429
    assert_problem(ask(), 429, "rate-limited")

    harvester, info = node.ctx.tokens.create("harvester", TokenRole.VERIFIER)
    for probe in ("p1", "p2"):
        node.ctx.harvest.unknown(f"token:{info.id}", probe)
    headers = {"Authorization": f"Bearer {harvester}"}
    problem = assert_problem(ask(), 429, "rate-limited")
    assert problem["code"] == "serial_harvesting"
