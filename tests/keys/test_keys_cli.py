"""``medtrace keys``: end to end through click's runner and through the installed command."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from keys.consortium import Consortium
from keys.consortium.layout import version_file_name
from keys.keystore import PASSPHRASE_ENV, fingerprint
from ledger.membership import sign_membership
from medtrace.cli.keys import keys_group
from medtrace.cli.main import cli as medtrace_cli

PW = "cli-tests: a long enough passphrase"
COMMANDS = (
    "create",
    "add-org",
    "add-feed",
    "revoke-feed",
    "revoke-org",
    "rotate",
    "show",
    "verify",
)
#: ``add-org`` options of the manufacturer every test consortium has (its feeds vary).
ACME = (
    "--id",
    "acme",
    "--name",
    "Acme Pharma",
    "--role",
    "manufacturer",
    "--gln",
    "4012345000009",
    "--prefix",
    "4012345",
)


def run(
    *args: str | Path, passphrase: str | None = PW, env: dict[str, str] | None = None
) -> Result:
    """``medtrace keys ARGS`` through the top-level command (so the lazy import is exercised)."""
    environment = {PASSPHRASE_ENV: passphrase} if passphrase is not None else {}
    environment.update(env or {})
    return CliRunner().invoke(
        medtrace_cli, ["keys", *map(str, args)], env=environment, catch_exceptions=False
    )


def add_feed(d: Path, site: str, *options: str | Path, passphrase: str | None = PW) -> Result:
    """``medtrace keys add-feed`` of SITE to acme: the change most tests make."""
    return run(
        "add-feed", "--dir", d, "--org", "acme", "--site", site, *options, passphrase=passphrase
    )


def ok(result: Result) -> Result:
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    return result


def assert_clean_failure(result: Result, code: int = 1) -> str:
    """One line on stderr, no traceback, nothing secret; returns that line."""
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert PW not in result.output
    assert "PRIVATE KEY" not in result.output
    return lines[0]


@pytest.fixture
def made(tmp_path: Path) -> Path:
    """A consortium made through the CLI: acme (manufacturer, 2 feeds) and apo (pharmacy)."""
    d = tmp_path / "consortium"
    ok(run("create", "--dir", d, "--name", "CLI pilot"))
    ok(run("add-org", "--dir", d, *ACME, "--feed", "line-1", "--feed", "wh"))
    ok(
        run(
            "add-org",
            "--dir",
            d,
            "--id",
            "apo",
            "--name",
            "Apo",
            "--role",
            "pharmacy",
            "--gln",
            "4098765000003",
        )
    )
    return d


def test_every_command_has_help_with_an_example() -> None:
    runner = CliRunner()
    top = runner.invoke(medtrace_cli, ["keys", "--help"])
    assert top.exit_code == 0
    for command in COMMANDS:
        assert command in top.output
        result = runner.invoke(keys_group, [command, "--help"])
        assert result.exit_code == 0, result.output
        assert "Example" in result.output
        assert "medtrace keys " + command in result.output


def test_full_life_cycle(made: Path) -> None:
    d = made
    outputs = [
        ok(add_feed(d, "line-2")),
        ok(run("rotate", "--dir", d, "--feed", "acme/line-1", "--from-seq", "10")),
        ok(run("revoke-feed", "--dir", d, "--feed", "acme/wh", "--from-seq", "3")),
        ok(run("revoke-org", "--dir", d, "--id", "apo", "--from-seq", "apo/main=7")),
    ]
    assert "membership v4 written" in outputs[0].stdout
    assert "rotated to key" in outputs[1].stdout
    assert "v7 written" in outputs[3].stdout
    c = Consortium.open(d)
    assert c.version == 7
    assert (d / "feeds" / "acme" / "line-1.retired-v0005.key").exists()
    assert [k.until_seq for k in c.membership.feed("acme/line-1").keys] == [10, None]
    assert c.membership.feed("apo/main").keys[0].until_seq == 7

    table = ok(run("show", "--dir", d, passphrase=None)).stdout
    for text in (
        "CLI pilot",
        "v7",
        c.genesis_id,
        "acme",
        "manufacturer",
        "4012345000009",
        "4012345",
        "acme/line-1",
        "[0, 10)",
        "[10, ∞)",
        "retired",
        "revoked",
        "current",
        "pharmacy",
        "4098765000003",
    ):
        assert text in table, text
    for key in c.membership.feed("acme/line-1").keys:
        assert fingerprint(key.public) in table

    verified = ok(run("verify", "--dir", d, passphrase=None)).stdout
    assert "v1 … v7 verified" in verified
    assert c.genesis_id in verified
    ok(run("verify", "--dir", d, "--genesis-id", c.genesis_id, "--keys"))
    for result in outputs:
        assert PW not in result.output
        assert "PRIVATE KEY" not in result.output


def test_show_json_parses(made: Path) -> None:
    result = ok(run("show", "--dir", made, "--json", passphrase=None))
    summary = json.loads(result.stdout)
    c = Consortium.open(made)
    assert summary["consortium"] == "CLI pilot"
    assert summary["genesis_id"] == c.genesis_id
    assert summary["version"] == 3
    assert summary["membership_id"] == c.current.id
    assert summary["governance"]["threshold"] == 2
    assert [g["name"] for g in summary["governance"]["keys"]] == ["gov-1", "gov-2", "gov-3"]
    orgs = {o["id"]: o for o in summary["organisations"]}
    assert orgs["acme"]["company_prefixes"] == ["4012345"]
    assert [f["id"] for f in orgs["acme"]["feeds"]] == ["acme/line-1", "acme/wh"]
    assert orgs["apo"]["feeds"][0]["keys"][0]["until_seq"] is None


def test_create_options(tmp_path: Path) -> None:
    d = tmp_path / "c5"
    out = ok(run("create", "--dir", d, "--name", "Five", "--governance", "5", "--threshold", "3"))
    assert "3-of-5 governance" in out.stdout
    assert sorted(p.name for p in (d / "governance").iterdir()) == [
        f"gov-{i}.key" for i in range(1, 6)
    ]
    line = assert_clean_failure(run("create", "--dir", d, "--name", "Again"))
    assert "in use" in line
    line = assert_clean_failure(
        run(
            "create",
            "--dir",
            tmp_path / "c6",
            "--name",
            "X",
            "--governance",
            "2",
            "--threshold",
            "3",
        )
    )
    assert "threshold between 1 and 2" in line


def test_wrong_passphrase_is_one_clean_line(made: Path) -> None:
    result = add_feed(made, "x", passphrase="nope")
    line = assert_clean_failure(result)
    assert "wrong passphrase" in line
    assert "WrongPassphrase" not in line  # words, not the exception's class (issue 18)
    assert "governance/gov-1.key" in line
    for key_file in (made / "governance").iterdir():
        for pem_line in key_file.read_text().splitlines():
            assert pem_line not in result.output
    assert Consortium.open(made).version == 3


def test_errors_are_red_when_colour_is_on(made: Path) -> None:
    result = run(
        "rotate",
        "--dir",
        made,
        "--feed",
        "acme/none",
        "--from-seq",
        "1",
        env={"FORCE_COLOR": "1", "TERM": "xterm-256color"},
    )
    assert result.exit_code == 1
    assert "\x1b[" in result.stderr
    assert "31m" in result.stderr  # red
    assert "expected a feed listed in membership" in result.stderr


def test_no_passphrase_source_is_a_clear_error(made: Path) -> None:
    line = assert_clean_failure(add_feed(made, "x", passphrase=None))
    assert PASSPHRASE_ENV in line
    assert "--passphrase-file" in line


def test_passphrase_file(made: Path, tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text(PW + "\n")
    ok(add_feed(made, "line-2", "--passphrase-file", secret, passphrase=None))
    secret.write_text("wrong\n")
    line = assert_clean_failure(
        add_feed(made, "line-3", "--passphrase-file", secret, passphrase=None)
    )
    assert "wrong passphrase" in line


def test_usage_errors_exit_2(made: Path) -> None:
    result = run("rotate", "--dir", made, "--feed", "acme/line-1")
    assert result.exit_code == 2
    assert "--from-seq" in result.stderr
    result = run("revoke-org", "--dir", made, "--id", "acme", "--from-seq", "acme/line-1")
    assert result.exit_code == 2
    assert "FEED=N" in result.stderr
    result = run(
        "add-org",
        "--dir",
        made,
        "--id",
        "x",
        "--name",
        "X",
        "--role",
        "king",
        "--gln",
        "4098765000003",
    )
    assert result.exit_code == 2


def test_revoke_org_must_name_every_feed(made: Path) -> None:
    line = assert_clean_failure(
        run("revoke-org", "--dir", made, "--id", "acme", "--from-seq", "acme/line-1=5")
    )
    assert "missing ['acme/wh']" in line


def test_sign_with_too_few_is_refused(made: Path) -> None:
    line = assert_clean_failure(add_feed(made, "x", "--sign-with", "gov-2"))
    assert "expected 2 valid signatures" in line
    assert not (made / "membership" / version_file_name(4)).exists()
    ok(add_feed(made, "x", "--sign-with", "gov-2", "--sign-with", "gov-3"))


def test_under_signed_version_file_fails_verify(made: Path) -> None:
    c = Consortium.open(made)
    proposal = c.membership.revoke_feed("acme/line-1", 0)
    one = sign_membership(proposal, {"gov-1": c.governance_key("gov-1", PW)})
    (made / "membership" / version_file_name(4)).write_text(json.dumps(one.to_wire()))
    line = assert_clean_failure(run("verify", "--dir", made, passphrase=None))
    assert "membership v4: expected 2 valid signatures" in line
    assert_clean_failure(run("show", "--dir", made, passphrase=None))


def test_verify_against_another_pin_fails(made: Path) -> None:
    line = assert_clean_failure(run("verify", "--dir", made, "--genesis-id", "f" * 64))
    assert "pinned genesis" in line


def test_verify_keys_finds_a_swapped_key_file(made: Path) -> None:
    a, b = made / "feeds" / "acme" / "line-1.key", made / "feeds" / "acme" / "wh.key"
    tmp = a.with_name("tmp")
    os.rename(a, tmp)
    os.rename(b, a)
    os.rename(tmp, b)
    ok(run("verify", "--dir", made, passphrase=None))  # the chain itself is fine
    result = run("verify", "--dir", made, "--keys")
    assert result.exit_code == 1
    assert "2 key file(s)" in result.stderr
    assert "Traceback" not in result.output


def test_missing_directory(tmp_path: Path) -> None:
    line = assert_clean_failure(run("show", "--dir", tmp_path / "nowhere"))
    assert "consortium.json" in line


# -- the installed command, in a real process ----------------------------------------------------


def medtrace(*args: str | Path, passphrase: str | None = PW) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).with_name("medtrace")
    assert exe.exists(), f"expected the medtrace console script beside {sys.executable}"
    env = {k: v for k, v in os.environ.items() if k not in {PASSPHRASE_ENV, "FORCE_COLOR"}}
    if passphrase is not None:
        env[PASSPHRASE_ENV] = passphrase
    return subprocess.run(
        [str(exe), "keys", *map(str, args)],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_real_process_end_to_end(tmp_path: Path) -> None:
    d = tmp_path / "consortium"
    steps = [
        ("create", "--dir", d, "--name", "Subprocess pilot", "--threshold", "2"),
        ("add-org", "--dir", d, *ACME, "--feed", "line-1"),
        ("rotate", "--dir", d, "--feed", "acme/line-1", "--from-seq", "4"),
    ]
    for step in steps:
        done = medtrace(*step)
        assert done.returncode == 0, done.stderr
        assert PW not in done.stdout + done.stderr
    shown = medtrace("show", "--dir", d, "--json", passphrase=None)
    assert shown.returncode == 0, shown.stderr
    summary = json.loads(shown.stdout)
    assert summary["version"] == 3
    assert summary["organisations"][0]["feeds"][0]["keys"][1]["from_seq"] == 4
    verified = medtrace("verify", "--dir", d, passphrase=None)
    assert verified.returncode == 0, verified.stderr
    assert "verified" in verified.stdout

    failed = medtrace("add-feed", "--dir", d, "--org", "acme", "--site", "x", passphrase="bad")
    assert failed.returncode == 1
    assert failed.stdout == ""
    assert "Traceback" not in failed.stderr
    assert len(failed.stderr.strip().splitlines()) == 1
    assert "wrong passphrase" in failed.stderr

    no_source = medtrace("add-feed", "--dir", d, "--org", "acme", "--site", "x", passphrase=None)
    assert no_source.returncode == 1
    assert PASSPHRASE_ENV in no_source.stderr
