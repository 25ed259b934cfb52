"""Serial harvesting (ADR 0012): a token that verifies many packs that do not exist is throttled
and raises one node-local alert; a pharmacist verifying real packs never is."""

from __future__ import annotations

import secrets
import signal
from pathlib import Path

import requests

from api.ratelimit import HarvestGuard, RateLimiter
from ledger.alerts import Code
from node.tokens import TokenRole
from tests.api.conftest import GTIN, Node, NodeFactory, case, init_node, pack, sscc
from tests.api.test_problems import assert_problem
from tests.api.test_ratelimit import Clock
from tests.api.test_server import create_token, free_port, start


def random_serial() -> str:
    return "H" + secrets.token_hex(6).upper()


def harvesting_alerts(node: Node) -> list[dict[str, object]]:
    answer = node.get(f"/api/v1/alerts?code={Code.SERIAL_HARVESTING.value}", role="auditor")
    assert answer.status_code == 200, answer.get_data(as_text=True)
    alerts: list[dict[str, object]] = answer.get_json()["alerts"]
    return alerts


# -- the guard alone -----------------------------------------------------------------------------


def test_the_guard_reports_a_burst_once_and_throttles_until_the_window_passes() -> None:
    clock = Clock()
    guard = HarvestGuard(5, 60, clock=clock, sample=3)
    found = [guard.unknown("t1", f"p{i}") for i in range(5)]
    assert found[:4] == [None] * 4
    harvest = found[4]
    assert harvest is not None
    assert (harvest.key, harvest.count, harvest.window_s) == ("t1", 5, 60)
    assert harvest.sample == ("p2", "p3", "p4")  # the most recent, bounded
    assert guard.wait("t1") == 60
    assert guard.wait("t2") == 0.0  # per token
    clock.now += 30
    assert guard.unknown("t1", "p5") is None  # still the same burst: no second report
    assert 29 < guard.wait("t1") <= 30
    clock.now += 30.5  # the oldest lookup left the window
    assert guard.wait("t1") == 0.0
    clock.now += 60
    assert [guard.unknown("t1", f"q{i}") is not None for i in range(5)] == [False] * 4 + [True]


def test_the_guard_is_off_at_zero_and_forgets_idle_tokens() -> None:
    off = HarvestGuard(0, 60)
    assert [off.unknown("t", "p") for _ in range(100)] == [None] * 100
    assert off.wait("t") == 0.0
    clock = Clock()
    guard = HarvestGuard(3, 60, clock=clock, max_keys=10)
    for i in range(10):
        guard.unknown(f"t{i}", "p")
    clock.now += 61
    guard.unknown("new", "p")
    assert len(guard._probes) == 1


# -- through the API -----------------------------------------------------------------------------


