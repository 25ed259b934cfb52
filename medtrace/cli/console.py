"""Terminal output shared by every ``medtrace`` command: the consoles, the one-red-line failure
and the green-tick success line, ``--json``, the error group that keeps tracebacks from users,
and the options and number types (ASCII digits only) several commands share.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar, NoReturn, TypeVar

import click
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy.exc import SQLAlchemyError

from keys.keystore import KeyStoreError, read_passphrase_file
from ledger.digits import ASCII_INT, ASCII_NUMBER
from ledger.errors import LedgerError

F = TypeVar("F", bound=Callable[..., Any])
DEBUG_ENV = "MEDTRACE_DEBUG"

#: The shared consoles of the scan, labels, ledger, sync, demo and bench commands.
console = Console()
err_console = Console(stderr=True)


def out() -> Console:
    """A console for tables that a pipe or a file should not fold to 80 columns."""
    wide = Console(highlight=False, soft_wrap=True)
    if not wide.is_terminal and "COLUMNS" not in os.environ:
        wide.width = 160
    return wide


def err() -> Console:
    return Console(stderr=True, highlight=False, soft_wrap=True)


_ERRNO = re.compile(r"\[Errno -?[0-9]+\] ([^'\")\]]+)")


def message_of(exc: BaseException) -> str:
    """An error's own words, on one line, never its class name ("" when it has none): a
    database error's driver message, a failed HTTP request's reason."""
    cause = getattr(exc, "orig", None) if isinstance(exc, SQLAlchemyError) else None
    if cause is not None:
        exc = cause
    if type(exc).__module__.split(".")[0] in ("requests", "urllib3"):
        name = type(exc).__name__
        if "Timeout" in name:
            return "no answer in time"
        found = _ERRNO.search(str(exc))
        reason = found.group(1).strip() if found else ""
        if "SSL" in name:
            return "the TLS handshake failed (is the CA right for this host?)"
        return f"the connection failed: {reason}" if reason else "the connection failed"
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else ""


def fail(message: str, code: int = 1) -> NoReturn:
    """One red line on stderr, then exit with ``code``: how every command reports a failure."""
    err().print(f"[bold red]error:[/] [red]{escape(message)}[/]")
    raise click.exceptions.Exit(code)


def done(message: str) -> None:
    """A green tick and ``message`` (rich markup; escape what users typed) on stdout: how the
    keys and node commands report a change they made."""
    out().print(f"[green]✓[/] {message}")


def progress_bar(
    *,
    hidden: bool,
    label: str = "{task.description}",
    target: Console = console,
    transient: bool = True,
) -> Progress:
    """The bar of a command that counts items done of a total; ``hidden`` under ``--json``."""
    return Progress(
        TextColumn(label),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=target,
        transient=transient,
        disable=hidden,
    )


def print_json(value: Any) -> None:
    """One JSON object on one line of stdout, for machines."""
    sys.stdout.write(json.dumps(value, sort_keys=True) + "\n")


class CleanErrorGroup(click.Group):
    """Turns every expected failure into one red line on stderr and exit code 1."""

    #: Errors whose own message is the answer for the user, shown as it is (no class name).
    expected: ClassVar[tuple[type[Exception], ...]] = (LedgerError, KeyStoreError)

    def explain(self, exc: Exception) -> str | None:
        """The line for an error outside ``expected``; None when it can only be a bug."""
        if isinstance(exc, OSError):
            return f"{exc.filename or ''}: {exc.strerror or exc}".lstrip(": ")
        if isinstance(exc, SQLAlchemyError):
            cause = getattr(exc, "orig", None) or exc
            first = str(cause).strip().splitlines()[0] if str(cause).strip() else ""
            return (
                f"the database cannot be used: {first[:200]}"
                if first
                else ("the database cannot be used")
            )
        return None

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except self.expected as exc:
            fail(message_of(exc) or "the command failed")
        except Exception as exc:  # the one place a bug still gets a clean line
            line = self.explain(exc)
            if line is None:
                if os.environ.get(DEBUG_ENV):
                    raise
                said = message_of(exc)
                line = (
                    f"unexpected failure{': ' + said if said else ''} (a bug; set {DEBUG_ENV}=1 "
                    "for the traceback)"
                )
            fail(line)


class DirectoryPath(click.Path):
    """``click.Path(file_okay=False)`` whose refusal is the one ``error:`` line of ``fail()``,
    not click's usage block: a file where a directory is expected is a typo, not misuse."""

    def __init__(self) -> None:
        super().__init__(file_okay=False, path_type=Path)

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if Path(value).exists() and not Path(value).is_dir():
            fail(f"{value}: expected a directory, found a file")
        return super().convert(value, param, ctx)


