"""Random serial numbers for commissioning.

Serials are 12 characters from Crockford's base-32 alphabet (digits and capitals without I, L,
O, U: nothing a person misreads at the counter, all inside GS1 AI 21's character set), drawn
from the operating system's CSPRNG: 60 bits each. With a batch of n packs, a counterfeiter who
guesses one serial for a GTIN hits a valid one with probability n / 2^60; even for ten million
packs that is below 1 in 10^11 (see docs/spec/serials.md).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
LENGTH = 12
BITS = LENGTH * 5

#: A random byte to a character by its low 5 bits: uniform over the alphabet for a uniform byte.
_CHARACTER_OF_BYTE = bytes(ALPHABET.encode("ascii")[byte & 31] for byte in range(256))


def guess_probability(valid_serials: int) -> float:
    """Chance that one random guess of a serial is one of ``valid_serials`` issued."""
    return float(valid_serials) / float(2**BITS)


def _draw(count: int) -> list[str]:
    """``count`` random serials (repeats possible) from a single CSPRNG read: one byte per
    character, so each of the 2^60 serials is equally likely."""
    text = secrets.token_bytes(LENGTH * count).translate(_CHARACTER_OF_BYTE).decode("ascii")
    return [text[i : i + LENGTH] for i in range(0, len(text), LENGTH)]


def generate_serials(
    count: int, *, taken: Callable[[Iterable[str]], set[str]] | None = None
) -> list[str]:
    """``count`` distinct serials; ``taken`` reports which candidates already exist for the GTIN."""
    if count < 0:
        raise ValueError(f"expected a non-negative count, found {count}")
    result: set[str] = set()
    while len(result) < count:
        fresh = set(_draw(count - len(result))) - result
        if taken is not None and fresh:
            fresh -= taken(fresh)
        result |= fresh
    return sorted(result)
