"""The layout's size rule (docs/architecture.md, "How the layout is kept"): no module of the
project over 500 lines unless it is mostly a table, and each such table is named here with why.

The layers, the one door into storage and the absence of import cycles are held by import-linter
(`lint-imports`, contracts in pyproject.toml); cyclomatic complexity by ruff's C901.
"""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("ledger", "keys", "node", "scanner", "api", "bench", "medtrace")
MAX_LINES = 500

#: Modules allowed above MAX_LINES, each because most of it is a table, not logic.
TABLES: dict[str, str] = {}


def _modules() -> list[Path]:
    return sorted(p for package in PACKAGES for p in (ROOT / package).rglob("*.py"))


def _lines(path: Path) -> int:
    return len(path.read_text(encoding="utf-8").splitlines())


def test_the_packages_are_where_the_layout_says() -> None:
    found = [package for package in PACKAGES if (ROOT / package / "__init__.py").is_file()]
    assert found == list(PACKAGES)


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_module_is_small_or_a_named_table(path: Path) -> None:
    name = str(path.relative_to(ROOT))
    lines = _lines(path)
    if name in TABLES:
        assert lines > MAX_LINES, f"{name} is {lines} lines now: remove it from TABLES"
        return
    assert lines <= MAX_LINES, (
        f"{name}: expected at most {MAX_LINES} lines (one concern per module), found {lines}; "
        "split it, or name it in TABLES if it is mostly a table"
    )
