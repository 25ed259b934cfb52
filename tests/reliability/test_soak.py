"""The soak (``medtrace soak``): its measuring parts, and a short run of the whole machine.

The short run checks what the soak reports and that it is right about it (no failed request,
one ledger at the end, every node process sampled), never how fast anything was: speed is for
``make soak`` and the benchmarks.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from bench.soak_load import Answer
from bench.soak_memory import MB, Sample, children, rss, sample_tree, trend
from medtrace.cli.soak import soak_command

# -- what counts as a failure --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("what", "status", "failed"),
    [
        ("verify", 200, False),
        ("write", 201, False),
        ("verify", 404, True),  # the pool holds only packs every node has
        ("verify", 429, True),  # throttled: the load is meant to stay under the limit
        ("provenance", 500, True),
        ("write", None, True),  # no answer at all
        ("bad", 400, False),  # a deliberately malformed request, refused as it must be
        ("bad", 200, True),
        ("bad", 500, True),
    ],
    ids=[
        "ok",
        "created",
        "unknown-pack",
        "rate-limited",
        "server-error",
        "connection-error",
        "bad-refused",
        "bad-accepted",
        "bad-crashed",
    ],
)
def test_an_answer_fails_unless_2xx_or_an_expected_400(
    what: str, status: int | None, failed: bool
) -> None:
    assert Answer(0.0, what, "node", 0.01, status).failed is failed


# -- memory: /proc and the trend -----------------------------------------------------------------


def test_a_process_tree_is_found_and_sized_from_proc() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        assert child.pid in children(os.getpid())
        assert rss(child.pid) > 1 * MB
        sample = sample_tree(child.pid, 1.0)
        assert sample.processes == 1
        assert sample.rss > 1 * MB
    finally:
        child.kill()
        child.wait()
    assert rss(child.pid) == 0  # gone


def _samples(mb_at: list[float], step_s: float = 5.0) -> list[Sample]:
    return [Sample(i * step_s, 3, int(mb * MB)) for i, mb in enumerate(mb_at)]


@pytest.mark.parametrize(
    ("series", "flat"),
    [
        ([100.0] * 20, True),
        ([60.0, 90.0, *[100.0] * 18], True),  # warm-up growth is not counted
        ([100.0, 101.0, 99.0, 100.5] * 5, True),  # noise
        ([100.0 + 3 * i for i in range(20)], False),  # 3 MB per sample: a leak
        ([*[100.0] * 14, *[130.0] * 6], False),  # a step that stays
    ],
    ids=["steady", "warm-up-growth", "noise", "leak", "step"],
)
def test_memory_is_flat_when_growth_after_warm_up_stays_under_the_bound(
    series: list[float], flat: bool
) -> None:
    found = trend(_samples(series), warmup_s=10.0, fraction=0.10, floor_mb=8.0, window_s=15.0)
    assert found.flat is flat
    assert found.bound_mb == pytest.approx(max(0.10 * found.warm_mb, 8.0))


def test_a_leak_shows_in_the_slope() -> None:
    found = trend(
        _samples([100.0 + i for i in range(24)]),
        warmup_s=0.0,
        fraction=0.10,
        floor_mb=8.0,
        window_s=5.0,
    )
    assert found.slope_mb_per_min == pytest.approx(12.0)  # 1 MB per 5 s


def test_no_samples_is_an_error_not_a_pass() -> None:
    with pytest.raises(ValueError, match="expected memory samples"):
        trend([], warmup_s=0.0, fraction=0.1, floor_mb=8.0, window_s=5.0)


# -- the whole machine, briefly --------------------------------------------------------------------


def test_a_short_soak_of_the_demo_network_reports_no_errors_and_one_ledger(
    tmp_path: Path,
) -> None:
    out = tmp_path / "soak"
    result = CliRunner().invoke(
        soak_command, ["--minutes", "0.25", "--clients", "2", "--out", str(out), "--json"]
    )
    report = json.loads(result.stdout)
    assert report["errors"] == 0, report["error_samples"]
    assert result.exit_code == 0, report["problems"]
    assert report["ok"] is True
    requests = report["requests"]
    assert requests["verify"] > 0
    assert requests["write"] > 0
    assert report["expected_4xx"] == requests.get("bad", 0)
    assert report["write_cycles"] >= 1
    assert len(report["digests"]) == 5
    assert len(set(report["digests"].values())) == 1
    for name, memory in report["memory"].items():
        assert memory["processes"] >= 2, name  # the master and at least one worker
        assert memory["start_mb"] > 0
    assert json.loads((out / "soak.json").read_text()) == report
