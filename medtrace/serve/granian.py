"""Serve a node under granian, over plain HTTP or TLS (ADR 0013, 0015; process model and limits in
``medtrace/serve/settings.py``).

granian's master binds the socket and forks the workers (``multiprocessing``'s fork start
method, the default on Linux), so the loader below, a closure over the data directory and the
passphrase, reaches each worker without the passphrase going through an environment variable or
a file (``medtrace node run`` has dropped ``$MEDTRACE_PASSPHRASE`` already,
``medtrace/serve/run.py``; the loader removes it again for any other caller). Each worker builds
the app after the fork, serves it on ``threads`` blocking threads, and closes it on exit (a
``multiprocessing`` finalizer: worker processes end with ``os._exit``, which skips ``atexit``).

TLS: granian reads the key from a file, and can neither open our sealed key nor decrypt an
encrypted PKCS#8 one, so the master writes it in clear to a private directory in ``/dev/shm``
(``keys.tls.server_key_file``) before granian starts and removes it when granian has stopped.
TLS ≥ 1.2 as under gunicorn (granian's default is 1.3 only); no client certificate is asked for
(peers sign their requests, ADR 0015).
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterator
from multiprocessing.util import Finalize
from pathlib import Path
from typing import Any

from flask import Flask
from granian import Granian
from granian.constants import HTTPModes, Interfaces, SSLProtocols
from granian.errors import ConfigurationError
from granian.http import HTTP1Settings
from granian.log import LogLevels

from keys.keystore import PASSPHRASE_ENV
from keys.tls import NodeTlsFiles
from keys.tls_contexts import server_key_file
from medtrace.app import close_app, create_app
from medtrace.serve.settings import (
    BACKLOG,
    GRACEFUL_TIMEOUT_S,
    HEADER_READ_TIMEOUT_S,
    MAX_CONNECTIONS_PER_WORKER,
    Serving,
    busy_port_message,
)

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


@contextlib.contextmanager
def _tls_options(serving: Serving) -> Iterator[dict[str, Any]]:
    """granian's TLS settings for a node with ``"tls": true``, for as long as it serves."""
    if not serving.config.tls:
        yield {}
        return
    files = NodeTlsFiles.in_dir(serving.data)
    with server_key_file(files, serving.passphrase) as key_file:
        yield {"ssl_cert": files.cert, "ssl_key": key_file, "ssl_protocol_min": SSLProtocols.tls12}


def serve_granian(serving: Serving) -> None:
    try:
        with _tls_options(serving) as tls:
            server = Granian(
                "medtrace.app:create_app",  # a label only: the loader builds the app
                address=serving.host,
                port=serving.port,
                interface=Interfaces.WSGI,
                workers=serving.workers,
                blocking_threads=serving.threads,
                http=HTTPModes.http1,
                http1_settings=HTTP1Settings(header_read_timeout=HEADER_READ_TIMEOUT_S * 1000),
                backlog=BACKLOG,
                backpressure=MAX_CONNECTIONS_PER_WORKER,
                log_level=LogLevels.info,
                log_dictconfig=_log_config(serving.config.name),
                log_access=False,
                respawn_failed_workers=True,  # as gunicorn does: a dead worker is replaced
                workers_kill_timeout=GRACEFUL_TIMEOUT_S,
                **tls,
            )
            server.serve(target_loader=worker_loader(serving.data, serving.passphrase))
    except (OSError, RuntimeError, ConfigurationError) as exc:
        # e.g. the port is taken (a RuntimeError from granian's Rust side, whose message may
        # carry a Rust backtrace after the first line): one line, exit 1, as gunicorn does.
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        if "Address already in use" in first:  # taken after run.refuse_busy_port looked
            sys.stderr.write(busy_port_message(serving.host, serving.port) + "\n")
        else:
            sys.stderr.write(f"error: cannot serve on {serving.host}:{serving.port}: {first}\n")
        sys.exit(1)
