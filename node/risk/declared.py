"""This node's own declarations for the learned score (``--format medtrace``; docs/spec/risk.md
"The learned score of the node's declarations"): read from a customs node's store, each with
the rule indicators R1 to R11 as they fired when it was lodged (``node.risk.report.replay``: only
the declarations, decisions and outcomes ordered before it) and the newest inspection outcome
recorded about it; and the learned score of one declaration at the node, with the five features
that moved it most.
"""

from __future__ import annotations

import hashlib
import json
import math
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ledger.membership import Membership
from ledger.sealed import SEALED
from node.risk.declared_features import DeclaredRow, NodeDeclarations, indicator_values
from node.risk.indicators import Finding
from node.risk.lanes import Assessment, Learned, RiskConfig
from node.risk.report import FOUND, INSPECTED, newest_outcome, replay
from node.store import Store, StoredRecord

if TYPE_CHECKING:
    from node.risk.model import Model

#: Contributions shown with a declaration's learned score.
SHOWN = 5


def row_of(record: StoredRecord, findings: Sequence[Finding]) -> DeclaredRow:
    """A declaration held at this node, with its rules' findings, as the model sees it."""
    return DeclaredRow(
        reference=str(record.data["reference"]),
        entry=record.entry_id,
        declaration={k: v for k, v in record.data.items() if k != SEALED},
        commercial=record.opened,
        packages=len(record.about),
        indicators=indicator_values(findings),
    )


def _findings(assessment: Assessment) -> list[Finding]:
    """The findings an assessment was made of: those that fired and those not evaluated (the
    rest were evaluated and did not fire)."""
    return [*assessment.reasons, *assessment.unevaluated]


def _label(outcome: str | None) -> int | None:
    if outcome not in INSPECTED:
        return None
    return int(outcome == FOUND)


def read_store(
    store: Store,
    membership: Membership,
    org: str,
    config: RiskConfig,
    *,
    progress: Callable[[int], object] | None = None,
) -> tuple[list[DeclaredRow], list[int | None]]:
    """Every declaration of ``org`` at this store, in ledger order, with its outcome label."""
    rows: list[DeclaredRow] = []
    outcomes: list[int | None] = []
    for declaration, record, assessment in replay(
        store, membership, org, config, progress=progress
    ):
        rows.append(row_of(record, _findings(assessment)))
        outcomes.append(_label(newest_outcome(declaration.verdicts)))
    return rows, outcomes


def declarations(parts: Sequence[tuple[list[DeclaredRow], list[int | None]]]) -> NodeDeclarations:
    """Several stores' declarations as one table, named by a digest over each store's
    declaration entry ids and outcome labels, in order."""
    digest = hashlib.sha256()
    rows: list[DeclaredRow] = []
    outcomes: list[int | None] = []
    for part_rows, part_outcomes in parts:
        named = [[r.entry, y] for r, y in zip(part_rows, part_outcomes, strict=True)]
        digest.update(hashlib.sha256(json.dumps(named, separators=(",", ":")).encode()).digest())
        rows += part_rows
        outcomes += part_outcomes
    return NodeDeclarations(rows, outcomes, digest.hexdigest(), list(range(1, len(rows) + 1)))


# -- the learned score at the node ------------------------------------------------------------
_MODELS: dict[str, tuple[tuple[int, int], Model]] = {}
_MODELS_LOCK = threading.Lock()
_PREDICT_LOCK = threading.Lock()


def load_model(path: str, data: Path) -> Model:
    """The model ``risk.model`` names (relative to the data directory ``data``), checked
    against its manifest; kept per process until its model.json changes. A directory that is
    missing or does not match is a ``RiskInputError`` of one line."""
    from node.risk import model  # noqa: PLC0415 (LightGBM loads only where a model is set)

    directory = (data / path).resolve()
    try:
        stat = (directory / model.MANIFEST).stat()
        stamp = (stat.st_mtime_ns, stat.st_size)
    except OSError:
        stamp = (-1, -1)
    with _MODELS_LOCK:
        cached = _MODELS.get(str(directory))
        if cached is not None and cached[0] == stamp:
            return cached[1]
        loaded = model.load(directory, data_format="medtrace")
        _MODELS[str(directory)] = (stamp, loaded)
        return loaded


def learned_score(loaded: Model) -> Callable[[StoredRecord, Sequence[Finding]], Learned]:
    """What ``Scorer`` calls for each declaration: its learned score with the ``SHOWN``
    largest contributions."""
    from node.risk.explain import reasons  # noqa: PLC0415

    def score(record: StoredRecord, findings: Sequence[Finding]) -> Learned:
        table = NodeDeclarations([row_of(record, findings)], [None], "", [1])
        x = loaded.matrix(table)
        with _PREDICT_LOCK:  # one booster serves every thread of the process
            raw = float(loaded.scores(x)[0])
            contributions = loaded.contributions(x)[0]
        return Learned(
            score=round(1.0 / (1.0 + math.exp(-raw)), 6),
            model=loaded.digest,
            contributions=tuple(reasons(loaded, x[0], contributions)[:SHOWN]),
        )

    return score
