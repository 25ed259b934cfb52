"""``medtrace keys witness-policy``: writes membership version N+1 with the policy, verified from
the genesis; refusals are one line (docs/spec/keys.md)."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from keys.consortium import Consortium
from ledger.membership import WitnessPolicy
from medtrace.cli.main import cli
from tests.nodes_setup import Member, make_consortium

PASSPHRASE = "witness policy test passphrase"


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args), env={"MEDTRACE_PASSPHRASE": PASSPHRASE})
    return result.exit_code, result.output


def test_witness_policy_command(tmp_path: Path) -> None:
    directory = tmp_path / "consortium"
    members = {
        "acme": Member("manufacturer", ("line-1",), ("4012345",)),
        "dist": Member("distributor", ("wh",)),
        "apo": Member("pharmacy", ("counter",)),
    }
    make_consortium(directory, "witness-test", members, PASSPHRASE)
    key = "KkJ5Yw0pF2C1n3QdD3+u5mTgYB2Yv4yQ6cS6yKq4yJc="
    code, output = run(
        "keys", "witness-policy", "--dir", str(directory), "--witness", "dist",
        "--witness", f"apo={key}", "--quorum", "2", "--max-age", "900",
    )  # fmt: skip
    assert code == 0, output
    assert "membership v5 written" in output  # genesis + 3 organisations
    assert "witnesses apo, dist, quorum 2, max age 900 s" in output
    policy = Consortium.open(directory).membership.witness_policy
    assert isinstance(policy, WitnessPolicy)
    assert (policy.quorum, policy.max_age_s, policy.witnesses["dist"]) == (2, 900, None)
    assert policy.witnesses["apo"] is not None
    for args, message in [
        (("--witness", "nobody"), "expected listed organisations as witnesses"),
        (("--witness", "dist", "--quorum", "2"), "expected a quorum from 1 to 1"),
        ((), "expected either --witness ORG (one or more) or --default"),
        (("--witness", "dist=notbase64!"), "expected base64"),
    ]:
        code, output = run("keys", "witness-policy", "--dir", str(directory), *args)
        assert code == 1, output
        assert message in output
        assert "Traceback" not in output
    code, output = run("keys", "witness-policy", "--dir", str(directory), "--default")
    assert code == 0, output
    assert Consortium.open(directory).membership.witness_policy is None
    code, output = run("keys", "witness-policy", "--dir", str(directory), "--default")
    assert code == 1
    assert "found the same" in output
    code, output = run("keys", "verify", "--dir", str(directory))
    assert code == 0, output
