"""Serve a node under gunicorn (gthread workers), when asked for with ``--server gunicorn``.

granian is the default for plain HTTP and TLS alike (ADR 0015): gthread does the TLS handshake
and reads request headers in one of the worker's ``threads`` threads, without a time limit, so a
few idle or slow connections can hold every thread (issue 13). Under gunicorn, keep a node behind
a proxy that buffers requests. Peers are checked by their signatures in the app
(``api/peer_auth.py``), as under granian.

Process model: the gunicorn master binds the socket and forks ``workers`` processes; each worker
builds the app (``create_app``) after the fork, so no database connection or thread crosses a
fork (``medtrace/serve/settings.py`` has why the replicator runs in one worker only).

Stopping: SIGTERM and SIGINT both stop gracefully. The master closes the listening socket and
sends SIGTERM to the workers, which finish the requests in flight (up to ``graceful_timeout``),
stop the replicator and close the store on exit. (gunicorn's own SIGINT is a quick stop; here a
Ctrl-C, which reaches master and workers alike, is graceful too. SIGQUIT remains the quick stop.)
"""

from __future__ import annotations

import signal
import ssl
import sys
import threading
from pathlib import Path
from typing import Any

from flask import Flask
from gunicorn.app.base import BaseApplication  # type: ignore[import-untyped]
from gunicorn.arbiter import Arbiter  # type: ignore[import-untyped]

from keys.tls import NodeTlsFiles
from keys.tls_contexts import server_context
from medtrace.app import close_app, create_app
from medtrace.serve.settings import GRACEFUL_TIMEOUT_S, Serving
from node.logs import gunicorn_logger_class

WORKER_TIMEOUT_S = 120


class _GracefulArbiter(Arbiter):  # type: ignore[misc]
    def handle_int(self) -> None:
        """SIGINT: the same graceful stop as SIGTERM."""
        self.handle_term()


def _post_worker_init(worker: Any) -> None:
    # A terminal's Ctrl-C reaches the workers too: let them finish their requests.
    signal.signal(signal.SIGINT, worker.handle_exit)


def _worker_exit(server: Any, worker: Any) -> None:
    app = getattr(worker, "wsgi", None)
    if isinstance(app, Flask):
        close_app(app)


def _tls_options(data: Path, passphrase: str) -> dict[str, Any]:
    """gunicorn's TLS settings for a node with ``"tls": true`` (ADR 0011).

    ``certfile``/``keyfile`` only switch gunicorn to TLS (it checks that they exist); the
    context comes from the ``ssl_context`` hook, which unseals the key with the passphrase, so
    no decrypted copy is ever written. gunicorn calls the hook for every connection: the
    context is built once per worker (after the fork) and reused.
    """
    files = NodeTlsFiles.in_dir(data)
    built: list[ssl.SSLContext] = []
    guard = threading.Lock()

    def ssl_context(_conf: Any, _default_factory: Any) -> ssl.SSLContext:
        with guard:
            if not built:
                built.append(server_context(files, passphrase))
            return built[0]

    return {"certfile": str(files.cert), "keyfile": str(files.key), "ssl_context": ssl_context}


class NodeServer(BaseApplication):  # type: ignore[misc]
    def __init__(self, serving: Serving) -> None:
        self.serving = serving
        config = serving.config
        self.options: dict[str, Any] = {
            "bind": f"{serving.host}:{serving.port}",
            "workers": serving.workers,
            "threads": serving.threads,
            "worker_class": "gthread",
            "timeout": WORKER_TIMEOUT_S,
            "graceful_timeout": GRACEFUL_TIMEOUT_S,
            "keepalive": 5,
            "preload_app": False,
            "proc_name": f"medtrace-{config.name}",
            "logger_class": gunicorn_logger_class(config.name),
            "accesslog": None,  # the app logs every request itself (node/logs.py)
            "errorlog": "-",
            "loglevel": "info",
            # gunicorn >= 25 opens a control socket under $HOME by default; two nodes on one
            # machine would share it, and nothing here needs it.
            "control_socket_disable": True,
            "post_worker_init": _post_worker_init,
            "worker_exit": _worker_exit,
        }
        if config.tls:
            self.options.update(_tls_options(serving.data, serving.passphrase))
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            if key in self.cfg.settings:
                self.cfg.set(key, value)

    def load(self) -> Flask:
        # In each worker, after the fork; the replicator loop starts in one of them only.
        serving = self.serving
        return create_app(serving.data, passphrase=serving.passphrase, start_replicator=True)

    def run(self) -> None:
        try:
            _GracefulArbiter(self).run()
        except RuntimeError as exc:  # what gunicorn's own run() does: one line, exit 1
            sys.stderr.write(f"error: {exc}\n")
            sys.exit(1)
