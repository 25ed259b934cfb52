"""What the node gives away without meaning to (issue 13, finding 10): business volumes on
/metrics, a forged Host written back, node-local alerts to every verifier, identifiers in
other scripts' digits."""

from __future__ import annotations

from typing import Any

import pytest

from ledger.alerts import Code
from node.tokens import TokenRole
from tests.api.conftest import GTIN, Node, NodeFactory, case, pack, sscc
from tests.api.test_auth import REMOTE
from tests.api.test_problems import assert_problem
from tests.api.test_serial_harvesting import random_serial

FORGED = "evil.example"


def fullwidth(ascii_digits: str) -> str:
    return "".join(chr(0xFF10 + int(d)) for d in ascii_digits)


def test_metrics_leak_volumes_without_token(acme: Node) -> None:
    made = acme.post(
        "/api/v1/commission", {"gtin": GTIN, "lot": "L1", "expiry": "2030-12-31", "count": 7}
    )
    assert made.status_code == 201

    def scrape(environ: dict[str, str], role: TokenRole | None = None) -> Any:
        headers = acme.auth(role) if role is not None else {}
        return acme.client.get("/metrics", headers=headers, environ_base=environ)

    # from another machine: a token of a role that reads the ledger as a whole
    assert_problem(scrape(REMOTE), 401, "unauthenticated")
    for role in (TokenRole.VERIFIER, TokenRole.PEER):
        assert_problem(scrape(REMOTE, role), 403, "forbidden")
    for role in (TokenRole.AUDITOR, TokenRole.OPERATOR):
        answer = scrape(REMOTE, role)
        assert answer.status_code == 200
        assert 'medtrace_packs{node="acme"} 7' in answer.get_data(as_text=True)
    # from the node's own machine (a local Prometheus): no token needed
    for loopback in ("127.0.0.1", "127.8.9.1", "::1", "::ffff:127.0.0.1"):
        answer = scrape({"REMOTE_ADDR": loopback})
        assert answer.status_code == 200, loopback
        assert 'medtrace_packs{node="acme"} 7' in answer.get_data(as_text=True)
    # a token sent from loopback is still checked
    assert_problem(scrape({"REMOTE_ADDR": "127.0.0.1"}, TokenRole.VERIFIER), 403, "forbidden")
    # a forwarded-for header does not make a remote client local
    forwarded = acme.client.get(
        "/metrics", headers={"X-Forwarded-For": "127.0.0.1"}, environ_base=REMOTE
    )
    assert_problem(forwarded, 401, "unauthenticated")


def _everything(response: Any) -> str:
    return str(dict(response.headers)) + str(response.get_data(as_text=True))


def test_forged_host_reflected(acme: Node) -> None:
    made = acme.post(
        "/api/v1/commission",
        {
            "gtin": GTIN,
            "lot": "L1",
            "expiry": "2030-12-31",
            "serials": ["H1", "H2", "H3"],
            "chunk": 1,
        },
    )
    assert made.status_code == 201
    for kind in ("lock", "unlock"):
        assert acme.post(f"/api/v1/actions/{kind}", {"subjects": [pack("H1")]}).status_code == 201
    forged = {**acme.auth(TokenRole.AUDITOR), "Host": FORGED}

    # the next page of an EPCIS query: a relative reference, which works
    for first in (
        "/epcis/events?perPage=1",
        "/epcis/epcs/urn:epc:id:sgtin:4012345.000001.H1/events?perPage=1",
    ):
        answer = acme.client.get(first, headers=forged)
        assert answer.status_code == 200, answer.get_data(as_text=True)
        assert FORGED not in _everything(answer)
        link = answer.headers["Link"]
        assert link.startswith("</epcis/"), link
        following = acme.client.get(link[1 : link.index(">")], headers=forged)
        assert following.status_code == 200, following.get_data(as_text=True)
        assert FORGED not in _everything(following)

    # paths werkzeug would redirect to an absolute URL built from Host
    for path in ("//api/v1/alerts", "/api/v1//alerts", "/epcis//events", "//scan"):
        answer = acme.client.get(path, headers=forged)
        assert FORGED not in _everything(answer), path
        location = answer.headers.get("Location", "")
        assert "://" not in location, (path, location)
    home = acme.client.get("/", headers={"Host": FORGED})
    assert home.headers["Location"] == "/scan"


