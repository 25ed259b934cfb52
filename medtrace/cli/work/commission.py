"""``medtrace commission``: a manufacturer registers serialised packs (GTIN, lot, expiry) with
fresh random serials (``--count``) or the serials it printed (``--serials-file``), in requests
of ``--batch`` packs with a progress bar; the serials go to stdout or ``--out`` as each batch is
signed, so a failure half way loses none of those already commissioned."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import click
from rich.markup import escape

from medtrace.cli.console import AsciiIntRange, FilePath, err, err_console, print_json
from medtrace.cli.console import out as stdout_console
from medtrace.cli.console import progress_bar as bar
from medtrace.cli.work.client import NodeApi, WorkError
from medtrace.cli.work.items import read_items
from medtrace.cli.work.target import Target, node_options

BATCH = 10_000
MAX_COUNT = 1_000_000


@contextmanager
def _serials_out(out: Path | None) -> Iterator[IO[str] | None]:
    if out is None:
        yield None
        return
    try:
        file = out.open("x", encoding="utf-8")
    except FileExistsError:
        raise WorkError(
            f"{out}: the file exists; choose another --out (serials are never overwritten)"
        ) from None
    except OSError as exc:
        raise WorkError(f"{out}: cannot be written ({exc.strerror})") from None
    with file:
        yield file


def _batches(count: int, serials: list[str], size: int) -> list[dict[str, Any]]:
    if serials:
        return [{"serials": serials[i : i + size]} for i in range(0, len(serials), size)]
    return [{"count": min(size, count - i)} for i in range(0, count, size)]


def _commission(
    api: NodeApi,
    base: dict[str, Any],
    batches: list[dict[str, Any]],
    sink: IO[str] | None,
    as_json: bool,
) -> tuple[list[str], list[Any]]:
    serials: list[str] = []
    entries: list[Any] = []
    total = sum(b.get("count", 0) or len(b.get("serials", ())) for b in batches)
    with bar(target=err_console, hidden=as_json or len(batches) == 1) as progress:
        task = progress.add_task("commissioning", total=total)
        for batch in batches:
            try:
                answer = api.post("/api/v1/commission", {**base, **batch}, "commission")
            except WorkError as exc:
                if serials:
                    where = (
                        f"in {sink.name}"
                        if sink is not None and sink is not sys.stdout
                        else "above"
                    )
                    exc.args = (
                        f"{exc} ({len(serials):,} packs were commissioned before; their serials are {where})",
                    )
                raise
            got = [str(s) for s in answer.get("serials", [])]
            serials.extend(got)
            entries.extend(answer.get("entries", []))
            if sink is not None:
                sink.write("".join(f"{s}\n" for s in got))
                sink.flush()
            progress.advance(task, len(got))
    return serials, entries


@click.command(
    "commission",
    short_help="Commission serialised packs: GTIN, lot, expiry; fresh or given serials.",
)
@click.option("--gtin", required=True, help="The product's GTIN (under your company prefixes).")
@click.option("--lot", required=True, help="The lot number, as printed.")
@click.option("--expiry", required=True, help="The expiry date, YYYY-MM-DD.")
@click.option(
    "--count", type=AsciiIntRange(1, MAX_COUNT), help="How many packs, with fresh random serials."
)
@click.option(
    "--serials-file",
    type=FilePath(exists=True),
    help="Commission these serials instead (one a line, as printed).",
)
@click.option(
    "--out",
    type=FilePath(),
    help="Write the serials to this new file (one a line) instead of standard output.",
)
@click.option(
    "--batch",
    type=AsciiIntRange(1, 100_000),
    default=BATCH,
    show_default=True,
    help="Packs per request.",
)
@node_options
def commission_command(
    gtin: str,
    lot: str,
    expiry: str,
    count: int | None,
    serials_file: Path | None,
    out: Path | None,
    batch: int,
    target: Target,
) -> None:
    """Commission serialised packs of one GTIN, lot and expiry: --count fresh random serials, or
    the serials in --serials-file. The node signs them (one entry per 1,000 packs) and the
    serials are printed one a line on stdout (the summary on stderr), or written to --out.

    \b
    With --json: {"gtin", "lot", "expiry", "count", "serials", "entries", "out", "node"}.
    \b
    Examples:
      medtrace commission --gtin 04012345000016 --lot L2607 --expiry 2028-06-30 --count 1000 \\
          --out serials.txt
      medtrace commission --gtin 04012345000016 --lot L2607 --expiry 2028-06-30 \\
          --serials-file printed.txt --json
    """
    if (count is None) == (serials_file is None):
        raise WorkError("expected exactly one of --count N and --serials-file FILE")
    given = read_items(serials_file)
    if serials_file is not None and not given:
        raise WorkError(f"{serials_file}: expected serials, one a line, found none")
    if len(set(given)) != len(given):
        raise WorkError(f"{serials_file}: expected distinct serials, found one twice")
    base = {"gtin": gtin, "lot": lot, "expiry": expiry}
    api = target.connect()
    try:
        with _serials_out(out) as file:
            sink = file if file is not None else (None if target.as_json else sys.stdout)
            serials, entries = _commission(
                api, base, _batches(count or 0, given, batch), sink, target.as_json
            )
    finally:
        api.close()
    if target.as_json:
        print_json(
            {
                **base,
                "count": len(serials),
                "serials": serials,
                "entries": entries,
                "out": str(out) if out else None,
                "node": api.url,
            }
        )
        return
    where = f"; serials in {escape(str(out))}" if out else ""
    line = (
        f"[green]✓[/] commissioned {len(serials):,} packs of GTIN {escape(gtin)}, lot "
        f"{escape(lot)}, expiry {escape(expiry)} ({len(entries)} signed "
        f"{'entry' if len(entries) == 1 else 'entries'}){where}"
    )
    (stdout_console() if out else err()).print(line)
