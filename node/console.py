"""Terminal output shared by the commands: one console, errors in one style, ``--json``."""

from __future__ import annotations

import json
import sys
from typing import Any, NoReturn

from rich.console import Console

console = Console()
err_console = Console(stderr=True)


def fail(message: str, code: int = 1) -> NoReturn:
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, markup=True)
    sys.exit(code)


def print_json(value: Any) -> None:
    """One JSON object on one line of stdout, for machines."""
    sys.stdout.write(json.dumps(value, sort_keys=True) + "\n")
