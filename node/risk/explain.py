"""A score feature by feature, as a reader knows the values (``medtrace risk explain``,
``evaluate --show`` and the learned score of a declaration at a customs node).

LightGBM's ``pred_contrib`` gives each feature's contribution to the raw score (SHAP values
for trees); here each is paired with the feature's value in words: a category's own text, a
history rate with the training rows behind it, a whole number, a number rounded.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from node.risk.model import Model


def reasons(
    loaded: Model, row: npt.NDArray[np.float64], contributions: npt.NDArray[np.float64]
) -> list[dict[str, Any]]:
    """Every feature of one row with its value and contribution, the largest first."""
    names = loaded.manifest["features"]
    ranked = sorted(range(len(names)), key=lambda j: (-abs(contributions[j]), j))
    return [
        {
            "feature": names[j],
            "value": shown(names[j], row, names, loaded),
            "contribution": round(float(contributions[j]), 6),
        }
        for j in ranked
    ]


def shown(name: str, row: npt.NDArray[np.float64], names: list[str], loaded: Model) -> str:
    """A feature's value as a reader knows it: a category's own text, a history rate with the
    training rows behind it, a number rounded."""
    encodings = loaded.encodings
    value = float(row[names.index(name)])
    if math.isnan(value):
        if name in encodings.vocabulary:
            return "(not seen in training)"
        return "(not evaluated)" if name[:1] == "R" else "(empty)"
    if name in encodings.vocabulary:
        text = encodings.vocabulary[name][int(value)]
        return str(text) or "(empty)"
    if name.endswith("_rate") and f"{name.removesuffix('_rate')}_count" in names:
        rows = int(row[names.index(f"{name.removesuffix('_rate')}_count")])
        if rows == 0:
            return f"{value:.3f} (none in training: the overall rate)"
        m = encodings.smoothing
        frauds = round(value * (rows + m) - encodings.prior * m)
        return f"{value:.3f} ({frauds:,} of {rows:,} in training)"
    if name.endswith("_count") or name in loaded.schema.integers:
        return f"{int(value):,}"
    return f"{value:.4g}"
