"""The model's columns: what a declared item says, and what the training data says about the
parties and goods it names.

Every encoding is fitted on the training rows only and stored in the model directory, so a
scored file is encoded with what was known when the model was trained, never with its own
outcomes. On the training rows themselves the outcome rates are out-of-fold (each row's rate
comes from the other folds), so the model cannot learn to trust a rate that contains the row's
own answer. Each feature's rationale is in docs/spec/risk.md, "Features".
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
import numpy.typing as npt

from node.risk.kcs import Declarations

#: Columns the model splits on as categories (LightGBM's categorical features).
CATEGORIES: dict[str, Callable[[Declarations, int], str]] = {
    "office": lambda d, i: d.text["Office ID"][i],
    "import_type": lambda d, i: d.text["Import Type"][i],
    "import_use": lambda d, i: d.text["Import Use"][i],
    "payment_type": lambda d, i: d.text["Payment Type"][i],
    "transport_mode": lambda d, i: d.text["Mode of Transport"][i],
    "process_type": lambda d, i: d.text["Process Type"][i],
    "courier": lambda d, i: d.text["Courier ID"][i],
    "departure": lambda d, i: d.text["Country of Departure"][i],
    "origin": lambda d, i: d.text["Country of Origin"][i],
    "tax_type": lambda d, i: d.text["Tax Type"][i],
    "origin_indicator": lambda d, i: d.text["Country of Origin Indicator"][i],
    "hs2": lambda d, i: _hs6(d, i)[:2],
}


def _hs6(d: Declarations, i: int) -> str:
    return d.text["HS6 Code"][i].zfill(6)


#: Who and what the training data has outcomes for: name -> the key of a row. Each gives two
#: columns, ``<name>_rate`` (smoothed share of fraud among the key's training rows) and
#: ``<name>_count`` (how many training rows the key has; 0 for a stranger).
HISTORIES: dict[str, Callable[[Declarations, int], str]] = {
    "declarant": lambda d, i: d.text["Declarant ID"][i],
    "importer": lambda d, i: d.text["Importer ID"][i],
    "seller": lambda d, i: d.text["Seller ID"][i],
    "courier": lambda d, i: d.text["Courier ID"][i],
    "hs6": _hs6,
    "hs4": lambda d, i: _hs6(d, i)[:4],
    "hs6_origin": lambda d, i: f"{_hs6(d, i)}|{d.text['Country of Origin'][i]}",
    "hs6_departure": lambda d, i: f"{_hs6(d, i)}|{d.text['Country of Departure'][i]}",
    "importer_hs6": lambda d, i: f"{d.text['Importer ID'][i]}|{_hs6(d, i)}",
    "declarant_importer": lambda d, i: f"{d.text['Declarant ID'][i]}|{d.text['Importer ID'][i]}",
    "seller_importer": lambda d, i: f"{d.text['Seller ID'][i]}|{d.text['Importer ID'][i]}",
    "office_hs6": lambda d, i: f"{d.text['Office ID'][i]}|{_hs6(d, i)}",
    "tax_type_hs6": lambda d, i: f"{d.text['Tax Type'][i]}|{_hs6(d, i)}",
}

#: Plain numbers from the declaration itself.
NUMBERS = (
    "tax_rate",
    "log_net_mass",
    "log_price",
    "log_price_per_kg",
    "price_per_kg_vs_hs6",
    "departure_is_origin",
    "seller_named",
    "weekday",
)

#: How many folds the training rows' outcome rates are computed out of.
FOLDS = 5
#: Pseudo-rows at the overall rate added to every key's history: a key seen once is not 0 or 1.
SMOOTHING = 20.0


def feature_names() -> list[str]:
    """The model's columns, in order: categories, histories (rate, count), numbers."""
    names = list(CATEGORIES)
    for name in HISTORIES:
        names += [f"{name}_rate", f"{name}_count"]
    return names + list(NUMBERS)


def categorical_names() -> list[str]:
    return list(CATEGORIES)


@dataclass(frozen=True)
class Encodings:
    """What the training rows taught, stored as ``encodings.json`` in the model directory."""

    prior: float  # the training rows' fraud rate
    smoothing: float
    vocabulary: dict[str, list[str]]  # category -> its values seen in training (code = index)
    histories: dict[str, dict[str, list[int]]]  # history -> key -> [rows, frauds]
    hs6_log_price_per_kg: dict[str, float]  # HS6 -> median log price per kg in training
    log_price_per_kg: float  # the median over all training rows (an HS6 not seen)

    def to_json(self) -> dict[str, Any]:
        return {
            "prior": self.prior,
            "smoothing": self.smoothing,
            "vocabulary": self.vocabulary,
            "histories": self.histories,
            "hs6LogPricePerKg": self.hs6_log_price_per_kg,
            "logPricePerKg": self.log_price_per_kg,
        }

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> Encodings:
        return cls(
            prior=float(doc["prior"]),
            smoothing=float(doc["smoothing"]),
            vocabulary={k: list(v) for k, v in doc["vocabulary"].items()},
            histories={k: dict(v) for k, v in doc["histories"].items()},
            hs6_log_price_per_kg={k: float(v) for k, v in doc["hs6LogPricePerKg"].items()},
            log_price_per_kg=float(doc["logPricePerKg"]),
        )


