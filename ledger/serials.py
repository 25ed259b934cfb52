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


def guess_probability(valid_serials: int) -> float:
    """Chance that one random guess of a serial is one of ``valid_serials`` issued."""
    return float(valid_serials) / float(2**BITS)


def _one() -> str:
    value = secrets.randbits(BITS)
    chars = []
    for _ in range(LENGTH):
        chars.append(ALPHABET[value & 31])
        value >>= 5
    return "".join(chars)


def generate_serials(
    count: int, *, taken: Callable[[Iterable[str]], set[str]] | None = None
) -> list[str]:
    """``count`` distinct serials; ``taken`` reports which candidates already exist for the GTIN."""
    if count < 0:
        raise ValueError(f"expected a non-negative count, found {count}")
    result: set[str] = set()
    while len(result) < count:
        fresh = {_one() for _ in range(count - len(result))} - result
        if taken is not None and fresh:
            fresh -= taken(fresh)
        result |= fresh
    return sorted(result)
