"""Start the server that runs a node: granian, or gunicorn on request (ADR 0013, 0015)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from keys.keystore import PASSPHRASE_ENV
from medtrace.serve.settings import ServerKind, Serving, server_for
from node.config import NodeConfig
from node.unlock import AppError, passphrase_handover

#: What ``sys.argv`` holds after the program (a script, ``-c`` or ``-m``) in a process started
#: as ``medtrace node run …``: only such a process may start itself again.
_NODE_RUN = ["node", "run"]


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
    _restart_without_passphrase_in_environment(passphrase)
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
        from medtrace.serve.granian import serve_granian  # noqa: PLC0415

        serve_granian(serving)
    else:
        from medtrace.serve.gunicorn import NodeServer  # noqa: PLC0415

        NodeServer(serving).run()


def _restart_without_passphrase_in_environment(passphrase: str) -> None:
    """With ``$MEDTRACE_PASSPHRASE`` set, exec this same command again without it (once).

    Removing it from ``os.environ`` is not enough: ``/proc/PID/environ`` shows the environment
    a process was started with, to the node's user and root, and every worker forked from this
    process would show it too. The passphrase, already checked, goes to the new process through
    an inherited pipe (``node.unlock.passphrase_handover``); the PID stays the same.
    """
    if PASSPHRASE_ENV not in os.environ or sys.argv[1:3] != _NODE_RUN:
        return
    environ = passphrase_handover(passphrase, os.environ)
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        os.execve(sys.executable, sys.orig_argv, environ)  # noqa: S606 (this same command)
    except OSError as exc:
        raise AppError(
            f"cannot start {sys.executable} again without ${PASSPHRASE_ENV}: {exc.strerror}"
        ) from None
