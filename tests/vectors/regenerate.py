"""Rewrite ``tests/vectors/golden.json`` on purpose: ``python -m tests.vectors.regenerate``.

Run it only when a change to the entry or membership format is intended; review the diff, since
every node and scanner in the field verifies these exact bytes. ``--check`` exits 1 instead of
writing when the file is out of date.
"""

from __future__ import annotations

import sys

from tests.vectors.golden import GOLDEN_PATH, build_vectors, render


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    text = render(build_vectors())
    current = GOLDEN_PATH.read_text(encoding="utf-8") if GOLDEN_PATH.exists() else None
    if current == text:
        print(f"{GOLDEN_PATH}: up to date")
        return 0
    if "--check" in args:
        print(f"{GOLDEN_PATH}: out of date; run python -m tests.vectors.regenerate")
        return 1
    GOLDEN_PATH.write_text(text, encoding="utf-8")
    print(f"{GOLDEN_PATH}: rewritten")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
