"""Which node processes still run from a network's data directories, so that ``medtrace demo``
does not delete them from under a node that is serving them.

A node with peers (every node of a demo) holds an exclusive ``flock`` on DATA/replicator.lock
while it runs and writes its pid there (node/replication/host.py). The kernel drops the lock
when the process ends, however it ends, so a held lock means a live node whatever path, relative
or through a symlink, it was started with; a pid file or a search of command lines could not
tell that. Probing takes a shared lock for an instant and gives it back: a node starting in that
instant only retries its lock a moment later.
"""

from __future__ import annotations

import fcntl
import os
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

from node.replication.host import LOCK_FILE


@dataclass(frozen=True)
class RunningNode:
    name: str
    data: Path
    #: The ``medtrace node run`` process to stop; None when this machine cannot see it (a node
    #: in a container holding the lock through a mounted directory).
    pid: int | None


#: Where a network's node data directories are: its own, and those of the demo's second
#: country (node/localnet/country_b.py: ``ABROAD_DIR``).
NODE_DIRS = ("nodes", "abroad/nodes")


def running_nodes(out: Path) -> list[RunningNode]:
    """The nodes of ``out/nodes/*`` (and ``out/abroad/nodes/*``) whose process is alive now."""
    found = []
    for where in NODE_DIRS:
        nodes = out / where
        if not nodes.is_dir():
            continue
        found += [
            RunningNode(data.name, data, _node_run_pid(data / LOCK_FILE))
            for data in sorted(p for p in nodes.iterdir() if p.is_dir())
            if _held(data / LOCK_FILE)
        ]
    return found


def _held(lock: Path) -> bool:
    try:
        fd = os.open(lock, os.O_RDONLY)
    except OSError:  # no lock file: no node with peers has ever run here
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # gives our shared lock back
    return False


def _node_run_pid(lock: Path) -> int | None:
    """The pid of the ``node run`` command whose worker holds ``lock``: the worker's ancestors
    up to the last that runs the same command (a worker dies with its server, not the other way
    round)."""
    try:
        pid = int(lock.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    if not _runs_a_node(pid):
        return None
    while (parent := _parent(pid)) is not None and _runs_a_node(parent):
        pid = parent
    return pid


def _runs_a_node(pid: int) -> bool:
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return any(a == b"node" and b == b"run" for a, b in pairwise(argv))


def _parent(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # pid (comm) state ppid ...: comm may hold spaces and parentheses, so split after the last ")"
    return int(stat.rsplit(")", 1)[1].split()[1])
