"""Plain JSON only: ``json.loads`` hooks that refuse what RFC 8259 does not have.

Python's parser accepts ``NaN``/``Infinity`` and keeps the last of two equal member names; a
peer, a bundle or a request body that relies on either is not plain JSON, and a signed fact
must not mean one thing here and another elsewhere.
"""

from __future__ import annotations

from typing import Any, NoReturn

from ledger.errors import LedgerError


class NotPlainJson(LedgerError, ValueError):
    """A non-standard constant or a member name given twice.

    Also a ``ValueError``: it leaves ``json.loads`` from inside these hooks, and the callers
    (``node.replication``'s bundle and peer readers) catch it there with the parser's own
    ``ValueError``s.
    """


def refuse_constant(text: str) -> NoReturn:
    raise NotPlainJson(f"expected plain JSON, found the non-standard constant {text}")


def unique_members(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise NotPlainJson(f"expected each member once, found {key!r} twice")
        result[key] = value
    return result
