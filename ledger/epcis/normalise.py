"""EPC URNs and GS1 Digital Link URIs -> one canonical GS1 Digital Link URI.

This is the identifier normalisation the CBV 2.0 event hash is defined over (CBV 2.0 section
8.9, "canonical GS1 Digital Link"): the domain becomes ``https://id.gs1.org``, short names
become application identifiers, GTINs are padded to 14 digits, key qualifiers are dropped down
to the finest level (a serial beats a lot, a CPV is dropped), query strings and fragments go.
EPC URNs are converted by ``ledger.epcis.epc_urn``, the GS1 Tag Data Standard way.

``canonical`` answers ``None`` for anything that is not a GS1 key in one of those forms: the
caller keeps such a value as it is (a private URI is a perfectly good EPCIS identifier).

Character encoding follows the EPC URN: what the URN escaped stays escaped, and the characters
GS1 Digital Link reserves (``! ( ) * + , :``) are percent-encoded on top. That is the spelling
the reference hashes are computed with. The ledger's own subject URIs (``ledger.identifiers``)
percent-encode serials with ``quote(safe="")``, which also escapes ``' ; =``: for serials made of
letters, digits and ``- . _`` (every serial medtrace generates) the two spellings are the same
string; ``ledger_subject`` converts through the parsed GTIN and serial, never by string identity.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote

from ledger.digits import ascii_digits
from ledger.epcis.epc_urn import from_urn
from ledger.errors import IdentifierError
from ledger.identifiers import (
    DL_ROOT,
    SubjectType,
    check_digit_of,
    container_uri,
    lot_uri,
    pack_uri,
    product_uri,
    with_check_digit,
)

#: Values a canonical Digital Link may carry unescaped (GS1 AI character set 82 less the
#: characters Digital Link requires to be percent-encoded, plus the escapes themselves).
_DL_VALUE = re.compile(r"\A(?:[\"'\-.0-9;<=>?A-Z_a-z]|%[0-9A-Fa-f]{2})+\Z")
_CSET82 = re.compile(r"\A[!\"%&'()*+,\-./0-9:;<=>?A-Z_a-z]+\Z")
_CPID = re.compile(r"\A[#\-/0-9A-Z]{1,30}\Z")

#: Short names of GS1 Digital Link (1.1 "convenience alphas") -> application identifiers.
SHORT_NAMES = {
    "gtin": "01",
    "itip": "8006",
    "cpid": "8010",
    "gln": "414",
    "party": "417",
    "gsrnp": "8017",
    "gsrn": "8018",
    "gcn": "255",
    "sscc": "00",
    "gdti": "253",
    "ginc": "401",
    "gsin": "402",
    "grai": "8003",
    "giai": "8004",
    "cpv": "22",
    "lot": "10",
    "ser": "21",
}
#: Primary keys and the key qualifiers each may carry, in the only order Digital Link allows.
_QUALIFIERS: dict[str, tuple[str, ...]] = {
    "01": ("22", "10", "21"),
    "8006": ("22", "10", "21"),
    "414": ("254",),
    "8010": ("8011",),
    "00": (),
    "253": (),
    "255": (),
    "401": (),
    "402": (),
    "417": (),
    "8003": (),
    "8004": (),
    "8017": (),
    "8018": (),
}


def check_digit(digits: str) -> str:
    """The GS1 mod-10 check digit of ``digits`` (the key without its check digit)."""
    return with_check_digit(digits)[-1]


# -- Digital Link --------------------------------------------------------------------------------

_HTTP = re.compile(r"\Ahttps?://[^/?#]*(?P<path>/[^?#]*)?(?:\?[^#]*)?(?:#.*)?\Z")


def _dl_value(value: str, limit: int) -> str | None:
    """A qualifier or key-extension value: CSET 82 once decoded, re-encoded canonically."""
    if not _DL_VALUE.match(value) and not _CSET82.match(unquote(value)):
        return None
    decoded = unquote(value)
    if not decoded or len(decoded) > limit or not _CSET82.match(decoded):
        return None
    if _DL_VALUE.match(value):
        return value  # already in the canonical spelling
    return "".join(
        ch if re.match(r"[\"'\-.0-9;<=>?A-Z_a-z]", ch) else f"%{ord(ch):02X}" for ch in decoded
    )


def _key(ai: str, value: str) -> str | None:
    """The canonical primary key value for ``ai`` (GTINs padded to 14 digits), or ``None``."""
    digits = {"00": 18, "417": 13, "414": 13, "8017": 18, "8018": 18, "402": 17, "8006": 18}
    if ai == "01":
        if ascii_digits(value) and len(value) in (8, 12, 13, 14):
            return value.zfill(14)
        return None
    if ai in digits:
        return value if ascii_digits(value) and len(value) == digits[ai] else None
    if ai in ("253", "255", "8003"):
        head = {"253": 13, "255": 13, "8003": 14}[ai]
        tail_limit = {"253": 17, "255": 12, "8003": 16}[ai]
        if len(value) < head or not ascii_digits(value[:head]):
            return None
        tail = value[head:]
        if not tail:
            return value
        if ai == "255":
            return value if ascii_digits(tail) and len(tail) <= tail_limit else None
        escaped = _dl_value(tail, tail_limit)
        return value[:head] + escaped if escaped else None
    if ai in ("401", "8004"):
        return _dl_value(value, 30)
    if ai == "8010":
        return value if _CPID.match(unquote(value)) else None
    return None


def _from_dl(uri: str) -> str | None:
    match = _HTTP.match(uri)
    if match is None or not match["path"]:
        return None
    segments = [SHORT_NAMES.get(s, s) for s in match["path"].split("/")[1:]]
    if segments and segments[-1] == "":
        segments.pop()
    start = next(
        (
            i
            for i, s in enumerate(segments)
            if s in _QUALIFIERS and i + 1 < len(segments) and re.match(r"[0-9]{4}", segments[i + 1])
        ),
        None,
    )
    if start is None:
        return None
    ai, raw_key = segments[start], segments[start + 1]
    key = _key(ai, raw_key)
    if key is None:
        return None
    rest = segments[start + 2 :]
    if len(rest) % 2:
        return None
    allowed = _QUALIFIERS[ai]
    qualifiers: dict[str, str] = {}
    position = -1
    for q_ai, q_value in zip(rest[::2], rest[1::2], strict=True):
        if q_ai == "235" and ai == "01" and not qualifiers:
            allowed, position = ("235",), -1
        if q_ai not in allowed or allowed.index(q_ai) <= position:
            return None
        position = allowed.index(q_ai)
        if q_ai == "8011":
            if not (ascii_digits(q_value) and len(q_value) <= 12):
                return None
            qualifiers[q_ai] = q_value
            continue
        value = _dl_value(q_value, 28 if q_ai == "235" else 20)
        if value is None:
            return None
        qualifiers[q_ai] = value
    qualifiers.pop("22", None)  # a consumer product variant never identifies an instance
    if "21" in qualifiers:
        qualifiers.pop("10", None)  # the finest level only: a serial beats a lot
    tail = "".join(f"/{q}/{v}" for q, v in qualifiers.items())
    return f"{DL_ROOT}/{ai}/{key}{tail}"


def canonical(uri: object) -> str | None:
    """The canonical GS1 Digital Link URI of an EPC URN or Digital Link URI, else ``None``."""
    if not isinstance(uri, str):
        return None
    if uri.startswith("urn:epc:"):
        return from_urn(uri)
    if uri.startswith(("http://", "https://")):
        return _from_dl(uri)
    return None


# -- what the ledger can name ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Key:
    """A GS1 key as capture needs it: the canonical Digital Link and its parts."""

    dl: str
    ai: str
    key: str
    qualifiers: tuple[tuple[str, str], ...] = ()

    def qualifier(self, ai: str) -> str | None:
        return next((unquote(v) for q, v in self.qualifiers if q == ai), None)


_CANONICAL = re.compile(r"\Ahttps://id\.gs1\.org/([0-9]+)/([^/]+)((?:/[0-9]+/[^/]+)*)\Z")


def parse(uri: object) -> Key | None:
    """Normalise ``uri`` and split it into AI, key and qualifiers; ``None`` if not a GS1 key."""
    dl = canonical(uri)
    if dl is None:
        return None
    match = _CANONICAL.match(dl)
    if match is None:  # pragma: no cover (canonical() only builds this shape)
        return None
    tail = match[3].split("/")[1:]
    return Key(dl, match[1], match[2], tuple(zip(tail[::2], tail[1::2], strict=True)))


def ledger_subject(uri: object) -> str | None:
    """The ledger's subject URI for a pack (SGTIN), container (SSCC), lot (LGTIN) or product
    (GTIN class), check digits verified the ledger's way; ``None`` for anything else."""
    key = parse(uri)
    if key is None:
        return None
    try:
        if key.ai == "00" and not key.qualifiers:
            return container_uri(key.key)
        if key.ai != "01":
            return None
        serial, lot = key.qualifier("21"), key.qualifier("10")
        if serial is not None:
            return pack_uri(key.key, serial)
        if lot is not None:
            return lot_uri(key.key, lot)
        if not key.qualifiers:
            return product_uri(key.key)
    except IdentifierError:
        return None
    return None


