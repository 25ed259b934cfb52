"""A `medtrace node run` process on this machine: start it, wait until it answers, stop it.

The demo and the benchmarks run nodes as real processes; this is the one place that knows how.
Each node runs in its own process group, so stopping it reaches every worker.
An ``https://`` node is checked against the consortium CA in its data directory
(DATA/tls-ca.crt), never the system's CAs.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import requests

from keys.tls import NODE_CA_FILE
from node.https import ca_session

MEDTRACE = [sys.executable, "-c", "from medtrace.cli.main import main; main()"]
LOG_FILE = "node.log"


@dataclass
class NodeProcess:
    name: str
    data: Path
    url: str
    process: subprocess.Popen[bytes] | None = None
    #: The node's passphrase, read by the process itself (``--passphrase-file``); None: from
    #: its environment or DATA/passphrase.
    passphrase_file: Path | None = None

    def session(self) -> requests.Session:
        """A client of this node: over https it trusts the node's consortium CA only."""
        return ca_session(self.data / NODE_CA_FILE if self.url.startswith("https://") else None)

    def start(self) -> None:
        """Start the node, its output appended to DATA/node.log."""
        command = [*MEDTRACE, "node", "run", "--data", str(self.data)]
        if self.passphrase_file is not None:
            command += ["--passphrase-file", str(self.passphrase_file)]
        # The log holds no secret, but what a node did is its operator's business only.
        fd = os.open(self.data / LOG_FILE, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "ab") as log:
            self.process = subprocess.Popen(  # noqa: S603 - our own CLI, fixed arguments
                command,
                stdout=log,
                stderr=log,
                start_new_session=True,
            )

    def wait_healthy(self, deadline: float) -> None:
        """Until ``/healthz`` answers; ``deadline`` is a ``time.monotonic()`` value."""
        with self.session() as http:
            self._wait_healthy(http, deadline)

    def _wait_healthy(self, http: requests.Session, deadline: float) -> None:
        while True:
            if self.exited:
                code = self.process.returncode if self.process else None
                raise RuntimeError(f"node {self.name} exited with {code}: {self.tail()}")
            try:
                if http.get(f"{self.url}/healthz", timeout=2).ok:
                    return
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"node {self.name} did not answer /healthz in time: {self.tail()}"
                )
            time.sleep(0.1)

    @property
    def exited(self) -> bool:
        return self.process is not None and self.process.poll() is not None

    def stop(self, grace_s: float = 15.0) -> None:
        """SIGTERM to the whole group (graceful), SIGKILL after ``grace_s``."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()

    def tail(self, lines: int = 5) -> str:
        path = self.data / LOG_FILE
        if not path.exists():
            return ""
        return " | ".join(path.read_text(errors="replace").splitlines()[-lines:])
