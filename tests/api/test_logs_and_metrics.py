"""Structured log lines and the Prometheus exposition."""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime

import pytest

from api.metrics import BUCKETS, Metrics, escape_label
from ledger.timefmt import format_ts
from node.logs import JsonFormatter, gunicorn_logger_class, node_logger
from tests.api.conftest import Node

SAMPLE = re.compile(
    r'^[a-z_]+(\{([a-z_]+="([^"\\]|\\.)*",?)*\})? [0-9.e+-]+$|^[a-z_]+\{.*\} \+Inf$'
)


def test_a_log_line_is_one_json_object_with_only_allowed_fields(
    capsys: pytest.CaptureFixture[str],
) -> None:
    log = node_logger("unit")
    log.event("request", method="GET", path="/x\ny", status=200, user="alice", token="mt_secret")
    log.event("quiet", level=logging.DEBUG)
    try:
        raise ValueError("boom")
    except ValueError:
        log.exception("failed")
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 2
    first, second = (json.loads(line) for line in lines)
    assert first["node"] == "unit"
    assert first["event"] == "request"
    assert first["path"] == "/x\ny"
    assert first["user"] == "alice"
    assert first["status"] == 200
    assert "token" not in first
    assert "mt_secret" not in lines[0]
    assert second["exc_type"] == "ValueError"
    assert "boom" in second["exc"]


def test_child_loggers_get_the_node_name_and_their_source(
    capsys: pytest.CaptureFixture[str],
) -> None:
    node_logger("acme")
    logging.getLogger("medtrace.node.replication").info(
        "round", extra={"fields": {"added": 3, "secret": "x"}}
    )
    line = json.loads(capsys.readouterr().err)
    assert line["node"] == "acme"
    assert line["source"] == "medtrace.node.replication"
    assert line["added"] == 3
    assert "secret" not in line


def test_long_fields_are_clipped() -> None:
    record = logging.LogRecord("medtrace.node", logging.INFO, "f", 1, "e" * 1000, None, None)
    record.fields = {"path": "p" * 1000}
    line = json.loads(JsonFormatter("n").format(record))
    assert len(line["event"]) < 500
    assert len(line["path"]) < 500


LOG_TIMES = {
    "the epoch": 0.0,
    "a whole second": 1_795_350_000.0,
    "a millisecond not exact in binary": 1_795_350_000.719,
    "just below the next millisecond": 1_795_350_000.7189996,
    "rounds up into the next second": 1_795_350_059.9999996,
    "the second after the cached one": 1_795_350_060.001,
}


def test_log_timestamps_are_the_ledger_form_of_the_record_time() -> None:
    formatter = JsonFormatter("n")
    for name, created in LOG_TIMES.items():
        record = logging.LogRecord("medtrace.node", logging.INFO, "f", 1, "e", None, None)
        record.created = created
        expected = format_ts(datetime.fromtimestamp(created, UTC))
        assert json.loads(formatter.format(record))["ts"] == expected, name


def test_the_gunicorn_logger_writes_json() -> None:
    cls = gunicorn_logger_class("acme")
    assert cls.__name__ == "GunicornJsonLogger"


def test_the_exposition_is_prometheus_text() -> None:
    metrics = Metrics()
    metrics.observe("/a", "GET", 200, 0.003)
    metrics.observe("/a", "GET", 200, 0.2)
    metrics.observe("/a", "GET", 404, 20.0)
    metrics.observe('/we"ird\\', "POST", 500, 0.0)
    metrics.rate_limited("/a")
    text = metrics.render([("medtrace_packs", "Packs.", 4.0, {"node": "n"})])
    assert text.endswith("\n")
    for line in text.splitlines():
        assert line.startswith("# HELP ") or line.startswith("# TYPE ") or SAMPLE.match(line), line
    assert 'medtrace_http_requests_total{endpoint="/a",method="GET",status="200"} 2' in text
    assert 'endpoint="/we\\"ird\\\\"' in text
    buckets = [
        int(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith('medtrace_http_request_duration_seconds_bucket{endpoint="/a"')
    ]
    assert len(buckets) == len(BUCKETS) + 1
    assert buckets == sorted(buckets)
    assert buckets[-1] == 3
    assert 'medtrace_http_request_duration_seconds_count{endpoint="/a",method="GET"} 3' in text
    assert 'medtrace_rate_limited_total{endpoint="/a"} 1' in text
    assert 'medtrace_packs{node="n"} 4' in text
    assert escape_label("a\nb") == "a\\nb"


def test_metrics_count_requests_by_route_not_by_raw_path(acme: Node) -> None:
    for serial in ("A", "B", "C"):
        acme.get(f"/api/v1/packs/04012345000016/{serial}", role="verifier")
    acme.client.get("/no/such/path")
    text = acme.client.get("/metrics").get_data(as_text=True)
    assert (
        'medtrace_http_requests_total{endpoint="/api/v1/packs/<gtin>/<path:serial>",'
        'method="GET",status="404"} 3'
    ) in text
    assert 'endpoint="unmatched"' in text
    assert "/no/such/path" not in text
    assert 'medtrace_info{node="acme",feed="acme/line-1"} 1' in text
