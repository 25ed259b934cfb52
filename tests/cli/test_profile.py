"""``medtrace profile`` without a node: where the file lives, its mode, what it refuses, and that a
broken file is one line (the commands against real nodes: tests/cli/test_role_commands.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from medtrace.cli.main import cli
from medtrace.cli.profile_store import PROFILE_ENV, genesis_fingerprint, profile_path
from node.localnet.processes import free_port

GENESIS = "ce0587220ccd0a7d9a21903db753780a121ba85b6af4577994085910def118b6"
TOKEN = "mt_" + "T" * 39 + "nbgU"


@pytest.fixture
def profile(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "profile.json"
    for name in ("MEDTRACE_NODE", "MEDTRACE_OPERATOR_TOKEN", "MEDTRACE_CA", "MEDTRACE_GENESIS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(PROFILE_ENV, str(path))
    return path


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def one_error_line(result: Result) -> str:
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


def _set(*extra: str) -> Result:
    node = f"http://127.0.0.1:{free_port()}"
    return run("profile", "set", "--node", node, "--token", TOKEN, *extra)


def test_medtrace_profile_wins_over_xdg_config_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv(PROFILE_ENV, raising=False)
    assert profile_path() == tmp_path / "xdg" / "medtrace" / "profile.json"
    monkeypatch.setenv(PROFILE_ENV, str(tmp_path / "mine.json"))
    assert profile_path() == tmp_path / "mine.json"
    monkeypatch.delenv("XDG_CONFIG_HOME")
    monkeypatch.delenv(PROFILE_ENV)
    assert profile_path() == Path.home() / ".config" / "medtrace" / "profile.json"


def test_a_given_genesis_is_pinned_without_asking_the_node(profile: Path) -> None:
    result = _set("--genesis", GENESIS, "--json")
    assert result.exit_code == 0, result.output
    shown = json.loads(result.stdout)
    assert shown["genesis"] == GENESIS
    assert shown["genesis_fingerprint"] == "ce05 8722 0ccd 0a7d" == genesis_fingerprint(GENESIS)
    assert json.loads(profile.read_text())["token"] == TOKEN


def test_the_profile_file_is_0600_even_over_a_wider_one(profile: Path) -> None:
    profile.write_text("{}")
    profile.chmod(0o644)
    assert _set("--genesis", GENESIS).exit_code == 0
    assert profile.stat().st_mode & 0o777 == 0o600


def test_show_prints_the_token_as_its_last_four_characters_only(profile: Path) -> None:
    assert _set("--genesis", GENESIS).exit_code == 0
    table, as_json = run("profile", "show"), run("profile", "show", "--json")
    assert TOKEN not in table.output + as_json.output
    assert "…nbgU (fingerprint " in table.stdout
    assert json.loads(as_json.stdout)["token"].startswith("…nbgU (fingerprint ")


def test_a_node_that_cannot_be_reached_leaves_the_genesis_to_first_use(profile: Path) -> None:
    result = _set()
    assert result.exit_code == 0, result.output
    assert "genesis not pinned yet" in result.stderr
    assert "genesis" not in json.loads(profile.read_text())
    assert "not pinned yet" in run("profile", "show").stdout


#: what is wrong -> (the arguments after profile set --node URL, what the one line says)
REFUSED = {
    "no token": ((), "expected exactly one of --token T and --token-file FILE"),
    "a genesis that is no SHA-256": (
        ("--token", TOKEN, "--genesis", "ce05"),
        "expected a 64-hex-digit genesis id",
    ),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_profile_set_refuses_with_one_line_and_stores_nothing(case: str, profile: Path) -> None:
    extra, says = REFUSED[case]
    node = f"http://127.0.0.1:{free_port()}"
    assert says in one_error_line(run("profile", "set", "--node", node, *extra))
    assert not profile.exists()


@pytest.mark.parametrize(
    "args", [("profile", "show"), ("pull",), ("scan", "(01)04012345000016(21)X1")]
)
def test_a_broken_profile_file_is_one_line(args: tuple[str, ...], profile: Path) -> None:
    profile.write_text("{not json")
    result = run(*args)
    assert "expected a medtrace profile (JSON)" in result.output
    assert "Traceback" not in result.output
    assert result.exit_code in (1, 4)  # 4: medtrace scan's usage or I/O error


def test_clear_without_a_profile_removes_nothing(profile: Path) -> None:
    result = run("profile", "clear", "--json")
    assert json.loads(result.stdout) == {"path": str(profile), "removed": False}
