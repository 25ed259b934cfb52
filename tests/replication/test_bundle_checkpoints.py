"""Sync bundles carry the exporter's cosigned checkpoints and checkpoint fork evidence, so a
post that syncs only by bundle can pass the scanner's witness rule (issue 14, item 3; ADR 0024,
"Bundles"; docs/spec/replication.md, "Bundle format"). The import takes each note as a node takes
a peer's (``node.replication.witnessing.take_note``): a forged one is refused and counted, never
stored; a split view is the same evidence, frozen feed and alert as from a peer."""

from __future__ import annotations

import base64
import gzip
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from ledger.alerts import Code
from ledger.checkpoint import Checkpoint
from ledger.feedlog import feed_origin, sign_feed_checkpoint
from medtrace.cli.main import cli
from node.store import Store
from node.store.checkpoints import CheckpointFork
from scanner.outcome import Outcome
from scanner.sources.fallback import Sources
from scanner.sources.offline import open_local
from scanner.verdict import Decision
from tests.node.world import FEEDS, key
from tests.scanner.conftest import CASE, OK, scanned
from tests.scanner.world import ScanWorld, scan_world

MAKER = "acme/line1"  # its feed holds the pack's commissioning, packing and shipment


@dataclass
class Hub:
    """The connected node that exports, and the bundle it wrote."""

    world: ScanWorld
    db: Path
    bundle: Path


def hub(tmp_path: Path, *, witnessed: bool = True) -> Hub:
    """A pack delivered to the pharmacy; every feed's checkpoint cosigned now (``witnessed``)."""
    world = scan_world()
    world.register_product()
    world.commission([OK])
    world.deliver([OK], CASE)
    data = world.store(tmp_path / "hub", witnessed=witnessed)
    return Hub(world, data / "node.db", tmp_path / "to-post.mtb")


def written(h: Hub) -> int:
    """How many feeds hold entries (each has one checkpoint, cosigned)."""
    return len({e.payload.feed for e in h.world.entries})


def run(*args: str) -> tuple[int, dict[str, Any]]:
    result = CliRunner().invoke(cli, [*args, "--json"])
    assert result.exit_code in {0, 2}, result.output
    answer: dict[str, Any] = json.loads(result.stdout)
    return result.exit_code, answer


def export(h: Hub) -> dict[str, Any]:
    _, answer = run("sync", "export", "--db", str(h.db), "--out", str(h.bundle))
    return answer


def import_into(post: Path, h: Hub) -> tuple[int, dict[str, Any]]:
    return run("sync", "import", "--db", str(post), "--genesis", h.world.pin, str(h.bundle))


def scan(data: Path, pin: str) -> Outcome:
    sources = Sources(genesis=pin)
    sources.local = open_local(data)
    try:
        return sources.verify(scanned(OK))
    finally:
        sources.close()


def codes(outcome: Outcome) -> list[str]:
    return [r.code for r in outcome.verdict.reasons]


def edit_bundle(path: Path, change: Callable[[dict[str, Any]], None]) -> None:
    with gzip.open(path, "rt") as handle:
        obj: dict[str, Any] = json.load(handle)
    change(obj)
    with gzip.open(path, "wt") as handle:
        json.dump(obj, handle)


def maker_note(obj: dict[str, Any], pin: str) -> tuple[int, str]:
    origin = feed_origin(pin, MAKER) + "\n"
    (index,) = [i for i, n in enumerate(obj["checkpoints"]) if n.startswith(origin)]
    return index, obj["checkpoints"][index]


def other_root(h: Hub) -> str:
    """MAKER's checkpoint at the size held over another history: signed by MAKER's key and
    cosigned by every other organisation, as a node showing a split view would serve it."""
    with Store(h.db) as store:
        size = store.feed_tree(MAKER).size
    other = Checkpoint(feed_origin(h.world.pin, MAKER), size, b"\x07" * 32)
    note = sign_feed_checkpoint(h.world.pin, other, key(FEEDS[MAKER][2]))
    return h.world.cosign(note, at=int(time.time())).decode()


def test_bundle_carries_cosigned_checkpoints(tmp_path: Path) -> None:
    """Export → import → the post's own offline scan releases a genuine pack."""
    h = hub(tmp_path)
    exported = export(h)
    assert exported["checkpoints"] == written(h)  # one cosigned checkpoint per feed
    post = tmp_path / "post.db"
    status, imported = import_into(post, h)
    assert status == 0, imported
    assert imported["checkpoints"]["taken"] == written(h)
    assert imported["checkpoints"]["refused"] == 0
    outcome = scan(post, h.world.pin)
    assert outcome.decision is Decision.RELEASE, outcome.verdict.reasons
    shown = outcome.to_json()["checkpoints"]
    assert shown["newest_age_s"] is not None
    assert shown["not_covered"] == []
    assert {f["feed"] for f in shown["feeds"]} >= {MAKER, "dist/wh", "ph/a"}


def _root_changed(note: str) -> str:
    origin, size, root, rest = note.split("\n", 3)
    forged = base64.b64encode(b"\x07" * 32).decode()
    assert forged != root
    return "\n".join([origin, size, forged, rest])


