"""The ``tokens`` table: what a node stores of the bearer tokens it issued (node/tokens.py).

A token itself is never stored, only its SHA-256. The table has its own metadata: it is
created beside the store's tables when tokens are first used, not by the store's set-up.

``token_consortia`` binds a token to a foreign consortium (its genesis id; ADR 0028,
addendum): a table of its own rather than a column, so a node's existing ``tokens`` table needs
no migration (``create_all`` adds the missing table, never a missing column).
"""

from __future__ import annotations

from sqlalchemy import RowMapping, bindparam, insert, select, update
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel

from node.store.engine import Database


class _TokenBase(SQLModel, registry=registry()):
    """Own metadata: the table is created beside the store's tables, not by the Store."""


class TokenRow(_TokenBase, table=True):
    __tablename__ = "tokens"
    id: int | None = Field(default=None, primary_key=True)
    user: str = Field(max_length=64, index=True)
    role: str = Field(max_length=16)
    hash: str = Field(max_length=64, unique=True)
    created: str = Field(max_length=24)
    expires: str | None = Field(default=None, max_length=24)
    revoked: bool = False


class TokenConsortiumRow(_TokenBase, table=True):
    """The foreign consortium (genesis id) a token is bound to; no row: not bound."""

    __tablename__ = "token_consortia"
    token_id: int = Field(primary_key=True, foreign_key="tokens.id")
    genesis: str = Field(max_length=64)


TOKENS = TokenRow.__table__  # type: ignore[attr-defined]
T = TOKENS.c
BOUND = TokenConsortiumRow.__table__  # type: ignore[attr-defined]
_WITH_CONSORTIUM = select(TOKENS, BOUND.c.genesis.label("consortium")).select_from(
    TOKENS.outerjoin(BOUND, BOUND.c.token_id == T.id)
)
_BY_HASH = _WITH_CONSORTIUM.where(T.hash == bindparam("hash"))


class TokenTable:
    """The token rows of one node's database (the table created if missing)."""

    def __init__(self, database: Database) -> None:
        self._writer = database.writer
        self._reader = database.reader
        database.create_tables(_TokenBase.metadata)

    def add(
        self,
        *,
        user: str,
        role: str,
        digest: str,
        created: str,
        expires: str | None,
        consortium: str | None = None,
    ) -> int:
        """Store a new, unrevoked token by its hash (bound to the foreign consortium of genesis
        ``consortium``, when given); its id."""
        values = {
            "user": user,
            "role": role,
            "hash": digest,
            "created": created,
            "expires": expires,
            "revoked": False,
        }
        with self._writer.begin() as conn:
            pk = conn.execute(insert(TOKENS).values(**values)).inserted_primary_key[0]  # type: ignore[index]
            if consortium is not None:
                conn.execute(insert(BOUND).values(token_id=pk, genesis=consortium))
        return int(pk)

    def revoke(self, token_id: int | None = None, *, user: str | None = None) -> int:
        """Mark one token (by id), or every token of ``user``, revoked; the number changed."""
        query = update(TOKENS).where(T.revoked.is_(False))
        query = (
            query.where(T.id == token_id) if token_id is not None else query.where(T.user == user)
        )
        with self._writer.begin() as conn:
            return int(conn.execute(query.values(revoked=True)).rowcount)

    def rows(self) -> list[RowMapping]:
        """Every token row (with ``consortium``), oldest first."""
        with self._reader.connect() as conn:
            return [r._mapping for r in conn.execute(_WITH_CONSORTIUM.order_by(T.id)).all()]

    def by_hash(self, digest: str) -> RowMapping | None:
        with self._reader.connect() as conn:
            row = conn.execute(_BY_HASH, {"hash": digest}).one_or_none()
        return row._mapping if row is not None else None
