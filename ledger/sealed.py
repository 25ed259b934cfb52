"""Fields committed to, not shown: a salted hash of an entry's commercial fields (ADR 0020).

A product's reference price and a declaration's parties, goods, values and net masses are
signed as ``body.sealed`` = ``{"digest": <64 hex>, "fields": [<names>]}`` instead of in clear.
The digest is ``SHA-256(SEALED_DOMAIN || salt || RFC 8785 bytes of the fields object)`` with a
fresh 16-byte salt (the same salts as the per-pack leaves of ``ledger/commitments.py``): the
salt keeps a guessed price or consignee from being confirmed against the digest, and the
signed digest lets whoever is shown the **opening** (fields and salt) check that it is the one
signed. Openings stay at the node that wrote the entry (``node/store/products.py``,
``node/store/declarations.py``); nothing here reads a clock or a file.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ledger.canonical import canonical_bytes
from ledger.commitments import SALT_SIZE, new_salt
from ledger.errors import MalformedEntry
from ledger.openings import OpeningInvalid

SEALED = "sealed"
SEALED_DOMAIN = b"medtrace/sealed/v1\x00"
_HEX64 = re.compile(r"\A[0-9a-f]{64}\Z")


@dataclass(frozen=True, slots=True)
class Opening:
    """The clear fields of a seal and its salt: what the writing node keeps."""

    fields: Mapping[str, Any]
    salt: bytes

    def digest(self) -> str:
        return hashlib.sha256(
            SEALED_DOMAIN + self.salt + canonical_bytes(dict(self.fields))
        ).hexdigest()

    def seal(self) -> dict[str, Any]:
        """The ``body.sealed`` member this opening opens."""
        return {"digest": self.digest(), "fields": sorted(self.fields)}

    def to_json(self) -> dict[str, Any]:
        return {"fields": dict(self.fields), "salt": base64.b64encode(self.salt).decode("ascii")}

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> Opening:
        try:
            salt = base64.b64decode(str(raw["salt"]), validate=True)
        except (KeyError, binascii.Error):
            raise OpeningInvalid("expected an opening with a base64 'salt'") from None
        fields = raw.get("fields")
        if not isinstance(fields, dict) or len(salt) != SALT_SIZE:
            raise OpeningInvalid(f"expected an opening with 'fields' and a {SALT_SIZE}-byte salt")
        return cls(fields, salt)


def seal(fields: Mapping[str, Any], salt: bytes | None = None) -> Opening:
    """An opening over ``fields`` with a fresh salt (``salt``: tests and golden examples)."""
    salt = new_salt() if salt is None else salt
    if len(salt) != SALT_SIZE:
        raise OpeningInvalid(f"expected a {SALT_SIZE}-byte salt, found {len(salt)} bytes")
    return Opening(dict(fields), salt)


def seal_of(kind: str, body: Mapping[str, Any]) -> dict[str, Any]:
    """The signed ``body.sealed`` of an entry, checked for form (``MalformedEntry`` if not)."""
    raw = body.get(SEALED)
    if not (isinstance(raw, dict) and raw.keys() == {"digest", "fields"}):
        raise MalformedEntry(f"{kind} body: expected 'sealed' as {{'digest', 'fields'}}")
    digest, names = raw["digest"], raw["fields"]
    if not (isinstance(digest, str) and _HEX64.match(digest)):
        raise MalformedEntry(f"{kind} body: expected sealed.digest as 64 lower-case hex")
    if not (
        isinstance(names, list)
        and names
        and all(isinstance(n, str) and n for n in names)
        and names == sorted(set(names))
    ):
        raise MalformedEntry(f"{kind} body: expected sealed.fields as sorted distinct names")
    return raw


def check_opening(kind: str, body: Mapping[str, Any], opening: Opening) -> None:
    """Raise ``OpeningInvalid`` unless ``opening`` opens the entry's signed seal."""
    signed = seal_of(kind, body)
    if opening.seal() != signed:
        raise OpeningInvalid(
            f"expected fields and salt that make the signed digest {signed['digest']}, found "
            f"{opening.digest()}: not the fields that were signed"
        )