def test_a_burst_of_random_serials_is_throttled_and_raises_one_alert(
    make_node: NodeFactory,
) -> None:
    node = make_node("acme", harvest_max_unknown=12, harvest_window_s=600)
    probes = [
        *(f"/api/v1/packs/{GTIN}/{random_serial()}" for _ in range(4)),
        *(f"/api/v1/packs/{GTIN}/{random_serial()}/provenance" for _ in range(4)),
        *(f"/api/v1/containers/{sscc(900 + i)}" for i in range(2)),
    ]
    answers = [node.get(p, role="verifier").status_code for p in probes]
    assert answers == [404] * 4 + [200] * 4 + [404] * 2
    for _ in range(2):  # a scan of an unknown pack is a 200 HOLD, and counts as well
        scanned = node.client.post(
            "/api/v1/scan",
            json={"text": f"https://id.gs1.org/01/{GTIN}/21/{random_serial()}"},
            headers=node.auth("verifier"),
        )
        assert scanned.get_json()["verdict"] == "HOLD"
    assert len(harvesting_alerts(node)) == 1

    refused = node.get(f"/api/v1/packs/{GTIN}/{random_serial()}", role="verifier")
    problem = assert_problem(refused, 429, "rate-limited")
    assert problem["code"] == "serial_harvesting"
    assert int(refused.headers["Retry-After"]) > 500
    assert problem["retry_after"] == int(refused.headers["Retry-After"])
    for _ in range(5):  # the burst goes on: still refused, still one alert
        assert (
            node.get(f"/api/v1/packs/{GTIN}/{random_serial()}", role="verifier").status_code == 429
        )

    [alert] = harvesting_alerts(node)
    token = node.ctx.tokens.authenticate(node.token("verifier"))
    assert token is not None
    assert alert["level"] == "critical"
    assert alert["subject"] == f"urn:medtrace:token:acme/line-1:{token.id}"
    details = alert["details"]
    assert isinstance(details, dict)
    assert details["token_id"] == token.id
    assert details["organisation"] == "acme"
    assert (details["count"], details["threshold"], details["window_s"]) == (12, 12, 600)
    assert len(details["sample"]) == 10
    assert all(s.startswith("https://id.gs1.org/") for s in details["sample"])
    assert "serial harvesting" in str(alert["message"])
    # the other tokens of the node are not throttled; the whole list shows the alert too
    assert node.get(f"/api/v1/packs/{GTIN}/{random_serial()}", role="operator").status_code == 404
    everything = node.get("/api/v1/alerts", role="auditor").get_json()
    # the two scans of unknown packs were failed checks: each raised its alert (ADR 0022)
    codes = [a["code"] for a in everything["alerts"]]
    assert codes == ["check_held", "check_held", "serial_harvesting"]
    assert everything["count"] == 3
    assert node.get("/api/v1/alerts?code=fork", role="auditor").get_json()["count"] == 0


def test_write_probes_unknown_serials(make_node: NodeFactory) -> None:
    """An operator's token that writes about packs and containers that do not exist (a lock
    answers 422 for a serial nobody commissioned, 409 for one that exists) is throttled like a
    verifier's, on its writes and its queries, and raises one alert."""
    node = make_node("acme", harvest_max_unknown=10, harvest_window_s=600)
    probes = [pack(random_serial()) for _ in range(8)] + [case(800 + i) for i in range(2)]
    for subject in probes:
        kind = "unpack" if "/00/" in subject else "lock"
        answer = node.post(f"/api/v1/actions/{kind}", {"subjects": [subject]})
        problem = assert_problem(answer, 422, "unprocessable")
        assert problem["code"] in ("unknown_pack", "unknown_container")

    refused = node.post("/api/v1/actions/lock", {"subjects": [pack(random_serial())]})
    problem = assert_problem(refused, 429, "rate-limited")
    assert problem["code"] == "serial_harvesting"
    assert int(refused.headers["Retry-After"]) > 500
    # the same guard: the token's queries are refused too, other tokens are not
    assert node.get(f"/api/v1/packs/{GTIN}/{random_serial()}").status_code == 429
    assert node.get(f"/api/v1/packs/{GTIN}/{random_serial()}", role="verifier").status_code == 404

    [alert] = harvesting_alerts(node)
    details = alert["details"]
    assert isinstance(details, dict)
    assert (details["user"], details["role"], details["count"]) == ("operator-1", "operator", 10)
    assert set(details["sample"]) == set(probes)


