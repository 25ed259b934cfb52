"""``medtrace scan`` online and offline takes an answer only with checkpoints that meet the
membership's witness policy and an inclusion proof of every entry it relies on, and says how
old the newest cosigned checkpoint is (issue 14, item 3; ADR 0024; docs/spec/scanner.md,
"Cosigned checkpoints"). ``Sources.verify`` is the path ``medtrace scan`` takes."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from ledger import membership as ms
from ledger.checkpoint import Checkpoint
from ledger.feedlog import feed_origin, sign_feed_checkpoint
from ledger.membership import WitnessPolicy
from medtrace.cli.main import cli
from node.store import Store
from node.store.checkpoints import CheckpointFork, StoredCheckpoint
from scanner.outcome import Outcome
from scanner.sources.fallback import Sources
from scanner.sources.offline import open_local
from scanner.verdict import Decision
from tests.node.world import FEEDS, key
from tests.scanner.conftest import CASE, OK, scanned
from tests.scanner.server import VERIFIER, open_node, serve
from tests.scanner.world import GTIN, ScanWorld, scan_world

HOUR = 3600
MAKER = "acme/line1"  # its feed holds the pack's commissioning, packing and shipment


@dataclass
class Setup:
    world: ScanWorld
    data: Path


def delivered(tmp_path: Path, *, witnessed: bool = False) -> Setup:
    """A pack delivered to the pharmacy, its product registered; checkpoints as the test says."""
    world = scan_world()
    world.register_product()
    world.commission([OK])
    world.deliver([OK], CASE)
    return Setup(world, world.store(tmp_path / "ph", witnessed=witnessed))


@contextmanager
def store_of(setup: Setup) -> Iterator[Store]:
    with Store(setup.data / "node.db") as store:
        yield store


Scan = Callable[[Setup], Outcome]


def offline(setup: Setup, max_age: str = "24h") -> Outcome:
    hours = int(max_age.rstrip("h"))
    sources = Sources(genesis=setup.world.pin, max_age=timedelta(hours=hours))
    sources.local = open_local(setup.data)
    try:
        return sources.verify(scanned(OK))
    finally:
        sources.close()


def online(setup: Setup, **tampering: Any) -> Outcome:
    node = open_node(setup.world, setup.data, **tampering)
    try:
        with serve(node) as running:
            return Sources(running.url, VERIFIER, setup.world.pin).verify(scanned(OK))
    finally:
        node.store.close()


PATHS: dict[str, Scan] = {"online": online, "offline": offline}


def codes(outcome: Outcome) -> list[str]:
    return [r.code for r in outcome.verdict.reasons]


@pytest.mark.parametrize("path", PATHS)
def test_cosigned_checkpoints_release_and_say_how_old(tmp_path: Path, path: str) -> None:
    setup = delivered(tmp_path)
    with store_of(setup) as store:
        setup.world.witness(store, at=int(time.time()) - 120)
    outcome = PATHS[path](setup)
    assert outcome.decision is Decision.RELEASE, outcome.verdict.reasons
    shown = outcome.to_json()["checkpoints"]
    assert 120 <= shown["newest_age_s"] < 180
    assert shown["not_covered"] == []
    assert {f["feed"] for f in shown["feeds"]} >= {MAKER, "dist/wh", "ph/a"}
    assert all(f["cosigned_by"] for f in shown["feeds"])


@pytest.mark.parametrize("path", PATHS)
def test_no_checkpoint_holds(tmp_path: Path, path: str) -> None:
    """A young network (or a node keeping its checkpoints back): nothing is covered."""
    outcome = PATHS[path](delivered(tmp_path))
    assert outcome.decision is Decision.HOLD
    assert codes(outcome) == ["no_cosigned_checkpoint"]
    assert outcome.to_json()["checkpoints"]["newest_age_s"] is None


@pytest.mark.parametrize("path", PATHS)
def test_stale_checkpoint(tmp_path: Path, path: str) -> None:
    """Online the policy's 3600 s; offline the replica's --max-age (here 2 h)."""
    setup = delivered(tmp_path)
    with store_of(setup) as store:
        setup.world.witness(store, at=int(time.time()) - 3 * HOUR)
    outcome = online(setup) if path == "online" else offline(setup, max_age="2h")
    assert outcome.decision is Decision.HOLD
    assert "stale_checkpoint" in codes(outcome), codes(outcome)
    fresh_enough = offline(setup, max_age="4h") if path == "offline" else None
    if fresh_enough is not None:  # a replica accepted 4 h old takes a 3 h old checkpoint
        assert fresh_enough.decision is Decision.RELEASE, fresh_enough.verdict.reasons


@pytest.mark.parametrize("path", PATHS)
def test_too_few_cosignatures(tmp_path: Path, path: str) -> None:
    setup = delivered(tmp_path)
    with store_of(setup) as store:
        setup.world.witness(store, witnesses=())  # signed by the feeds' keys alone
    outcome = PATHS[path](setup)
    assert outcome.decision is Decision.HOLD
    assert "too_few_cosignatures" in codes(outcome), codes(outcome)


def _other_root(setup: Setup, store: Store) -> bytes:
    """MAKER's checkpoint at its size over another history, signed by its key and cosigned."""
    size = store.feed_tree(MAKER).size
    other = Checkpoint(feed_origin(setup.world.pin, MAKER), size, b"\x07" * 32)
    note = sign_feed_checkpoint(setup.world.pin, other, key(FEEDS[MAKER][2]))
    return setup.world.cosign(note, at=int(time.time()))


