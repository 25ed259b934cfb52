"""Serve a plain-HTTP node under granian (ADR 0013; process model in ``node/server.py``).

granian's master binds the socket and forks the workers (``multiprocessing``'s fork start
method, the default on Linux), so the loader below, a closure over the data directory and the
passphrase, reaches each worker without the passphrase going through an environment variable or
a file; one the operator exported is removed from the worker's environment once the app is
built. Each worker builds the app after the fork, serves it on ``threads`` blocking threads, and
closes it on exit (a ``multiprocessing`` finalizer: worker processes end with ``os._exit``,
which skips ``atexit``).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from multiprocessing.util import Finalize
from pathlib import Path
from typing import Any

from flask import Flask
from granian import Granian
from granian.constants import HTTPModes, Interfaces
from granian.errors import ConfigurationError
from granian.log import LogLevels

from keys.keystore import PASSPHRASE_ENV
from node.app import close_app, create_app
from node.server import GRACEFUL_TIMEOUT_S, Serving

#: granian's own loggers: its messages as our JSON lines on stderr; no access log (the app
#: logs every request itself, node/logs.py).
_GRANIAN_LOGGERS = ("_granian", "granian.access")


def _log_config(node: str) -> dict[str, Any]:
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {},
        "handlers": {"json": {"()": "node.logs.stderr_json_handler", "node": node}},
        "loggers": {
            name: {"handlers": ["json"], "level": "INFO", "propagate": False}
            for name in _GRANIAN_LOGGERS
        },
    }


def worker_loader(data: Path, passphrase: str) -> Callable[[str], Flask]:
    def load(_target: str) -> Flask:
        # In each worker, after the fork; the replicator loop starts in one of them only.
        app = create_app(data, passphrase=passphrase, start_replicator=True)
        Finalize(app, close_app, args=(app,), exitpriority=10)
        # granian copies this process's environment into every request's WSGI environ: the
        # passphrase, already used, is not to travel with each request.
        os.environ.pop(PASSPHRASE_ENV, None)
        return app

    return load


def serve_granian(serving: Serving) -> None:
    server = Granian(
        "node.app:create_app",  # a label only: the loader builds the app
        address=serving.host,
        port=serving.port,
        interface=Interfaces.WSGI,
        workers=serving.workers,
        blocking_threads=serving.threads,
        http=HTTPModes.http1,
        log_level=LogLevels.info,
        log_dictconfig=_log_config(serving.config.name),
        log_access=False,
        respawn_failed_workers=True,  # as gunicorn does: a dead worker is replaced
        workers_kill_timeout=GRACEFUL_TIMEOUT_S,
    )
    try:
        server.serve(target_loader=worker_loader(serving.data, serving.passphrase))
    except (OSError, RuntimeError, ConfigurationError) as exc:
        # e.g. the port is taken (a RuntimeError from granian's Rust side, whose message may
        # carry a Rust backtrace after the first line): one line, exit 1, as gunicorn does.
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        sys.stderr.write(f"error: cannot serve on {serving.host}:{serving.port}: {first}\n")
        sys.exit(1)
