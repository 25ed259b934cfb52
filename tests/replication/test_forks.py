"""After a fork: the evidence travels from node to node, and the digest is the one the spec
documents (docs/spec/replication.md, "The digest"), computed from what ``medtrace ledger heads
--json`` prints, and equal at nodes that hold the same entries and the same fork."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from ledger.kinds import Kind
from medtrace.cli.main import cli
from node.replication.pull import LocalPeer, pull_round
from node.store import Store
from tests.node.world import equivocate, make_world
from tests.replication.support import ingest_all, open_node


def printed_heads(store: Store) -> dict[str, Any]:
    """``medtrace ledger heads --db … --json``, as printed."""
    result = CliRunner().invoke(cli, ["ledger", "heads", "--db", store.url, "--json"])
    assert result.exit_code == 0, result.output
    printed: dict[str, Any] = json.loads(result.stdout)
    return printed


def documented_digest(printed: dict[str, Any]) -> str:
    """The formula of docs/spec/replication.md, from the printed feeds only."""
    lines = []
    for feed in sorted(printed["feeds"]):
        shown = printed["feeds"][feed]
        if shown["frozen_at"] is None:
            lines.append(f"{feed} {shown['size']} {shown['head']}\n")
        else:
            before = shown["before_fork"] or "null"
            entries = " ".join(shown["fork_entries"])
            lines.append(f"{feed} frozen {shown['frozen_at']} {before} {entries}\n")
    return hashlib.sha256("".join(lines).encode()).hexdigest()


def test_digest_after_fork_matches_formula(tmp_path: Path) -> None:
    """Node one saw acme/line1 sign two ships at #1; node two learns the fork only from node
    one's evidence; node three held the other ship first. All three print the same feeds and
    the digest the documented formula gives from them."""
    world = make_world()
    commission, to_dist, to_ph = equivocate(world)
    recall = world.write("reg/main", Kind.RECALL, subjects=[commission.payload.subjects[0]])
    with (
        open_node(tmp_path / "one.db", world) as one,
        open_node(tmp_path / "two.db", world) as two,
        open_node(tmp_path / "three.db", world) as three,
    ):
        ingest_all(one, [commission, to_dist, recall], world)
        assert documented_digest(printed_heads(one)) == printed_heads(one)["digest"]
        assert len(one.ingest([to_ph], world.membership).forks) == 1

        printed = printed_heads(one)
        forked = printed["feeds"]["acme/line1"]
        assert forked["frozen_at"] == 1
        assert forked["before_fork"] == commission.id
        assert forked["fork_entries"] == sorted([to_dist.id, to_ph.id])
        assert documented_digest(printed) == printed["digest"] == one.digest()

        learned = pull_round([LocalPeer("one", one)], two, world.membership)
        assert len(learned.report.forks) == 1
        ingest_all(three, [commission, to_ph, recall], world)
        assert len(three.ingest([to_dist], world.membership).forks) == 1
        for other in (two, three):
            assert printed_heads(other)["feeds"]["acme/line1"] == {
                **forked,
                "size": 2,
                "head": other.heads()["acme/line1"].head,
            }
            assert other.digest() == one.digest()
            assert documented_digest(printed_heads(other)) == one.digest()
            assert [a.id for a in other.alerts(code="fork")] == [
                a.id for a in one.alerts(code="fork")
            ]


def test_fork_evidence_is_taken_once_the_feed_is_held_up_to_the_fork(tmp_path: Path) -> None:
    """Evidence for a position a node does not hold yet is kept waiting, not taken: the node
    first pulls the feed up to there (in the same round), so a frozen feed's size always lies
    past its fork."""
    world = make_world()
    commission, to_dist, to_ph = equivocate(world)
    with open_node(tmp_path / "a.db", world) as seen, open_node(tmp_path / "b.db", world) as late:
        ingest_all(seen, [commission, to_dist], world)
        seen.ingest([to_ph], world.membership)
        assert late.record_forks(seen.forks(), world.membership).forks == []
        assert late.heads() == {}
        pull_round([LocalPeer("seen", seen)], late, world.membership)
        assert late.heads() == seen.heads()
        assert late.digest() == seen.digest()


def test_the_spec_works_the_digest_example_with_real_values(tmp_path: Path) -> None:
    """docs/spec/replication.md, "The digest": every id, line and digest it quotes."""
    text = (Path(__file__).resolve().parents[2] / "docs/spec/replication.md").read_text()
    world = make_world()
    commission, to_dist, to_ph = equivocate(world)
    recall = world.write("reg/main", Kind.RECALL, subjects=[commission.payload.subjects[0]])
    with open_node(tmp_path / "one.db", world) as one:
        ingest_all(one, [commission, to_dist, recall], world)
        before = one.digest()
        one.ingest([to_ph], world.membership)
        printed = printed_heads(one)
    lines = [
        f"acme/line1 2 {to_dist.id}",
        f"reg/main 1 {recall.id}",
        f"acme/line1 frozen 1 {commission.id} {' '.join(sorted([to_dist.id, to_ph.id]))}",
    ]
    for quoted in [*lines, before, printed["digest"], *(e.id[:8] for e in (to_ph, recall))]:
        assert quoted in text, quoted
    assert f'"before_fork": "{commission.id}"' in text
