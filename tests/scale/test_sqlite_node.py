"""A SQLite node's workers share one bucket per token too (ADR 0021), and a read replica is
refused beside SQLite."""

from __future__ import annotations

from pathlib import Path

import pytest

from keys.consortium import Consortium
from medtrace.app import app_context, close_app, create_app
from node.config import ConfigError, NodeConfig
from node.datadir import init_node
from node.localnet.network import NODE_FEEDS
from node.tokens import Tokens
from tests.scale.conftest import PASSPHRASE


def test_rate_limit_holds_across_the_workers_of_a_sqlite_node(
    consortium: Consortium, tmp_path: Path
) -> None:
    data = tmp_path / "node"
    config = NodeConfig(
        name="pharmacy",
        feed=NODE_FEEDS["pharmacy"],
        genesis_id=consortium.genesis_id,
        verify_rate_per_minute=5,
    )
    init_node(data, consortium, config, PASSPHRASE.encode(), keep_passphrase=True)
    workers = [create_app(data, start_replicator=False) for _ in range(2)]  # two processes' apps
    try:
        token, _ = Tokens(app_context(workers[0]).store).create("scanner-1", "verifier")
        headers = {"Authorization": f"Bearer {token}"}
        clients = [app.test_client() for app in workers]
        statuses = [
            clients[i % 2].get("/api/v1/alerts", headers=headers).status_code for i in range(10)
        ]
    finally:
        for app in workers:
            close_app(app)
    assert statuses == [200] * 5 + [429] * 5  # each worker counting apart would allow 10
    assert (data / "node.counters.db").is_file()


def test_a_read_replica_beside_sqlite_is_refused() -> None:
    with pytest.raises(ConfigError, match="expected database_read_url only beside a PostgreSQL"):
        NodeConfig.from_json(
            {"name": "n", "feed": "a/b", "genesis_id": "g", "database_read_url": "postgresql://x"}
        )
