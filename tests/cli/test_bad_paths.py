"""Every command that takes a path refuses a missing path, a directory where a file is expected
and a file of the wrong kind with one ``error:`` line, no traceback and no file left behind
(issue 18). Real files, the click runner."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from medtrace.cli.main import cli

GTIN = "09506000134352"

#: command name -> the arguments, given the path under test and a scratch directory.
COMMANDS: dict[str, Callable[[Path, Path], list[str]]] = {
    "ledger verify": lambda p, _t: ["ledger", "verify", "--db", str(p)],
    "ledger verify --json": lambda p, _t: ["ledger", "verify", "--db", str(p), "--json"],
    "ledger heads": lambda p, _t: ["ledger", "heads", "--db", str(p)],
    "sync export --db": lambda p, t: ["sync", "export", "--db", str(p), "--out", str(t / "o")],
    "sync export --data": lambda p, t: ["sync", "export", "--data", str(p), "--out", str(t / "o")],
    "sync import BUNDLE": lambda p, t: ["sync", "import", "--db", str(t / "n.db"), str(p)],
    "sync heads --db": lambda p, t: ["sync", "heads", "--db", str(p), "--out", str(t / "h")],
    "labels batch --db": lambda p, t: [
        "labels",
        "batch",
        "--db",
        str(p),
        "--gtin",
        GTIN,
        "--lot",
        "A1",
        "--out",
        str(t / "l"),
    ],
    "labels batch --data": lambda p, t: [
        "labels",
        "batch",
        "--data",
        str(p),
        "--gtin",
        GTIN,
        "--lot",
        "A1",
        "--out",
        str(t / "l"),
    ],
    "scan --offline": lambda p, _t: [
        "scan",
        f"(01){GTIN}(17)281031(10)A1(21)X1",
        "--offline",
        str(p),
        "--genesis",
        "g",
    ],
    "node run --data": lambda p, _t: ["node", "run", "--data", str(p)],
    "node token list": lambda p, _t: ["node", "token", "list", "--data", str(p)],
    "node token create": lambda p, _t: ["node", "token", "create", "--data", str(p), "--user", "u"],
    "node peer list": lambda p, _t: ["node", "peer", "list", "--data", str(p)],
    "keys show --dir": lambda p, _t: ["keys", "show", "--dir", str(p)],
    "keys verify --dir": lambda p, _t: ["keys", "verify", "--dir", str(p)],
}


def _missing(tmp: Path) -> Path:
    return tmp / "nosuch.db"


def _directory(tmp: Path) -> Path:
    (tmp / "adir").mkdir()
    return tmp / "adir"


def _text_file(tmp: Path) -> Path:
    (tmp / "notes.txt").write_text("not a database, a bundle or a key\n")
    return tmp / "notes.txt"


def _empty_file(tmp: Path) -> Path:
    (tmp / "empty").write_bytes(b"")
    return tmp / "empty"


CASES: dict[str, Callable[[Path], Path]] = {
    "missing": _missing,
    "directory": _directory,
    "text file": _text_file,
    "empty file": _empty_file,
}


def _listing(root: Path) -> set[Path]:
    return set(root.rglob("*"))


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_no_traceback_for_bad_input(
    command: str, case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MEDTRACE_DEBUG", raising=False)
    monkeypatch.setenv("MEDTRACE_PASSPHRASE", "a passphrase nobody uses")
    monkeypatch.setenv("COLUMNS", "400")  # one line: rich must not fold a long path
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    path = CASES[case](tmp_path)
    before = _listing(tmp_path)
    result = CliRunner().invoke(cli, COMMANDS[command](path, scratch))
    assert result.exit_code != 0, result.output
    assert "Traceback" not in result.output + result.stderr
    assert not isinstance(result.exception, Exception) or isinstance(
        result.exception, SystemExit
    ), repr(result.exception)
    lines = result.stderr.splitlines()
    if command.endswith("--json") and not lines:
        # --json reports the failure as one JSON object on stdout instead.
        assert result.stdout.count("\n") == 1
        assert '"ok": false' in result.stdout
    else:
        assert [line[:6] for line in lines] == ["error:"], result.stderr
    assert not path.exists() if case == "missing" else path.exists()
    assert _listing(tmp_path) == before, "the command created a file"