def test_writes_are_rate_limited_per_token(make_node: NodeFactory) -> None:
    node = make_node("acme")
    node.ctx.write_limiter = RateLimiter(3)  # WRITE_RATE_PER_MINUTE is 1200
    made = node.post(
        "/api/v1/commission", {"gtin": GTIN, "lot": "L1", "expiry": "2030-12-31", "count": 3}
    )
    assert made.status_code == 201
    serials = made.get_json()["serials"]
    for serial in serials[:2]:
        assert node.post("/api/v1/actions/lock", {"subjects": [pack(serial)]}).status_code == 201
    refused = node.post("/api/v1/actions/lock", {"subjects": [pack(serials[2])]})
    problem = assert_problem(refused, 429, "rate-limited")
    assert "3 writes per minute" in problem["detail"]
    assert "code" not in problem  # a rate, not serial harvesting
    # queries have their own bucket; another operator token its own
    assert node.get(f"/api/v1/packs/{GTIN}/{serials[2]}").status_code == 200
    other, _ = node.ctx.tokens.create("line-2", TokenRole.OPERATOR)
    again = node.client.post(
        "/api/v1/actions/lock",
        json={"subjects": [pack(serials[2])]},
        headers={"Authorization": f"Bearer {other}"},
    )
    assert again.status_code == 201


def test_a_pharmacist_verifying_real_packs_never_trips_the_guard(make_node: NodeFactory) -> None:
    node = make_node("acme")  # the defaults: 50 unknown packs in 600 s, 600 requests a minute
    # 200 packs: 410 requests stay under the plain rate limit however fast the test runs
    made = node.post(
        "/api/v1/commission", {"gtin": GTIN, "lot": "L1", "expiry": "2030-12-31", "count": 200}
    )
    assert made.status_code == 201
    serials = made.get_json()["serials"]
    statuses = set()
    for i, serial in enumerate(serials):
        statuses.add(node.get(f"/api/v1/packs/{GTIN}/{serial}", role="verifier").status_code)
        statuses.add(
            node.get(f"/api/v1/packs/{GTIN}/{serial}/provenance", role="verifier").status_code
        )
        if i % 20 == 0:  # now and then a misread serial that is not there
            statuses.add(node.get(f"/api/v1/packs/{GTIN}/X{serial}", role="verifier").status_code)
    assert statuses == {200, 404}
    assert harvesting_alerts(node) == []


def test_node_local_alerts_survive_a_rebuild_of_the_projections(make_node: NodeFactory) -> None:
    node = make_node("acme", harvest_max_unknown=3)
    for _ in range(3):
        node.get(f"/api/v1/packs/{GTIN}/{random_serial()}", role="verifier")
    assert len(harvesting_alerts(node)) == 1
    node.ctx.store.rebuild(node.ctx.membership)
    assert len(harvesting_alerts(node)) == 1


def test_a_served_node_throttles_a_harvesting_burst_and_alerts_once(
    consortium_dir: Path, tmp_path: Path
) -> None:
    """Two worker processes each count their share; the alert is stored once for the node."""
    data = init_node(
        consortium_dir,
        tmp_path / "acme",
        "acme/line-1",
        workers=2,
        threads=4,
        harvest_max_unknown=10,
    )
    harvester = create_token(data, "verifier", "harvester")
    auditor = create_token(data, "auditor", "inspector")
    running = start(data, free_port(), tmp_path)
    try:
        with requests.Session() as http:
            http.headers["Authorization"] = f"Bearer {harvester}"
            answers = [
                http.get(f"{running.url}/api/v1/packs/{GTIN}/{random_serial()}", timeout=10)
                for _ in range(60)
            ]
            alerts = requests.get(
                f"{running.url}/api/v1/alerts",
                params={"code": "serial_harvesting"},
                headers={"Authorization": f"Bearer {auditor}"},
                timeout=10,
            ).json()
    finally:
        running.stop(signal.SIGTERM)
    statuses = [a.status_code for a in answers]
    assert set(statuses) == {404, 429}
    assert 10 <= statuses.count(404) <= 20  # at most the threshold per worker
    throttled = next(a for a in answers if a.status_code == 429)
    assert throttled.headers["Content-Type"] == "application/problem+json"
    assert int(throttled.headers["Retry-After"]) >= 1
    assert throttled.json()["code"] == "serial_harvesting"
    assert alerts["count"] == 1
    assert alerts["alerts"][0]["details"]["user"] == "harvester"
    assert any('"serial harvesting"' in line for line in running.log_lines())
