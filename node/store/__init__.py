"""A node's storage: SQLModel tables, the lifecycle's view over them, and the ``Store``."""

from node.store.engine import database_url
from node.store.evidence import IngestReport
from node.store.ledger_reads import FeedHead, StoredFeed, StoredLedger, StoredRow
from node.store.local_writes import StaleTimestamp
from node.store.node_alerts import NodeAlertRecord
from node.store.pack_query import PackReading
from node.store.store import Store

__all__ = [
    "FeedHead",
    "IngestReport",
    "NodeAlertRecord",
    "PackReading",
    "StaleTimestamp",
    "Store",
    "StoredFeed",
    "StoredLedger",
    "StoredRow",
    "database_url",
]
