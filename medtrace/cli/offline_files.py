"""Reading a file a command checks offline (a proof file, a case file), and refusing it in one
line: as ``error: …`` on the terminal, or as one JSON object under ``--json``, with the
command's documented exit code."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, NoReturn

from medtrace.cli.console import fail


def refuse(code: str, message: str, exit_code: int, as_json: bool) -> NoReturn:
    """Stop with ``message``: one JSON object ``{"error": {"code", "hint"}}`` under ``--json``."""
    if as_json:
        sys.stdout.write(json.dumps({"error": {"code": code, "hint": message}}) + "\n")
        sys.exit(exit_code)
    fail(message, exit_code)


def load_json_file(path: Path, what: str, usage_exit: int, as_json: bool) -> Any:
    """The JSON document in ``path`` (``what``: "proof file", "case file"), or a ``usage``
    refusal saying why it could not be read."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        refuse("usage", f"{path}: no such file", usage_exit, as_json)
    except IsADirectoryError:
        refuse("usage", f"{path}: a directory, not a {what}", usage_exit, as_json)
    except (OSError, UnicodeDecodeError) as exc:
        refuse("usage", f"{path}: cannot be read ({exc.__class__.__name__})", usage_exit, as_json)
    except ValueError as exc:
        refuse("usage", f"{path}: expected a JSON {what}, found: {exc}", usage_exit, as_json)


__all__ = ["load_json_file", "refuse"]
