"""The risk-scoring bench (bench/risk.py) on a tiny set: it generates, scores every low-value
parcel and answers the figures ``medtrace bench`` prints beside their floor and target."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import risk
from bench.progress import NoProgress


def test_risk_bench_scores_low_value_parcels(tmp_path: Path) -> None:
    figures = risk.measure(tmp_path / "risk", NoProgress(), declarations=120)
    assert figures["risk_parcels_scored"] > 20
    assert figures["risk_parcels_per_minute"] > 0
    assert 0 < figures["risk_parcel_p50_ms"] <= figures["risk_parcel_p95_ms"]
    assert figures["floor_risk_declaration_read_us"] > 0
    rows = risk.table_rows(figures)
    assert [row[0] for row in rows] == [
        "risk scoring, low-value parcels (target ≥ 10,000/min)",
        "risk scoring, one parcel: p50 / p95 (target p95 ≤ 50 ms)",
    ]
    assert all(len(row) == 4 for row in rows)


def test_risk_bench_rows_are_absent_without_its_figures() -> None:
    assert risk.table_rows({}) == []


def test_risk_bench_refuses_a_set_without_parcels(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="low-value parcels"):
        risk.measure(tmp_path / "risk", NoProgress(), declarations=11)
