"""The forms an entry's opening takes beside the signed bytes (ledger/openings.py): a sidecar of
every leaf between nodes, or disclosed leaves with their paths for a verifier; and their wire
forms (docs/spec/entry.md, "Format v2")."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

from ledger.commitments import SALT_SIZE, CommitmentInvalid


class OpeningInvalid(CommitmentInvalid):
    """The packs beside an entry do not lead to the root the entry signs, or are missing."""


class OpeningMissing(OpeningInvalid):
    """A v2 entry that commits to packs came without them (no sidecar, no disclosure)."""


@dataclass(frozen=True, slots=True)
class Disclosure:
    """One leaf of a commitment, disclosed with its salt and inclusion path."""

    value: str
    salt: bytes
    index: int
    path: tuple[bytes, ...]

    def to_wire(self) -> dict[str, Any]:
        return {
            "value": self.value,
            "salt": base64.b64encode(self.salt).decode("ascii"),
            "index": self.index,
            "path": [base64.b64encode(h).decode("ascii") for h in self.path],
        }


@dataclass(frozen=True, slots=True)
class Sidecar:
    """Every leaf of a commitment: values and their salts, in leaf (hash) order."""

    values: tuple[str, ...]
    salts: tuple[bytes, ...]

    def __post_init__(self) -> None:
        if len(self.values) != len(self.salts):
            raise OpeningInvalid(
                f"expected one salt per value, found {len(self.values)} values and "
                f"{len(self.salts)} salts"
            )

    def to_wire(self) -> dict[str, Any]:
        return {
            "values": list(self.values),
            "salts": base64.b64encode(b"".join(self.salts)).decode("ascii"),
        }

    def to_bytes(self) -> bytes:
        """Storage form: the salts, then the values joined by newlines (no value has one)."""
        return b"".join(self.salts) + "\n".join(self.values).encode("ascii")

    @classmethod
    def from_bytes(cls, data: bytes, size: int) -> Sidecar:
        cut = size * SALT_SIZE
        salts = tuple(data[i : i + SALT_SIZE] for i in range(0, cut, SALT_SIZE))
        return cls(tuple(data[cut:].decode("ascii").split("\n")), salts)


Opening = Sidecar | tuple[Disclosure, ...]


def sidecar_from_wire(raw: Any) -> Sidecar:
    if not (isinstance(raw, dict) and raw.keys() == {"values", "salts"}):
        raise OpeningInvalid("expected a sidecar object with 'values' and 'salts'")
    values, salts = raw["values"], raw["salts"]
    if not (isinstance(values, list) and all(isinstance(v, str) for v in values)):
        raise OpeningInvalid("expected sidecar.values as a list of strings")
    blob = _b64(salts, "sidecar.salts")
    if len(blob) != SALT_SIZE * len(values):
        raise OpeningInvalid(
            f"expected {SALT_SIZE * len(values)} bytes of salts for {len(values)} values, "
            f"found {len(blob)}"
        )
    return Sidecar(
        tuple(values), tuple(blob[i : i + SALT_SIZE] for i in range(0, len(blob), SALT_SIZE))
    )


def disclosures_from_wire(raw: Any) -> tuple[Disclosure, ...]:
    if not (isinstance(raw, list) and raw):
        raise OpeningInvalid("expected 'leaves' as a non-empty list of disclosed leaves")
    found = []
    for item in raw:
        if not (isinstance(item, dict) and item.keys() == {"value", "salt", "index", "path"}):
            raise OpeningInvalid("expected a leaf as {'value', 'salt', 'index', 'path'}")
        value, index, path = item["value"], item["index"], item["path"]
        if not isinstance(value, str):
            raise OpeningInvalid(f"expected a leaf value string, found {value!r}")
        if not (type(index) is int and index >= 0):
            raise OpeningInvalid(f"expected a leaf index ≥ 0, found {index!r}")
        if not isinstance(path, list):
            raise OpeningInvalid("expected a leaf path as a list of base64 hashes")
        found.append(
            Disclosure(
                value,
                _b64(item["salt"], "leaf salt"),
                index,
                tuple(_b64(h, "path hash") for h in path),
            )
        )
    return tuple(found)


def _b64(value: Any, what: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except (TypeError, ValueError):
        raise OpeningInvalid(
            f"expected {what} as standard base64, found {str(value)[:40]!r}"
        ) from None
