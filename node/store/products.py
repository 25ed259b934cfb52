"""Product master data as this node holds it (ADR 0020): the registration in force of a GTIN.

``Store.product(gtin)`` is the read the scanner will use to name a pack's product: ``None``
means no product is registered for the GTIN (at the border a HOLD ``unregistered_product``,
at the counter a warning; docs/spec/customs.md). The reference price is in ``opened`` only at
the node that registered it.
"""

from __future__ import annotations

from sqlalchemy import Connection

from ledger.kinds import Kind
from node.store.records import StoredRecord, newest


def product(conn: Connection, gtin14: str) -> StoredRecord | None:
    return newest(conn, Kind.PRODUCT.value, gtin14)
