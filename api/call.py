"""What a view receives: the validated parameters, the parsed body, the caller's token."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from flask import Response, g, jsonify

from node.store import PackReading
from node.tokens import TokenInfo


@dataclass(frozen=True)
class Call:
    args: Mapping[str, Any] = field(default_factory=dict)
    body: Any = None
    token: TokenInfo | None = None

    def text(self, name: str) -> str:
        value = self.args[name]
        assert isinstance(value, str)
        return value

    def number(self, name: str) -> int:
        value = self.args[name]
        assert isinstance(value, int)
        return value

    def opt_text(self, name: str) -> str | None:
        value = self.args.get(name)
        return value if isinstance(value, str) else None


_PREFETCHED = "prefetched_pack"


def prefetch_pack(gtin: str, serial: str, reading: PackReading | None) -> None:
    """The dispatcher read the pack ``(gtin, serial)`` with the take (``Route.reads_pack``)."""
    setattr(g, _PREFETCHED, (gtin, serial, reading))


def prefetched_pack(gtin: str, serial: str) -> tuple[bool, PackReading | None]:
    """``(True, reading)`` if the dispatcher read ``(gtin, serial)`` for this request, else
    ``(False, None)``: the view reads it itself."""
    found = g.pop(_PREFETCHED, None)
    if found is not None and found[0] == gtin and found[1] == serial:
        return True, found[2]
    return False, None


def json_response(value: Any, status: int = 200) -> Response:
    response = jsonify(value)
    response.status_code = status
    return response