#: The keys whose check digit capture checks, and what a message calls each.
_CHECKED_KEYS = {"00": "SSCC", "01": "GTIN", "414": "GLN", "417": "GLN"}


def check_key_digits(uri: object) -> None:
    """Raise ``IdentifierError`` if ``uri`` is a GS1 Digital Link whose SSCC, GTIN or GLN
    (``/414/`` location, ``/417/`` party) has a wrong check digit.

    Only Digital Link: an EPC URN carries no check digit (the conversion computes it). Not part
    of ``canonical``, which the event hash is defined over and which must not refuse what the
    CBV's reference hashes accept."""
    if not (isinstance(uri, str) and uri.startswith(("http://", "https://"))):
        return
    key = parse(uri)
    if key is not None and key.ai in _CHECKED_KEYS:
        check_digit_of(_CHECKED_KEYS[key.ai], key.key)


def subject_type(subject: str) -> SubjectType:
    """The type of a ledger subject URI made by ``ledger_subject``."""
    if subject.startswith(f"{DL_ROOT}/00/"):
        return SubjectType.CONTAINER
    if "/21/" in subject:
        return SubjectType.PACK
    if "/10/" in subject:
        return SubjectType.LOT
    return SubjectType.PRODUCT


__all__ = [
    "Key",
    "canonical",
    "check_digit",
    "check_key_digits",
    "ledger_subject",
    "parse",
    "subject_type",
]
