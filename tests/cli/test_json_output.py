"""``medtrace node peer list --json`` and ``medtrace keys verify --json``: one JSON object on one
line of stdout, like every other command's --json (issue 18)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from keys.keystore import PASSPHRASE_ENV
from medtrace.cli.main import cli
from tests.nodes_setup import PASSPHRASE, Member, init_node, make_consortium

MEMBERS = {"acme": Member("manufacturer", ("line-1",), ("4012345",))}
PEER_TOKEN = "mt_" + "B" * 43


@pytest.fixture(scope="module")
def consortium_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("json") / "consortium"
    make_consortium(directory, "JSON tests", MEMBERS, PASSPHRASE)
    return directory


def _one_object(stdout: str) -> dict[str, object]:
    assert stdout.count("\n") == 1, stdout
    value = json.loads(stdout)
    assert isinstance(value, dict)
    return value


def test_peer_list_json(consortium_dir: Path, tmp_path: Path) -> None:
    data = init_node(consortium_dir, tmp_path / "acme", "acme/line-1")
    runner = CliRunner()
    empty = runner.invoke(cli, ["node", "peer", "list", "--data", str(data), "--json"])
    assert empty.exit_code == 0, empty.output
    assert _one_object(empty.stdout) == {"peers": []}
    added = runner.invoke(
        cli,
        [
            "node",
            "peer",
            "add",
            "--data",
            str(data),
            "--name",
            "dist",
            "--url",
            "https://127.0.0.1:8102",
            "--token",
            PEER_TOKEN,
        ],
    )
    assert added.exit_code == 0, added.output
    listed = runner.invoke(cli, ["node", "peer", "list", "--data", str(data), "--json"])
    assert _one_object(listed.stdout) == {
        "peers": [{"name": "dist", "url": "https://127.0.0.1:8102"}]
    }
    assert PEER_TOKEN not in listed.stdout


def test_keys_verify_json(consortium_dir: Path) -> None:
    result = CliRunner().invoke(
        cli,
        ["keys", "verify", "--dir", str(consortium_dir), "--keys", "--json"],
        env={PASSPHRASE_ENV: PASSPHRASE},
    )
    assert result.exit_code == 0, result.output
    value = _one_object(result.stdout)
    assert value["ok"] is True
    assert value["keys_checked"] is True
    assert value["name"] == "JSON tests"
    assert value["organisations"] == 1


def test_keys_verify_json_names_a_wrong_genesis(consortium_dir: Path) -> None:
    result = CliRunner().invoke(
        cli, ["keys", "verify", "--dir", str(consortium_dir), "--genesis-id", "0" * 64, "--json"]
    )
    assert result.exit_code == 1
    value = _one_object(result.stdout)
    assert value["ok"] is False
    assert value["message"]
