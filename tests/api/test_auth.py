"""The authorisation matrix: every token role x every endpoint, and tokens that must fail."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from api.auth import HINTERS, READERS, REPLICATORS, WRITERS
from api.problems import TYPE_ROOT
from api.route import Route
from api.routes import ROUTES
from ledger.kinds import Kind
from node.tokens import CACHE_TTL_S, TokenRole, Tokens
from tests.api.conftest import GTIN, Node, NodeFactory, sscc
from tests.api.test_problems import assert_problem

SAMPLES = {
    "gtin": GTIN,
    "serial": "NOPE1",
    "sscc": sscc(1),
    "org": "acme",
    "site": "line-1",
    # EPCIS routes (api/epcis.py)
    "capture_id": "00000000-0000-4000-8000-000000000000",
    "epc": "urn:epc:id:sgtin:4012345.000001.NOPE1",
    "event_id": "urn:uuid:00000000-0000-4000-8000-000000000000",
    # declarations (api/declarations.py)
    "reference": "DE-2026-000123",
    # GS1 verification messaging (api/vrs.py)
    "lot": "L1",
    # cases between authorities (api/cases.py)
    "alert_id": "0" * 64,
}
AUTHENTICATED = [r for r in ROUTES if r.roles is not None]
PUBLIC = [r for r in ROUTES if r.roles is None]


def url(route: Route) -> str:
    path = route.path
    for name, value in SAMPLES.items():
        path = path.replace(f"<{name}>", value).replace(f"<path:{name}>", value)
    assert "<" not in path, path
    return path


#: A client on another machine: ``/metrics`` needs no token from loopback only.
REMOTE = {"REMOTE_ADDR": "192.0.2.10"}


def call(node: Node, route: Route, headers: dict[str, str]) -> Any:
    if route.method == "GET":
        return node.client.get(url(route), headers=headers, environ_base=REMOTE)
    return node.client.post(url(route), json={}, headers=headers, environ_base=REMOTE)


@pytest.fixture
def node(make_node: NodeFactory) -> Node:
    return make_node("acme", verify_rate_per_minute=100_000)


def test_the_role_sets_are_what_the_docs_say() -> None:
    assert frozenset({TokenRole.OPERATOR}) == WRITERS
    assert frozenset({TokenRole.OPERATOR, TokenRole.VERIFIER, TokenRole.AUDITOR}) == READERS
    assert frozenset({TokenRole.PEER, TokenRole.OPERATOR, TokenRole.AUDITOR}) == REPLICATORS
    assert frozenset({TokenRole.PEER, TokenRole.OPERATOR}) == HINTERS
    writes = [r for r in ROUTES if r.kind is not None]
    # commission, 16 actions, products, declarations (ADR 0020), a declaration's decision and
    # inspection outcome, and the report of a failed check (ADR 0022)
    assert len(writes) == 22
    reports = [r for r in writes if r.kind is Kind.CHECK]
    assert [r.path for r in reports] == ["/api/v1/checks"]
    # a verifier reports the failed check of the one pack it scanned; every other write is an
    # operator's
    assert reports[0].roles == WRITERS | {TokenRole.VERIFIER}
    assert all(r.roles == WRITERS for r in writes if r not in reports)


@pytest.mark.parametrize("role", list(TokenRole))
@pytest.mark.parametrize("route", AUTHENTICATED, ids=lambda r: f"{r.method} {r.path}")
def test_every_role_on_every_endpoint(node: Node, route: Route, role: TokenRole) -> None:
    assert route.roles is not None
    response = call(node, route, node.auth(role))
    body = response.get_json(force=True, silent=True) or {}
    if role in route.roles:
        assert response.status_code not in (401, 500), body
        assert body.get("type") != TYPE_ROOT + "forbidden", body
    else:
        problem = assert_problem(response, 403, "forbidden")
        assert role.value in problem["detail"]


@pytest.mark.parametrize("route", AUTHENTICATED, ids=lambda r: f"{r.method} {r.path}")
def test_no_token_is_401_with_a_challenge(node: Node, route: Route) -> None:
    response = call(node, route, {})
    assert_problem(response, 401, "unauthenticated")
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


BAD_HEADERS = {
    "basic scheme": "Basic YWxpY2U6c2VjcmV0",
    "empty bearer": "Bearer ",
    "not a token": "Bearer hello",
    "well-formed unknown token": "Bearer mt_" + "A" * 43,
    "oversized": "Bearer " + "x" * 5000,
}


@pytest.mark.parametrize("header", BAD_HEADERS.values(), ids=BAD_HEADERS.keys())
@pytest.mark.parametrize(
    "route",
    [r for r in AUTHENTICATED if r.endpoint in ("commission", "pack_state", "feeds")],
    ids=lambda r: r.endpoint,
)
def test_a_bad_authorization_header_is_401(node: Node, route: Route, header: str) -> None:
    response = call(node, route, {"Authorization": header})
    assert_problem(response, 401, "unauthenticated")


@pytest.mark.parametrize("route", AUTHENTICATED, ids=lambda r: f"{r.method} {r.path}")
def test_revoked_expired_and_foreign_tokens_are_401(
    node: Node, make_node: NodeFactory, route: Route
) -> None:
    tokens = Tokens(node.ctx.store)
    revoked, info = tokens.create("gone", TokenRole.OPERATOR)
    tokens.revoke(info.id)
    expired, _ = tokens.create("late", TokenRole.OPERATOR, datetime.now(UTC) - timedelta(seconds=1))
    other = make_node("acme", name="other-acme")
    foreign = other.token(TokenRole.OPERATOR)
    for token in (revoked, expired, foreign):
        response = call(node, route, {"Authorization": f"Bearer {token}"})
        problem = assert_problem(response, 401, "unauthenticated")
        assert "invalid_token" in response.headers["WWW-Authenticate"]
        assert token not in response.get_data(as_text=True)
        assert problem["status"] == 401


def test_revocation_takes_effect_at_once(node: Node) -> None:
    token, info = node.ctx.tokens.create("scanner-9", TokenRole.VERIFIER)
    headers = {"Authorization": f"Bearer {token}"}
    assert node.client.get("/api/v1/alerts", headers=headers).status_code == 200
    node.ctx.tokens.revoke(info.id)
    assert node.client.get("/api/v1/alerts", headers=headers).status_code == 401


def test_a_revocation_by_another_process_takes_effect_within_the_cache_ttl(node: Node) -> None:
    now = [100.0]
    node.ctx.tokens = Tokens(node.ctx.store, clock=lambda: now[0])
    token, info = node.ctx.tokens.create("scanner-8", TokenRole.VERIFIER)
    headers = {"Authorization": f"Bearer {token}"}
    assert node.client.get("/api/v1/alerts", headers=headers).status_code == 200
    Tokens(node.ctx.store).revoke(info.id)  # another worker process, or the CLI
    now[0] += CACHE_TTL_S / 2
    assert node.client.get("/api/v1/alerts", headers=headers).status_code == 200
    now[0] += CACHE_TTL_S / 2
    assert node.client.get("/api/v1/alerts", headers=headers).status_code == 401


def test_a_token_not_yet_expired_works(node: Node) -> None:
    token, _ = node.ctx.tokens.create(
        "temp", TokenRole.AUDITOR, datetime.now(UTC) + timedelta(hours=1)
    )
    response = node.client.get("/api/v1/feeds", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200


@pytest.mark.parametrize("route", PUBLIC, ids=lambda r: r.path)
def test_public_endpoints_need_no_token(node: Node, route: Route) -> None:
    assert node.client.get(route.path).status_code == 200


def test_an_operator_is_refused_kinds_its_feed_may_not_write(node: Node) -> None:
    """The manufacturer's feed may not dispense or inspect: 403 before the body is read."""
    for kind in ("dispense", "inspect"):
        response = node.client.post(
            f"/api/v1/actions/{kind}", data=b"not json", headers=node.auth()
        )
        problem = assert_problem(response, 403, "kind-not-allowed")
        assert problem["code"] == "unauthorised_kind"
