"""Serve a node: granian for plain HTTP, gunicorn for TLS (ADR 0013).

Both servers run the same process model. A master process binds the socket and starts
``workers`` processes; each builds the app (``create_app``) after the fork, so no database
connection or thread crosses a fork, and serves it on ``threads`` threads. The replicator's loop
runs in exactly one worker: the first to take the lock file ``DATA/replicator.lock`` (see
``node.app.ReplicationHost``). Not in the master, because the master forks (and re-forks dead
workers), and forking a process with running threads can leave locks held forever in the child;
not in every worker, because N pull loops would fetch the same pages N times. If the owning
worker dies, the lock dies with it and a standby worker takes over.

Stopping: SIGTERM and SIGINT (a terminal's Ctrl-C) both stop gracefully: the requests in flight
finish (up to ``GRACEFUL_TIMEOUT_S``), then each worker stops its replicator and closes the store.

Why two servers: granian (Rust) costs ~0.5 ms of CPU per pack query where gunicorn's gthread
worker costs ~0.75 ms (docs/performance.md), but it does not show the app a TLS client's
certificate, which a TLS node needs to match a peer token with its organisation (ADR 0011).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from node.config import ConfigError, NodeConfig

GRACEFUL_TIMEOUT_S = 30


class ServerKind(StrEnum):
    AUTO = "auto"  # granian, or gunicorn for a TLS node
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
    if kind is ServerKind.AUTO:
        return ServerKind.GUNICORN if config.tls else ServerKind.GRANIAN
    if kind is ServerKind.GRANIAN and config.tls:
        raise ConfigError(
            "server: expected gunicorn or auto for a TLS node, found 'granian': granian does not "
            "show the app a client's certificate, which replication over TLS checks (ADR 0013)"
        )
    return kind


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


def serve(
    data: Path,
    config: NodeConfig,
    passphrase: str,
    *,
    host: str | None = None,
    port: int | None = None,
    workers: int | None = None,
    threads: int | None = None,
    server: str | None = None,
) -> None:
    """Serve until stopped by a signal (this call does not return normally: the server exits)."""
    serving = Serving(
        data=data,
        config=config,
        passphrase=passphrase,
        host=host or config.host,
        port=port if port is not None else config.port,
        workers=max(1, workers if workers is not None else config.workers),
        threads=max(1, threads if threads is not None else config.threads),
    )
    # Each server is imported only when it runs.
    if server_for(config, server) is ServerKind.GRANIAN:
        from node.granian_server import serve_granian  # noqa: PLC0415

        serve_granian(serving)
    else:
        from node.gunicorn_server import NodeServer  # noqa: PLC0415

        NodeServer(serving).run()
