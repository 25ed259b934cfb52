"""``medtrace scan … --offline BUNDLE`` shows the bundle's own checkpoints to the witness rule
(ADR 0024, "Bundles"; docs/spec/scanner.md, "Cosigned checkpoints"): an up-to-date, witnessed
bundle releases a genuine pack; one that cannot prove its entries holds it, saying why."""

from __future__ import annotations

import gzip
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from medtrace.cli.main import cli
from node.replication.bundles import export_bundle
from node.store import FeedHead, Store
from tests.replication.test_bundle_checkpoints import MAKER, Hub, other_root
from tests.scanner.conftest import CASE, OK
from tests.scanner.world import GTIN, ScanWorld, scan_world

HOUR = 3600


@dataclass
class Bundled:
    world: ScanWorld
    db: Path  # the exporter's store
    bundle: Path

    @property
    def pin(self) -> str:
        return self.world.pin


def _hub(
    tmp_path: Path, *, witnessed_at: int | None, witnesses: tuple[str, ...] | None
) -> tuple[ScanWorld, Path]:
    world = scan_world()
    world.register_product()
    world.commission([OK])
    world.deliver([OK], CASE)
    data = world.store(tmp_path / "hub", witnessed=False)
    if witnessed_at is not None:
        with Store(data / "node.db") as store:
            world.witness(store, at=witnessed_at, witnesses=witnesses)
    return world, data / "node.db"


def bundled(
    tmp_path: Path,
    *,
    age_s: int | None = 60,
    witnesses: tuple[str, ...] | None = None,
    since_first_of: str | None = None,
) -> Bundled:
    """A connected node's bundle (full, or beyond a post's heads holding the first entry of
    ``since_first_of``), its checkpoints cosigned ``age_s`` ago (None: never)."""
    at = None if age_s is None else int(time.time()) - age_s
    world, db = _hub(tmp_path, witnessed_at=at, witnesses=witnesses)
    out = tmp_path / "to-post.mtb"
    with Store(db) as store:
        since = None
        if since_first_of is not None:  # a post's heads: it holds that feed's first entry
            (first,) = store.entries(since_first_of, 0, 1)
            since = {since_first_of: FeedHead(since_first_of, 1, first.id, None)}
        export_bundle(store, out, since=since)
    return Bundled(world, db, out)


def scan(b: Bundled, *options: str) -> dict[str, Any]:
    target = f"(01){GTIN}(21){OK}"
    args = ["scan", target, "--offline", str(b.bundle), "--genesis", b.pin, "--json", *options]
    shown = CliRunner().invoke(cli, args)
    answer: dict[str, Any] = json.loads(shown.stdout)
    return answer


def codes(answer: dict[str, Any]) -> list[str]:
    return [r["code"] for r in answer["reasons"]]


def test_offline_scan_of_bundle_uses_its_checkpoints(tmp_path: Path) -> None:
    """An up-to-date, witnessed bundle: RELEASE, saying how old its newest cosignature is."""
    answer = scan(bundled(tmp_path, age_s=120))
    assert answer["verdict"] == "RELEASE", answer["reasons"]
    shown = answer["checkpoints"]
    assert 120 <= shown["newest_age_s"] < 180
    assert shown["not_covered"] == []
    assert {f["feed"] for f in shown["feeds"]} >= {MAKER, "dist/wh", "ph/a"}
    assert all(f["cosigned_by"] for f in shown["feeds"])


@dataclass(frozen=True)
class Case:
    build: Callable[[Path], Bundled]
    options: tuple[str, ...]
    code: str


HOLDS: dict[str, Case] = {
    "no witness cosigned yet": Case(lambda p: bundled(p, age_s=None), (), "no_cosigned_checkpoint"),
    "signed by the feeds' keys alone": Case(
        lambda p: bundled(p, witnesses=()), (), "too_few_cosignatures"
    ),
    "cosigned longer ago than --max-age": Case(
        lambda p: bundled(p, age_s=3 * HOUR), ("--max-age", "2h"), "stale_checkpoint"
    ),
    "the bundle starts a feed midway (--since)": Case(
        lambda p: bundled(p, since_first_of=MAKER), (), "no_cosigned_checkpoint"
    ),
}


@pytest.mark.parametrize("case", HOLDS)
def test_bundle_that_cannot_prove_its_entries_holds(tmp_path: Path, case: str) -> None:
    c = HOLDS[case]
    answer = scan(c.build(tmp_path), *c.options)
    assert answer["verdict"] == "HOLD"
    assert c.code in codes(answer), codes(answer)


def test_split_view_in_bundle_holds(tmp_path: Path) -> None:
    """The bundle carries two checkpoints of MAKER at one size with different roots, each
    signed by MAKER's key and cosigned: the scan names the split view."""
    b = bundled(tmp_path)
    forked = other_root(Hub(b.world, b.db, b.bundle))
    with gzip.open(b.bundle, "rt") as handle:
        obj: dict[str, Any] = json.load(handle)
    obj["checkpoints"].append(forked)
    with gzip.open(b.bundle, "wt") as handle:
        json.dump(obj, handle)
    answer = scan(b)
    assert answer["verdict"] == "HOLD"
    assert "split_view" in codes(answer), codes(answer)


def test_proof_exported_from_a_bundle_carries_its_checkpoints(tmp_path: Path) -> None:
    """A border post scanning a bundle can hand over a proof file that verifies with the
    genesis alone, cosigned checkpoints included."""
    b = bundled(tmp_path)
    proof = tmp_path / "pack.proof.json"
    answer = scan(b, "--export-proof", str(proof))
    assert answer["verdict"] == "RELEASE", answer["reasons"]
    carried = json.loads(proof.read_text())["checkpoints"]
    assert {c["feed"] for c in carried} >= {MAKER, "dist/wh", "ph/a"}
    verified = CliRunner().invoke(cli, ["proof", "verify", str(proof), "--genesis", b.pin])
    assert verified.exit_code == 0, verified.output
    assert f"✓ checkpoint {MAKER} at size" in verified.output
