"""Serve a node: granian by default, plain HTTP and TLS alike; gunicorn on request (ADR 0015).

Both servers run the same process model. A master process binds the socket and starts
``workers`` processes; each builds the app (``create_app``) after the fork, so no database
connection or thread crosses a fork, and serves it on ``threads`` threads. The replicator's loop
runs in exactly one worker: the first to take the lock file ``DATA/replicator.lock`` (see
``node.replication.host.ReplicationHost``). Not in the master, because the master forks (and re-forks dead
workers), and forking a process with running threads can leave locks held forever in the child;
not in every worker, because N pull loops would fetch the same pages N times. If the owning
worker dies, the lock dies with it and a standby worker takes over.

Stopping: SIGTERM and SIGINT (a terminal's Ctrl-C) both stop gracefully: the requests in flight
finish (up to ``GRACEFUL_TIMEOUT_S``), then each worker stops its replicator and closes the store.

Why granian (ADR 0013, 0015): it costs ~0.5 ms of CPU per pack query where gunicorn's gthread
worker costs ~0.75 ms (docs/performance.md), and it does the TLS handshake and reads request
headers in its Rust event loop, with time limits, so idle or slow connections hold no Python
thread. Under gunicorn's gthread worker they do, without a limit: 16 idle TCP connections stalled
a TLS node for seconds (issue 13). Peers are checked by the signatures on their requests, in the
app (``api/peer_auth.py``), so neither server needs to show the app a client certificate.
gunicorn stays selectable (``--server gunicorn``) for a site that prefers it behind a proxy.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from node.config import ConfigError, NodeConfig

GRACEFUL_TIMEOUT_S = 30
#: granian: a request's header block must arrive whole within this many seconds, or the
#: connection is closed (hyper's ``header_read_timeout``); a kept-alive connection with no new
#: request is closed after as long. A TLS handshake must end within 10 s (granian's TLS listener;
#: not configurable). The body has no limit of its own: the app reads it only after the token is
#: checked, in one of the worker's threads.
HEADER_READ_TIMEOUT_S = 5
#: Connections the kernel holds for the server before it accepts them (listen(2)'s backlog).
BACKLOG = 1024
#: granian: connections one worker holds at once, kept-alive ones included; the next wait in the
#: backlog until one closes. Measured (tests/tls/test_slowloris.py set-up, 2 workers): 600
#: slowloris connections left verification at p95 6 ms with 512, and made 6 of 23 time out with
#: 256. 512 file descriptors per worker stay within the common soft limit of 1,024.
MAX_CONNECTIONS_PER_WORKER = 512


class ServerKind(StrEnum):
    AUTO = "auto"  # granian
    GRANIAN = "granian"
    GUNICORN = "gunicorn"


def server_for(config: NodeConfig, requested: str | None = None) -> ServerKind:
    """The server that runs this node: ``requested`` (else the config's ``server``) resolved."""
    text = requested or config.server
    try:
        kind = ServerKind(text)
    except ValueError:
        raise ConfigError(
            f"server: expected one of {[k.value for k in ServerKind]}, found {text!r}"
        ) from None
    return ServerKind.GRANIAN if kind is ServerKind.AUTO else kind


@dataclass(frozen=True, repr=False)  # no repr: it holds the passphrase
class Serving:
    """What either server needs to run a node: its data, the passphrase and where to listen."""

    data: Path
    config: NodeConfig
    passphrase: str
    host: str
    port: int
    workers: int
    threads: int


def busy_port_message(host: str, port: int) -> str:
    """What either server says, in one line, when its port is taken."""
    return (
        f"error: port {port} on {host} is in use: stop what uses it or choose another with --port"
    )
