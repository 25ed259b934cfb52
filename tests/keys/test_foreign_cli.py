"""``medtrace keys trust-foreign`` / ``distrust-foreign`` and ``medtrace node foreign``
(docs/spec/cross-border.md, "Commands")."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from keys.consortium import Consortium
from medtrace.cli.main import cli as medtrace_cli
from node.config import NodeConfig, load_config, save_config
from tests.keys.test_keys_cli import assert_clean_failure, made, ok, run

__all__ = ["made"]  # the fixture


@pytest.fixture
def other(tmp_path: Path) -> Path:
    """Another consortium: the one to trust."""
    d = tmp_path / "other"
    ok(run("create", "--dir", d, "--name", "Legemidler NO"))
    return d


def genesis_file(d: Path) -> Path:
    return d / "membership" / "v0001.json"


def test_trust_and_distrust_foreign_write_signed_versions(made: Path, other: Path) -> None:
    before = Consortium.open(made).version
    result = ok(
        run(
            "trust-foreign",
            "--dir",
            made,
            "--genesis-file",
            genesis_file(other),
            "--country",
            "no",
            "--prefix",
            "7040001",
            "--endpoint",
            "https://verify.example.no:8443/",
        )
    )
    assert "foreign root Legemidler NO (NO" in result.stdout
    opened = Consortium.open(made)
    assert opened.version == before + 1
    (root,) = opened.membership.foreign_roots
    assert root.genesis == Consortium.open(other).genesis_id
    assert (root.country, root.prefixes, root.endpoint) == (
        "NO",
        ("7040001",),
        "https://verify.example.no:8443",
    )
    shown = json.loads(ok(run("show", "--dir", made, "--json")).stdout)
    assert shown["foreign_roots"] == [root.to_json()]
    ok(run("distrust-foreign", "--dir", made, "--genesis", root.genesis))
    assert Consortium.open(made).membership.foreign_roots == ()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (("--country", "NOR", "--prefix", "7040001"), "alpha-2"),
        (("--country", "NO", "--prefix", "40123"), "overlaps 4012345 of organisation acme"),
        (("--country", "NO", "--prefix", "70"), "4 to 12 digits"),
        (("--country", "NO", "--prefix", "7040001", "--endpoint", "ftp://x"), "endpoint URL"),
    ],
)
def test_trust_foreign_refuses_bad_roots_in_one_line(
    made: Path, other: Path, extra: tuple[str, ...], message: str
) -> None:
    result = run("trust-foreign", "--dir", made, "--genesis-file", genesis_file(other), *extra)
    assert message in assert_clean_failure(result)


def test_trust_foreign_refuses_a_file_that_is_no_genesis(made: Path, other: Path) -> None:
    ok(run("add-org", "--dir", other, "--id", "apo", "--name", "Apo", "--role", "pharmacy",
           "--gln", "4098765000003"))  # fmt: skip
    second = other / "membership" / "v0002.json"
    result = run("trust-foreign", "--dir", made, "--genesis-file", second, "--country", "NO",
                 "--prefix", "7040001")  # fmt: skip
    assert "not a signed genesis membership" in assert_clean_failure(result)


def test_trust_foreign_refuses_its_own_genesis(made: Path) -> None:
    result = run("trust-foreign", "--dir", made, "--genesis-file", genesis_file(made),
                 "--country", "NO", "--prefix", "7040001")  # fmt: skip
    assert "this consortium's own" in assert_clean_failure(result)


def test_distrust_foreign_refuses_a_root_not_pinned(made: Path) -> None:
    result = run("distrust-foreign", "--dir", made, "--genesis", "ab" * 32)
    assert "expected a pinned foreign root" in assert_clean_failure(result)


def test_trust_foreign_under_the_threshold_writes_nothing(made: Path, other: Path) -> None:
    before = Consortium.open(made).version
    result = run("trust-foreign", "--dir", made, "--genesis-file", genesis_file(other),
                 "--country", "NO", "--prefix", "7040001", "--sign-with", "gov-1")  # fmt: skip
    assert_clean_failure(result)
    assert Consortium.open(made).version == before


def test_node_foreign_commands(tmp_path: Path) -> None:
    data = tmp_path / "node"
    data.mkdir()
    save_config(data, NodeConfig(name="tull", feed="tull/post", genesis_id="c" * 64))
    (data / "de-ca.crt").write_text("pem")
    runner = CliRunner()

    def node(*args: str) -> str:
        result = runner.invoke(medtrace_cli, ["node", "foreign", *args, "--data", str(data)])
        assert result.exit_code == 0, result.output
        return result.stdout

    node("add", "--genesis", "AB" * 32, "--token", "mt_x", "--ca", "de-ca.crt")
    node("add", "--genesis", "ab" * 32, "--token", "mt_y", "--url", "https://de.example:8443")
    (held,) = load_config(data).foreign
    assert (held.genesis, held.token, held.url, held.ca) == (
        "ab" * 32,
        "mt_y",
        "https://de.example:8443",
        "",
    )
    listed = json.loads(node("list", "--json"))
    assert listed == {
        "foreign": [
            {"genesis": "ab" * 32, "url": "https://de.example:8443", "ca": "", "resolver": ""}
        ]
    }
    assert "mt_y" not in node("list")
    bad = runner.invoke(medtrace_cli, ["node", "foreign", "add", "--data", str(data),
                                       "--genesis", "xyz", "--token", "t"])  # fmt: skip
    assert bad.exit_code == 1
    assert "64 hex digits" in bad.stderr
    node("remove", "--genesis", "ab" * 32)
    assert load_config(data).foreign == ()
    assert "foreign" not in json.loads((data / "node.json").read_text())
