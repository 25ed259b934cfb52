"""Rewrite ``tests/vectors/golden.json`` on purpose: ``python -m tests.vectors.regenerate``.

Run it only when a change to the entry or membership format is intended; review the diff, since
every node and scanner in the field verifies these exact bytes. ``--check`` exits 1 instead of
writing when the file is out of date.
"""

from __future__ import annotations

import sys

from tests.vectors.golden import GOLDEN_PATH, GOLDEN_V2_PATH, build_vectors, render


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    status = 0
    for path, version in ((GOLDEN_PATH, 1), (GOLDEN_V2_PATH, 2)):
        text = render(build_vectors(version))
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if current == text:
            print(f"{path}: up to date")
        elif "--check" in args:
            print(f"{path}: out of date; run python -m tests.vectors.regenerate")
            status = 1
        else:
            path.write_text(text, encoding="utf-8")
            print(f"{path}: rewritten")
    return status


if __name__ == "__main__":
    raise SystemExit(main())
