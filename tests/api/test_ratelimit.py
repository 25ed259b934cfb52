"""Verification queries are rate-limited per token: a burst gets 429 with Retry-After."""

from __future__ import annotations

from api.ratelimit import RateLimiter, retry_after_header
from tests.api.conftest import GTIN, NodeFactory, sscc
from tests.api.test_problems import assert_problem


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_bucket_allows_a_burst_then_refills_at_the_rate() -> None:
    clock = Clock()
    limiter = RateLimiter(60, clock=clock)  # one per second, bursts of 60
    assert all(limiter.take("a") == 0.0 for _ in range(60))
    wait = limiter.take("a")
    assert 0.99 < wait <= 1.0
    assert limiter.take("b") == 0.0  # buckets are per key
    clock.now += 1.0
    assert limiter.take("a") == 0.0
    assert limiter.take("a") > 0
    clock.now += 3600
    assert all(limiter.take("a") == 0.0 for _ in range(60))


def test_the_limiter_forgets_full_buckets_when_it_has_too_many() -> None:
    clock = Clock()
    limiter = RateLimiter(60, clock=clock, max_keys=10)
    for i in range(10):
        limiter.take(f"k{i}")
    clock.now += 120
    limiter.take("new")
    assert len(limiter._buckets) == 1


def test_retry_after_is_whole_seconds_at_least_one() -> None:
    assert retry_after_header(0.01) == "1"
    assert retry_after_header(2.2) == "3"


def test_a_burst_of_verification_queries_is_throttled_per_token(make_node: NodeFactory) -> None:
    node = make_node("acme", verify_rate_per_minute=5)
    paths = [f"/api/v1/packs/{GTIN}/S{i}/provenance" for i in range(5)]
    assert [node.get(p, role="verifier").status_code for p in paths] == [200] * 5
    refused = node.get(f"/api/v1/packs/{GTIN}/S9", role="verifier")
    problem = assert_problem(refused, 429, "rate-limited")
    assert int(refused.headers["Retry-After"]) >= 1
    assert problem["retry_after"] == int(refused.headers["Retry-After"])
    container = node.get(f"/api/v1/containers/{sscc(1)}", role="verifier")
    assert container.status_code == 429
    # another token has its own bucket; every query of the token takes from its one bucket
    assert node.get(f"/api/v1/packs/{GTIN}/S9", role="auditor").status_code == 404
    assert node.get("/api/v1/alerts", role="verifier").status_code == 429
    metrics = node.client.get("/metrics").get_data(as_text=True)
    assert 'medtrace_rate_limited_total{endpoint="/api/v1/packs/<gtin>/<path:serial>"} 1' in metrics