def test_harvest_alerts_visible_to_verifiers(make_node: NodeFactory) -> None:
    node = make_node("acme", harvest_max_unknown=3)
    probed = [random_serial() for _ in range(3)]
    for serial in probed:
        node.get(f"/api/v1/packs/{GTIN}/{serial}", role="verifier")  # the harvester
    auditor = node.get(f"/api/v1/alerts?code={Code.SERIAL_HARVESTING.value}", role="auditor")
    assert auditor.get_json()["count"] == 1
    assert "verifier-1" in auditor.get_data(as_text=True)

    colleague, _ = node.ctx.tokens.create("counter-2", TokenRole.VERIFIER)
    readers: dict[str, dict[str, str]] = {
        "verifier": {"Authorization": f"Bearer {colleague}"},
        "operator": node.auth(TokenRole.OPERATOR),
    }
    for role, headers in readers.items():
        for query in ("", f"?code={Code.SERIAL_HARVESTING.value}", "?limit=5000"):
            answer = node.client.get(f"/api/v1/alerts{query}", headers=headers)
            assert answer.status_code == 200, (role, query)
            body = answer.get_json()
            assert body["count"] == 0, (role, query)
            text = answer.get_data(as_text=True)
            assert "serial_harvesting" not in text, (role, query)
            assert "verifier-1" not in text, (role, query)
            assert not [s for s in probed if s in text], (role, query)


@pytest.mark.parametrize(
    ("what", "method", "path", "body"),
    [
        ("pack query, GTIN", "GET", f"/api/v1/packs/{fullwidth(GTIN)}/P1", None),
        (
            "pack query, GTIN's last digit",
            "GET",
            f"/api/v1/packs/{GTIN[:-1]}{fullwidth(GTIN[-1])}/P1",
            None,
        ),
        ("container query, SSCC", "GET", f"/api/v1/containers/{fullwidth(sscc(1))}", None),
        ("alerts, limit", "GET", f"/api/v1/alerts?limit={fullwidth('10')}", None),
        ("EPCIS, perPage", "GET", f"/epcis/events?perPage={fullwidth('10')}", None),
        (
            "commission, GTIN",
            "POST",
            "/api/v1/commission",
            {"gtin": fullwidth(GTIN), "lot": "L1", "expiry": "2030-12-31", "count": 1},
        ),
        (
            "commission, expiry",
            "POST",
            "/api/v1/commission",
            {"gtin": GTIN, "lot": "L1", "expiry": fullwidth("20301231")[:4] + "-12-31", "count": 1},
        ),
        (
            "a subject's GTIN",
            "POST",
            "/api/v1/actions/lock",
            {"subjects": [f"https://id.gs1.org/01/{fullwidth(GTIN)}/21/P1"]},
        ),
        (
            "a subject's SSCC",
            "POST",
            "/api/v1/actions/destroy",
            {"subjects": [case(1).replace(sscc(1), fullwidth(sscc(1)))]},
        ),
    ],
)
def test_fullwidth_digits_accepted_as_gtin(
    acme: Node, what: str, method: str, path: str, body: Any
) -> None:
    """Digits of another script are not digits of a GS1 key or a number: 400, naming where."""
    answer = (
        acme.client.get(path, headers=acme.auth())
        if method == "GET"
        else acme.client.post(path, json=body, headers=acme.auth())
    )
    problem = assert_problem(answer, 400, "invalid-request")
    assert problem.get("parameter") or problem.get("path"), what
    assert acme.ctx.store.count("packs") == 0
