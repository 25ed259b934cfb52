"""A private PostgreSQL server on loopback, for the tests and the benchmarks: Debian's ``initdb``
and ``pg_ctl`` into a temporary directory (as the ``postgres`` user when run as root, since
initdb refuses root), stopped and its files deleted at the end.

The tests run it with ``fsync`` off (nothing they store must outlive the server); the benchmark
keeps ``fsync`` on, as a production server does, and sets ``shared_buffers`` (the pages of a
10,000,000-pack store do not fit the default 128 MB) and ``max_wal_size`` (fewer checkpoints while
a store is filled).
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from node.localnet.processes import free_port


def _bin(name: str) -> str | None:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found[-1] if found else shutil.which(name)


def unavailable_reason() -> str | None:
    """Why no server can be started here, or None."""
    if _bin("initdb") is None or _bin("pg_ctl") is None:
        return "PostgreSQL is not installed (make test installs Debian's postgresql)"
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        return "running as root needs runuser to start PostgreSQL as the postgres user"
    return None


def _as_postgres(command: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return command
    return ["runuser", "-u", "postgres", "--", *command]


@dataclass(frozen=True)
class PgServer:
    url: str  # SQLAlchemy URL (psycopg) of the server's ``postgres`` database
    data: Path

    @property
    def pid(self) -> int:
        """The postmaster's process id (the parent of every backend)."""
        return int((self.data / "postmaster.pid").read_text().split()[0])


@contextmanager
def postgres_server(
    settings: Mapping[str, str] | None = None, *, stop_mode: str = "fast"
) -> Iterator[PgServer]:
    """Start a server with ``settings`` (``-c name=value``) beside the loopback address; yield
    it; stop it (``pg_ctl stop -m stop_mode``) and delete its files."""
    reason = unavailable_reason()
    if reason is not None:
        raise RuntimeError(reason)
    initdb, pg_ctl = _bin("initdb"), _bin("pg_ctl")
    assert initdb is not None
    assert pg_ctl is not None
    root = Path(tempfile.mkdtemp(prefix="medtrace-pg-"))
    data, sockets = root / "data", root / "sockets"
    sockets.mkdir()
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
        shutil.chown(sockets, "postgres")
    port = free_port()
    init = [initdb, "-D", str(data), "-U", "medtrace", "--auth=trust", "-E", "UTF8", "--no-sync"]
    subprocess.run(_as_postgres(init), check=True, capture_output=True)  # noqa: S603
    given = {
        "listen_addresses": "127.0.0.1",
        "port": str(port),
        "unix_socket_directories": str(sockets),
        **(settings or {}),
    }
    options = " ".join(f"-c {name}={value}" for name, value in given.items())
    start = [pg_ctl, "-D", str(data), "-o", options, "-l", str(root / "log"), "-w", "start"]
    try:
        subprocess.run(_as_postgres(start), check=True, capture_output=True)  # noqa: S603
        deadline = time.monotonic() + 30
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        yield PgServer(f"postgresql+psycopg://medtrace@127.0.0.1:{port}/postgres", data)
    finally:
        stop = [pg_ctl, "-D", str(data), "-m", stop_mode, "stop"]
        subprocess.run(_as_postgres(stop), check=False, capture_output=True)  # noqa: S603
        shutil.rmtree(root, ignore_errors=True)
