"""``medtrace scan``: exit codes, --json, batch mode, and the actions after a verdict."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from medtrace.cli.main import cli
from scanner.labels import PackLabel, write_label
from tests.node.world import sscc
from tests.scanner.conftest import (
    CASE,
    DISPENSED,
    IN_TRANSIT,
    LOCKED,
    OK,
    OK2,
    UNKNOWN,
    Story,
)
from tests.scanner.server import OPERATOR, VERIFIER, Node, open_node, serve
from tests.scanner.world import EXPIRY, GTIN, LOT


def run(*args: str, stdin: str | None = None) -> Result:
    return CliRunner().invoke(cli, ["scan", *args], input=stdin)


def label(tmp_path: Path, serial: str, lot: str = LOT, fmt: str = "datamatrix") -> str:
    return str(write_label(PackLabel(GTIN, lot, EXPIRY, serial), tmp_path, fmt))


def text(serial: str, lot: str = LOT) -> str:
    return f"]d201{GTIN}17301231 10{lot}<GS>21{serial}".replace(" ", "")


def as_json(result: Result) -> Any:
    return json.loads(result.stdout)


@pytest.fixture
def live(fresh_story: Story) -> Iterator[Node]:
    """An honest node over a story of its own: actions change it."""
    node = open_node(fresh_story.world, fresh_story.data)
    with serve(node) as running:
        yield running
    node.store.close()


def online(story: Story, node: Node) -> list[str]:
    return ["--node", node.url, "--token", VERIFIER, "--genesis", story.world.pin]


# -- decode only --------------------------------------------------------------------------------


def test_decode_only_json_gives_the_parsed_code(tmp_path: Path) -> None:
    result = run(label(tmp_path, "4TQ2M8ZK1V9C"), "--decode-only", "--json")
    assert result.exit_code == 0, result.output
    value = as_json(result)
    assert {k: value[k] for k in ("gtin", "serial", "lot", "expiry", "symbology")} == {
        "gtin": GTIN,
        "serial": "4TQ2M8ZK1V9C",
        "lot": LOT,
        "expiry": EXPIRY,
        "symbology": "]d2",
    }
    assert value["raw"] == f"01{GTIN}17301231 10{LOT}\x1d214TQ2M8ZK1V9C".replace(" ", "")
    assert value["decoder"] == "zxing-cpp"


def test_decode_only_reads_typed_text() -> None:
    result = run(
        f"https://id.gs1.org/01/{GTIN}/10/{LOT}/21/S1?17=301200", "--decode-only", "--json"
    )
    assert result.exit_code == 0
    assert as_json(result)["expiry"] == "2030-12-31"
    assert as_json(result)["symbology"] == "dl"


def test_decode_only_panel_shows_the_fields(tmp_path: Path) -> None:
    result = run(label(tmp_path, "S1", fmt="qr"), "--decode-only")
    assert result.exit_code == 0
    assert "S1" in result.stdout
    assert "dl" in result.stdout


# -- exit codes ---------------------------------------------------------------------------------

VERDICTS = [
    ("release", OK, LOT, 0, "RELEASE"),
    ("hold_locked", LOCKED, LOT, 1, "HOLD"),
    ("hold_unknown", UNKNOWN, LOT, 1, "HOLD"),
    ("reject_dispensed", DISPENSED, LOT, 2, "REJECT"),
    ("reject_lot_mismatch", OK2, "L9", 2, "REJECT"),
]


@pytest.mark.parametrize(
    ("case", "serial", "lot", "code", "verdict"), VERDICTS, ids=[v[0] for v in VERDICTS]
)
def test_exit_code_is_the_verdict_offline(
    story: Story, tmp_path: Path, case: str, serial: str, lot: str, code: int, verdict: str
) -> None:
    result = run(label(tmp_path, serial, lot), "--offline", str(story.data), "--json")
    assert result.exit_code == code, result.output
    value = as_json(result)
    assert value["verdict"] == verdict
    assert value["source"] == "offline"
    shown = run(text(serial, lot), "--offline", str(story.data))
    assert shown.exit_code == code
    assert verdict in shown.stdout


@pytest.mark.parametrize(
    ("case", "serial", "lot", "code", "verdict"), VERDICTS, ids=[v[0] for v in VERDICTS]
)
def test_exit_code_is_the_verdict_online(
    story: Story, node: Node, case: str, serial: str, lot: str, code: int, verdict: str
) -> None:
    result = run(text(serial, lot), *online(story, node), "--json")
    assert result.exit_code == code, result.output
    assert as_json(result)["verdict"] == verdict
    assert as_json(result)["source"] == "online"


def test_a_scan_error_exits_3_with_its_hint() -> None:
    result = run(
        f"01{GTIN}1728103110A261121X21Y", "--offline", "/nonexistent", "--decode-only", "--json"
    )
    assert result.exit_code == 3
    assert as_json(result)["error"]["code"] == "lost_separator"
    shown = run(f"]d201{GTIN}1728133110A\x1d21X", "--decode-only")
    assert shown.exit_code == 3
    assert "expiry month 13 is not a month" in shown.stderr


def test_an_image_without_a_code_is_a_scan_error(tmp_path: Path) -> None:
    blank = tmp_path / "blank.png"
    from PIL import Image  # noqa: PLC0415

    Image.new("L", (200, 200), 255).save(blank)
    result = run(str(blank), "--decode-only", "--json")
    assert result.exit_code == 3
    assert as_json(result)["error"]["code"] == "no_barcode"


USAGE = [
    ("no_ledger_named", []),
    ("node_without_token", ["--node", "http://127.0.0.1:9"]),
    ("missing_data_directory", ["--offline", "/nonexistent/ph"]),
    ("bad_max_age", ["--offline", "{data}", "--max-age", "soon"]),
    ("then_without_operator_token", ["--offline", "{data}", "--then", "dispense"]),
]


@pytest.mark.parametrize(("case", "options"), USAGE, ids=[u[0] for u in USAGE])
def test_usage_problems_exit_4(story: Story, case: str, options: list[str]) -> None:
    args = [o.replace("{data}", str(story.data)) for o in options]
    result = run(text(OK), *args, "--json")
    assert result.exit_code == 4, result.output
    assert as_json(result)["error"]["code"] == "usage"


def test_a_refused_token_exits_4(story: Story, node: Node) -> None:
    result = run(text(OK), "--node", node.url, "--token", "nope", "--genesis", story.world.pin)
    assert result.exit_code == 4
    assert "refused the token" in result.stderr


def test_stale_offline_data_exits_1(story: Story) -> None:
    result = run(text(OK), "--offline", str(story.data), "--max-age", "1s", "--json")
    assert result.exit_code == 1
    value = as_json(result)
    assert value["reasons"][0]["code"] == "stale_data"
    assert value["freshness"]["stale"] is True


def test_offline_falls_back_when_the_node_is_down(story: Story) -> None:
    result = run(
        text(OK),
        "--node", "http://127.0.0.1:9", "--token", VERIFIER, "--genesis", story.world.pin,
        "--offline", str(story.data), "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert as_json(result)["source"] == "offline"


def test_the_panel_shows_verdict_reasons_and_custody(story: Story) -> None:
    result = run(text(DISPENSED), "--offline", str(story.data))
    assert result.exit_code == 2
    for words in ("REJECT", "already_dispensed", "custody", "commission", "dispense", "offline"):
        assert words in result.stdout


# -- batch --------------------------------------------------------------------------------------


def test_a_folder_is_a_batch_with_a_summary(story: Story, tmp_path: Path) -> None:
    label(tmp_path, OK)
    label(tmp_path, LOCKED, fmt="qr")
    label(tmp_path, DISPENSED)
    (tmp_path / "notes.txt").write_text("not an image")
    (tmp_path / "broken.png").write_bytes(b"\x89PNG broken")
    result = run(str(tmp_path), "--offline", str(story.data), "--json")
    assert result.exit_code == 2, result.output
    value = as_json(result)
    assert value["summary"] == {"RELEASE": 1, "HOLD": 1, "REJECT": 1, "scan error": 1}
    assert len(value["inputs"]) == 4
    shown = run(str(tmp_path), "--offline", str(story.data))
    assert "batch" in shown.stdout
    assert "1 RELEASE, 1 HOLD, 1 REJECT, 1 scan error" in shown.stdout


def test_standard_input_gives_one_scan_per_line(story: Story) -> None:
    lines = f"{text(OK)}\n\n{text(OK2)}\n"
    result = run("-", "--offline", str(story.data), "--json", stdin=lines)
    assert result.exit_code == 0, result.output
    assert [i["result"]["serial"] for i in as_json(result)["inputs"]] == [OK, OK2]


def test_an_empty_folder_is_a_usage_problem(tmp_path: Path) -> None:
    assert run(str(tmp_path), "--decode-only").exit_code == 4


def test_a_missing_image_file_is_a_usage_problem(tmp_path: Path) -> None:
    result = run(str(tmp_path / "label.png"), "--decode-only")
    assert result.exit_code == 4
    assert "no such image file" in result.stderr


# -- actions ------------------------------------------------------------------------------------


def test_dispense_after_release_then_the_pack_is_rejected(fresh_story: Story, live: Node) -> None:
    args = [*online(fresh_story, live), "--json"]
    first = run(text(OK), *args, "--then", "dispense", "--operator-token", OPERATOR)
    assert first.exit_code == 0, first.output
    action = as_json(first)["action"]
    assert action["done"] is True
    assert len(action["entry"]) == 64
    again = run(text(OK), *args, "--then", "dispense", "--operator-token", OPERATOR)
    assert again.exit_code == 2
    assert as_json(again)["action"] == {
        "kind": "dispense",
        "done": False,
        "entry": None,
        "detail": "not dispensed: the verdict is REJECT",
    }
    undo = run(text(OK), *args, "--then", "undo", "--operator-token", OPERATOR)
    assert undo.exit_code == 2  # the verdict that was acted on
    assert as_json(undo)["action"]["done"] is True
    assert as_json(run(text(OK), *args))["verdict"] == "RELEASE"


def test_no_dispense_on_hold(fresh_story: Story, live: Node) -> None:
    result = run(
        text(LOCKED), *online(fresh_story, live), "--then", "dispense", "--operator-token", OPERATOR
    )
    assert result.exit_code == 1
    assert "not dispensed: the verdict is HOLD" in result.stdout
    # nothing is dispensed; the failed check is reported (ADR 0022)
    assert not any(r.startswith("POST /api/v1/actions") for r in live.requests)
    assert "POST /api/v1/checks" in live.requests


def test_customs_detains_and_releases_a_whole_case(fresh_story: Story, live: Node) -> None:
    live.feed = "border/post"
    case = f"(00){sscc(CASE)}"
    args = [*online(fresh_story, live), "--json", "--operator-token", OPERATOR]
    detained = run(case, *args, "--then", "detain")
    value = as_json(detained)
    assert value["containers"] == [sscc(CASE)]
    assert value["total"] == value["checked"] == 7
    assert "POST /api/v1/scan" in live.requests  # one request, no pack asked about one by one
    assert not any("/provenance" in r for r in live.requests)
    assert value["verdict"] == "REJECT"  # the case holds dispensed, stolen, cloned packs
    assert value["action"]["done"] is True
    after = as_json(run(text(OK), *online(fresh_story, live), "--json"))
    assert after["verdict"] == "HOLD"
    assert [r["code"] for r in after["reasons"]] == ["quarantined"]
    released = as_json(run(text(OK), *args, "--then", "release"))
    assert released["action"]["done"] is True
    assert as_json(run(text(OK), *online(fresh_story, live), "--json"))["verdict"] == "RELEASE"


def test_a_case_is_checked_whole_offline(story: Story) -> None:
    value = as_json(run(f"(00){sscc(CASE)}", "--offline", str(story.data), "--json"))
    assert (value["kind"], value["checked"], value["total"]) == ("consignment", 7, 7)
    assert value["source"] == "offline"
    gone = run(f"(00){sscc(CASE)}", "--offline", str(story.data), "--case-limit", "3")
    assert gone.exit_code == 4
    assert "--case-limit is gone" in gone.stderr


def test_a_refused_action_exits_4(fresh_story: Story, live: Node) -> None:
    live.feed = "ph/a"
    result = run(
        text(IN_TRANSIT), *online(fresh_story, live), "--customs", "--then", "release",
        "--operator-token", OPERATOR,
    )  # fmt: skip
    assert result.exit_code == 4
    assert "the node refused the inspect" in result.stderr


def test_scan_is_listed_in_the_cli() -> None:
    result = CliRunner().invoke(cli, ["--help"])
    assert "scan" in result.output
    assert "labels" in result.output
