"""Precision and recall at an inspection rate: customs opens the top-scored share of the
declared items and counts what it finds (the paper's precision@n%, arXiv 2208.02484)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

#: The inspection rates reported, in percent of the file's rows.
RATES = (1, 2, 5, 10)


def inspected(rows: int, percent: int) -> int:
    """How many rows an inspection of ``percent`` % of ``rows`` opens: the floor, at least one."""
    return max(1, rows * percent // 100)


def ranking(scores: npt.NDArray[np.float64]) -> npt.NDArray[np.intp]:
    """Rows from the highest score down; equal scores keep file order, so the cut is repeatable."""
    return np.argsort(-scores, kind="stable")


@dataclass(frozen=True)
class Evaluation:
    rows: int
    fraud_rate: float
    inspected: dict[str, int]
    precision_at: dict[str, float]
    recall_at: dict[str, float]

    def to_json(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "fraud_rate": self.fraud_rate,
            "inspected": self.inspected,
            "precision_at": self.precision_at,
            "recall_at": self.recall_at,
        }


def evaluate(scores: npt.NDArray[np.float64], y: npt.NDArray[np.int8]) -> Evaluation:
    """Precision and recall among the top ``RATES`` % of rows by ``scores``."""
    order = ranking(scores)
    found = np.cumsum(y[order])
    frauds = int(found[-1]) if len(found) else 0
    counts = {str(p): inspected(len(y), p) for p in RATES}
    return Evaluation(
        rows=len(y),
        fraud_rate=round(float(np.mean(y)), 6) if len(y) else 0.0,
        inspected=counts,
        precision_at={p: round(int(found[k - 1]) / k, 6) for p, k in counts.items()},
        recall_at={
            p: round(int(found[k - 1]) / frauds, 6) if frauds else 0.0 for p, k in counts.items()
        },
    )
