"""Random serials: distinct, 12 characters of Crockford base-32, and hard to guess."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable

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
    draws = iter([[5] * 12, [5] * 12, [5] * 12, [7] * 12, [5] * 12, [9] * 12, [11] * 12])
    monkeypatch.setattr(
        secrets, "token_bytes", lambda n: b"".join(bytes(next(draws)) for _ in range(n // 12))
    )
    result = generate_serials(4)
    assert result == ["5" * 12, "7" * 12, "9" * 12, "B" * 12]


@pytest.mark.parametrize(
    ("characters", "serial"),
    [
        ([31] * 12, "Z" * 12),
        ([0] * 11 + [1], "0" * 11 + "1"),
        ([*range(12)], "0123456789AB"),
        ([*range(20, 32)], "MNPQRSTVWXYZ"),
        ([0xE0 | v for v in range(12)], "0123456789AB"),
    ],
    ids=["all-ones", "one", "first-twelve-values", "last-twelve-values", "high-bits-ignored"],
)
def test_each_random_byte_gives_one_character_by_its_low_5_bits(
    monkeypatch: pytest.MonkeyPatch, characters: list[int], serial: str
) -> None:
    monkeypatch.setattr(secrets, "token_bytes", lambda n: bytes(characters) * (n // 12))
    assert generate_serials(1) == [serial]


def test_every_character_is_uniform_at_every_position() -> None:
    """60 bits per serial: a position that used fewer bits, or favoured some characters, would
    show here. Pearson's chi-square over 32 characters (31 degrees of freedom) per position; the
    bound is exceeded by chance with probability below 1e-9 per position."""
    draws = 32 * 400
    serials = generate_serials(draws)
    for position in range(LENGTH):
        counts = {c: 0 for c in ALPHABET}
        for serial in serials:
            counts[serial[position]] += 1
        expected = draws / len(ALPHABET)
        chi_square = sum((n - expected) ** 2 / expected for n in counts.values())
        assert chi_square < 110.0, (position, counts)


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
