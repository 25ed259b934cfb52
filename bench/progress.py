"""How a benchmark reports what it is doing: a phase with a total, then steps done."""

from __future__ import annotations

from typing import Protocol


class Progress(Protocol):
    def phase(self, label: str, total: int) -> None:
        """Start a new phase of ``total`` steps (replaces the previous one)."""

    def advance(self, steps: int = 1) -> None: ...


class NoProgress:
    """For ``--json`` and for library callers: report nothing."""

    def phase(self, label: str, total: int) -> None:
        return None

    def advance(self, steps: int = 1) -> None:
        return None
