"""``medtrace risk …``: train the learned risk score on declarations with their inspection
outcomes, measure it at an inspection rate, and show why it scored a declaration as it did
(docs/spec/risk.md)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import click
from rich.markup import escape
from rich.table import Table

from medtrace.cli.console import (
    AsciiIntRange,
    CleanErrorGroup,
    done,
    err,
    existing_data_dir,
    fail,
    out,
    print_json,
    progress_bar,
)
from node.risk import declared_features, kcs, metrics
from node.risk.declared_features import NodeDeclarations
from node.risk.explain import reasons
from node.risk.kcs import Label, RiskInputError

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from node.risk.model import Model


class _RiskGroup(CleanErrorGroup):
    """A file or model directory the engine cannot use is one line, like any other refusal."""

    expected: ClassVar[tuple[type[Exception], ...]] = (*CleanErrorGroup.expected, RiskInputError)


_FORMAT = click.option(
    "--format",
    "data_format",
    type=click.Choice([kcs.FORMAT, declared_features.FORMAT]),
    required=True,
    help="The declarations' format: kcs (Korea Customs Service import declarations, a CSV "
    "of 22 columns) or medtrace (a customs node's data directory: its own declarations "
    "with their recorded inspection outcomes).",
)
_JSON = click.option(
    "--json", "as_json", is_flag=True, help="Print one JSON object as the last line."
)
_MODEL = click.option(
    "--model",
    "model_dir",
    required=True,
    type=click.Path(path_type=Path),
    help="A model directory made by `medtrace risk train`.",
)


@contextmanager
def _step(message: str, hidden: bool) -> Iterator[None]:
    """A spinner on stderr while a step runs (none under --json)."""
    if hidden:
        yield
        return
    with err().status(message, spinner="dots"):
        yield


def _data(paths: tuple[Path, ...], data_format: str) -> None:
    """Each --data is what the format reads: a file (kcs) or a node's data directory."""
    for path in paths:
        if data_format == declared_features.FORMAT:
            existing_data_dir(path)
        elif not path.exists():
            fail(f"{path}: expected a file, found nothing there")
        elif path.is_dir():
            fail(f"{path}: expected a file, found a directory")


def _read(
    paths: tuple[Path, ...], hidden: bool, data_format: str = kcs.FORMAT
) -> kcs.Declarations | NodeDeclarations:
    _data(paths, data_format)
    if data_format == declared_features.FORMAT:
        from medtrace.cli.risk_report import node_declarations  # noqa: PLC0415

        return node_declarations(paths, hidden)
    names = ", ".join(path.name for path in paths)
    with _step(f"reading {escape(names)}", hidden):
        return kcs.read(list(paths))


_DATA_HELP = (
    "A CSV of declarations with outcomes (kcs), or a customs node's data directory "
    "(medtrace); repeat for several (read in order)."
)


@click.group("risk", cls=_RiskGroup)
def risk_group() -> None:
    """The learned risk score: train it on past declarations and their inspection outcomes
    (a KCS file, or a customs node's own declarations: --format medtrace), measure it, explain
    a score feature by feature. The rule indicators and lanes: measure them
    on a generated set (simulate), commit to and replay the random selection (seed, draw), and
    count how often each one's selections found something in a customs node's recorded
    inspection outcomes (report)."""