def _log_price_per_kg(d: Declarations) -> npt.NDArray[np.float64]:
    mass = np.maximum(d.numbers["Net Mass"], 1e-3)
    return np.log1p(np.maximum(d.numbers["Item Price"], 0.0)) - np.log(mass)


def _histories(
    d: Declarations, y: npt.NDArray[np.int8], rows: range | list[int]
) -> dict[str, dict[str, list[int]]]:
    counted: dict[str, dict[str, list[int]]] = {}
    for name, key_of in HISTORIES.items():
        table: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        for i in rows:
            seen = table[key_of(d, i)]
            seen[0] += 1
            seen[1] += int(y[i])
        counted[name] = dict(table)
    return counted


def fit(d: Declarations, y: npt.NDArray[np.int8]) -> Encodings:
    """The encodings of training rows ``d`` with outcomes ``y``."""
    vocabulary = {
        name: sorted({key_of(d, i) for i in range(len(d))}) for name, key_of in CATEGORIES.items()
    }
    unit = _log_price_per_kg(d)
    by_hs6: dict[str, list[float]] = defaultdict(list)
    for i in range(len(d)):
        if math.isfinite(unit[i]):
            by_hs6[_hs6(d, i)].append(float(unit[i]))
    finite = unit[np.isfinite(unit)]
    return Encodings(
        prior=float(np.mean(y)),
        smoothing=SMOOTHING,
        vocabulary=vocabulary,
        histories=_histories(d, y, range(len(d))),
        hs6_log_price_per_kg={k: float(np.median(v)) for k, v in sorted(by_hs6.items())},
        log_price_per_kg=float(np.median(finite)) if finite.size else 0.0,
    )


def _rate(seen: list[int] | None, enc: Encodings) -> tuple[float, float]:
    rows, frauds = seen if seen is not None else (0, 0)
    return (frauds + enc.prior * enc.smoothing) / (rows + enc.smoothing), float(rows)


def matrix(
    d: Declarations, enc: Encodings, *, out_of_fold: npt.NDArray[np.int8] | None = None
) -> npt.NDArray[np.float64]:
    """The feature matrix of ``d`` (rows x ``feature_names()``). With ``out_of_fold`` (the
    training rows' outcomes), each row's history rates leave out the row's own fold."""
    n = len(d)
    columns: list[npt.NDArray[np.float64]] = []
    for name, key_of in CATEGORIES.items():
        codes = {value: code for code, value in enumerate(enc.vocabulary[name])}
        columns.append(
            np.asarray([codes.get(key_of(d, i), math.nan) for i in range(n)], dtype=np.float64)
        )
    folds: list[dict[str, dict[str, list[int]]]] = []
    if out_of_fold is not None:
        folds = [
            _histories(d, out_of_fold, [i for i in range(n) if i % FOLDS != k])
            for k in range(FOLDS)
        ]
    for name, key_of in HISTORIES.items():
        rate = np.empty(n, dtype=np.float64)
        count = np.empty(n, dtype=np.float64)
        table = enc.histories[name]
        for i in range(n):
            key = key_of(d, i)
            source = folds[i % FOLDS][name] if folds else table
            rate[i], count[i] = _rate(source.get(key), enc)
        columns += [rate, count]
    unit = _log_price_per_kg(d)
    reference = np.asarray(
        [enc.hs6_log_price_per_kg.get(_hs6(d, i), enc.log_price_per_kg) for i in range(n)]
    )
    weekday = [
        float(date.fromisoformat(day).weekday()) if _is_date(day) else math.nan
        for day in d.text["Date"]
    ]
    columns += [
        d.numbers["Tax Rate"],
        np.log1p(np.maximum(d.numbers["Net Mass"], 0.0)),
        np.log1p(np.maximum(d.numbers["Item Price"], 0.0)),
        unit,
        unit - reference,
        np.asarray(
            [
                float(dep == org)
                for dep, org in zip(
                    d.text["Country of Departure"], d.text["Country of Origin"], strict=True
                )
            ]
        ),
        np.asarray([float(bool(s)) for s in d.text["Seller ID"]]),
        np.asarray(weekday, dtype=np.float64),
    ]
    return np.column_stack(columns)


def _is_date(text: str) -> bool:
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return True
