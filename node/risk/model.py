"""Training, storing, checking and loading a risk model directory.

A model directory holds ``booster.txt`` (LightGBM's text format), ``encodings.json`` (what the
training rows taught, ``node.risk.features``) and ``model.json``, the manifest: the feature
list, the label, the parameters, the training data's digest, the library versions and the
sha256 of the other two files. Loading reads each file once, checks it against the manifest
and refuses a directory that does not match in one line: a booster that was edited or swapped
scores nothing.
"""

from __future__ import annotations

import hashlib
import json
import platform
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import numpy.typing as npt

from node.risk import declared_features, features
from node.risk.kcs import FORMAT, Declarations, Label, RiskInputError

MANIFEST = "model.json"
BOOSTER = "booster.txt"
ENCODINGS = "encodings.json"
KIND = "medtrace-risk-model"
VERSION = 1

#: Fixed, so the same files give the same booster and the same scores (docs/spec/risk.md). One
#: thread: the result cannot depend on the machine's cores, and OpenMP threads on a busy machine
#: wait on each other far longer than one thread takes.
PARAMS: dict[str, Any] = {
    "objective": "binary",
    "learning_rate": 0.05,
    "num_leaves": 31,
    "min_data_in_leaf": 20,
    "feature_fraction": 0.8,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "cat_smooth": 10.0,
    "max_cat_to_onehot": 4,
    "seed": 7,
    "deterministic": True,
    "force_row_wise": True,
    "num_threads": 1,
    "verbose": -1,
}
ROUNDS = 400
#: A customs node's own inspected declarations are hundreds to a few thousand, and a kind of
#: falsification may have a dozen of them: smaller leaves, fewer rounds (ADR 0025, addendum).
NODE_PARAMS: dict[str, Any] = {**PARAMS, "num_leaves": 15, "min_data_in_leaf": 5}
NODE_ROUNDS = 200


@dataclass(frozen=True)
class Schema:
    """The columns of one input format: their names, which are categories, how encodings are
    fitted and rows encoded, and which features an explanation shows as whole numbers."""

    format: str
    feature_names: Callable[[], list[str]]
    categorical_names: Callable[[], list[str]]
    fit: Callable[[Any, npt.NDArray[np.int8]], Any]
    matrix: Callable[..., npt.NDArray[np.float64]]
    encodings: Callable[[dict[str, Any]], Any]
    integers: frozenset[str]
    params: dict[str, Any]
    rounds: int


SCHEMAS: dict[str, Schema] = {
    FORMAT: Schema(
        FORMAT,
        features.feature_names,
        features.categorical_names,
        features.fit,
        features.matrix,
        features.Encodings.from_json,
        frozenset({"departure_is_origin", "seller_named", "weekday"}),
        PARAMS,
        ROUNDS,
    ),
    declared_features.FORMAT: Schema(
        declared_features.FORMAT,
        declared_features.feature_names,
        declared_features.categorical_names,
        declared_features.fit,
        declared_features.matrix,
        declared_features.Encodings.from_json,
        declared_features.INTEGERS,
        NODE_PARAMS,
        NODE_ROUNDS,
    ),
}