@risk_group.command("train", short_help="Train a model on declarations and their outcomes.")
@_FORMAT
@click.option(
    "--data",
    "data",
    multiple=True,
    required=True,
    type=click.Path(path_type=Path),
    help=_DATA_HELP,
)
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(path_type=Path),
    help="The model directory to create (new or empty).",
)
@click.option(
    "--label",
    type=click.Choice([label.value for label in Label]),
    default=Label.FRAUD.value,
    show_default=True,
    help="What to find: fraud (Fraud = 1; medtrace: found_falsified) or critical (Critical "
    "Fraud = 2; kcs only).",
)
@_JSON
def train_command(
    data_format: str, data: tuple[Path, ...], out_dir: Path, label: str, as_json: bool
) -> None:
    """Train a model on declarations with their outcomes and write it to --out: the booster,
    the encodings, the feature list and a manifest (model.json) with the data's digest.

    Same files, same model: the seeds and threads are fixed.

    With --format medtrace, --data is a customs node's data directory (read offline, nothing
    written): each declaration with an inspection outcome (found_falsified = 1,
    found_compliant = 0) is a training row, its rule indicators R1 to R11 as they fired when it
    was lodged among its features; declarations without one are left out.

    \b
    Examples:
      medtrace risk train --format kcs --data ../shared/testdata/kcs-customs-declarations/train.csv --out risk-model
      medtrace risk train --format medtrace --data nodes/border --out node-model
    """
    from node.risk import model  # noqa: PLC0415 (LightGBM loads only when a model is used)

    model.check_out(out_dir)
    if data_format == declared_features.FORMAT and label != Label.FRAUD.value:
        fail("--label: expected fraud with --format medtrace (found_falsified or found_compliant)")
    declarations = _read(data, as_json, data_format)
    if isinstance(declarations, NodeDeclarations):
        declarations = declarations.labelled()
    started = time.monotonic()
    with _step("fitting the encodings and encoding the training rows", as_json):
        training = model.prepare(declarations, Label(label), data_format=data_format)
    with progress_bar(label="boosting", hidden=as_json, target=err()) as bar:
        task = bar.add_task("rounds", total=model.SCHEMAS[data_format].rounds)
        booster = model.boost(
            training, on_round=lambda done, total: bar.update(task, completed=done, total=total)
        )
    manifest = model.save(training, booster, out_dir, sources=[path.name for path in data])
    seconds = round(time.monotonic() - started, 2)
    trained = manifest["training"]
    if as_json:
        print_json(
            {
                "model": str(out_dir),
                "label": label,
                "rows": trained["rows"],
                "fraud_rate": trained["fraudRate"],
                "features": len(manifest["features"]),
                "rounds": manifest["rounds"],
                "seconds": seconds,
                "digest": trained["digest"],
            }
        )
        return
    table = Table(title="risk model trained", show_header=False)
    for name, value in (
        ("model directory", escape(str(out_dir))),
        ("label", label),
        ("training rows", f"{trained['rows']:,}"),
        (f"{label} rate", f"{trained['fraudRate']:.3f}"),
        ("features", str(len(manifest["features"]))),
        ("boosting rounds", str(manifest["rounds"])),
        ("seconds", f"{seconds:.1f}"),
        ("data sha256", trained["digest"]),
    ):
        table.add_row(name, value)
    out().print(table)
    done(f"model written to {escape(str(out_dir))}")


def _scored(
    model_dir: Path, data: tuple[Path, ...], data_format: str, hidden: bool, labelled: bool
) -> tuple[Model, kcs.Declarations | NodeDeclarations, npt.NDArray[np.float64]]:
    from node.risk import model  # noqa: PLC0415 (LightGBM loads only when a model is used)

    _data(data, data_format)
    with _step(f"checking the model in {escape(str(model_dir))}", hidden):
        loaded = model.load(model_dir, data_format=data_format)
    declarations = _read(data, hidden, data_format)
    if labelled and isinstance(declarations, NodeDeclarations):
        declarations = declarations.labelled()
    with _step("encoding the declarations", hidden):
        x = loaded.matrix(declarations)
    return loaded, declarations, x


@risk_group.command("evaluate", short_help="Precision and recall at 1, 2, 5 and 10 % inspected.")
@_FORMAT
@_MODEL
@click.option(
    "--data",
    "data",
    multiple=True,
    required=True,
    type=click.Path(path_type=Path),
    help="A CSV of declarations with outcomes (kcs), or a customs node's data directory "
    "(medtrace), to score; repeat for several.",
)
@click.option(
    "--show",
    default=0,
    show_default=True,
    type=AsciiIntRange(min=0),
    help="Also list the N top-scored rows, each with its three largest contributions.",
)
@_JSON
def evaluate_command(
    data_format: str, model_dir: Path, data: tuple[Path, ...], show: int, as_json: bool
) -> None:
    """Score every row of --data and report, for inspecting the top 1, 2, 5 and 10 % of the
    rows by score, the precision (share of inspected rows that were fraud) and the recall
    (share of all fraud rows inspected).

    With --format medtrace, the rows are the node's declarations with an inspection outcome
    (found_falsified is fraud); "row" numbers a declaration among all of the node's, in ledger
    order, as explain --row does.

    \b
    Examples:
      medtrace risk evaluate --format kcs --model risk-model --data ../shared/testdata/kcs-customs-declarations/valid.csv --json
      medtrace risk evaluate --format medtrace --model node-model --data nodes/border --json
    """
    loaded, declarations, x = _scored(model_dir, data, data_format, as_json, labelled=True)
    y = declarations.labels(loaded.label)
    with _step("scoring", as_json):
        scores = loaded.scores(x)
        result = metrics.evaluate(scores, y)
    top: list[dict[str, Any]] = [
        {
            "row": declarations.row_number(int(i)),
            "declaration": declarations.name(int(i)),
            "probability": round(1.0 / (1.0 + math.exp(-float(scores[i]))), 6),
            "outcome": int(y[i]),
            "reasons": reasons(loaded, x[i], loaded.contributions(x[i : i + 1])[0])[:3],
        }
        for i in metrics.ranking(scores)[:show]
    ]
    if as_json:
        print_json(
            {**result.to_json(), "label": loaded.label.value, **({"top": top} if show else {})}
        )
        return
    table = Table(
        "inspected",
        "rows opened",
        "found",
        "precision",
        "recall",
        title=(
            f"{result.rows:,} rows, {loaded.label.value} rate {result.fraud_rate:.3f} "
            f"({escape(', '.join(path.name for path in data))})"
        ),
    )
    for rate, opened in result.inspected.items():
        precision = result.precision_at[rate]
        table.add_row(
            f"top {rate} %",
            f"{opened:,}",
            f"{round(precision * opened):,}",
            f"{precision:.3f}",
            f"{result.recall_at[rate]:.3f}",
        )
    out().print(table)
    if top:
        rows = Table(
            "row", "declaration", f"P({loaded.label.value})", "outcome", "largest contributions"
        )
        for item in top:
            said = ", ".join(
                f"{r['feature']} {escape(r['value'])} {r['contribution']:+.2f}"
                for r in item["reasons"]
            )
            rows.add_row(
                str(item["row"]),
                escape(item["declaration"]),
                f"{item['probability']:.3f}",
                str(item["outcome"]),
                said,
            )
        out().print(rows)


