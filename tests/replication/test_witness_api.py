"""The checkpoint endpoints of one node (Flask app over a real data directory): its own feed's
checkpoint signed on demand, inclusion and consistency proofs that verify, cosignatures a
witness posts taken only when they verify (docs/spec/api.md, docs/spec/proofs.md)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from keys.consortium import Consortium
from ledger.entry import SignedEntry
from ledger.feedlog import InclusionProof, TooFewCosignatures, sign_feed_checkpoint
from ledger.merkle import verify_consistency
from ledger.witness import (
    cosign_feed_checkpoint,
    open_feed_checkpoint,
    verify_witnessed_checkpoint,
)
from node.replication.witnessing import use_checkpoint_key
from node.tokens import TokenRole
from tests.nodes_setup import (
    PASSPHRASE,
    Member,
    Node,
    init_templates,
    make_consortium,
    node_factory,
)

MEMBERS = {
    "acme": Member("manufacturer", ("line-1",), ("4012345",)),
    "dist": Member("distributor", ("wh",)),
}
GTIN = "04012345000016"


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[tuple[Node, Consortium]]:
    consortium = make_consortium(tmp_path / "consortium", "witness api", MEMBERS, PASSPHRASE)
    templates = init_templates(tmp_path / "consortium", tmp_path / "templates", MEMBERS)
    with node_factory(templates, tmp_path / "nodes", default_org="acme") as make:
        yield make("acme"), consortium
    use_checkpoint_key(None)  # the app set its node's key for this process


def test_checkpoint_and_proofs_of_a_node(setup: tuple[Node, Consortium]) -> None:
    node, consortium = setup
    membership, genesis = consortium.membership, consortium.genesis_id
    for lot in ("A1", "A2", "A3"):
        answer = node.post(
            "/api/v1/commission", {"gtin": GTIN, "lot": lot, "expiry": "2028-06-30", "count": 2}
        )
        assert answer.status_code == 201, answer.get_json()
    feed = "acme/line-1"
    got = node.get(f"/api/v1/feeds/{feed}/checkpoint", TokenRole.VERIFIER)
    assert got.status_code == 200
    assert got.mimetype == "text/plain"
    opened = open_feed_checkpoint(membership, genesis, got.data)
    assert opened.checkpoint.size == 3
    assert opened.checkpoint.origin == f"medtrace/{genesis}/{feed}"
    assert opened.cosigned == {}

    # Without cosignatures the policy is not met; a witness's cosignature, posted, is taken.
    with pytest.raises(TooFewCosignatures, match="at least 1 witnesses"):
        verify_witnessed_checkpoint(membership, genesis, got.data, int(time.time()))
    dist_key = consortium.feed_key("dist/wh", PASSPHRASE)
    now = int(time.time())
    cosigned = cosign_feed_checkpoint(opened, genesis, "dist/wh", dist_key, now)
    posted = node.post("/api/v1/replication/cosignatures", {"notes": [cosigned.decode()]})
    assert posted.get_json() == {"taken": 1, "refused": []}
    note = node.get(f"/api/v1/feeds/{feed}/checkpoint", TokenRole.VERIFIER).data
    assert open_feed_checkpoint(membership, genesis, note).cosigned == {"dist": now}

    entries = [SignedEntry.from_wire(w) for w in node.get(f"/api/v1/feeds/{feed}/entries").get_json()["entries"]]  # fmt: skip
    included = []
    for entry in entries:
        proof = node.get(
            f"/api/v1/feeds/{feed}/proof?seq={entry.payload.seq}", TokenRole.VERIFIER
        ).get_json()
        assert proof["entry"] == entry.id
        assert proof["checkpoint"] == note.decode()
        included.append((entry, InclusionProof.from_json(proof)))
    checked = verify_witnessed_checkpoint(membership, genesis, note, now + 5, included)
    assert checked.age_s == 5

    answer = node.get(f"/api/v1/feeds/{feed}/consistency?from=1&to=3", TokenRole.VERIFIER)
    proof = [bytes.fromhex(h) for h in answer.get_json()["proof"]]
    tree = node.ctx.store.feed_tree(feed)
    verify_consistency(1, 3, proof, tree.root_at(1), opened.checkpoint.root)

    # What a caller gets wrong is one problem saying what was expected.
    missing = node.get(f"/api/v1/feeds/{feed}/proof", TokenRole.VERIFIER).get_json()
    assert missing["parameter"] == "seq"
    assert missing["status"] == 400
    beyond = node.get(f"/api/v1/feeds/{feed}/proof?seq=3", TokenRole.VERIFIER).get_json()
    assert beyond["detail"] == "expected a seq below the tree size 3, found 3"
    too_big = node.get(f"/api/v1/feeds/{feed}/consistency?from=1&to=9", TokenRole.VERIFIER)
    assert too_big.status_code == 404
    assert "expected a tree size from 1 to the 3 entries" in too_big.get_json()["detail"]

    # A note the feed's key did not sign is refused, and nothing changes.
    forged = sign_feed_checkpoint(genesis, opened.checkpoint, dist_key)
    answer = node.post("/api/v1/replication/cosignatures", {"notes": [forged.decode()]})
    body = answer.get_json()
    assert body["taken"] == 0
    assert "no verifiable signatures" in body["refused"][0]
    assert node.get(f"/api/v1/feeds/{feed}/checkpoint", TokenRole.VERIFIER).data == note

    # Every checkpoint held, for peers.
    served = node.get("/api/v1/replication/checkpoints", TokenRole.PEER).get_json()
    assert served["checkpoints"] == [note.decode()]
    assert served["evidence"] == []


def test_proof_without_size_uses_the_newest_checkpoint_with_its_quorum(
    setup: tuple[Node, Consortium],
) -> None:
    """A newer checkpoint still waiting for its witnesses would make every scan that relies on
    it HOLD ``too_few_cosignatures``: the default size is the newest one the policy accepts."""
    node, consortium = setup
    membership, genesis = consortium.membership, consortium.genesis_id
    feed = "acme/line-1"
    for lot in ("A1", "A2"):
        node.post(
            "/api/v1/commission", {"gtin": GTIN, "lot": lot, "expiry": "2028-06-30", "count": 2}
        )
    opened = open_feed_checkpoint(
        membership, genesis, node.get(f"/api/v1/feeds/{feed}/checkpoint", TokenRole.VERIFIER).data
    )
    dist_key = consortium.feed_key("dist/wh", PASSPHRASE)
    cosigned = cosign_feed_checkpoint(opened, genesis, "dist/wh", dist_key, int(time.time()))
    node.post("/api/v1/replication/cosignatures", {"notes": [cosigned.decode()]})
    node.post("/api/v1/commission", {"gtin": GTIN, "lot": "A3", "expiry": "2028-06-30", "count": 2})
    newer = node.get(f"/api/v1/feeds/{feed}/checkpoint", TokenRole.VERIFIER).data
    assert open_feed_checkpoint(membership, genesis, newer).checkpoint.size == 3

    proof = node.get(f"/api/v1/feeds/{feed}/proof?seq=0", TokenRole.VERIFIER).get_json()
    assert proof["size"] == 2
    assert open_feed_checkpoint(membership, genesis, proof["checkpoint"].encode()).cosigned
    consistency = node.get(f"/api/v1/feeds/{feed}/consistency?from=1", TokenRole.VERIFIER)
    assert consistency.get_json()["to"] == 2
    asked = node.get(f"/api/v1/feeds/{feed}/proof?seq=2&size=3", TokenRole.VERIFIER).get_json()
    assert asked["size"] == 3
