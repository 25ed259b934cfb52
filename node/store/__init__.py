"""A node's storage: SQLModel tables, the lifecycle's view over them, and the ``Store``."""

from node.store.checkpoints import CheckpointFork, StoredCheckpoint
from node.store.counters import TakeRequest
from node.store.disclosures import PackProvenance
from node.store.engine import database_url
from node.store.evidence import IngestReport
from node.store.foreign_cases import ForeignCase, ForeignCaseTable
from node.store.ledger_reads import FeedHead, StoredFeed, StoredLedger, StoredRow
from node.store.local_writes import StaleTimestamp
from node.store.node_alerts import NodeAlertRecord
from node.store.pack_query import PackReading
from node.store.records import StoredRecord
from node.store.store import Store

__all__ = [
    "CheckpointFork",
    "FeedHead",
    "ForeignCase",
    "ForeignCaseTable",
    "IngestReport",
    "NodeAlertRecord",
    "PackProvenance",
    "PackReading",
    "StaleTimestamp",
    "Store",
    "StoredCheckpoint",
    "StoredFeed",
    "StoredLedger",
    "StoredRecord",
    "StoredRow",
    "TakeRequest",
    "database_url",
]
