"""Labels for a commissioned batch → every image read by each decoder that reads its symbology →
parsed → verified RELEASE against the node's store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from medtrace.cli.main import cli
from scanner.decode import PYZBAR, ZXING, decode_image
from scanner.labels import LabelError, PackLabel, write_label
from scanner.reading.images import sort_codes
from scanner.sources.offline import verify_offline
from scanner.verdict import Decision
from tests.scanner.conftest import ROUND_TRIP, ROUND_TRIP_LOT, Story
from tests.scanner.world import EXPIRY, GTIN

DECODERS = {"dm": (ZXING,), "qr": (ZXING, PYZBAR)}


@pytest.fixture(scope="module")
def batch(story: Story, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, object]]:
    out = tmp_path_factory.mktemp("labels")
    result = CliRunner().invoke(
        cli,
        [
            "labels", "batch", "--data", str(story.data), "--gtin", GTIN, "--lot",
            ROUND_TRIP_LOT, "--out", str(out), "--format", "both", "--sheet", "--json",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return out, json.loads(result.stdout)


def test_a_batch_gets_one_label_per_pack_and_format_and_a_sheet(
    batch: tuple[Path, dict[str, object]],
) -> None:
    out, summary = batch
    assert summary["labels"] == len(ROUND_TRIP)
    assert len(list(out.glob("*-dm.png"))) == len(ROUND_TRIP)
    assert len(list(out.glob("*-qr.png"))) == len(ROUND_TRIP)
    sheet = summary["sheet"]
    assert isinstance(sheet, dict)
    assert Path(sheet["path"]).read_bytes().startswith(b"%PDF")
    assert sheet["pages"] == 1


@pytest.mark.parametrize("serial", ROUND_TRIP)
@pytest.mark.parametrize("kind", ["dm", "qr"])
def test_every_label_reads_back_with_each_decoder_and_verifies(
    story: Story, batch: tuple[Path, dict[str, object]], serial: str, kind: str
) -> None:
    out, _ = batch
    image = (out / f"{GTIN}-{serial}-{kind}.png").read_bytes()
    for decoder in DECODERS[kind]:
        report = decode_image(image, decoders=[decoder])
        assert report.tried == ["plain"], f"{decoder} needed {report.tried}"
        (scan,) = sort_codes(report.codes).packs
        assert (scan.gtin, scan.serial, scan.lot, scan.expiry) == (
            GTIN,
            serial,
            ROUND_TRIP_LOT,
            EXPIRY,
        )
        assert scan.decoder == decoder
        assert scan.symbology == ("]d2" if kind == "dm" else "dl")
        outcome = verify_offline(scan, story.data, today="2027-06-01")
        assert outcome.decision is Decision.RELEASE, outcome.verdict.reasons


def test_make_writes_the_labels_given(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli,
        [
            "labels", "make", "--gtin", "9506000134352", "--lot", "A/1", "--expiry",
            "2028-02-29", "--serial", "S1", "--serial", "S(2)", "--out", str(tmp_path),
            "--format", "qr",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        f"{GTIN}-S1-qr.png",
        f"{GTIN}-S_2_-qr.png",
    ]


BAD_LABELS = [
    ("gtin_check_digit", ["--gtin", "09506000134353"], "not valid"),
    ("expiry_not_a_date", ["--expiry", "2028-02-30"], "expiry date"),
    ("serial_outside_cset82", ["--serial", "AB C"], "character set 82"),
    ("lot_too_long", ["--lot", "L" * 21], "1 to 20 characters"),
]


@pytest.mark.parametrize(("case", "change", "words"), BAD_LABELS, ids=[b[0] for b in BAD_LABELS])
def test_bad_pack_data_makes_no_label(
    tmp_path: Path, case: str, change: list[str], words: str
) -> None:
    options = {"--gtin": GTIN, "--lot": "L1", "--expiry": EXPIRY, "--serial": "S1"}
    options[change[0]] = change[1]
    args = ["labels", "make", "--out", str(tmp_path)]
    for name, value in options.items():
        args += [name, value]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1
    assert words in result.stderr
    assert not list(tmp_path.glob("*.png"))


def test_batch_of_a_lot_the_store_does_not_hold_fails(story: Story, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli,
        [
            "labels",
            "batch",
            "--data",
            str(story.data),
            "--gtin",
            GTIN,
            "--lot",
            "NOPE",
            "--out",
            str(tmp_path),
        ],
    )
    assert result.exit_code == 1
    assert "no commissioned packs of lot 'NOPE'" in result.stderr


def test_batch_limit_and_db_path(story: Story, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli,
        [
            "labels", "batch", "--db", str(story.data / "node.db"), "--gtin", GTIN, "--lot",
            ROUND_TRIP_LOT, "--limit", "3", "--out", str(tmp_path), "--json",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["labels"] == 3


def test_a_label_that_would_not_scan_is_never_written() -> None:
    with pytest.raises(LabelError):
        PackLabel(GTIN, "L1", "2028-13-01", "S1")


def test_label_files_name_the_pack(tmp_path: Path) -> None:
    path = write_label(PackLabel(GTIN, "L1", EXPIRY, "A/B"), tmp_path, prefix="07-")
    assert path.name == f"07-{GTIN}-A_B-dm.png"
