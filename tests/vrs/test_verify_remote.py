"""``medtrace verify-remote`` against a real node's verification service: the standard's
request out, the standard's answer read back in words, exit 0 verified, 2 not, 1 no answer."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner, Result

from medtrace.cli.main import cli
from tests.api.conftest import GTIN
from tests.vrs.conftest import LOT, RECALLED_LOT, VrsNode

REQUESTOR_GLN = "4000000000020"


def verify_remote(node: VrsNode, *args: str, token: str | None = None) -> Result:
    return CliRunner().invoke(
        cli,
        ["verify-remote", "--vrs", node.base, "--req-gln", REQUESTOR_GLN, *args],
        env={"MEDTRACE_VRS_TOKEN": token or node.token(), "COLUMNS": "200"},
    )


def test_a_genuine_code_is_verified_and_exits_0(vrs_node: VrsNode) -> None:
    result = verify_remote(vrs_node, f"(01){GTIN}(17)301231(10){LOT}(21)AUTH1")
    assert result.exit_code == 0, result.output
    assert "verified" in result.output
    assert "true" in result.output
    assert "4000000000013" in result.output  # acme, the responder


def test_a_recalled_pack_reads_back_in_words_and_exits_2(vrs_node: VrsNode) -> None:
    result = verify_remote(
        vrs_node,
        "--gtin",
        GTIN,
        "--lot",
        RECALLED_LOT,
        "--serial",
        "RCL1",
        "--expiry",
        "2030-12-31",
    )
    assert result.exit_code == 2, result.output
    assert "Not_for_re-distribution: the pack must not be distributed again" in result.output
    assert "Recalled: the pack was recalled or withdrawn" in result.output


def test_json_gives_the_uri_and_the_standard_answer(vrs_node: VrsNode) -> None:
    corr = "0b7e2b4c-5d8a-4f3e-9c1d-2a6b8e4f7a90"
    result = verify_remote(
        vrs_node,
        f"https://id.gs1.org/01/{GTIN}/10/{LOT}/21/NOSUCH9?17=301231",
        "--corr-uuid",
        corr,
        "--json",
    )
    assert result.exit_code == 2, result.output
    value = json.loads(result.output)
    assert value["uri"].startswith(f"{vrs_node.base}/gtin/{GTIN}/lot/{LOT}/ser/NOSUCH9?exp=301231")
    assert value["answer"]["data"] == {
        "verified": False,
        "verificationFailureReason": "No_match_GTIN_Serial",
    }
    assert value["answer"]["corrUUID"] == corr


#: case -> (arguments, token (None: a valid one), exit code, what the one line says)
FAILURES: dict[str, tuple[tuple[str, ...], str | None, int, str]] = {
    "parts-missing": (("--gtin", GTIN, "--serial", "AUTH1"), None, 4, "--lot, --expiry"),
    "bad-check-digit": (("--gtin", GTIN[:-1] + "9", "--lot", "L", "--serial", "S",
                         "--expiry", "301231"), None, 4, "check digit"),
    "token-refused": ((f"(01){GTIN}(17)301231(10){LOT}(21)AUTH1",), "mt_wrong", 1,
                      "did not accept the token"),
    "gtin-not-served": (("--check-connectivity", "--gtin", "09506000134352"), None, 1,
                        "does not answer for"),
}  # fmt: skip


@pytest.mark.parametrize(("args", "token", "code", "line"), FAILURES.values(), ids=FAILURES.keys())
def test_no_answer_is_one_line(
    vrs_node: VrsNode, args: tuple[str, ...], token: str | None, code: int, line: str
) -> None:
    result = verify_remote(vrs_node, *args, token=token)
    assert result.exit_code == code, result.output
    assert line in result.output
    assert "Traceback" not in result.output


def test_check_connectivity_names_the_responder(vrs_node: VrsNode) -> None:
    result = verify_remote(vrs_node, "--check-connectivity", "--gtin", GTIN)
    assert result.exit_code == 0, result.output
    assert "responder GLN 4000000000013" in result.output
