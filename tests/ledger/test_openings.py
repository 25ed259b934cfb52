"""Entry format v2: a root over salted leaves signed, the packs beside the entry (a sidecar
between nodes, one pack's disclosure for a verifier), and what each breaks when altered."""

from __future__ import annotations

import base64
import dataclasses
import json
from typing import Any

import pytest

from ledger.entry import SignedEntry
from ledger.feed import verify_chain
from ledger.kinds import Kind
from ledger.lifecycle import fold
from ledger.membership import SignedMembership
from ledger.openings import (
    OpeningInvalid,
    OpeningMissing,
    Sidecar,
    commit,
    open_sidecar,
)
from ledger.state import MemoryState
from tests.vectors import golden


def _v2() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(golden.GOLDEN_V2_PATH.read_text(encoding="utf-8"))
    return data


def _entries(data: dict[str, Any]) -> list[tuple[str, SignedEntry]]:
    found = []
    for item in data["entries"]:
        wire = {
            "id": item["id"],
            "payload": base64.b64encode(item["payload"].encode()).decode(),
            "signature": item["signature"],
        }
        if "sidecar" in item:
            wire["sidecar"] = item["sidecar"]
        found.append((item["step"], SignedEntry.from_wire(wire)))
    return found


def _step(name: str) -> SignedEntry:
    return dict(golden.scenario(2))[name]


def test_v2_vectors_regenerate_byte_for_byte() -> None:
    text = golden.render(golden.build_vectors(2))
    assert text.encode("utf-8") == golden.GOLDEN_V2_PATH.read_bytes(), (
        "golden_v2.json differs from what the code produces; regenerate on purpose with "
        "python -m tests.vectors.regenerate and review the diff"
    )


def test_v2_commission_and_pack_sign_a_root_not_a_list() -> None:
    data = _v2()
    by_step = {e["step"]: e for e in data["entries"]}
    for step in ("commission", "pack"):
        payload = by_step[step]["payload"]
        assert '"v":2' in payload
        assert '"commitment":' in payload
        for serial in golden.SERIALS:
            assert serial not in payload, f"{step} lists {serial} in its signed bytes"
        assert "sidecar" in by_step[step]
    assert "sidecar" not in by_step["ship-to-distributor"]


def test_v2_vectors_verify_feed_by_feed_with_their_sidecars() -> None:
    data = _v2()
    membership = SignedMembership.from_wire(data["membership"]["wire"]).membership
    feeds: dict[str, list[SignedEntry]] = {}
    for _, entry in _entries(data):
        entry.require_sidecar()
        feeds.setdefault(entry.payload.feed, []).append(entry)
    for feed, chain in feeds.items():
        verify_chain(chain, membership, feed=feed)


def test_v2_folds_to_the_same_packs_as_v1() -> None:
    membership = golden.genesis_membership()
    states = []
    for version in (1, 2):
        view = MemoryState()
        alerts = fold([e for _, e in golden.scenario(version)], membership, view)
        assert alerts == []
        states.append({uri: (p.status, p.custodian, p.container) for uri, p in view.packs.items()})
    assert states[0] == states[1]
    assert len(states[1]) == 3


def _sidecar(entry: SignedEntry) -> Sidecar:
    assert isinstance(entry.opening, Sidecar)
    return entry.opening


def _swap_first_serial(s: Sidecar) -> Sidecar:
    return Sidecar(("ZZZZZZZZZZZZ", *s.values[1:]), s.salts)


def _other_salt(s: Sidecar) -> Sidecar:
    return Sidecar(s.values, (bytes(16), *s.salts[1:]))


def _one_dropped(s: Sidecar) -> Sidecar:
    return Sidecar(s.values[1:], s.salts[1:])


def _one_added(s: Sidecar) -> Sidecar:
    return Sidecar((*s.values, "EXTRA0000001"), (*s.salts, bytes([9]) * 16))


def _reordered(s: Sidecar) -> Sidecar:
    return Sidecar(tuple(reversed(s.values)), tuple(reversed(s.salts)))


