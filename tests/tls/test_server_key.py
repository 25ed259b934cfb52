"""The TLS key granian reads: where it lives, for how long, and who may read it (ADR 0015)."""

from __future__ import annotations

import os
import signal
import stat
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from keys.keystore import KeyStoreError
from keys.tls import NodeTlsFiles, read_certificate
from keys.tls_contexts import server_key_file
from tests.tls.conftest import (
    NODES,
    PASSPHRASE,
    START_TIMEOUT_S,
    init_tls_nodes,
    running,
    tls_consortium,
)


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> NodeTlsFiles:
    root = tmp_path_factory.mktemp("server-key")
    processes, _ = init_tls_nodes(root, tls_consortium(root), NODES[:1], "auto")
    return NodeTlsFiles.in_dir(processes[NODES[0]].data)


def _key_dirs(pid: int) -> list[Path]:
    return sorted(Path("/dev/shm").glob(f"medtrace-tls-{pid}-*"))


def test_the_server_key_file_is_private_in_memory_and_gone_after_the_block(
    tls_files: NodeTlsFiles,
) -> None:
    with server_key_file(tls_files, PASSPHRASE) as path:
        assert path.parent.parent == Path("/dev/shm")
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        key = load_pem_private_key(path.read_bytes(), password=None)
        assert key.public_key() == read_certificate(tls_files.cert).public_key()
    assert not path.exists()
    assert not path.parent.exists()


def test_a_forked_worker_that_unwinds_the_block_leaves_the_key_to_the_others(
    tls_files: NodeTlsFiles,
) -> None:
    """A granian worker is forked inside the block; if it ever ran the block's exit, the master
    and every later worker would lose the key."""
    block = server_key_file(tls_files, PASSPHRASE)
    path = block.__enter__()
    try:
        child = os.fork()
        if child == 0:  # the worker: unwind the block as its interpreter would, then leave
            try:
                block.__exit__(None, None, None)
            finally:
                os._exit(0)
        os.waitpid(child, 0)
        assert path.exists()
    finally:
        block.__exit__(None, None, None)
    assert not path.exists()


def test_a_wrong_passphrase_writes_no_key_file(tls_files: NodeTlsFiles) -> None:
    with (
        pytest.raises(KeyStoreError, match="passphrase"),
        server_key_file(tls_files, "not the passphrase"),
    ):
        pass
    assert _key_dirs(os.getpid()) == []


def _workers(master: int) -> set[int]:
    """The processes ``master`` forked, whichever of its threads forked them."""
    tasks = Path(f"/proc/{master}/task").iterdir()
    return {int(pid) for task in tasks for pid in (task / "children").read_text().split()}


def test_granian_reads_the_key_from_dev_shm_only_while_the_node_runs(tmp_path: Path) -> None:
    """The file is there while the node serves, also for a worker that replaces a dead one,
    and gone once the node has stopped."""
    processes, _ = init_tls_nodes(tmp_path, tls_consortium(tmp_path), NODES[:1], "auto")
    node = processes[NODES[0]]
    with running(processes):
        assert node.process is not None
        master = node.process.pid
        dirs = _key_dirs(master)
        assert len(dirs) == 1, dirs
        assert stat.S_IMODE(dirs[0].stat().st_mode) == 0o700
        assert [p.name for p in dirs[0].iterdir()] == ["tls.key"]
        (first,) = _workers(master)
        os.kill(first, signal.SIGKILL)
        deadline = time.monotonic() + START_TIMEOUT_S
        while _workers(master) in (set(), {first}):
            assert time.monotonic() < deadline, "no worker replaced the killed one"
            time.sleep(0.1)
        node.wait_healthy(deadline)  # the new worker read the key and serves TLS
        assert "panicked" not in (node.data / "node.log").read_text()
    assert _key_dirs(master) == []