def _cosignature_changed(note: str) -> str:
    """The last cosignature line's signature bytes flipped (a witness's key is listed)."""
    lines = note.rstrip("\n").split("\n")
    prefix, _, blob = lines[-1].rpartition(" ")
    raw = bytearray(base64.b64decode(blob))
    raw[-1] ^= 1
    return "\n".join([*lines[:-1], f"{prefix} {base64.b64encode(bytes(raw)).decode()}"]) + "\n"


def _signed_by_another_key(h: Hub) -> Callable[[str], str]:
    def forge(note: str) -> str:
        origin, size, root, _ = note.split("\n", 3)
        forged = Checkpoint(origin, int(size), base64.b64decode(root))
        return sign_feed_checkpoint(h.world.pin, forged, key(FEEDS["dist/wh"][2])).decode()

    return forge


FORGERIES: dict[str, Callable[[Hub], Callable[[str], str]]] = {
    "root changed after signing": lambda h: _root_changed,
    "a witness's cosignature forged": lambda h: _cosignature_changed,
    "signed by another feed's key": _signed_by_another_key,
    "not a note at all": lambda h: lambda note: "medtrace checkpoint, honest\n",
}


@pytest.mark.parametrize("forgery", FORGERIES)
def test_forged_checkpoint_in_bundle_is_refused(tmp_path: Path, forgery: str) -> None:
    h = hub(tmp_path)
    export(h)
    forge = FORGERIES[forgery](h)

    def replace_maker(obj: dict[str, Any]) -> None:
        index, note = maker_note(obj, h.world.pin)
        obj["checkpoints"][index] = forge(note)

    edit_bundle(h.bundle, replace_maker)
    post = tmp_path / "post.db"
    status, imported = import_into(post, h)
    assert status == 2  # something in the bundle was refused
    assert imported["checkpoints"]["refused"] == 1, imported["checkpoints"]
    assert imported["checkpoints"]["taken"] == written(h) - 1
    assert imported["added"] == len(h.world.entries)  # the entries stand on their own
    with Store(post) as store:
        assert store.checkpoint(MAKER) is None  # never stored
        assert store.checkpoint_forks() == []  # and no evidence of anything: nothing verified
        assert store.alerts(code=Code.CHECKPOINT_FORK.value) == []
    outcome = scan(post, h.world.pin)
    assert outcome.decision is Decision.HOLD
    assert codes(outcome) == ["no_cosigned_checkpoint"]


def _forked_note_in_checkpoints(h: Hub, tmp_path: Path) -> None:
    """The post imported the genuine bundle; the next one shows another root at that size."""
    export(h)
    status, _ = import_into(tmp_path / "post.db", h)
    assert status == 0
    forked = other_root(h)
    edit_bundle(h.bundle, lambda obj: obj["checkpoints"].append(forked))


def _exporters_evidence(h: Hub, tmp_path: Path) -> None:
    """The exporter holds a checkpoint fork (from a peer); its bundle carries the evidence."""
    forked = other_root(h).encode()
    with Store(h.db) as store:
        held = store.checkpoint(MAKER)
        assert held is not None
        fork = CheckpointFork(MAKER, held.size, held.note, forked, "two roots at one size")
        assert store.record_checkpoint_fork(fork).alerts
    export(h)


SPLIT_VIEWS: dict[str, Callable[[Hub, Path], None]] = {
    "another root at a size held": _forked_note_in_checkpoints,
    "the exporter's evidence": _exporters_evidence,
}


@pytest.mark.parametrize("view", SPLIT_VIEWS)
def test_bundle_split_view_is_evidence(tmp_path: Path, view: str) -> None:
    h = hub(tmp_path)
    SPLIT_VIEWS[view](h, tmp_path)
    post = tmp_path / "post.db"
    status, imported = import_into(post, h)
    assert status == 0  # evidence is taken, not refused
    assert imported["checkpoints"]["fork"] == 1, imported["checkpoints"]
    with Store(post) as store:
        (fork,) = store.checkpoint_forks()
        assert fork.feed == MAKER
        assert fork.first
        assert fork.second
        assert store.heads()[MAKER].frozen_at is not None
        (alert,) = store.alerts(code=Code.CHECKPOINT_FORK.value)
        assert alert.subject == MAKER
    outcome = scan(post, h.world.pin)
    assert outcome.decision is Decision.HOLD
    assert "split_view" in codes(outcome), codes(outcome)


def test_old_bundle_without_checkpoints_still_imports(tmp_path: Path) -> None:
    """A bundle as exporters wrote it before checkpoints were carried: every entry is taken,
    the digest is the exporter's; only the scan rule still holds the pack."""
    h = hub(tmp_path)
    export(h)

    def as_before(obj: dict[str, Any]) -> None:
        del obj["checkpoints"], obj["checkpoint_evidence"]

    edit_bundle(h.bundle, as_before)
    post = tmp_path / "post.db"
    status, imported = import_into(post, h)
    assert status == 0, imported
    assert imported["added"] == len(h.world.entries)
    assert imported["same_as_bundle"]
    assert imported["checkpoints"] == {
        **{s: 0 for s in ("taken", "held", "ahead", "frozen", "fork", "refused")},
        "refusals": [],
        "fork_reasons": [],
    }
    outcome = scan(post, h.world.pin)
    assert outcome.decision is Decision.HOLD
    assert codes(outcome) == ["no_cosigned_checkpoint"]
