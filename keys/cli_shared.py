"""What ``medtrace keys`` and ``medtrace node`` share: consoles, the one-red-line failure, options.

``node`` imports this module; nothing here may import from ``node``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar, NoReturn, TypeVar

import click
from rich.console import Console
from rich.markup import escape

from keys.keystore import KeyStoreError
from ledger.errors import LedgerError

F = TypeVar("F", bound=Callable[..., Any])
DEBUG_ENV = "MEDTRACE_DEBUG"


def out() -> Console:
    console = Console(highlight=False, soft_wrap=True)
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console.width = 160  # a pipe or a file: do not fold a table to 80 columns
    return console


def err() -> Console:
    return Console(stderr=True, highlight=False, soft_wrap=True)


def fail(message: str) -> NoReturn:
    err().print(f"[bold red]error:[/] [red]{escape(message)}[/]")
    raise click.exceptions.Exit(1)


class CleanErrorGroup(click.Group):
    """Turns every expected failure into one red line on stderr and exit code 1."""

    #: Errors whose own message is the answer for the user, shown as ``Type: message``.
    expected: ClassVar[tuple[type[Exception], ...]] = (LedgerError, KeyStoreError)

    def explain(self, exc: Exception) -> str | None:
        """The line for an error outside ``expected``; None when it can only be a bug."""
        if isinstance(exc, OSError):
            return f"{exc.filename or ''}: {exc.strerror or exc}".lstrip(": ")
        return None

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except self.expected as exc:
            fail(f"{type(exc).__name__}: {exc}")
        except Exception as exc:  # the one place a bug still gets a clean line
            line = self.explain(exc)
            if line is None:
                if os.environ.get(DEBUG_ENV):
                    raise
                line = (
                    f"unexpected {type(exc).__name__}: {exc} (set {DEBUG_ENV}=1 for the traceback)"
                )
            fail(line)


def directory_option(*decls: str, help: str) -> Callable[[F], F]:
    """A required directory option (it need not exist yet: the command says if it must)."""
    return click.option(
        *decls, required=True, type=click.Path(file_okay=False, path_type=Path), help=help
    )


def passphrase_file_option(help: str) -> Callable[[F], F]:
    return click.option(
        "--passphrase-file", type=click.Path(dir_okay=False, path_type=Path), help=help
    )


__all__ = [
    "DEBUG_ENV",
    "CleanErrorGroup",
    "directory_option",
    "err",
    "fail",
    "out",
    "passphrase_file_option",
]
