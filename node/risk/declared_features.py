"""The learned score's columns for this node's own declarations (``--format medtrace``): what a
declaration states in its public and clear commercial fields, what the training declarations'
inspection outcomes say about its parties and goods, and the rule indicators R1 to R11 as they
fired when it was lodged (docs/spec/risk.md "Features of the node's declarations").

Pure: a ``DeclaredRow`` holds a declaration's fields and its indicators; ``node.risk.declared``
reads them from a customs node's store. As for the KCS files (``node.risk.features``), every
encoding is fitted on the training rows only, and on them the outcome rates are out-of-fold.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

import numpy as np
import numpy.typing as npt

from node.risk.indicators import INDICATORS, Finding, address_key, party_key
from node.risk.kcs import Label, RiskInputError

FORMAT = "medtrace"
FOLDS = 5
SMOOTHING = 20.0


@dataclass(frozen=True)
class DeclaredRow:
    """One declaration as the learned score sees it."""

    reference: str
    entry: str
    declaration: Mapping[str, Any]  # the public fields
    commercial: Mapping[str, Any] | None  # the clear commercial fields; None where sealed
    packages: int  # declared packages (SSCCs and loose packs)
    #: indicator code -> 1.0 fired, 0.0 evaluated and not fired, nan not evaluated
    indicators: Mapping[str, float]


def indicator_values(findings: Sequence[Finding]) -> dict[str, float]:
    """R1 to R11 as features: 1 fired, 0 not fired, nan when it could not be evaluated. A code
    with no finding among ``findings`` was evaluated and did not fire (an assessment keeps only
    the findings that fired and those not evaluated)."""
    found = {f.code: f for f in findings}
    values: dict[str, float] = {}
    for indicator in INDICATORS:
        f = found.get(indicator.code)
        values[indicator.code] = 0.0 if f is None else float(f.fired) if f.evaluated else math.nan
    return values


@dataclass(frozen=True)
class NodeDeclarations:
    """Declarations read from customs nodes' stores, in their ledger order, with the outcome of
    their inspection where one was recorded (1 found_falsified, 0 found_compliant, else None)."""

    rows: list[DeclaredRow]
    outcomes: list[int | None]
    digest: str
    #: each row's number among all the declarations read (1 = the first in ledger order)
    numbers: list[int]

    def __len__(self) -> int:
        return len(self.rows)

    def name(self, i: int) -> str:
        return self.rows[i].reference

    def row_number(self, i: int) -> int:
        return self.numbers[i]

    def labelled(self) -> NodeDeclarations:
        """Only the declarations with an inspection outcome (the others teach nothing)."""
        keep = [i for i, y in enumerate(self.outcomes) if y is not None]
        return NodeDeclarations(
            [self.rows[i] for i in keep],
            [self.outcomes[i] for i in keep],
            self.digest,
            [self.numbers[i] for i in keep],
        )

    def labels(self, label: Label) -> npt.NDArray[np.int8]:
        if label is not Label.FRAUD:
            raise RiskInputError(
                "--label: expected fraud with --format medtrace (an inspection outcome is "
                "found_falsified or found_compliant)"
            )
        if not self.rows:
            raise RiskInputError(
                "expected declarations with an inspection outcome (found_falsified or "
                "found_compliant) in the data, found none"
            )
        if any(y is None for y in self.outcomes):
            raise RiskInputError("expected an inspection outcome for every declaration")
        return np.asarray(self.outcomes, dtype=np.int8)


def _commercial(r: DeclaredRow) -> Mapping[str, Any]:
    return r.commercial or {}


def _goods(r: DeclaredRow) -> list[Mapping[str, Any]]:
    return [g for g in _commercial(r).get("goods", []) if isinstance(g, Mapping)]


def _hs6(r: DeclaredRow) -> str:
    goods = _goods(r)
    return str(goods[0].get("hsCode", "")) if goods else ""


def _party(role: str) -> Callable[[DeclaredRow], str]:
    return lambda r: party_key(_commercial(r).get(role)) or ""


def _text(name: str) -> Callable[[DeclaredRow], str]:
    return lambda r: str(r.declaration.get(name, "") or "")


#: Columns the model splits on as categories.
CATEGORIES: dict[str, Callable[[DeclaredRow], str]] = {
    "office": _text("officeOfEntry"),
    "origin": _text("countryOfOrigin"),
    "dispatch": _text("countryOfDispatch"),
    "transport_mode": _text("transportMode"),
    "consignment_type": _text("consignmentType"),
    "consignee_address_type": lambda r: str(
        (_commercial(r).get("consignee") or {}).get("addressType", "")
    ),
    "hs6": _hs6,
}

#: Who and what the training declarations have outcomes for: ``<name>_rate`` (smoothed share
#: found falsified) and ``<name>_count`` (training declarations with that key).
HISTORIES: dict[str, Callable[[DeclaredRow], str]] = {
    "consignor": _party("consignor"),
    "consignee": _party("consignee"),
    "declarant": _party("declarant"),
    "consignee_address": lambda r: address_key(_commercial(r).get("consignee")) or "",
    "hs6": _hs6,
    "consignor_hs6": lambda r: f"{_party('consignor')(r)}|{_hs6(r)}",
    "origin_hs6": lambda r: f"{r.declaration.get('countryOfOrigin', '')}|{_hs6(r)}",
    "dispatch_hs6": lambda r: f"{r.declaration.get('countryOfDispatch', '')}|{_hs6(r)}",
}


def _dec(value: Any) -> float:
    try:
        number = float(Decimal(str(value)))
    except (InvalidOperation, ValueError, TypeError):
        return math.nan
    return number if math.isfinite(number) else math.nan


def _totals(r: DeclaredRow) -> tuple[float, float, float]:
    """Quantity, value and net mass summed over the goods (nan where a field is missing)."""
    goods = _goods(r)
    if not goods:
        return math.nan, math.nan, math.nan
    quantity = sum(_dec(g.get("quantity")) for g in goods)
    value = sum(_dec((g.get("value") or {}).get("amount")) for g in goods)
    mass = sum(_dec(g.get("netMassKg")) for g in goods)
    return quantity, value, mass


def _log_unit_value(r: DeclaredRow) -> float:
    quantity, value, _ = _totals(r)
    if not quantity or not math.isfinite(quantity) or not math.isfinite(value) or quantity <= 0:
        return math.nan
    return math.log1p(max(value, 0.0) / quantity)


def _transit(r: DeclaredRow, name: str) -> float:
    transit = r.declaration.get("transit") or {}
    return float(len(transit.get(name, []) or []))


def _per_pack_mass(r: DeclaredRow) -> float:
    quantity, _, mass = _totals(r)
    return mass / quantity if quantity and quantity > 0 and math.isfinite(mass) else math.nan


#: Plain numbers from the declaration itself (``unit_value_vs_hs6`` needs the encodings).
NUMBERS: dict[str, Callable[[DeclaredRow], float]] = {
    "transit_countries": lambda r: _transit(r, "countries"),
    "free_zones": lambda r: _transit(r, "freeZones"),
    "low_value": lambda r: float(bool(r.declaration.get("lowValue"))),
    "packages": lambda r: float(r.packages),
    "goods_lines": lambda r: float(len(_goods(r))) if r.commercial is not None else math.nan,
    "quantity": lambda r: _totals(r)[0],
    "log_unit_value": _log_unit_value,
    "net_mass_per_pack": _per_pack_mass,
    "dispatch_is_origin": lambda r: float(
        r.declaration.get("countryOfDispatch") == r.declaration.get("countryOfOrigin")
    ),
}
UNIT_VALUE_VS_HS6 = "unit_value_vs_hs6"
#: The indicators' columns: ``R1_never_commissioned`` … ``R11_private_prescription``.
INDICATOR_FEATURES = {f"{i.code}_{i.name}": i.code for i in INDICATORS}
#: Features shown as whole numbers in an explanation.
INTEGERS = frozenset(
    {"transit_countries", "free_zones", "low_value", "packages", "goods_lines",
     "dispatch_is_origin", *INDICATOR_FEATURES}
)  # fmt: skip


def feature_names() -> list[str]:
    """Categories, histories (rate, count), numbers, then the indicators."""
    names = list(CATEGORIES)
    for name in HISTORIES:
        names += [f"{name}_rate", f"{name}_count"]
    return [*names, *NUMBERS, UNIT_VALUE_VS_HS6, *INDICATOR_FEATURES]


def categorical_names() -> list[str]:
    return list(CATEGORIES)


@dataclass(frozen=True)
class Encodings:
    """What the training declarations taught, stored as ``encodings.json``."""

    prior: float
    smoothing: float
    vocabulary: dict[str, list[str]]
    histories: dict[str, dict[str, list[int]]]  # history -> key -> [declarations, falsified]
    hs6_log_unit_value: dict[str, float]  # HS6 -> median log unit value in training
    log_unit_value: float  # the median over all training declarations

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "prior": self.prior,
            "smoothing": self.smoothing,
            "vocabulary": self.vocabulary,
            "histories": self.histories,
            "hs6LogUnitValue": self.hs6_log_unit_value,
            "logUnitValue": self.log_unit_value,
        }

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> Encodings:
        return cls(
            prior=float(doc["prior"]),
            smoothing=float(doc["smoothing"]),
            vocabulary={k: list(v) for k, v in doc["vocabulary"].items()},
            histories={k: dict(v) for k, v in doc["histories"].items()},
            hs6_log_unit_value={k: float(v) for k, v in doc["hs6LogUnitValue"].items()},
            log_unit_value=float(doc["logUnitValue"]),
        )


def _histories(
    d: NodeDeclarations, y: npt.NDArray[np.int8], rows: Sequence[int]
) -> dict[str, dict[str, list[int]]]:
    counted: dict[str, dict[str, list[int]]] = {}
    for name, key_of in HISTORIES.items():
        table: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        for i in rows:
            seen = table[key_of(d.rows[i])]
            seen[0] += 1
            seen[1] += int(y[i])
        counted[name] = dict(sorted(table.items()))
    return counted


def fit(d: NodeDeclarations, y: npt.NDArray[np.int8]) -> Encodings:
    """The encodings of training declarations ``d`` with outcomes ``y``."""
    vocabulary = {name: sorted({key_of(r) for r in d.rows}) for name, key_of in CATEGORIES.items()}
    by_hs6: dict[str, list[float]] = defaultdict(list)
    for r in d.rows:
        unit = _log_unit_value(r)
        if math.isfinite(unit):
            by_hs6[_hs6(r)].append(unit)
    every = [v for values in by_hs6.values() for v in values]
    return Encodings(
        prior=float(np.mean(y)),
        smoothing=SMOOTHING,
        vocabulary=vocabulary,
        histories=_histories(d, y, range(len(d))),
        hs6_log_unit_value={k: float(np.median(v)) for k, v in sorted(by_hs6.items())},
        log_unit_value=float(np.median(every)) if every else 0.0,
    )


def _rate(seen: list[int] | None, enc: Encodings) -> tuple[float, float]:
    rows, falsified = seen if seen is not None else (0, 0)
    return (falsified + enc.prior * enc.smoothing) / (rows + enc.smoothing), float(rows)


def matrix(
    d: NodeDeclarations, enc: Encodings, *, out_of_fold: npt.NDArray[np.int8] | None = None
) -> npt.NDArray[np.float64]:
    """The feature matrix of ``d`` (rows x ``feature_names()``); with ``out_of_fold`` (the
    training outcomes) each row's rates leave out the row's own fold."""
    n = len(d)
    columns: list[list[float]] = []
    for name, key_of in CATEGORIES.items():
        codes = {value: code for code, value in enumerate(enc.vocabulary[name])}
        columns.append([float(codes.get(key_of(r), math.nan)) for r in d.rows])
    folds: list[dict[str, dict[str, list[int]]]] = []
    fold = [i * FOLDS // max(n, 1) for i in range(n)]  # contiguous blocks of the ledger order
    if out_of_fold is not None:
        folds = [
            _histories(d, out_of_fold, [i for i in range(n) if fold[i] != k]) for k in range(FOLDS)
        ]
    for name, key_of in HISTORIES.items():
        rates: list[float] = []
        counts: list[float] = []
        for i, r in enumerate(d.rows):
            source = folds[fold[i]][name] if folds else enc.histories[name]
            rate, count = _rate(source.get(key_of(r)), enc)
            rates.append(rate)
            counts.append(count)
        columns += [rates, counts]
    for number in NUMBERS.values():
        columns.append([number(r) for r in d.rows])
    columns.append(
        [
            _log_unit_value(r) - enc.hs6_log_unit_value.get(_hs6(r), enc.log_unit_value)
            for r in d.rows
        ]
    )
    for code in INDICATOR_FEATURES.values():
        columns.append([float(r.indicators.get(code, math.nan)) for r in d.rows])
    if n == 0:
        return np.empty((0, len(columns)), dtype=np.float64)
    return np.asarray(columns, dtype=np.float64).T.copy()
