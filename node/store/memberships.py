"""The consortium's membership versions as this node received them, and the node's own
key/value settings (``meta``: its pinned genesis, EPCIS capture jobs)."""

from __future__ import annotations

import json

from sqlalchemy import Connection, delete, func, insert, select

from ledger.errors import MembershipError
from ledger.membership import MembershipChain, SignedMembership
from node.store import models as m

V = m.MEMBERSHIPS.c


def save_membership(conn: Connection, signed: SignedMembership) -> None:
    """Keep ``signed`` unless its version is already stored."""
    exists = conn.execute(select(V.version).where(V.version == signed.membership.version)).scalar()
    if exists is None:
        conn.execute(
            insert(m.MEMBERSHIPS).values(
                version=signed.membership.version, wire=json.dumps(signed.to_wire())
            )
        )


def memberships(conn: Connection) -> list[SignedMembership]:
    """Every stored version, oldest first."""
    rows = conn.execute(select(m.MEMBERSHIPS).order_by("version")).all()
    return [SignedMembership.from_wire(json.loads(row.wire)) for row in rows]


def membership_version(conn: Connection) -> int | None:
    version = conn.execute(select(func.max(V.version))).scalar()
    return int(version) if version is not None else None


def chain_of(versions: list[SignedMembership], pinned_genesis: str) -> MembershipChain:
    """``versions`` (oldest first) verified as one chain from the pinned genesis."""
    if not versions:
        raise MembershipError("expected a stored membership genesis, found none")
    chain = MembershipChain(versions[0], pinned_genesis)
    chain.extend_all(versions[1:])
    return chain


def set_meta(conn: Connection, key: str, value: str) -> None:
    table = m.META
    conn.execute(delete(table).where(table.c.key == key))
    conn.execute(insert(table).values(key=key, value=value))


def meta(conn: Connection, key: str) -> str | None:
    table = m.META
    value = conn.execute(select(table.c.value).where(table.c.key == key)).scalar()
    return str(value) if value is not None else None