@risk_group.command("explain", short_help="One row's score, feature by feature.")
@_FORMAT
@_MODEL
@click.option(
    "--data",
    "data",
    required=True,
    type=click.Path(path_type=Path),
    help="A CSV of declarations, outcome columns optional (kcs), or a customs node's data "
    "directory (medtrace).",
)
@click.option(
    "--row",
    required=True,
    type=AsciiIntRange(min=1),
    help="Which declared item: its data row, 1 = the line after the header (kcs); the node's "
    "Nth declaration in ledger order (medtrace).",
)
@click.option(
    "--top", default=12, show_default=True, type=AsciiIntRange(min=1), help="Features to list."
)
@_JSON
def explain_command(
    data_format: str, model_dir: Path, data: Path, row: int, top: int, as_json: bool
) -> None:
    """Show one row's score and every feature's contribution to it (LightGBM's SHAP values):
    the bias plus the contributions add up to the raw score, the log-odds of fraud.

    \b
    Examples:
      medtrace risk explain --format kcs --model risk-model --data ../shared/testdata/kcs-customs-declarations/valid.csv --row 42
      medtrace risk explain --format medtrace --model node-model --data nodes/border --row 3
    """
    loaded, declarations, x = _scored(model_dir, (data,), data_format, as_json, labelled=False)
    if row > len(declarations):
        raise RiskInputError(f"--row: expected 1 to {len(declarations)}, found {row}")
    contributions = loaded.contributions(x[row - 1 : row])[0]
    names = loaded.manifest["features"]
    raw = float(loaded.scores(x[row - 1 : row])[0])
    bias = float(contributions[-1])
    listed = reasons(loaded, x[row - 1], contributions)
    probability = 1.0 / (1.0 + math.exp(-raw))
    declaration = declarations.name(row - 1)
    summary: dict[str, Any] = {
        "row": row,
        "declaration": declaration,
        "label": loaded.label.value,
        "raw_score": round(raw, 6),
        "probability": round(probability, 6),
        "bias": round(bias, 6),
    }
    if as_json:
        print_json({**summary, "contributions": listed})
        return
    table = Table(
        "feature",
        "value",
        "contribution",
        title=(
            f"row {row} (declaration {escape(declaration)}): raw score {raw:+.3f}, "
            f"P({loaded.label.value}) {probability:.3f}"
        ),
        caption=f"bias {bias:+.3f} + all {len(names)} contributions = raw score {raw:+.3f}",
    )
    shade: Callable[[float], str] = lambda c: "red" if c > 0 else "green"  # noqa: E731
    for item in listed[:top]:
        c = item["contribution"]
        table.add_row(item["feature"], escape(item["value"]), f"[{shade(c)}]{c:+.4f}[/]")
    out().print(table)


# -- the rule indicators and lanes (issue 16 items 1, 2, 5): medtrace/cli/risk_lanes.py ------
from medtrace.cli.risk_lanes import draw_command, seed_command, simulate_command  # noqa: E402

for _command in (simulate_command, seed_command, draw_command):
    risk_group.add_command(_command)
from medtrace.cli.risk_report import report_command  # noqa: E402  (issue 16 item 3)

risk_group.add_command(report_command)
