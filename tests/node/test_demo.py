"""``medtrace demo`` end to end, as ``make demo`` runs it, and the ledger it leaves behind."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

MEDTRACE = [sys.executable, "-c", "from node.cli import main; main()"]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("demo") / "demo-out"
    env = {k: v for k, v in os.environ.items() if k != "MEDTRACE_PASSPHRASE"}
    result = subprocess.run(
        [*MEDTRACE, "demo", "--out", str(out)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return out


def report(out: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((out / "report.json").read_text())
    return loaded


def test_the_report_shows_every_expected_verdict(demo: Path) -> None:
    steps = {(s["name"], s["verdict"]) for s in report(demo)["steps"]}
    assert ("customs scan at the border", "RELEASE") in steps
    assert ("verify at the counter", "RELEASE") in steps
    assert ("scan of the cloned serial", "REJECT") in steps
    assert ("recalled lot scanned", "REJECT") in steps
    assert ("printed lot differs from commissioning", "REJECT") in steps
    assert ("never commissioned", "HOLD") in steps


def test_the_clone_raises_an_alert_and_the_mismatches_name_their_reason(demo: Path) -> None:
    by_name = {s["name"]: s for s in report(demo)["steps"]}
    assert "suspected_clone" in by_name["scan of the cloned serial"]["alerts"]
    assert "lot_mismatch" in by_name["printed lot differs from commissioning"]["reasons"]
    assert "recalled" in by_name["recalled lot scanned"]["reasons"]
    assert by_name["dispense of a recalled pack"]["reasons"] == ["recalled"]
    assert by_name["never commissioned"]["reasons"] == ["unknown_pack"]


def test_all_five_nodes_converge_to_one_digest(demo: Path) -> None:
    nodes = report(demo)["nodes"]
    assert set(nodes) == {"manufacturer", "distributor", "customs", "pharmacy", "regulator"}
    assert len({n["digest"] for n in nodes.values()}) == 1
    for node in nodes.values():
        assert (demo / node["data"] / "node.db").is_file()


def test_ledger_verify_passes_on_the_demo_and_fails_after_one_byte_changes(
    demo: Path, tmp_path: Path
) -> None:
    db = demo / "nodes" / "pharmacy" / "node.db"
    ok = subprocess.run(
        [*MEDTRACE, "ledger", "verify", "--db", str(db), "--json"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout.splitlines()[-1])["ok"] is True
    copy = tmp_path / "node.db"
    shutil.copy(db, copy)
    with sqlite3.connect(copy) as conn:
        conn.execute("DROP TRIGGER entries_no_update")
        payload = bytes(conn.execute("SELECT payload FROM entries WHERE id = 7").fetchone()[0])
        changed = (
            payload.replace(b'"ship"', b'"shiq"') if b'"ship"' in payload else payload[:-2] + b"0}"
        )
        conn.execute("UPDATE entries SET payload = ? WHERE id = 7", (changed,))
    bad = subprocess.run(
        [*MEDTRACE, "ledger", "verify", "--db", str(copy), "--json"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert bad.returncode == 1
    verdict = json.loads(bad.stdout.splitlines()[-1])
    assert verdict["ok"] is False
    assert "#" in verdict["message"]  # names the feed position of the broken entry


def test_the_demo_keeps_private_keys_encrypted_and_private(demo: Path) -> None:
    keys = list((demo / "consortium").rglob("*.key"))
    assert keys
    for path in keys:
        assert path.stat().st_mode & 0o077 == 0
        assert b"ENCRYPTED PRIVATE KEY" in path.read_bytes()
