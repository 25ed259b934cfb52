"""Checks of what callers hand the consortium: names, feed ids, roles, kinds, feed positions.

They run before any passphrase is asked for or any path is built, so that a typo is reported as
a typo and a name can never point outside the consortium directory.
"""

from __future__ import annotations

import re
from enum import Enum
from typing import TypeVar

from keys.consortium.layout import ConsortiumError
from ledger.entry import FEED_ID
from ledger.kinds import Kind, Role

#: Governance key names, organisation ids and site names: safe as file names by construction.
NAME = re.compile(r"\A[a-z0-9][a-z0-9-]{0,31}\Z")

_Choice = TypeVar("_Choice", bound=Enum)


def article(word: str) -> str:
    """``a`` or ``an`` before ``word`` (by its first letter: "an organisation id")."""
    return "an" if word[:1].lower() in "aeiou" else "a"


def check_name(value: str, what: str) -> str:
    if not isinstance(value, str) or not NAME.match(value):
        raise ConsortiumError(
            f"expected {article(what)} {what} of 1 to 32 lower-case letters, digits and '-' (not starting "
            f"with '-'), found {value!r}"
        )
    return value


def split_feed_id(feed_id: str) -> tuple[str, str]:
    if not isinstance(feed_id, str) or not FEED_ID.match(feed_id):
        raise ConsortiumError(f"expected a feed id like 'acme/line-1', found {feed_id!r}")
    org, site = feed_id.split("/", 1)
    return org, site


def check_seq(seq: int) -> None:
    if type(seq) is not int or seq < 0:
        raise ConsortiumError(f"expected a non-negative integer feed position, found {seq!r}")


def _parse_choice(
    choices: type[_Choice], value: _Choice | str, what: str, listed: list[str]
) -> _Choice:
    try:
        return choices(value)
    except ValueError:
        raise ConsortiumError(
            f"expected {article(what)} {what} from {listed}, found {value!r}"
        ) from None


def parse_role(role: Role | str) -> Role:
    return _parse_choice(Role, role, "role", [r.value for r in Role])


def parse_kind(kind: Kind | str) -> Kind:
    return _parse_choice(Kind, kind, "kind", sorted(k.value for k in Kind))


__all__ = ["NAME", "check_name", "check_seq", "parse_kind", "parse_role", "split_feed_id"]
