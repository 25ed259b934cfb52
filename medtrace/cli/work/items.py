"""What a person types for a pack or a container, as the ledger names it (a canonical GS1
Digital Link URI): a Digital Link URI, the text printed under a code (``(01)…(21)…``,
``(00)…``), an 18-digit SSCC, or a serial with ``--gtin``; one per argument or per line of a
file (``-``: standard input)."""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

import click

from ledger.errors import IdentifierError
from ledger.identifiers import container_uri, gtin14, lot_uri, pack_uri, parse_subject
from medtrace.cli.work.client import WorkError
from scanner.reading.digital_link import parse_digital_link
from scanner.reading.element_strings import parse_bracketed
from scanner.reading.scan_data import ScanError

F = TypeVar("F", bound=Callable[..., Any])
_SSCC = re.compile(r"\A[0-9]{18}\Z")
ITEMS_HELP = (
    "ITEMS are packs and containers: GS1 Digital Link URIs, the text printed under a code "
    "((01)…(21)… or (00)…), 18-digit SSCCs, or serials with --gtin; --file reads one a line "
    "(- for standard input), e.g. the serials medtrace commission --out wrote."
)


def subject(text: str, gtin: str | None = None) -> str:
    """The canonical subject URI of one item."""
    text = text.strip()
    try:
        if text.startswith("https://id.gs1.org/"):
            return parse_subject(text).uri
        if text.startswith(("http://", "https://")):
            return _from_elements(dict(parse_digital_link(text)), text)
        if text.startswith("("):
            return _from_elements(dict(parse_bracketed(text)), text)
        if _SSCC.match(text):
            return container_uri(text)
        if gtin is not None:
            return pack_uri(gtin, text)
    except (IdentifierError, ScanError) as exc:
        raise WorkError(f"{text[:60]!r}: {exc}") from None
    raise WorkError(
        "expected a pack or container (a GS1 Digital Link URI, (01)…(21)…, (00)…, an 18-digit "
        f"SSCC, or a serial with --gtin), found {text[:60]!r}"
    )


def _from_elements(elements: dict[str, str], text: str) -> str:
    if "00" in elements:
        return container_uri(elements["00"])
    if "01" in elements and "21" in elements:
        return pack_uri(elements["01"], elements["21"])
    raise WorkError(f"expected a pack ((01) and (21)) or a container ((00)), found {text[:60]!r}")


def read_items(path: Path | None) -> list[str]:
    """The non-empty lines of ``path`` (``-``: standard input)."""
    if path is None:
        return []
    try:
        text = sys.stdin.read() if str(path) == "-" else path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise WorkError(f"{path}: cannot be read ({exc})") from None
    return [line.strip() for line in text.splitlines() if line.strip()]


def subjects(items: Iterable[str], file: Path | None, gtin: str | None) -> list[str]:
    """Every item's subject URI, in order, without repeats; at least one."""
    if gtin is not None:
        try:
            gtin = gtin14(gtin)
        except IdentifierError as exc:
            raise WorkError(f"--gtin: {exc}") from None
    found = [subject(item, gtin) for item in [*items, *read_items(file)]]
    if not found:
        raise WorkError("expected at least one pack or container (ITEMS or --file)")
    return list(dict.fromkeys(found))


def lot_subject(gtin: str, lot: str) -> str:
    try:
        return lot_uri(gtin, lot)
    except IdentifierError as exc:
        raise WorkError(str(exc)) from None


def items_arguments(func: F) -> F:
    """ITEMS..., --file and --gtin."""
    func = click.option("--gtin", help="The GTIN of ITEMS given as bare serials.")(func)
    func = click.option(
        "--file",
        "items_file",
        type=click.Path(dir_okay=False, allow_dash=True, path_type=Path),
        help="Read more ITEMS from this file, one a line (- for standard input).",
    )(func)
    return click.argument("items", nargs=-1)(func)
