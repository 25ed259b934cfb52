"""``medtrace labels …``: print the codes packs carry.

::

    medtrace labels make --gtin 09506000134352 --lot A2611 --expiry 2028-10-31 \\
        --serial 4TQ2M8ZK1V9C --serial 7HC0RXW2PD3N --out labels/ [--format both] [--sheet]
    medtrace labels batch --data nodes/manufacturer --gtin 09506000134352 --lot A2611 \\
        --out labels/ --limit 200 --sheet

``batch`` reads the serials (and the expiry) of a commissioned lot from a node's store.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import click
from PIL import Image
from sqlalchemy.exc import SQLAlchemyError

from ledger.errors import IdentifierError
from ledger.identifiers import gtin14
from medtrace.cli.console import (
    AsciiIntRange,
    DirectoryPath,
    console,
    existing_data_dir,
    existing_store_url,
    fail,
    message_of,
    progress_bar,
)
from node.config import ConfigError, load_config
from node.store import Store
from scanner.labels import (
    FORMATS,
    LabelError,
    PackLabel,
    label_image,
    write_sheet,
)

_FORMAT = click.option(
    "--format",
    "fmt",
    type=click.Choice([*FORMATS, "both"]),
    default="datamatrix",
    show_default=True,
    help="GS1 DataMatrix (element strings), QR Code (GS1 Digital Link URI), or both.",
)
_OUT = click.option(
    "--out",
    "out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for the PNG files (and the sheet).",
)
_SHEET = click.option(
    "--sheet", is_flag=True, help="Also write a printable A4 sheet (multi-page PDF, 300 dpi)."
)
_MODULE = click.option(
    "--module",
    default=8,
    show_default=True,
    type=AsciiIntRange(2, 40),
    help="Pixels per module of the code.",
)
_JSON = click.option("--json", "as_json", is_flag=True, help="Print a JSON summary instead.")


@click.group("labels")
def labels_group() -> None:
    """Make pack labels: GS1 DataMatrix and GS1 Digital Link QR codes with printed text.

    \b
    Examples:
      medtrace labels make --gtin 09506000134352 --lot A2611 --expiry 2028-10-31 \\
          --serial 4TQ2M8ZK1V9C --out labels
      medtrace labels batch --data nodes/manufacturer --gtin 09506000134352 --lot A2611 \\
          --out labels --limit 100 --sheet
    """


def _formats(fmt: str) -> tuple[str, ...]:
    return FORMATS if fmt == "both" else (fmt,)


def _write(
    labels: Sequence[PackLabel],
    out: Path,
    formats: tuple[str, ...],
    *,
    module: int,
    sheet: bool,
    as_json: bool,
) -> None:
    out.mkdir(parents=True, exist_ok=True)
    files: list[str] = []
    images: list[Image.Image] = []
    with progress_bar(hidden=as_json or not console.is_terminal, transient=False) as progress:
        task = progress.add_task("labels", total=len(labels) * len(formats))
        for label in labels:
            for fmt in formats:
                image = label_image(label, fmt, module=module)
                suffix = "dm" if fmt == "datamatrix" else "qr"
                path = out / f"{label.stem()}-{suffix}.png"
                image.save(path, format="PNG", dpi=(300, 300))
                files.append(str(path))
                if sheet:
                    images.append(image)
                progress.advance(task)
    summary: dict[str, object] = {"labels": len(labels), "files": files, "sheet": None}
    if sheet:
        first = labels[0]
        name = "".join(c if c.isalnum() or c in "-_" else "_" for c in first.lot)
        path, pages = write_sheet(images, out / f"sheet-{first.gtin}-{name}.pdf")
        summary["sheet"] = {"path": str(path), "pages": pages}
    if as_json:
        sys.stdout.write(json.dumps(summary) + "\n")
        return
    console.print(
        f"[bold green]✓[/] {len(labels)} pack(s), {len(files)} PNG file(s) in {out}",
        highlight=False,
    )
    if sheet:
        info = summary["sheet"]
        assert isinstance(info, dict)
        console.print(f"  sheet: {info['path']} ({info['pages']} page(s))", highlight=False)


def _write_or_fail(
    labels: Callable[[], list[PackLabel]],
    out: Path,
    fmt: str,
    module: int,
    sheet: bool,
    as_json: bool,
) -> None:
    """``_write`` the labels (built inside: a bad GTIN, lot or date is a ``LabelError`` too),
    every expected failure one red line."""
    try:
        _write(labels(), out, _formats(fmt), module=module, sheet=sheet, as_json=as_json)
    except LabelError as exc:
        fail(str(exc))
    except OSError as exc:
        fail(f"{out}: cannot write the labels: {exc.strerror or exc}")


@labels_group.command("make")
@click.option("--gtin", required=True, help="GTIN-8/12/13/14 (check digit verified).")
@click.option("--lot", required=True, help="Lot / batch number (AI 10).")
@click.option("--expiry", required=True, help="Expiry date YYYY-MM-DD (printed as AI 17 YYMMDD).")
@click.option("--serial", "serials", required=True, multiple=True, help="Serial (AI 21); repeat.")
@_OUT
@_FORMAT
@_SHEET
@_MODULE
@_JSON
def make_command(
    gtin: str,
    lot: str,
    expiry: str,
    serials: tuple[str, ...],
    out: Path,
    fmt: str,
    sheet: bool,
    module: int,
    as_json: bool,
) -> None:
    """Labels for the packs given on the command line."""
    unique = dict.fromkeys(serials)
    _write_or_fail(
        lambda: [PackLabel(gtin, lot, expiry, s) for s in unique], out, fmt, module, sheet, as_json
    )


@labels_group.command("batch")
@click.option(
    "--data",
    type=DirectoryPath(),
    help="A node's data directory (with node.json).",
)
@click.option("--db", help="A store alone: SQLite file or database URL (postgresql://…).")
@click.option("--gtin", required=True, help="The GTIN of the lot.")
@click.option("--lot", required=True, help="The commissioned lot.")
@click.option("--limit", type=AsciiIntRange(1), help="At most this many packs.")
@_OUT
@_FORMAT
@_SHEET
@_MODULE
@_JSON
def batch_command(
    data: Path | None,
    db: str | None,
    gtin: str,
    lot: str,
    limit: int | None,
    out: Path,
    fmt: str,
    sheet: bool,
    module: int,
    as_json: bool,
) -> None:
    """Labels for every commissioned pack of a lot, read from a node's store.

    --data must be a node's data directory and --db an existing SQLite file or a database URL:
    a missing path, a directory or a file that is not SQLite is one error line, exit 1.
    """
    if (data is None) == (db is None):
        raise click.UsageError("expected exactly one of --data DIR or --db PATH_OR_URL")
    if data is not None:
        existing_data_dir(data)
        try:
            url = load_config(data).database_url(data)
        except ConfigError as exc:
            fail(str(exc))
    else:
        assert db is not None
        url = db
    existing_store_url(url)
    try:
        full = gtin14(gtin)
        with Store(url) as store:
            expiry, serials = store.lot_serials(full, lot, limit)
    except IdentifierError as exc:
        fail(str(exc))
    except SQLAlchemyError as exc:
        fail(f"{url}: cannot read the store: {message_of(exc) or 'it is damaged or unreachable'}")
    if not serials:
        fail(f"no commissioned packs of lot {lot!r} of GTIN {full} in {data or db}")
    _write_or_fail(
        lambda: [PackLabel(full, lot, expiry, s) for s in serials], out, fmt, module, sheet, as_json
    )
