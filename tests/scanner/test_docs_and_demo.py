"""The scanner spec names what the scanner says; the demo's scan steps print and read labels."""

from __future__ import annotations

import re
from pathlib import Path

from ledger.alerts import Alert
from ledger.entry import SignedEntry
from ledger.kinds import Role
from medtrace.demo.scenario import Story as DemoStory
from node.store import Store
from scanner.reading import ScanError, read_image
from scanner.reading.scan_data import ERROR_CODES, SCOPE_CODES
from scanner.timing import measure, sample_images
from scanner.verdict import _HOLD_STATUS, _REJECT_STATUS, Decision, Scanned
from tests.scanner.conftest import OK, Story
from tests.scanner.world import EXPIRY, GTIN, LOT

ROOT = Path(__file__).resolve().parents[2]
SPEC = (ROOT / "docs" / "spec" / "scanner.md").read_text(encoding="utf-8")


def _reason_codes() -> set[str]:
    codes = {code for code, _ in [*_REJECT_STATUS.values(), *_HOLD_STATUS.values()]}
    for path in (ROOT / "scanner").rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        codes |= set(re.findall(r'Reason\(\s*"([a-z_]+)"', text))
    return codes - {"reject", "hold", "release"}  # per-pack lines of a case verdict


def test_the_spec_names_every_reason_code() -> None:
    codes = _reason_codes()
    assert {"authentic", "forged", "stale_data", "already_dispensed"} <= codes
    for code in codes:
        assert f"`{code}`" in SPEC, code


def test_the_spec_names_every_scan_error_code() -> None:
    assert SCOPE_CODES <= ERROR_CODES
    for code in ERROR_CODES:
        assert f"`{code}`" in SPEC, code


def test_scan_errors_use_only_the_listed_codes() -> None:
    reading = sorted((ROOT / "scanner" / "reading").glob("*.py"))
    source = "".join(path.read_text(encoding="utf-8") for path in reading)
    used = set(re.findall(r'"([a-z_]+)",?\s*\)', source)) & set(re.findall(r"[a-z_]+", source))
    assert {"check_digit", "date", "keyboard_layout"} <= used
    assert ScanError("x").code == "syntax"


class _StoreActor:
    """Just enough of a demo actor: provenance and alerts from a store."""

    name, role, feed = "ph", Role.PHARMACY, "ph/a"

    def __init__(self, store: Store) -> None:
        self.store = store

    def provenance(self, uri: str) -> list[SignedEntry]:
        return self.store.provenance(uri)

    def alerts(self) -> list[Alert]:
        return self.store.alerts()


def test_a_demo_scan_prints_the_label_and_reads_it(story: Story, tmp_path: Path) -> None:
    with Store(story.data / "node.db") as store:
        demo = DemoStory(
            {"ph": _StoreActor(store)},  # type: ignore[dict-item]
            story.world.membership,
            lambda: 0,
            labels=tmp_path / "labels",
        )
        verdict = demo.scan("printed lot differs", "ph", Scanned(GTIN, OK, "L9", EXPIRY))
        fine = demo.scan("fine", "ph", Scanned(GTIN, OK, LOT, EXPIRY))
    assert verdict.decision is Decision.REJECT
    assert fine.decision is Decision.RELEASE
    step = demo.steps[0]
    assert step.label == f"labels/00-{GTIN}-{OK}-dm.png"
    assert step.to_json()["label"] == step.label
    (printed,) = read_image((tmp_path / step.label).read_bytes())
    assert (printed.lot, printed.serial) == ("L9", OK)
    assert demo.steps[1].label == f"labels/01-{GTIN}-{OK}-dm.png"


def test_timing_reports_each_decoder(tmp_path: Path) -> None:
    paths = sample_images(tmp_path)[:2]
    timings = {t.mode: t.to_json() for t in measure(paths, repeat=1)}
    assert set(timings) == {"zxing-cpp", "pyzbar", "both"}
    assert timings["both"]["read"] == 2
    assert float(timings["zxing-cpp"]["p50_ms"]) > 0
