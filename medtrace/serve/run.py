"""Start the server that runs a node: granian, or gunicorn on request (ADR 0013, 0015).

On a terminal (stderr a TTY, no ``--log-stderr``) the node prints a short banner and appends its
JSON log lines to ``DATA/node.log`` (0600) instead: a node started with ``&`` in a shell would
otherwise write a line per request over whatever the user types next. Under systemd, docker or
a test (stderr not a TTY) the lines go to stderr, where the supervisor collects them.
"""

from __future__ import annotations

import errno
import os
import socket
import sys
from pathlib import Path

from keys.keystore import PASSPHRASE_ENV
from medtrace.serve.settings import ServerKind, Serving, busy_port_message, server_for
from node.config import NodeConfig
from node.process import LOG_FILE
from node.unlock import AppError, passphrase_handover

#: What ``sys.argv`` holds after the program (a script, ``-c`` or ``-m``) in a process started
#: as ``medtrace node run …``: only such a process may start itself again.
_NODE_RUN = ["node", "run"]
#: What the banner lists: the pages and documents a person opens first.
_BANNER_PATHS = (
    "/scan",
    "/alerts",
    "/network",
    "/customs",
    "/risk",
    "/docs",
    "/openapi.json",
    "/healthz",
)


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
    log_stderr: bool = False,
) -> None:
    """Serve until stopped by a signal (this call does not return normally: the server exits).

    ``log_stderr``: JSON log lines on stderr even when it is a terminal (else DATA/node.log).
    """
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
    refuse_busy_port(serving.host, serving.port)
    if not log_stderr and sys.stderr.isatty():
        _logs_to_file_after_banner(serving)
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


def refuse_busy_port(host: str, port: int) -> None:
    """Exit 1 with one line if ``host:port`` is taken, before a server starts.

    Both servers would report it their own way: gunicorn retries five times, one JSON error a
    second; granian raises from Rust. The probe binds as they do (``SO_REUSEADDR``), so a port
    left in TIME_WAIT by a stopped node still counts as free.
    """
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except OSError:
        return  # an unknown host: the server says so itself
    family, kind, proto, _name, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                sys.stderr.write(busy_port_message(host, port) + "\n")
                sys.exit(1)


def banner(serving: Serving) -> str:
    scheme = "https" if serving.config.tls else "http"
    host = f"[{serving.host}]" if ":" in serving.host else serving.host
    base = f"{scheme}://{host}:{serving.port}"
    lines = [f"medtrace node {serving.config.name} (feed {serving.config.feed}) serving on {base}"]
    lines += [f"  {base}{path}" for path in _BANNER_PATHS]
    lines.append(
        f"JSON logs: {serving.data / LOG_FILE} (--log-stderr prints them here); "
        "Ctrl-C or SIGTERM stops the node."
    )
    return "\n".join(lines) + "\n"


def _logs_to_file_after_banner(serving: Serving) -> None:
    """Print the banner, then point file descriptor 2 at DATA/node.log, for this process and
    every worker it forks (the servers' loggers and ours write to ``sys.stderr``, fd 2)."""
    sys.stderr.write(banner(serving))
    sys.stderr.flush()
    # The log holds no secret, but what a node did is its operator's business only.
    fd = os.open(serving.data / LOG_FILE, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.dup2(fd, sys.stderr.fileno())
    finally:
        os.close(fd)
