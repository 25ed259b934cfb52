"""The foreign membership chains a node follows (scanner/cross_border.py, ADR 0028): longest
verified chain kept, never rolled back, shared by the node's worker processes."""

from __future__ import annotations

from pathlib import Path

from ledger.membership import SignedMembership, foreign_root, sign_membership
from scanner.cross_border import HeldChains
from tests.vectors import golden

GOV = golden.governance_keys()


def versions() -> list[SignedMembership]:
    g = golden.signed_genesis()
    v2 = g.membership.revoke_feed("acme-pharma/line-1", 3)
    v3 = v2.with_foreign_root(foreign_root("ab" * 32, "N", "NO", ["7040001"]))
    keys = {"gov-1": GOV["gov-1"], "gov-2": GOV["gov-2"]}
    return [g, sign_membership(v2, keys), sign_membership(v3, keys)]


def test_an_answer_without_the_newest_versions_is_judged_with_them(tmp_path: Path) -> None:
    chain = versions()
    genesis = chain[0].id
    held = HeldChains(tmp_path)
    assert held.follow(genesis, chain[:2]) == 2
    assert [v.membership.version for v in held.merged(genesis, chain[:1])] == [1, 2]
    assert [v.membership.version for v in held.merged(genesis, chain)] == [1, 2, 3]


def test_a_shorter_or_unverified_chain_never_replaces_the_held_one(tmp_path: Path) -> None:
    chain = versions()
    genesis = chain[0].id
    held = HeldChains(tmp_path)
    held.follow(genesis, chain)
    assert held.follow(genesis, chain[:1]) == 3
    forged = SignedMembership(chain[1].doc_bytes, {}, chain[1].membership)  # no signatures
    assert held.follow(genesis, [chain[0], forged]) == 3
    assert held.follow("cd" * 32, chain) == 0  # another genesis than the one pinned


def test_workers_see_the_chain_another_worker_followed(tmp_path: Path) -> None:
    chain = versions()
    genesis = chain[0].id
    one, other = HeldChains(tmp_path), HeldChains(tmp_path)
    one.follow(genesis, chain[:2])
    assert len(other.versions(genesis)) == 2  # read from the file
    one.follow(genesis, chain)
    assert len(other.versions(genesis)) == 3  # the file was replaced: read again