def test_split_view_two_checkpoints_same_size_online(tmp_path: Path) -> None:
    """The node answers one entry's proof with one checkpoint and the next with another of
    the same size: both signed by the feed's key."""
    setup = delivered(tmp_path, witnessed=True)
    with store_of(setup) as store:
        forked = _other_root(setup, store).decode()
    asked: list[int] = []

    def second_view(answer: dict[str, Any]) -> dict[str, Any]:
        if answer["feed"] != MAKER:
            return answer
        asked.append(answer["seq"])
        return answer if len(asked) == 1 else {**answer, "checkpoint": forked}

    outcome = online(setup, proof_tamper=second_view)
    assert outcome.decision is Decision.HOLD
    assert "split_view" in codes(outcome), codes(outcome)


def test_split_view_two_checkpoints_same_size_offline(tmp_path: Path) -> None:
    """The replica holds the evidence of a split view of a feed the pack's history is on."""
    setup = delivered(tmp_path, witnessed=True)
    with store_of(setup) as store:
        held = store.checkpoint(MAKER)
        assert held is not None
        fork = CheckpointFork(MAKER, held.size, held.note, _other_root(setup, store), "test")
        store.record_checkpoint_fork(fork)
    outcome = offline(setup)
    assert outcome.decision is Decision.HOLD
    assert "split_view" in codes(outcome), codes(outcome)


def test_inclusion_proof_from_another_tree_online(tmp_path: Path) -> None:
    """The node proves the entries with paths of another tree than the checkpoint's."""
    setup = delivered(tmp_path, witnessed=True)

    def other_tree(answer: dict[str, Any]) -> dict[str, Any]:
        if answer["feed"] != MAKER:
            return answer
        return {**answer, "path": ["07" * 32 for _ in answer["path"]] or ["07" * 32]}

    outcome = online(setup, proof_tamper=other_tree)
    assert outcome.decision is Decision.HOLD
    assert "not_included" in codes(outcome), codes(outcome)


def test_inclusion_proof_from_another_tree_offline(tmp_path: Path) -> None:
    """The replica's checkpoint of the feed is of another tree than its entries (kept as if
    taken): the proofs from its entries do not lead to that root."""
    setup = delivered(tmp_path)
    with store_of(setup) as store:
        setup.world.witness(store, feeds=[f for f in FEEDS if f != MAKER])
        note = _other_root(setup, store)
        now = int(time.time())
        size = store.feed_tree(MAKER).size
        store.save_checkpoint(StoredCheckpoint(MAKER, size, b"\x07" * 32, note, 4, now, None))
    outcome = offline(setup)
    assert outcome.decision is Decision.HOLD
    assert "not_included" in codes(outcome), codes(outcome)


def test_a_feed_no_policy_can_witness_is_a_warning(tmp_path: Path) -> None:
    """The signed membership, not the node, may excuse a missing checkpoint: a policy whose
    only witness is the manufacturer leaves its own feed without any possible witness."""
    world = scan_world()
    policy = WitnessPolicy({"acme": None}, 1, 900)
    world.membership = world.membership.with_witness_policy(policy)
    later = ms.sign_membership(world.membership, {"gov-1": key(1)})
    world.register_product()
    world.commission([OK])
    world.deliver([OK], CASE)
    setup = Setup(world, world.store(tmp_path / "ph", witnessed=False))
    with store_of(setup) as store:
        store.save_membership(later)
        world.witness(store, witnesses=("acme",), feeds=[f for f in FEEDS if f != MAKER])
    outcome = offline(setup)
    assert outcome.decision is Decision.RELEASE, outcome.verdict.reasons
    assert [w.code for w in outcome.verdict.warnings] == ["unwitnessed_feed"]
    assert outcome.to_json()["checkpoints"]["unwitnessed_feeds"] == [MAKER]


def test_the_cli_says_how_old_the_newest_cosigned_checkpoint_is(tmp_path: Path) -> None:
    setup = delivered(tmp_path)
    with store_of(setup) as store:
        setup.world.witness(store, at=int(time.time()) - 600)
    target = f"(01){GTIN}(21){OK}"
    shown = CliRunner().invoke(cli, ["scan", target, "--offline", str(setup.data)])
    assert shown.exit_code == 0, shown.output
    assert "checkpoints: newest cosigned 10 min ago" in shown.stdout
    as_json = CliRunner().invoke(cli, ["scan", target, "--offline", str(setup.data), "--json"])
    assert 600 <= json.loads(as_json.stdout)["checkpoints"]["newest_age_s"] < 660
