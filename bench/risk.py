"""Risk scoring of low-value parcel declarations (issue 16; docs/spec/risk.md "Rule indicators
and lanes"): the rule indicators R1 to R11 and the lane of one declaration, as the customs node
scores a declaration it has just taken, in one process on SQLite.

The generator (node/risk/generator.py) builds a labelled ledger and its declarations; every
low-value parcel among them is then scored in ledger order with the ``Scorer`` the API uses
(no preloaded history: each score catches the node's history up, reads the declaration, its
packs with their custody and commissioning, and the products, as a request does). The figures:

* ``risk_parcels_per_minute``: parcels scored per minute, the store reads included (target
  ≥ 10,000);
* ``risk_parcel_p50_ms`` / ``_p95_ms``: one parcel's read and score (target p95 ≤ 50 ms);
* ``floor_risk_declaration_read_us``: the floor beside them, the bare read of one declaration's
  record row by its key with stdlib ``sqlite3``, nothing judged.
"""

from __future__ import annotations

import sqlite3
import statistics
from contextlib import closing
from pathlib import Path
from time import perf_counter

from bench.loadgen import percentile
from bench.progress import Progress
from node.risk.facts import Scorer
from node.risk.generator import DATABASE, Generator
from node.risk.lanes import RandomSelection, RiskConfig, commitment

#: Declarations generated (about half of them low-value parcels); the bench's default.
DECLARATIONS = 4_000
WARMUP = 20
ORG = "border"
#: Targets of issue 16, shown beside the figures.
PER_MINUTE_TARGET = 10_000
P95_TARGET_MS = 50.0
_SEED = bytes(range(32))


def floor_read_us(database: Path, keys: list[str]) -> float:
    """Median µs of the bare read of one declaration's record rows by key (stdlib sqlite3)."""
    query = "SELECT data FROM records WHERE kind = 'declare' AND key = ?"
    times = []
    with closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as conn:
        for key in keys:
            began = perf_counter()
            rows = conn.execute(query, (key,)).fetchall()
            times.append(perf_counter() - began)
            if not rows:
                raise RuntimeError(f"expected the declaration {key} in the floor's read")
    return 1e6 * statistics.median(times)


def measure(root: Path, progress: Progress, declarations: int = DECLARATIONS) -> dict[str, float]:
    """Generate the set in ``root`` (a new directory), score its low-value parcels, time each."""
    root.mkdir(parents=True, exist_ok=True)
    progress.phase(f"risk: generating {declarations:,} declarations", 1)
    generator = Generator(root, 16)
    try:
        generator.build(declarations, 0.05)
        progress.advance()
        store = generator.store
        parcels = [
            d.reference
            for d in store.earlier_declarations(ORG, None, limit=2 * declarations)
            if d.data.get("lowValue")
        ]
        if len(parcels) <= WARMUP:
            raise RuntimeError(f"expected more than {WARMUP} low-value parcels, found {len(parcels)}")  # fmt: skip
        config = RiskConfig(random=RandomSelection(0.02, _SEED, commitment(_SEED)))
        scorer = Scorer(store, generator.membership, config)
        progress.phase(f"risk: scoring {len(parcels):,} low-value parcels", len(parcels))
        times = []
        began = perf_counter()
        for n, reference in enumerate(parcels):
            start = perf_counter()
            record = store.declaration(reference, ORG)
            if record is None:
                raise RuntimeError(f"expected declaration {reference} in the store, found none")
            scorer.score(record)
            if n >= WARMUP:  # the first scores read the node's history: not counted
                times.append(perf_counter() - start)
            else:
                began = perf_counter()
            progress.advance()
        seconds = perf_counter() - began
    finally:
        generator.close()
    floor = floor_read_us(root / DATABASE, [f"{ORG}/{r}" for r in parcels[:500]])
    times.sort()
    return {
        "risk_parcels_scored": len(times),
        "risk_parcels_per_minute": 60 * len(times) / seconds,
        "risk_parcel_p50_ms": 1000 * percentile(times, 0.50),
        "risk_parcel_p95_ms": 1000 * percentile(times, 0.95),
        "floor_risk_declaration_read_us": floor,
    }


def table_rows(figures: dict[str, float]) -> list[tuple[str, str, str, str]]:
    """Rows for ``medtrace bench``'s table: (metric, value, floor, ratio)."""
    if "risk_parcel_p95_ms" not in figures:
        return []
    floor_us = figures["floor_risk_declaration_read_us"]
    per_minute = figures["risk_parcels_per_minute"]
    p50, p95 = figures["risk_parcel_p50_ms"], figures["risk_parcel_p95_ms"]
    return [
        (
            f"risk scoring, low-value parcels (target ≥ {PER_MINUTE_TARGET:,}/min)",
            f"{per_minute:,.0f} /min",
            f"{60e6 / floor_us:,.0f} /min bare read",
            f"{60e6 / floor_us / per_minute:,.1f}x",
        ),
        (
            f"risk scoring, one parcel: p50 / p95 (target p95 ≤ {P95_TARGET_MS:.0f} ms)",
            f"{p50:,.1f} / {p95:,.1f} ms",
            f"{floor_us:,.0f} µs bare read",
            f"{1000 * p95 / floor_us:,.0f}x",
        ),
    ]


if __name__ == "__main__":  # python -m bench.risk: this phase alone, as JSON
    import json
    import tempfile

    from bench.progress import NoProgress

    with tempfile.TemporaryDirectory(prefix="medtrace-bench-risk-") as scratch:
        print(json.dumps(measure(Path(scratch) / "risk", NoProgress()), sort_keys=True))