@dataclass(frozen=True)
class Model:
    """A loaded, checked model: score declarations, explain a score."""

    booster: lgb.Booster
    encodings: Any  # features.Encodings or declared_features.Encodings, by the format
    manifest: dict[str, Any]
    schema: Schema = SCHEMAS[FORMAT]
    #: SHA-256 of model.json: names the model (its files' digests are in it)
    digest: str = ""

    @property
    def label(self) -> Label:
        return Label(self.manifest["label"])

    def matrix(self, d: Any) -> npt.NDArray[np.float64]:
        return self.schema.matrix(d, self.encodings)

    def scores(self, x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """Raw scores (log-odds of fraud), one per row; higher is riskier."""
        return np.asarray(
            self.booster.predict(x, raw_score=True, num_threads=PARAMS["num_threads"]),
            dtype=np.float64,
        )

    def contributions(self, x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """Per row, each feature's contribution to the raw score (SHAP values, in
        ``features.feature_names()`` order) and last the bias: a row's columns add up to its
        raw score."""
        return np.asarray(
            self.booster.predict(x, pred_contrib=True, num_threads=PARAMS["num_threads"]),
            dtype=np.float64,
        )


def versions() -> dict[str, str]:
    """The versions a model was made with: a booster of another LightGBM major is refused."""
    return {
        "lightgbm": metadata.version("lightgbm"),
        "numpy": metadata.version("numpy"),
        "python": platform.python_version(),
        "medtrace": metadata.version("medtrace"),
    }


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def check_out(out: Path) -> None:
    """Refuse an ``out`` that is a file or a directory with files in it, before any work."""
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise RiskInputError(f"{out}: expected a new or empty directory for the model")


@dataclass(frozen=True)
class Training:
    """Training rows encoded, ready to boost: the slow, silent step before the rounds."""

    declarations: Any  # kcs.Declarations or declared_features.NodeDeclarations
    label: Label
    y: npt.NDArray[np.int8]
    encodings: Any
    x: npt.NDArray[np.float64]
    started: float
    schema: Schema = SCHEMAS[FORMAT]


def prepare(
    d: Declarations | declared_features.NodeDeclarations,
    label: Label = Label.FRAUD,
    *,
    data_format: str = FORMAT,
) -> Training:
    """Fit the encodings on ``d`` and encode its rows (their history rates out-of-fold)."""
    schema = SCHEMAS[data_format]
    y = d.labels(label)
    if y.min() == y.max():
        raise RiskInputError(
            f"expected both outcomes of {label.value!r} in the training data, found one"
        )
    started = time.monotonic()
    enc = schema.fit(d, y)
    return Training(d, label, y, enc, schema.matrix(d, enc, out_of_fold=y), started, schema)


def boost(
    t: Training, *, rounds: int | None = None, on_round: Callable[[int, int], None] | None = None
) -> lgb.Booster:
    """The booster of ``t``; ``on_round(done, total)`` is called after each round."""
    dataset = lgb.Dataset(
        t.x,
        t.y,
        feature_name=t.schema.feature_names(),
        categorical_feature=t.schema.categorical_names(),
        free_raw_data=True,
    )
    callbacks = []
    if on_round is not None:
        report = on_round

        def step(env: lgb.callback.CallbackEnv) -> None:
            report(env.iteration + 1, env.end_iteration)

        callbacks.append(step)
    return lgb.train(
        t.schema.params,
        dataset,
        num_boost_round=t.schema.rounds if rounds is None else rounds,
        callbacks=callbacks,
    )


def train(
    d: Declarations | declared_features.NodeDeclarations,
    out: Path,
    *,
    label: Label = Label.FRAUD,
    rounds: int | None = None,
    sources: list[str] | None = None,
    data_format: str = FORMAT,
) -> dict[str, Any]:
    """``prepare``, ``boost`` and ``save`` in one call; returns the manifest."""
    check_out(out)
    t = prepare(d, label, data_format=data_format)
    return save(t, boost(t, rounds=rounds), out, sources=sources)


def save(
    t: Training, booster: lgb.Booster, out: Path, *, sources: list[str] | None = None
) -> dict[str, Any]:
    """Write the model directory ``out`` (new or empty); returns its manifest."""
    check_out(out)
    booster_text = booster.model_to_string().encode()
    encodings_text = json.dumps(
        t.encodings.to_json(), sort_keys=True, separators=(",", ":")
    ).encode()
    manifest: dict[str, Any] = {
        "kind": KIND,
        "version": VERSION,
        "format": t.schema.format,
        "label": t.label.value,
        "features": t.schema.feature_names(),
        "categorical": t.schema.categorical_names(),
        "params": t.schema.params,
        "rounds": booster.current_iteration(),
        "training": {
            "rows": len(t.declarations),
            "fraudRate": round(float(np.mean(t.y)), 6),
            "digest": t.declarations.digest,
            "files": sources or [],
            "seconds": round(time.monotonic() - t.started, 2),
        },
        "files": {BOOSTER: _sha256(booster_text), ENCODINGS: _sha256(encodings_text)},
        "versions": versions(),
    }
    # Written beside, then renamed: a failure leaves no half model where --out points.
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        (partial / BOOSTER).write_bytes(booster_text)
        (partial / ENCODINGS).write_bytes(encodings_text)
        (partial / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
        partial.chmod(0o755)
        if out.exists():
            out.rmdir()
        partial.rename(out)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return manifest


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise RiskInputError(
            f"{path.parent}: expected a risk model directory; {path.name} is missing"
        ) from None
    except OSError as exc:
        raise RiskInputError(f"{path}: expected a readable model file ({exc.strerror})") from None


def _manifest(directory: Path) -> tuple[dict[str, Any], str]:
    if not directory.is_dir():
        found = "a file" if directory.exists() else "nothing there"
        raise RiskInputError(f"{directory}: expected a risk model directory, found {found}")
    raw = _read(directory / MANIFEST)
    try:
        manifest = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise RiskInputError(
            f"{directory / MANIFEST}: expected a JSON manifest, found other bytes"
        ) from None
    if not isinstance(manifest, dict) or manifest.get("kind") != KIND:
        raise RiskInputError(f"{directory / MANIFEST}: expected a {KIND} manifest")
    if manifest.get("version") != VERSION:
        raise RiskInputError(
            f"{directory / MANIFEST}: expected manifest version {VERSION}, found {manifest.get('version')!r}"
        )
    return manifest, _sha256(raw)


def load(directory: Path, *, data_format: str = FORMAT) -> Model:
    """The model in ``directory``, once every file matches the manifest."""
    manifest, digest = _manifest(directory)
    if manifest.get("format") != data_format:
        raise RiskInputError(
            f"{directory}: expected a model of --format {data_format}, found one of {manifest.get('format')!r}"
        )
    schema = SCHEMAS[data_format]
    if manifest.get("features") != schema.feature_names():
        raise RiskInputError(
            f"{directory}: expected this version's feature list; train the model again"
        )
    made_with = str(manifest.get("versions", {}).get("lightgbm", "?"))
    if made_with.split(".", maxsplit=1)[0] != metadata.version("lightgbm").split(".")[0]:
        raise RiskInputError(
            f"{directory}: expected a model of LightGBM {metadata.version('lightgbm')}, found one of {made_with}"
        )
    files = manifest.get("files", {})
    read: dict[str, bytes] = {}
    for name in (BOOSTER, ENCODINGS):
        read[name] = _read(directory / name)
        if _sha256(read[name]) != files.get(name):
            raise RiskInputError(
                f"{directory / name}: expected the file the manifest names (sha256 differs); refusing the model"
            )
    try:
        booster = lgb.Booster(model_str=read[BOOSTER].decode())
        encodings = schema.encodings(json.loads(read[ENCODINGS]))
        Label(manifest["label"])
    except (lgb.basic.LightGBMError, ValueError, KeyError, TypeError, AttributeError):
        raise RiskInputError(
            f"{directory}: expected a LightGBM booster and encodings, found files that do not load"
        ) from None
    if booster.num_feature() != len(manifest["features"]):
        raise RiskInputError(
            f"{directory / BOOSTER}: expected {len(manifest['features'])} features, found {booster.num_feature()}"
        )
    return Model(
        booster=booster, encodings=encodings, manifest=manifest, schema=schema, digest=digest
    )