class FilePath(click.Path):
    """``click.Path(dir_okay=False)`` (``exists`` when the file is read) whose refusal is the
    one ``error:`` line of ``fail()``, like ``DirectoryPath``."""

    def __init__(self, *, exists: bool = False) -> None:
        super().__init__(dir_okay=False, exists=exists, path_type=Path)

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if self.exists and not Path(value).exists():
            fail(f"{value}: expected a file, found nothing there")
        if Path(value).is_dir():
            fail(f"{value}: expected a file, found a directory")
        return super().convert(value, param, ctx)


def directory_option(*decls: str, help: str) -> Callable[[F], F]:
    """A required directory option (it need not exist yet: the command says if it must)."""
    return click.option(*decls, required=True, type=DirectoryPath(), help=help)


#: The first 16 bytes of every SQLite database file.
SQLITE_MAGIC = b"SQLite format 3\x00"


def existing_sqlite(path: Path, what: str = "a node's SQLite file") -> None:
    """Fail with one line unless ``path`` is an existing SQLite database file: opening a missing
    path would create an empty database, and a directory or another file gives a traceback."""
    if not path.exists():
        fail(f"{path}: expected {what}, found nothing there")
    if path.is_dir():
        fail(f"{path}: expected {what}, found a directory")
    try:
        with path.open("rb") as file:
            head = file.read(len(SQLITE_MAGIC))
    except OSError as exc:
        fail(f"{path}: expected {what}, found a file that cannot be read ({exc.strerror})")
    if head != SQLITE_MAGIC:
        found = "an empty file" if not head else "a file that is not SQLite"
        fail(f"{path}: expected {what}, found {found}")


def existing_store_url(path_or_url: str) -> str:
    """``path_or_url`` once a plain path or ``sqlite:///`` URL is known to name an existing
    SQLite file (a server URL is checked when connecting: its error is one line too)."""
    if path_or_url.startswith("sqlite:///"):
        existing_sqlite(Path(path_or_url.removeprefix("sqlite:///")))
    elif "://" not in path_or_url:
        existing_sqlite(Path(path_or_url))
    return path_or_url


def existing_data_dir(data: Path) -> None:
    """Fail with one line unless ``data`` is an existing directory."""
    if not data.exists():
        fail(f"{data}: expected a node's data directory, found nothing there")
    if not data.is_dir():
        fail(f"{data}: expected a node's data directory, found a file")


def passphrase_file_option(help: str) -> Callable[[F], F]:
    return click.option(
        "--passphrase-file", type=click.Path(dir_okay=False, path_type=Path), help=help
    )


def passphrase_from_file(path: Path | None) -> bytes | None:
    """The first line of ``--passphrase-file``; ``None`` without one (the command then takes
    ``$MEDTRACE_PASSPHRASE`` or asks)."""
    return None if path is None else read_passphrase_file(path)


# -- numbers -------------------------------------------------------------------------------------


class _AsciiNumber(click.ParamType[Any]):
    """click reads numbers with ``int()`` and ``float()``, which take full-width, Arabic-Indic
    and other scripts' digits too: this refuses any text but ASCII digits first. The name, and
    so every --help text, stays click's own type's."""

    pattern: ClassVar[re.Pattern[str]] = ASCII_INT
    expected: ClassVar[str] = "an integer"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, str) and not self.pattern.match(value):
            self.fail(f"expected {self.expected} (digits 0-9), found {value[:40]!r}", param, ctx)
        return super().convert(value, param, ctx)


class AsciiInt(_AsciiNumber, click.types.IntParamType):
    """``type=int`` in ASCII digits."""


class AsciiIntRange(_AsciiNumber, click.IntRange):
    """``click.IntRange`` in ASCII digits."""


class AsciiFloatRange(_AsciiNumber, click.FloatRange):
    """``click.FloatRange`` in ASCII digits (no ``inf`` or ``nan`` either)."""

    pattern = ASCII_NUMBER
    expected = "a number"
