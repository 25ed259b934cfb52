"""Prometheus text exposition (format 0.0.4), written by hand: counters, gauges, a histogram.

Counters live in the serving process: each worker process counts the requests it served
(a scrape reaches one worker). The ledger gauges (entries, packs, alerts) come from the
database and are the same whichever worker answers.
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
#: Seconds; the verification query should sit in the first few buckets.
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def escape_label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(pairs: Mapping[str, str]) -> str:
    if not pairs:
        return ""
    inner = ",".join(f'{k}="{escape_label(v)}"' for k, v in pairs.items())
    return "{" + inner + "}"


def _number(value: float) -> str:
    if value == float("inf"):
        return "+Inf"
    if float(value).is_integer():
        return str(int(value))
    return repr(float(value))


@dataclass
class _Histogram:
    counts: list[int] = field(default_factory=lambda: [0] * len(BUCKETS))
    total: float = 0.0
    count: int = 0

    def observe(self, seconds: float) -> None:
        index = bisect.bisect_left(BUCKETS, seconds)
        if index < len(BUCKETS):
            self.counts[index] += 1
        self.total += seconds
        self.count += 1


class Metrics:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: dict[tuple[str, str, str], int] = {}
        self._latency: dict[tuple[str, str], _Histogram] = {}
        self._limited: dict[str, int] = {}

    def observe(self, endpoint: str, method: str, status: int, seconds: float) -> None:
        with self._lock:
            key = (endpoint, method, str(status))
            self._requests[key] = self._requests.get(key, 0) + 1
            self._latency.setdefault((endpoint, method), _Histogram()).observe(seconds)

    def rate_limited(self, endpoint: str) -> None:
        with self._lock:
            self._limited[endpoint] = self._limited.get(endpoint, 0) + 1

    def render(self, gauges: Iterable[tuple[str, str, float, Mapping[str, str]]]) -> str:
        """The exposition; ``gauges`` are (name, help, value, labels) read by the caller."""
        lines: list[str] = []
        with self._lock:
            requests = sorted(self._requests.items())
            latency = sorted(
                (k, _Histogram(list(h.counts), h.total, h.count)) for k, h in self._latency.items()
            )
            limited = sorted(self._limited.items())
        lines += [
            "# HELP medtrace_http_requests_total HTTP requests served, by endpoint, method and status.",
            "# TYPE medtrace_http_requests_total counter",
        ]
        for (endpoint, method, status), value in requests:
            labels = _labels({"endpoint": endpoint, "method": method, "status": status})
            lines.append(f"medtrace_http_requests_total{labels} {value}")
        lines += [
            "# HELP medtrace_http_request_duration_seconds Time to answer a request, by endpoint.",
            "# TYPE medtrace_http_request_duration_seconds histogram",
        ]
        for (endpoint, method), hist in latency:
            base = {"endpoint": endpoint, "method": method}
            running = 0
            for bound, count in zip(BUCKETS, hist.counts, strict=True):
                running += count
                labels = _labels({**base, "le": _number(bound)})
                lines.append(f"medtrace_http_request_duration_seconds_bucket{labels} {running}")
            labels = _labels({**base, "le": "+Inf"})
            lines.append(f"medtrace_http_request_duration_seconds_bucket{labels} {hist.count}")
            lines.append(
                f"medtrace_http_request_duration_seconds_sum{_labels(base)} {_number(hist.total)}"
            )
            lines.append(
                f"medtrace_http_request_duration_seconds_count{_labels(base)} {hist.count}"
            )
        lines += [
            "# HELP medtrace_rate_limited_total Requests refused by a token's rate limit or the "
            "serial-harvesting guard.",
            "# TYPE medtrace_rate_limited_total counter",
        ]
        for endpoint, value in limited:
            lines.append(f"medtrace_rate_limited_total{_labels({'endpoint': endpoint})} {value}")
        seen: set[str] = set()
        for name, help_text, reading, gauge_labels in gauges:
            if name not in seen:
                seen.add(name)
                lines += [f"# HELP {name} {help_text}", f"# TYPE {name} gauge"]
            lines.append(f"{name}{_labels(gauge_labels)} {_number(reading)}")
        return "\n".join(lines) + "\n"
