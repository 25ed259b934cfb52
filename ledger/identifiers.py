"""GS1 identifiers as the ledger names them: canonical GS1 Digital Link URIs.

Formats are checked by ``biip``; check digits of GTINs, GLNs and SSCCs by ``check_digit_of``
first, so that every entry point (membership, API, EPCIS capture) words a wrong check digit the
same way: which identifier, the digit expected, the digit found. This module also fixes the one
canonical spelling (``https://id.gs1.org``, GTIN-14, key qualifiers dropped, serial
percent-encoded) so that the same pack always has the same subject string.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from urllib.parse import quote, unquote

from biip import ParseError
from biip.checksums import gs1_standard_check_digit
from biip.gtin import Gtin
from biip.sscc import Sscc

from ledger.digits import ascii_digits
from ledger.errors import IdentifierError

DL_ROOT = "https://id.gs1.org"

#: GS1 AI encodable character set 82, the alphabet of AI 10 (lot) and AI 21 (serial).
_CSET82 = re.compile(r"\A[!\"%&'()*+,\-./0-9:;<=>?A-Z_a-z]{1,20}\Z")
_PREFIX = re.compile(r"\A[0-9]{4,12}\Z")


class SubjectType(StrEnum):
    PACK = "sgtin"  # one serialised pack: GTIN + serial
    CONTAINER = "sscc"  # a logistic unit: case or pallet
    LOT = "lot"  # every pack of a GTIN + lot (recalls)
    PRODUCT = "gtin"  # every pack of a GTIN (withdrawals)


@dataclass(frozen=True, slots=True)
class Subject:
    type: SubjectType
    uri: str
    gtin: str | None = None
    serial: str | None = None
    lot: str | None = None
    sscc: str | None = None


@lru_cache(maxsize=4096)
def with_check_digit(body: str) -> str:
    """``body`` (a GS1 key without its check digit: GTIN, GLN, SSCC) with its mod-10 check digit."""
    return body + str(gs1_standard_check_digit(body))


class CheckDigitError(IdentifierError):
    """A GTIN, GLN or SSCC whose last digit is not its GS1 mod-10 check digit."""


def check_digit_of(what: str, value: str) -> str:
    """``value`` (a GS1 key of ASCII digits, check digit last) if its check digit is right.

    ``what`` names the key in the message: "GTIN", "GLN", "SSCC"."""
    expected = str(gs1_standard_check_digit(value[:-1]))
    if value[-1] != expected:
        raise CheckDigitError(
            f"{what} {value} is not valid: expected check digit {expected}, found {value[-1]}"
        )
    return value


def check_gln(value: str) -> str:
    """``value`` if it is a GLN: 13 ASCII digits whose last is the right check digit."""
    if not (isinstance(value, str) and len(value) == 13 and ascii_digits(value)):
        raise IdentifierError(f"expected a 13-digit GLN (digits 0-9), found {value!r}")
    return check_digit_of("GLN", value)


@lru_cache(maxsize=4096)
def gtin14(value: str) -> str:
    """The GTIN-14 form of a GTIN-8/12/13/14, check digit verified.

    Cached: a node sees a few thousand products at most, and the pack query validates the
    same GTIN up to three times (biip's parse is ~40 µs)."""
    if not ascii_digits(value):
        raise IdentifierError(f"expected a GTIN of digits (0-9) only, found {value!r}")
    if len(value) in (8, 12, 13, 14):
        check_digit_of("GTIN", value)
    try:
        return Gtin.parse(value).as_gtin_14()
    except ParseError as exc:
        raise IdentifierError(f"GTIN {value!r} is not valid: {exc}") from exc


def check_sscc(value: str) -> str:
    if not (len(value) == 18 and ascii_digits(value)):
        raise IdentifierError(f"expected an SSCC of 18 digits (0-9), found {value!r}")
    check_digit_of("SSCC", value)
    try:
        Sscc.parse(value)
    except ParseError as exc:
        raise IdentifierError(f"SSCC {value!r} is not valid: {exc}") from exc
    return value


def check_cset82(value: str, what: str) -> str:
    if not _CSET82.match(value):
        raise IdentifierError(
            f"expected a {what} of 1 to 20 characters from the GS1 AI character set 82, "
            f"found {value!r}"
        )
    return value


def check_company_prefix(value: str) -> str:
    if not _PREFIX.match(value):
        raise IdentifierError(f"expected a GS1 company prefix of 4 to 12 digits, found {value!r}")
    return value


def gtin_in_prefixes(gtin: str, prefixes: frozenset[str] | tuple[str, ...]) -> bool:
    """Whether a GTIN-14 belongs to one of the company prefixes (indicator digit skipped)."""
    body = gtin14(gtin)[1:]
    return any(body.startswith(prefix) for prefix in prefixes)


def _enc(value: str) -> str:
    return quote(value, safe="")


def pack_uri(gtin: str, serial: str) -> str:
    return f"{DL_ROOT}/01/{gtin14(gtin)}/21/{_enc(check_cset82(serial, 'serial'))}"


#: RFC 3986 unreserved characters: ``quote`` leaves them as they are.
_UNRESERVED = re.compile(r"[A-Za-z0-9._~-]+")


def pack_uris(gtin: str, serials: Sequence[str]) -> list[str]:
    """``pack_uri`` of each serial of a GTIN-14, neither checked again: one regular expression
    over the batch spares ``quote`` for serials that are unreserved already (random ones are)."""
    prefix = f"{DL_ROOT}/01/{gtin}/21/"
    if _UNRESERVED.fullmatch("".join(serials)):
        return [prefix + serial for serial in serials]
    return [prefix + _enc(serial) for serial in serials]


def container_uri(sscc: str) -> str:
    return f"{DL_ROOT}/00/{check_sscc(sscc)}"


def lot_uri(gtin: str, lot: str) -> str:
    return f"{DL_ROOT}/01/{gtin14(gtin)}/10/{_enc(check_cset82(lot, 'lot'))}"


def product_uri(gtin: str) -> str:
    return f"{DL_ROOT}/01/{gtin14(gtin)}"


_SUBJECT = re.compile(
    r"\Ahttps://id\.gs1\.org/(?:"
    r"00/(?P<sscc>[0-9]{18})"
    r"|01/(?P<gtin>[0-9]{14})(?:/21/(?P<serial>[^/?#]+)|/10/(?P<lot>[^/?#]+))?"
    r")\Z"
)


def parse_subject(uri: str) -> Subject:
    """Parse a canonical subject URI; a non-canonical spelling is an ``IdentifierError``."""
    match = _SUBJECT.match(uri)
    if match is None:
        raise IdentifierError(
            "expected a canonical GS1 Digital Link URI (https://id.gs1.org/01/{gtin}/21/{serial}, "
            f"/00/{{sscc}}, /01/{{gtin}}/10/{{lot}} or /01/{{gtin}}), found {uri!r}"
        )
    if match["sscc"] is not None:
        subject = Subject(SubjectType.CONTAINER, uri, sscc=check_sscc(match["sscc"]))
        canonical = container_uri(match["sscc"])
    elif match["serial"] is not None:
        serial = unquote(match["serial"])
        subject = Subject(SubjectType.PACK, uri, gtin=match["gtin"], serial=serial)
        canonical = pack_uri(match["gtin"], serial)
    elif match["lot"] is not None:
        lot = unquote(match["lot"])
        subject = Subject(SubjectType.LOT, uri, gtin=match["gtin"], lot=lot)
        canonical = lot_uri(match["gtin"], lot)
    else:
        subject = Subject(SubjectType.PRODUCT, uri, gtin=match["gtin"])
        canonical = product_uri(match["gtin"])
    if canonical != uri:
        raise IdentifierError(f"expected the canonical spelling {canonical!r}, found {uri!r}")
    return subject
