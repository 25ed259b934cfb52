"""A node's data directory is its operator's only: every file in it 0600, the directory 0700."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from medtrace.app import close_app, create_app
from node.config import load_config
from node.store import Store
from tests.nodes_setup import PASSPHRASE, Member, init_node, make_consortium

MEMBERS = {"acme": Member("manufacturer", ("line-1",), ("9506000",))}


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_data_files_readable_by_others(tmp_path: Path) -> None:
    """node.db, its -wal and -shm, node.json and feed.key: none readable by group or others,
    even under a permissive umask, after the node has run and written."""
    old = os.umask(0o022)
    try:
        make_consortium(tmp_path / "consortium", "perm", MEMBERS, PASSPHRASE)
        data = init_node(tmp_path / "consortium", tmp_path / "acme", "acme/line-1")
        app = create_app(data, passphrase=PASSPHRASE, start_replicator=False)
        try:
            with Store(load_config(data).database_url(data)) as store:
                store.set_meta("touched", "yes")  # a write: the WAL and its index exist now
                files = sorted(p.name for p in data.iterdir() if p.is_file())
                assert {"node.db", "node.db-wal", "node.db-shm", "node.json", "feed.key"} <= set(
                    files
                )
                loose = {
                    name: oct(_mode(data / name)) for name in files if _mode(data / name) & 0o077
                }
                assert loose == {}
        finally:
            close_app(app)
    finally:
        os.umask(old)
    assert _mode(data) == 0o700
