"""What a payload and an entry work out once (the commitment, what the entry is about) is what
working it out each time gives, and an error is raised each time it is asked."""

from __future__ import annotations

import pickle
from dataclasses import replace
from typing import Any

import pytest

from ledger import entry as entry_module
from ledger import openings
from ledger.entry import Payload, SignedEntry
from ledger.errors import LedgerError, MalformedEntry
from ledger.identifiers import lot_uri
from ledger.kinds import Kind
from ledger.openings import commit, commitment_of, opened_subjects
from tests.ledger.builders import GTIN, LOT, MFR, START, commission_body, forge, keys


def committed() -> SignedEntry:
    """A v2 commission that signs a commitment, with its sidecar beside it."""
    subjects, body, sidecar = commit(Kind.COMMISSION, [lot_uri(GTIN, LOT)], commission_body())
    payload = Payload(
        feed=MFR, seq=0, prev=None, ts=START, kind=Kind.COMMISSION, subjects=subjects, body=body
    )
    return forge(payload, keys()[MFR]).with_opening(sidecar)


def test_the_commitment_asked_twice_is_the_one_commitment_of_gives() -> None:
    entry = committed()
    p = entry.payload
    assert p.commits
    assert p.commitment == commitment_of(p.v, p.body) is not None
    assert p.commitment is p.commitment
    again = pickle.loads(pickle.dumps(p))
    assert again == p
    assert again.commitment == p.commitment


def test_a_payload_without_a_commitment_says_so_each_time() -> None:
    p = Payload(feed="acme/line1", seq=0, prev=None, ts="2026-01-01T00:00:00Z", kind=Kind.LOCK)
    assert (p.commitment, p.commits, p.commitment, p.commits) == (None, False, None, False)
    assert pickle.loads(pickle.dumps(p)).commitment is None


def test_a_malformed_commitment_is_refused_each_time_it_is_asked() -> None:
    p = Payload(
        feed="acme/line1",
        seq=0,
        prev=None,
        ts="2026-01-01T00:00:00Z",
        kind=Kind.COMMISSION,
        body={"commitment": {"root": "00", "size": 1}},
    )
    for _ in range(2):
        with pytest.raises(MalformedEntry):
            p.commits  # noqa: B018


def test_about_is_worked_out_once_per_entry_and_again_for_another_opening() -> None:
    entry = committed()
    p = entry.payload
    expected = opened_subjects(p.kind, p.subjects, p.body, p.v, entry.opening)
    assert entry.about == expected
    assert entry.about is entry.about
    bare = entry.with_opening(None)
    assert bare.about == opened_subjects(p.kind, p.subjects, p.body, p.v, None) != expected
    assert replace(entry, signature=bytes(64)).about == expected


def test_opening_a_replicated_entry_parses_its_commitment_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The sidecar check, ``about`` and the serials each used to parse ``body.commitment``."""
    entry = committed()
    fresh = SignedEntry(entry.payload_bytes, entry.signature, replace(entry.payload), entry.id)
    calls: list[int] = []
    real = openings.commitment_of

    def counted(v: int, body: Any) -> Any:
        calls.append(v)
        return real(v, body)

    monkeypatch.setattr(openings, "commitment_of", counted)
    monkeypatch.setattr(entry_module, "commitment_of", counted)
    opened = fresh.with_opening(entry.opening)
    opened.require_sidecar()
    p = opened.payload
    assert opened.about == entry.about
    assert openings.serials_of(p.v, p.body, opened.opening, commitment=p.commitment)
    assert len(calls) == 1


def test_a_lot_opened_again_is_checked_again_when_malformed() -> None:
    """The lot's parts are kept once checked; a malformed lot is refused every time."""
    subjects, body, sidecar = commit(Kind.COMMISSION, [lot_uri(GTIN, LOT)], commission_body())
    assert sidecar is not None
    bad = {**body, "ilmd": {**body["ilmd"], "itemExpirationDate": "2026-02-30"}}
    # the well-formed lot first: a cache keyed on less than (GTIN, lot, expiry) would then
    # hand its parts to the malformed one
    assert openings.open_sidecar(Kind.COMMISSION, subjects, body, 2, sidecar).tree.size
    for _ in range(2):
        with pytest.raises(LedgerError):
            openings.open_sidecar(Kind.COMMISSION, subjects, bad, 2, sidecar)
