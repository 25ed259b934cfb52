"""A node's storage: SQLModel tables, the lifecycle's view over them, and the ``Store``."""

from node.store.store import FeedHead, IngestReport, StaleTimestamp, Store, database_url

__all__ = ["FeedHead", "IngestReport", "StaleTimestamp", "Store", "database_url"]
