"""The ``foreign_cases`` table: cases other consortia's authorities exported, verified against
the foreign root this node's membership pins and imported here (ADR 0029, docs/spec/cases.md).

Each row is one case, keyed by the case's id (the SHA-256 of its signed content), so importing
the same file again finds the row and changes nothing. The file is kept exactly as it arrived
(its canonical bytes), with what the alert list shows. Like ``node_alerts`` the table is the
importing node's own: a rebuild does not touch it and replication does not carry it (the case's
entries are another consortium's, which no member of this one could verify). It has its own
metadata, created beside the store's tables when first used.
"""

from __future__ import annotations

import json
from typing import Any, NamedTuple

from sqlalchemy import LargeBinary, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import registry
from sqlmodel import Column, Field, SQLModel

from node.store.engine import Database


class _ForeignCaseBase(SQLModel, registry=registry()):
    """Own metadata: the table is created beside the store's tables, not by the Store."""


class ForeignCaseRow(_ForeignCaseBase, table=True):
    __tablename__ = "foreign_cases"
    id: str = Field(primary_key=True, max_length=64)  # the case id
    genesis: str = Field(max_length=64, index=True)  # the exporting consortium's
    subject: str = Field(max_length=200, index=True)
    message: str
    details: str  # JSON object: what the alert list shows beside the message
    evidence: str  # JSON list of the case's entry ids, the alerts' triggering entries last
    case: bytes = Field(sa_column=Column(LargeBinary, nullable=False))  # the file as imported
    imported_at: str = Field(max_length=24, index=True)


FOREIGN_CASES = ForeignCaseRow.__table__  # type: ignore[attr-defined]
C = FOREIGN_CASES.c


class ForeignCase(NamedTuple):
    id: str
    genesis: str
    subject: str
    message: str
    details: dict[str, Any]
    evidence: list[str]
    case: bytes
    imported_at: str


class ForeignCaseTable:
    """The imported cases of one node's database (the table created if missing)."""

    def __init__(self, database: Database) -> None:
        self._writer = database.writer
        self._reader = database.reader
        database.create_tables(_ForeignCaseBase.metadata)

    def add(self, case: ForeignCase) -> bool:
        """Keep ``case`` unless a case with its id is held: True if it was added now."""
        try:
            with self._writer.begin() as conn:
                if conn.execute(select(C.id).where(C.id == case.id)).first() is not None:
                    return False
                conn.execute(
                    insert(FOREIGN_CASES).values(
                        id=case.id,
                        genesis=case.genesis,
                        subject=case.subject,
                        message=case.message,
                        details=json.dumps(case.details, sort_keys=True, ensure_ascii=False),
                        evidence=json.dumps(case.evidence),
                        case=case.case,
                        imported_at=case.imported_at,
                    )
                )
        except IntegrityError:  # another worker imported the same case at the same moment
            return False
        return True

    def get(self, case_id: str) -> ForeignCase | None:
        with self._reader.connect() as conn:
            row = conn.execute(select(FOREIGN_CASES).where(C.id == case_id)).first()
        return _case(row) if row is not None else None

    def find(self, subject: str | None = None) -> list[ForeignCase]:
        """Oldest first."""
        query = select(FOREIGN_CASES).order_by(C.imported_at, C.id)
        if subject is not None:
            query = query.where(C.subject == subject)
        with self._reader.connect() as conn:
            return [_case(row) for row in conn.execute(query).all()]


def _case(row: Any) -> ForeignCase:
    return ForeignCase(
        row.id,
        row.genesis,
        row.subject,
        row.message,
        json.loads(row.details),
        json.loads(row.evidence),
        bytes(row.case),
        row.imported_at,
    )


__all__ = ["ForeignCase", "ForeignCaseTable"]
