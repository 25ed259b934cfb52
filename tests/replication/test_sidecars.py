"""A v2 entry reaches a node with the packs its commitment signs beside it (its sidecar). A
missing or wrong sidecar is handled like a forgery: refused, the entry kept as evidence, an
alert raised; the right copy from another peer is then taken (docs/spec/entry.md, "Format v2")."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from ledger.alerts import Code
from ledger.entry import SignedEntry
from ledger.identifiers import lot_uri
from ledger.kinds import Kind
from ledger.openings import OpeningInvalid, Sidecar, commit
from node.store import Store
from node.verify import verify_store
from tests.node.world import EXPIRY, GTIN, LOT, World, make_world, pack
from tests.replication.support import open_node

SERIALS = ["S1", "S2", "S3", "S4"]


def v2_commission(world: World) -> SignedEntry:
    body = {"gtin": GTIN, "ilmd": {"lotNumber": LOT, "itemExpirationDate": EXPIRY}}
    subjects, committed, sidecar = commit(
        Kind.COMMISSION, [lot_uri(GTIN, LOT)], {**body, "serials": SERIALS}
    )
    entry = world.write("acme/line1", Kind.COMMISSION, subjects=subjects, body=committed)
    return entry.with_opening(sidecar)


def _without(entry: SignedEntry) -> SignedEntry:
    return entry.with_opening(None)


def _swapped(entry: SignedEntry) -> SignedEntry:
    assert isinstance(entry.opening, Sidecar)
    values = ("S9", *entry.opening.values[1:])
    return entry.with_opening(Sidecar(values, entry.opening.salts), check=False)


def _one_dropped(entry: SignedEntry) -> SignedEntry:
    assert isinstance(entry.opening, Sidecar)
    side = entry.opening
    return entry.with_opening(Sidecar(side.values[1:], side.salts[1:]), check=False)


def _through_the_wire(alter: Callable[[SignedEntry], SignedEntry]) -> Callable[..., SignedEntry]:
    """As a peer's page delivers it: parsed with the opening unchecked, as pull.py does."""
    return lambda entry: SignedEntry.from_wire(alter(entry).to_wire(), check_opening=False)


@pytest.mark.parametrize(
    "alter",
    [_through_the_wire(_without), _through_the_wire(_swapped), _through_the_wire(_one_dropped)],
    ids=["sidecar_missing", "sidecar_list_does_not_match_root", "sidecar_short_of_a_pack"],
)
def test_wrong_sidecar_is_refused_kept_and_alerted(
    tmp_path: Path, alter: Callable[[SignedEntry], SignedEntry]
) -> None:
    world = make_world()
    genuine = v2_commission(world)
    with open_node(tmp_path / "node.db", world) as node:
        report = node.ingest([alter(genuine)], world.membership)
        assert [entry for entry, _ in report.rejected] == [genuine.id]
        assert node.count("packs") == 0
        assert node.count("entries") == 0
        assert node.count("rejected") == 1  # the signed entry, kept as evidence
        assert [a.code for a in node.alerts(code=Code.SIDECAR_INVALID.value)] == [
            Code.SIDECAR_INVALID
        ]
        # The genuine copy, from an honest peer, is taken after the refusal.
        wire = SignedEntry.from_wire(genuine.to_wire(), check_opening=False)
        assert not node.ingest([wire], world.membership).rejected
        assert node.count("packs") == len(SERIALS)


def test_sidecar_travels_and_is_stored_beside_the_entry(tmp_path: Path) -> None:
    world = make_world()
    genuine = v2_commission(world)
    with open_node(tmp_path / "one.db", world) as one, open_node(tmp_path / "two.db", world) as two:
        assert not one.ingest([genuine], world.membership).rejected
        (stored,) = one.entries("acme/line1", 0, 10)
        assert stored.opening == genuine.opening
        assert not two.ingest(
            [SignedEntry.from_wire(w, check_opening=False) for w in [stored.to_wire()]],
            world.membership,
        ).rejected
        assert two.pack(pack("S3")) is not None
        assert two.digest() == one.digest()


def test_ledger_verify_finds_a_stored_sidecar_changed(tmp_path: Path) -> None:
    """A sidecar changed in the database after it was checked is found by a re-verification."""
    world = make_world()
    with open_node(tmp_path / "node.db", world) as node:
        assert not node.ingest([v2_commission(world)], world.membership).rejected
    with Store(tmp_path / "node.db") as node:
        with node.engine.begin() as conn:
            (data,) = conn.exec_driver_sql("SELECT data FROM sidecars").one()
            changed = bytes(data).replace(b"S1", b"S9")
            conn.exec_driver_sql("UPDATE sidecars SET data = ?", (changed,))
        with pytest.raises(OpeningInvalid, match=r"signed root|increasing hash order"):
            verify_store(node, world.membership)
