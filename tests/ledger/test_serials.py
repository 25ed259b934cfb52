"""Random serials: distinct, 12 characters of Crockford base-32, and hard to guess."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable, Iterator

import pytest

from ledger.identifiers import check_cset82, pack_uri
from ledger.serials import ALPHABET, BITS, LENGTH, generate_serials, guess_probability

CROCKFORD = re.compile(r"\A[0-9A-HJKMNP-TV-Z]{12}\Z")


def test_alphabet_is_crockford_base32_without_misreadable_letters() -> None:
    assert len(ALPHABET) == len(set(ALPHABET)) == 32
    assert set(ALPHABET) == set("0123456789ABCDEFGHJKMNPQRSTVWXYZ")
    assert not set("ILOU") & set(ALPHABET)
    assert (LENGTH, BITS) == (12, 60)


def test_generated_serials_are_distinct_12_char_cset82() -> None:
    batch = generate_serials(2000)
    assert len(batch) == len(set(batch)) == 2000
    for serial in batch:
        assert CROCKFORD.match(serial), serial
        assert check_cset82(serial, "serial") == serial
        assert pack_uri("09506000123455", serial).endswith(f"/21/{serial}")  # needs no escaping


def test_every_alphabet_character_is_used() -> None:
    assert set("".join(generate_serials(500))) == set(ALPHABET)


@pytest.mark.parametrize("count", [0, 1, 7], ids=["none", "one", "seven"])
def test_exactly_the_requested_count(count: int) -> None:
    assert len(generate_serials(count)) == count


def test_negative_count_is_refused() -> None:
    with pytest.raises(ValueError, match="non-negative"):
        generate_serials(-1)


def test_taken_callback_is_respected() -> None:
    """Candidates the GTIN already has are never returned; generation tops up instead."""
    existing: set[str] = set()
    asked: list[set[str]] = []

    def taken(candidates: Iterable[str]) -> set[str]:
        batch = set(candidates)
        asked.append(batch)
        if len(asked) == 1:  # the first round all exist already
            existing.update(batch)
        return batch & existing

    result = generate_serials(50, taken=taken)
    assert len(result) == 50
    assert not set(result) & existing
    assert len(existing) == 50
    assert len(asked) >= 2


def test_collisions_within_a_batch_are_replaced(monkeypatch: pytest.MonkeyPatch) -> None:
    """A draw that repeats (forced here) must not shrink or duplicate the batch."""
    draws: Iterator[int] = iter([5, 5, 5, 7, 5, 9, 11, 13])
    monkeypatch.setattr(secrets, "randbits", lambda bits: next(draws))
    result = generate_serials(4)
    assert len(set(result)) == 4
    assert result == sorted(result)


def test_serial_encodes_all_60_bits(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(secrets, "randbits", lambda bits: 2**bits - 1)
    assert generate_serials(1) == ["Z" * 12]
    monkeypatch.setattr(secrets, "randbits", lambda bits: 1)
    assert generate_serials(1) == ["1" + "0" * 11]


@pytest.mark.parametrize(
    ("packs", "at_most"),
    [(10_000, 1e-14), (1_000_000, 1e-12), (10_000_000, 1e-11)],
    ids=["10k", "1M", "10M"],
)
def test_guess_probability_is_n_over_2_to_the_60(packs: int, at_most: float) -> None:
    assert guess_probability(packs) == packs / 2**60
    assert guess_probability(packs) < at_most


def test_guess_probability_for_10_million_packs_is_below_1e_minus_4() -> None:
    assert guess_probability(10_000_000) < 1e-4
