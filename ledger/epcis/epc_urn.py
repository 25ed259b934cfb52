"""EPC URNs (GS1 Tag Data Standard) -> canonical GS1 Digital Link URIs.

Pure identity URNs (``urn:epc:id:...``), class URNs (``urn:epc:class:lgtin:...``) and id
patterns (``urn:epc:idpat:...``, the class part of the pattern) are converted the Tag Data
Standard way, computing the check digits they leave out. What the URN escaped stays escaped,
and the characters GS1 Digital Link reserves (``! ( ) * + , :``) are percent-encoded on top:
the spelling the reference hashes are computed with.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from ledger.digits import ascii_digits
from ledger.identifiers import DL_ROOT, with_check_digit

#: One character of an EPC URN component: the URN-safe ASCII subset or a percent escape.
_URN_CHAR = r"(?:[A-Za-z0-9!'()*+,\-.:;=_]|%[0-9A-Fa-f]{2})"
_DL_RESERVED = {"!": "%21", "(": "%28", ")": "%29", "*": "%2A", "+": "%2B", ",": "%2C", ":": "%3A"}


def _dl_escape(urn_text: str) -> str:
    return "".join(_DL_RESERVED.get(ch, ch) for ch in urn_text)


def _chars(text: str) -> int:
    """Length in characters once percent escapes are decoded."""
    return len(re.findall(r"%[0-9A-Fa-f]{2}|.", text))


def _split_cp(cp: str, ref: str, total: int) -> bool:
    """A company prefix of 6-12 digits and a reference filling ``total`` digits with it."""
    return (
        ascii_digits(cp)
        and 6 <= len(cp) <= 12
        and len(cp) + len(ref) == total
        and ascii_digits(ref)
    )


def _gtin(cp: str, item_ref: str) -> str | None:
    """GTIN-14 from company prefix and indicator + item reference (13 digits in all)."""
    if not _split_cp(cp, item_ref, 13):
        return None
    return with_check_digit(item_ref[0] + cp + item_ref[1:])


def _serial(text: str, limit: int) -> str | None:
    if not re.fullmatch(f"{_URN_CHAR}+", text) or _chars(text) > limit:
        return None
    return _dl_escape(text)


def _cp_and_ref_of_12(cp: str, ref: str) -> bool:
    """A company prefix and reference making the 12 digits before a GLN, GRAI, GDTI, GCN or
    PGLN check digit (a 12-digit company prefix leaves the reference empty)."""
    return _split_cp(cp, ref, 12) or (len(cp) == 12 and ref == "" and ascii_digits(cp))


def _two_digits(text: str) -> bool:
    """An ITIP piece number or total count: two digits."""
    return len(text) == 2 and ascii_digits(text)


def _company_prefix(cp: str) -> bool:
    return ascii_digits(cp) and 6 <= len(cp) <= 12


def _sgtin(parts: list[str]) -> str | None:
    if len(parts) < 3:
        return None
    gtin = _gtin(parts[0], parts[1])
    serial = _serial(".".join(parts[2:]), 20)
    return f"{DL_ROOT}/01/{gtin}/21/{serial}" if gtin and serial else None


def _sscc(parts: list[str]) -> str | None:
    if len(parts) != 2 or not _split_cp(parts[0], parts[1], 17):
        return None
    cp, ref = parts
    return f"{DL_ROOT}/00/{with_check_digit(ref[0] + cp + ref[1:])}"


def _sgln(parts: list[str]) -> str | None:
    if len(parts) < 3 or not _cp_and_ref_of_12(parts[0], parts[1]):
        return None
    gln = with_check_digit(parts[0] + parts[1])
    ext = ".".join(parts[2:])
    if ext == "0":
        return f"{DL_ROOT}/414/{gln}"
    escaped = _serial(ext, 20)
    return f"{DL_ROOT}/414/{gln}/254/{escaped}" if escaped else None


def _grai(parts: list[str]) -> str | None:
    if len(parts) < 3 or not _cp_and_ref_of_12(parts[0], parts[1]):
        return None
    serial = _serial(".".join(parts[2:]), 16)
    return (
        f"{DL_ROOT}/8003/{with_check_digit('0' + parts[0] + parts[1])}{serial}" if serial else None
    )


def _gdti(parts: list[str]) -> str | None:
    if len(parts) < 3 or not _cp_and_ref_of_12(parts[0], parts[1]):
        return None
    serial = _serial(".".join(parts[2:]), 17)
    return f"{DL_ROOT}/253/{with_check_digit(parts[0] + parts[1])}{serial}" if serial else None


def _sgcn(parts: list[str]) -> str | None:
    if len(parts) != 3:
        return None
    cp, coupon, serial = parts
    if not (_cp_and_ref_of_12(cp, coupon) and ascii_digits(serial) and len(serial) <= 12):
        return None
    return f"{DL_ROOT}/255/{with_check_digit(cp + coupon)}{serial}"


def _cpid(cp: str, ref: str) -> str | None:
    """The component / part identifier of a company prefix and reference, escaped for Digital
    Link; ``None`` unless it is one."""
    if not _company_prefix(cp):
        return None
    if not re.fullmatch(r"(?:[0-9A-Z\-]|%2[3dfDF])+", ref) or _chars(cp + ref) > 30:
        return None
    return _dl_escape(cp + ref)


def _cpi(parts: list[str]) -> str | None:
    if len(parts) != 3:
        return None
    cpid, serial = _cpid(parts[0], parts[1]), parts[2]
    if cpid is None or not (ascii_digits(serial) and len(serial) <= 12):
        return None
    return f"{DL_ROOT}/8010/{cpid}/8011/{serial}"


def _itip(parts: list[str]) -> str | None:
    if len(parts) < 5:
        return None
    gtin = _gtin(parts[0], parts[1])
    piece, total = parts[2], parts[3]
    serial = _serial(".".join(parts[4:]), 20)
    if not (gtin and serial and _two_digits(piece) and _two_digits(total)):
        return None
    return f"{DL_ROOT}/8006/{gtin}{piece}{total}/21/{serial}"


def _upui(parts: list[str]) -> str | None:
    if len(parts) < 3:
        return None
    gtin = _gtin(parts[0], parts[1])
    tpx = _serial(".".join(parts[2:]), 28)
    return f"{DL_ROOT}/01/{gtin}/235/{tpx}" if gtin and tpx else None


def _pgln(parts: list[str]) -> str | None:
    if len(parts) != 2 or not _cp_and_ref_of_12(parts[0], parts[1]):
        return None
    return f"{DL_ROOT}/417/{with_check_digit(parts[0] + parts[1])}"


def _digits_key(ai: str, total: int) -> Callable[[list[str]], str | None]:
    """GSRN, GSRN-P, GSIN: company prefix and reference of ``total`` digits, a check digit."""

    def convert(parts: list[str]) -> str | None:
        if len(parts) != 2 or not _split_cp(parts[0], parts[1], total):
            return None
        return f"{DL_ROOT}/{ai}/{with_check_digit(parts[0] + parts[1])}"

    return convert


def _alphanumeric_key(ai: str) -> Callable[[list[str]], str | None]:
    """GIAI, GINC: company prefix and a free reference, 30 characters at most in all."""

    def convert(parts: list[str]) -> str | None:
        if len(parts) < 2 or not _company_prefix(parts[0]):
            return None
        cp, ref = parts[0], ".".join(parts[1:])
        escaped = _serial(ref, 30 - len(cp))
        return f"{DL_ROOT}/{ai}/{cp}{escaped}" if escaped else None

    return convert


#: EPC pure identity schemes (``urn:epc:id:<scheme>:…``), each from its dot-separated parts.
_EPC_ID: dict[str, Callable[[list[str]], str | None]] = {
    "sgtin": _sgtin,
    "sscc": _sscc,
    "sgln": _sgln,
    "grai": _grai,
    "giai": _alphanumeric_key("8004"),
    "gsrn": _digits_key("8018", 17),
    "gsrnp": _digits_key("8017", 17),
    "gdti": _gdti,
    "sgcn": _sgcn,
    "cpi": _cpi,
    "ginc": _alphanumeric_key("401"),
    "gsin": _digits_key("402", 16),
    "itip": _itip,
    "upui": _upui,
    "pgln": _pgln,
}


def _epc_id(scheme: str, body: str) -> str | None:
    convert = _EPC_ID.get(scheme)
    return convert(body.split(".")) if convert is not None else None


def _epc_class(scheme: str, body: str) -> str | None:
    parts = body.split(".")
    if scheme == "lgtin" and len(parts) >= 3:
        gtin = _gtin(parts[0], parts[1])
        lot = _serial(".".join(parts[2:]), 20)
        return f"{DL_ROOT}/01/{gtin}/10/{lot}" if gtin and lot else None
    return None


def _epc_pattern(scheme: str, body: str) -> str | None:
    parts = body.split(".")
    if not parts or parts[-1] != "*":
        return None
    fixed = parts[:-1]
    if scheme in ("sgtin", "upui") and len(fixed) == 2:
        gtin = _gtin(*fixed)
        return f"{DL_ROOT}/01/{gtin}" if gtin else None
    if scheme in ("grai", "gdti", "sgcn") and len(fixed) == 2:
        cp, ref = fixed
        if not _cp_and_ref_of_12(cp, ref):
            return None
        key = with_check_digit(("0" if scheme == "grai" else "") + cp + ref)
        ai = {"grai": "8003", "gdti": "253", "sgcn": "255"}[scheme]
        return f"{DL_ROOT}/{ai}/{key}"
    if scheme == "cpi" and len(fixed) == 2:
        cpid = _cpid(fixed[0], fixed[1])
        return f"{DL_ROOT}/8010/{cpid}" if cpid is not None else None
    if scheme == "itip" and len(fixed) == 4:
        gtin = _gtin(fixed[0], fixed[1])
        piece, total = fixed[2], fixed[3]
        if not (gtin and _two_digits(piece) and _two_digits(total)):
            return None
        return f"{DL_ROOT}/8006/{gtin}{piece}{total}"
    return None


_URN = re.compile(r"\Aurn:epc:(id|class|idpat):([a-z]+):(.+)\Z")


def from_urn(uri: str) -> str | None:
    """The canonical Digital Link of an EPC URN; ``None`` if it is not a GS1 key's URN."""
    match = _URN.match(uri)
    if match is None:
        return None
    kind, scheme, body = match.groups()
    if kind == "id":
        return _epc_id(scheme, body)
    if kind == "class":
        return _epc_class(scheme, body)
    return _epc_pattern(scheme, body)


__all__ = ["from_urn"]