@pytest.mark.parametrize(
    "alter",
    [_swap_first_serial, _other_salt, _one_dropped, _one_added, _reordered],
    ids=["serial_swapped", "salt_changed", "pack_dropped", "pack_added", "order_changed"],
)
def test_sidecar_list_does_not_match_root(alter: Any) -> None:
    entry = _step("commission")
    forged = alter(_sidecar(entry))
    with pytest.raises(OpeningInvalid):
        entry.with_opening(forged)
    unchecked = entry.with_opening(forged, check=False)
    with pytest.raises(OpeningInvalid):
        unchecked.require_sidecar()


def test_sidecar_missing() -> None:
    entry = _step("pack").with_opening(None)
    with pytest.raises(OpeningMissing, match="beside it"):
        entry.require_sidecar()


def test_sidecar_on_the_wire_is_checked_on_receipt() -> None:
    wire = _step("commission").to_wire()
    wire["sidecar"]["values"][0] = "ZZZZZZZZZZZZ"
    with pytest.raises(OpeningInvalid, match=r"not the one signed|increasing"):
        SignedEntry.from_wire(wire)


def _disclosed(step: str, value: str) -> SignedEntry:
    entry = _step(step)
    p = entry.payload
    tree = open_sidecar(p.kind, p.subjects, p.body, p.v, _sidecar(entry))
    return entry.with_opening(tree.disclose([value]))


def test_a_disclosure_opens_one_pack_and_names_no_other() -> None:
    entry = _disclosed("commission", golden.SERIALS[0])
    assert entry.about == (golden.PACKS[0],)
    text = json.dumps(entry.to_wire())
    for other in golden.SERIALS[1:]:
        assert other not in text
    again = SignedEntry.from_wire(entry.to_wire())
    assert again.about == (golden.PACKS[0],)


def test_harvest_from_sibling_hashes() -> None:
    """A sibling hash is a hash of another pack's identifiers and its secret salt: the true
    sibling serial, hashed with any salt but the secret one, is not on the path."""
    from ledger.commitments import PackIds, commitment_leaf  # noqa: PLC0415

    entry = _disclosed("commission", golden.SERIALS[0])
    assert isinstance(entry.opening, tuple)
    path = set(entry.opening[0].path)
    for serial in golden.SERIALS[1:]:
        ids = PackIds(golden.GTIN, serial, golden.LOT, golden.EXPIRY)
        for guess in (bytes(16), entry.opening[0].salt, bytes([0xFF]) * 16):
            assert commitment_leaf(ids, guess) not in path


def test_inclusion_proof_from_another_tree() -> None:
    """A disclosure taken from the pack entry (a child leaf) does not open the commission."""
    pack_disclosure = _disclosed("pack", golden.PACKS[0]).opening
    assert isinstance(pack_disclosure, tuple)
    moved = (dataclasses.replace(pack_disclosure[0], value=golden.SERIALS[0]),)
    with pytest.raises(OpeningInvalid):
        _step("commission").with_opening(moved)


@pytest.mark.parametrize(
    ("kind", "subjects", "committed"),
    [
        ("dispense_one_pack", (golden.PACKS[0],), False),
        ("ship_one_case", (golden.CASE,), False),
        ("ship_loose_packs", golden.PACKS, True),
        ("ship_case_and_one_pack_beside_it", (golden.CASE, golden.PACKS[0]), True),
        ("unpack_everything", (golden.CASE,), False),
    ],
)
def test_only_steps_naming_one_pack_alone_keep_it_listed(
    kind: str, subjects: tuple[str, ...], committed: bool
) -> None:
    k = {"dispense": Kind.DISPENSE, "ship": Kind.SHIP, "unpack": Kind.UNPACK}[
        kind.split("_", maxsplit=1)[0]
    ]
    kept, body, sidecar = commit(k, subjects, {})
    assert (sidecar is not None) is committed
    if committed:
        assert kept == tuple(s for s in subjects if s == golden.CASE)
        assert "commitment" in body
        assert sidecar is not None
        assert sorted(sidecar.values) == sorted(s for s in subjects if s != golden.CASE)
    else:
        assert kept == subjects
        assert body == {}
