"""GS1 Digital Link URIs (``https://id.gs1.org/01/{gtin}/10/{lot}/21/{serial}?17=YYMMDD``): the
primary key and its key qualifiers from the path, in the standard's order, then the data
attributes from the query string."""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache
from urllib.parse import unquote, unquote_plus, urlsplit

from biip import ParseError
from biip.gs1_digital_link_uris import GS1DigitalLinkURI

from ledger.digits import ascii_digits
from scanner.reading.element_values import ai_of, checked_element, field_name
from scanner.reading.scan_data import GTIN_AI, Element, ScanError

_SCHEME = re.compile(r"\A([A-Za-z][A-Za-z0-9+.\-]*)://")
#: RFC 3986 characters (unreserved, reserved, and '%' for escapes).
_URI_CHARS = frozenset(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~:/?#[]@!$&'()*+,;=%"
)
_HOST = re.compile(r"\A(?:[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?\.?)+\Z|\A\[[0-9A-Fa-f:.]+\]\Z")
_PORT = re.compile(r"\A[0-9]{1,5}\Z")


def looks_like_uri(text: str) -> bool:
    match = _SCHEME.match(text)
    if match is None:
        return False
    scheme = match[1]
    return scheme.lower() in ("http", "https") and scheme in (scheme.lower(), scheme.upper())


def scheme_like(text: str) -> bool:
    return _SCHEME.match(text) is not None


@lru_cache(maxsize=1)
def _primary_keys() -> dict[str, tuple[str, ...]]:
    """Digital Link primary keys and their key qualifiers in order, from biip."""
    from biip.gs1_digital_link_uris import _PRIMARY_IDENTIFIER_MAP  # noqa: PLC0415

    return {
        key: tuple(q.ai.ai for q in component.qualifiers)
        for key, component in _PRIMARY_IDENTIFIER_MAP.items()
    }


def parse_digital_link(uri: str) -> tuple[Element, ...]:
    """A GS1 Digital Link URI → its elements: the primary key and its qualifiers from the path
    (in the standard's order), then the data attributes from the query string."""
    match = _SCHEME.match(uri)
    if match is None or not looks_like_uri(uri):
        raise ScanError(
            f"expected a GS1 Digital Link URI starting https:// or http://, found {uri[:30]!r}",
            "digital_link",
        )
    for char in uri:
        if char not in _URI_CHARS:
            raise ScanError(
                f"character {char!r} is not allowed in a URI (found in {uri[:60]!r})",
                "digital_link",
            )
    if "%00" in uri:
        raise ScanError("a Digital Link may not contain %00", "digital_link")
    try:
        parts = urlsplit(uri)
    except ValueError as exc:
        raise ScanError(f"the URI cannot be read: {exc}", "digital_link") from None
    host, port = _host_port(parts.netloc)
    if not host or not _HOST.match(host) or (port and not _PORT.match(port)):
        raise ScanError(
            f"expected a domain name after {match[0]!r}, found {parts.netloc!r}", "digital_link"
        )
    path = parts.path
    keys = _primary_keys()
    if not any(segment in keys for segment in path.split("/")):
        raise ScanError(
            f"the code holds a web address, not a GS1 Digital Link ({uri[:60]!r}): no GS1 "
            "primary key such as /01/{GTIN} in its path",
            "not_gs1",
        )
    if path.endswith("/"):
        raise ScanError("a Digital Link URI may not end with '/'", "digital_link")
    segments = path.split("/")[1:]
    candidates = [
        i
        for i in range(len(segments) - 1, -1, -1)
        if segments[i] in keys and (len(segments) - i) % 2 == 0
    ]
    if not candidates:
        raise ScanError(
            "no GS1 primary key in the URI path (expected e.g. /01/{GTIN}/21/{serial})",
            "digital_link",
        )
    first_error: ScanError | None = None
    for index in candidates:
        try:
            path_elements = _dl_path(segments[index:], keys)
            break
        except ScanError as exc:
            first_error = first_error or exc
    else:
        assert first_error is not None
        raise first_error
    elements = list(path_elements)
    elements.extend(_dl_query(parts.query, path_elements, keys))
    _no_repeats(elements)
    return tuple(elements)


