"""What the risk commands refuse, each in one ``error:`` line with no traceback and nothing
left behind: files that are not KCS declarations, and model directories that do not match
their manifest (a booster edited or swapped scores nothing)."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

from node.risk import model
from tests.risk.conftest import run


def _first_row_with(text: str, column: str, value: str) -> bytes:
    lines = text.splitlines()
    fields = lines[1].split(",")
    fields[lines[0].split(",").index(column)] = value
    return "\n".join([lines[0], ",".join(fields), *lines[2:]]).encode()


#: case -> how to spoil a copy of the validation slice (given its text), and a phrase the line says.
BAD_FILES: dict[str, tuple[Callable[[str], bytes], str]] = {
    "missing column": (
        lambda t: "\n".join(
            ",".join(f for k, f in enumerate(line.split(",")) if k != 12) for line in t.splitlines()
        ).encode(),
        "missing column 'HS6 Code'",
    ),
    "not utf-8": (lambda t: b"\xff\xfe\x00\x01" + t.encode("utf-16"), "expected a UTF-8 CSV"),
    "empty file": (lambda t: b"", "expected a KCS declarations CSV"),
    "header only": (lambda t: t.splitlines()[0].encode() + b"\n", "found only a header"),
    "word as net mass": (
        lambda t: _first_row_with(t, "Net Mass", "heavy"),
        "expected a number in 'Net Mass'",
    ),
    "fraud label 3": (
        lambda t: _first_row_with(t, "Fraud", "3"),
        "expected 0 or 1 in 'Fraud'",
    ),
    "short row": (
        lambda t: t.replace("\n", "\n1,2,3\n", 1).encode(),
        "expected 22 fields",
    ),
}


def _one_error_line(result: Result, phrase: str) -> None:
    assert result.exit_code == 1, result.output + result.stderr
    assert "Traceback" not in result.output + result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error:"), result.stderr
    assert phrase in lines[0], lines[0]


@pytest.fixture(autouse=True)
def _wide_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "400")  # one line: rich must not fold a long path
    monkeypatch.delenv("MEDTRACE_DEBUG", raising=False)


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_bad_csv_is_one_line_for_evaluate(
    case: str, model_dir: Path, valid_slice: Path, tmp_path: Path
) -> None:
    spoil, phrase = BAD_FILES[case]
    bad = tmp_path / "bad.csv"
    bad.write_bytes(spoil(valid_slice.read_text(encoding="utf-8")))
    result = run(
        "risk", "evaluate", "--format", "kcs", "--model", str(model_dir), "--data", str(bad),
        "--json",
    )  # fmt: skip
    _one_error_line(result, phrase)
    assert result.stdout == ""


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_bad_csv_is_one_line_for_train_and_leaves_no_model(
    case: str, valid_slice: Path, tmp_path: Path
) -> None:
    spoil, phrase = BAD_FILES[case]
    bad = tmp_path / "bad.csv"
    bad.write_bytes(spoil(valid_slice.read_text(encoding="utf-8")))
    result = run(
        "risk", "train", "--format", "kcs", "--data", str(bad), "--out", str(tmp_path / "m")
    )
    _one_error_line(result, phrase)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.csv"]


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))


def _leaf_changed(d: Path) -> None:
    """One leaf's last digit changed: same length, so LightGBM would load it and score wrong
    (a change of length makes LightGBM abort the process on load, another reason to check)."""
    text = (d / model.BOOSTER).read_text()
    found = re.search(r"leaf_value=(\S*\d)", text)
    assert found
    old = found.group(0)
    _edit(d / model.BOOSTER, old, old[:-1] + str((int(old[-1]) + 1) % 10))


def _manifest_says(key: str, value: object) -> Callable[[Path], None]:
    def spoil(d: Path) -> None:
        doc = json.loads((d / model.MANIFEST).read_text())
        doc[key] = value
        (d / model.MANIFEST).write_text(json.dumps(doc))

    return spoil


def _made_with_lightgbm_3(d: Path) -> None:
    doc = json.loads((d / model.MANIFEST).read_text())
    doc["versions"]["lightgbm"] = "3.3.5"
    (d / model.MANIFEST).write_text(json.dumps(doc))


def _file_instead(d: Path) -> None:
    shutil.rmtree(d)
    d.write_text("not a model\n")


#: case -> how to spoil a copy of the trained model directory, and a phrase the line says.
BAD_MODELS: dict[str, tuple[Callable[[Path], object], str]] = {
    "tampered booster": (_leaf_changed, "booster.txt: expected the file the manifest names"),
    "tampered encodings": (
        lambda d: _edit(d / model.ENCODINGS, '"prior":', '"prior":0.5,"was":'),
        "encodings.json: expected the file the manifest names",
    ),
    "booster missing": (lambda d: (d / model.BOOSTER).unlink(), "booster.txt is missing"),
    "manifest missing": (lambda d: (d / model.MANIFEST).unlink(), "model.json is missing"),
    "manifest not json": (
        lambda d: (d / model.MANIFEST).write_text("{nope"),
        "expected a JSON manifest",
    ),
    "manifest of another kind": (_manifest_says("kind", "other"), "expected a medtrace-risk-model"),
    "another feature list": (
        _manifest_says("features", ["office"]),
        "expected this version's feature list",
    ),
    "another lightgbm major": (_made_with_lightgbm_3, "found one of 3.3.5"),
    "nothing there": (shutil.rmtree, "expected a risk model directory, found nothing there"),
    "a file": (_file_instead, "expected a risk model directory, found a file"),
}


@pytest.mark.parametrize("case", sorted(BAD_MODELS))
def test_model_dir_that_does_not_match_its_manifest_is_refused(
    case: str, model_dir: Path, valid_slice: Path, tmp_path: Path
) -> None:
    spoil, phrase = BAD_MODELS[case]
    copy = tmp_path / "model"
    shutil.copytree(model_dir, copy)
    spoil(copy)
    for command in ("evaluate", "explain"):
        args = [
            "risk",
            command,
            "--format",
            "kcs",
            "--model",
            str(copy),
            "--data",
            str(valid_slice),
        ]
        result = run(*args, *(["--row", "1"] if command == "explain" else []))
        _one_error_line(result, phrase)


def test_train_refuses_a_directory_that_holds_files(train_slice: Path, tmp_path: Path) -> None:
    (tmp_path / "keep.txt").write_text("mine\n")
    result = run(
        "risk", "train", "--format", "kcs", "--data", str(train_slice), "--out", str(tmp_path)
    )
    _one_error_line(result, "expected a new or empty directory")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.txt"]


def test_explain_row_past_the_end_is_one_line(model_dir: Path, valid_slice: Path) -> None:
    result = run(
        "risk", "explain", "--format", "kcs", "--model", str(model_dir),
        "--data", str(valid_slice), "--row", "1001",
    )  # fmt: skip
    _one_error_line(result, "--row: expected 1 to 1000, found 1001")


def test_evaluate_needs_outcomes_explain_does_not(
    model_dir: Path, valid_slice: Path, tmp_path: Path
) -> None:
    unlabelled = tmp_path / "unlabelled.csv"
    unlabelled.write_text(
        "\n".join(line.rsplit(",", 2)[0] for line in valid_slice.read_text().splitlines()) + "\n"
    )
    result = run(
        "risk", "evaluate", "--format", "kcs", "--model", str(model_dir),
        "--data", str(unlabelled),
    )  # fmt: skip
    _one_error_line(result, "expected the outcome columns Fraud, Critical Fraud")
    result = run(
        "risk", "explain", "--format", "kcs", "--model", str(model_dir),
        "--data", str(unlabelled), "--row", "3", "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output + result.stderr