def _host_port(netloc: str) -> tuple[str, str]:
    netloc = netloc.rpartition("@")[2]
    if netloc.startswith("["):
        inside, _, rest = netloc.partition("]")
        if rest and not rest.startswith(":"):
            return "", ""
        return inside + "]", rest[1:]
    host, _, port = netloc.partition(":")
    return host, port


def _dl_path(segments: list[str], keys: dict[str, tuple[str, ...]]) -> tuple[Element, ...]:
    if any(not s for s in segments):
        raise ScanError("the Digital Link path has an empty segment ('//')", "digital_link")
    values = [unquote(s) for s in segments]
    key, key_value = segments[0], values[1]
    if key == GTIN_AI and len(key_value) != 14:
        raise ScanError(
            f"the GTIN in a Digital Link must have 14 digits, found {len(key_value)} "
            f"({key_value!r}: pad with leading zeros)",
            "digital_link",
        )
    qualifiers = keys[key]
    order = [segments[i] for i in range(2, len(segments), 2)]
    _qualifier_order(key, order, qualifiers)
    try:
        parsed = GS1DigitalLinkURI.parse("https://id.gs1.org/" + "/".join(segments))
    except ParseError:
        for i in range(0, len(segments), 2):
            checked_element(segments[i], values[i + 1])
        raise ScanError(
            f"the Digital Link path /{'/'.join(segments)} is not valid", "digital_link"
        ) from None
    elements = tuple((es.ai.ai, es.value) for es in parsed.element_strings)
    for ai, value in elements:
        checked_element(ai, value)
    return elements


def _qualifier_order(key: str, order: list[str], qualifiers: tuple[str, ...]) -> None:
    for ai in order:
        if ai not in qualifiers:
            allowed = ", ".join(f"/{q}/" for q in qualifiers) or "none"
            raise ScanError(
                f"/{ai}/ is not a key qualifier of /{key}/ in a Digital Link path (allowed, in "
                f"this order: {allowed})",
                "digital_link",
            )
    positions = [qualifiers.index(ai) for ai in order]
    for (a, pa), (b, pb) in zip(
        zip(order, positions, strict=True), zip(order[1:], positions[1:], strict=True), strict=False
    ):
        if pb <= pa:
            raise ScanError(
                f"in a Digital Link the {field_name(b)} (/{b}/) must come before the {field_name(a)} "
                f"(/{a}/): key qualifiers go in the order "
                + ", ".join(f"/{q}/" for q in qualifiers),
                "digital_link",
            )


def _dl_query(
    query: str, path: tuple[Element, ...], keys: dict[str, tuple[str, ...]]
) -> list[Element]:
    elements: list[Element] = []
    key = path[0][0]
    for item in query.split("&"):
        if not item:
            continue
        name, _, raw = item.partition("=")
        name = unquote_plus(name)
        if not ascii_digits(name):
            continue  # a non-AI parameter (AIs are digits 0-9): allowed and ignored
        try:
            ai = ai_of(name)
        except ParseError:
            ai = None
        if ai is None or ai.ai != name:
            raise ScanError(
                f"query parameter {name!r} is numeric but not a GS1 Application Identifier",
                "digital_link",
            )
        value = unquote_plus(raw)
        if not value:
            raise ScanError(f"the query parameter {name}= has no value", "digital_link")
        if name in keys[key]:
            raise ScanError(
                f"the {field_name(name)} ({name}) is a key qualifier of /{key}/: it belongs in the "
                "path, not in the query string",
                "digital_link",
            )
        elements.append(checked_element(name, value))
    return elements


def _no_repeats(elements: Sequence[Element]) -> None:
    seen: set[str] = set()
    for ai, _ in elements:
        if ai in seen:
            raise ScanError(f"AI ({ai}) appears twice in the Digital Link", "digital_link")
        seen.add(ai)
