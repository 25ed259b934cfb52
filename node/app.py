"""The node's Flask application factory, and where its replication loop runs.

``create_app(DATA)`` reads ``DATA/node.json``, opens the store, loads the membership chain
pinned to the configured genesis, decrypts ``DATA/feed.key``, and builds the ``NodeService``
(the only writer), the token table, the replicator (when peers are configured) and the API.

Replication under the server (``node/server.py``): several worker processes serve the same node, but exactly one of
them must run the replicator's pull loop. ``ReplicationHost`` settles it with an exclusive,
non-blocking ``flock`` on ``DATA/replicator.lock``: the worker that takes it runs the loop;
the others retry every few seconds, so when that worker exits (or is killed) another one takes
over, and the kernel releases the lock of a dead process by itself. The workers that do not run
the loop relay what reaches them (a peer's push hint, "we appended, tell the peers") to the one
that does over a Unix datagram socket in the data directory (mode 0700), and fall back to
calling their own replicator when nobody listens. The server's master never runs the loop: it
forks workers, and forking a process that has running threads is unsafe.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib
import inspect
import logging
import os
import socket
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from flask import Flask

import api
from api.context import EXTENSION, NodeContext
from api.metrics import Metrics
from api.ratelimit import RateLimiter
from keys.keystore import (
    PASSPHRASE_ENV,
    KeyStoreError,
    load_private_key,
    public_bytes,
    read_passphrase_file,
)
from keys.tls import NodeTlsFiles, client_context
from ledger.errors import LedgerError
from ledger.membership import Membership
from node.config import KEY_FILE, ConfigError, NodeConfig, PeerConfig, load_config
from node.http_peer import use_client_tls
from node.logs import NodeLogger, node_logger
from node.peer_certs import require_peer_certificates
from node.service import NodeService
from node.store import IngestReport, Store
from node.tokens import Tokens

PASSPHRASE_FILE = "passphrase"  # noqa: S105 (a file name)
LOCK_FILE = "replicator.lock"
RELAY_SOCKET = "replicator.sock"
_SUN_PATH_MAX = 100  # sockaddr_un holds 108 bytes; keep a margin


class ReplicatorLike(Protocol):
    """``node.replicator.Replicator`` as this module uses it."""

    def start(self) -> None: ...
    def stop(self) -> None: ...
    def hint(self, peer_name: str | None = None) -> None: ...
    def run_once(self) -> IngestReport: ...
    def notify_peers(self) -> None: ...


ReplicatorFactory = Callable[
    [Store, Membership, Sequence[PeerConfig], float, str, Callable[[Membership], None]],
    ReplicatorLike,
]
"""(store, membership, peers, interval_s, self_name, on_membership) -> a replicator."""


class AppError(Exception):
    """The node cannot start: configuration, passphrase, key or store."""


# -- passphrase and key --------------------------------------------------------------------------


def _read_passphrase_file(path: Path) -> str:
    try:
        return read_passphrase_file(path, private=True).decode("utf-8")
    except KeyStoreError as exc:
        raise AppError(str(exc)) from None
    except UnicodeDecodeError:
        raise AppError(f"{path}: expected a UTF-8 passphrase") from None


def resolve_node_passphrase(data: Path, passphrase: str | None = None) -> str:
    """The argument, else ``$MEDTRACE_PASSPHRASE``, else ``DATA/passphrase`` (demo nodes)."""
    if passphrase:
        return passphrase
    from_env = os.environ.get(PASSPHRASE_ENV)
    if from_env:
        return from_env
    path = data / PASSPHRASE_FILE
    if path.exists():
        return _read_passphrase_file(path)
    raise AppError(
        f"expected the passphrase of {data / KEY_FILE}: set ${PASSPHRASE_ENV} "
        f"(or, for a demo node, write it to {path} with mode 0600)"
    )


def load_feed_key(
    data: Path, config: NodeConfig, membership: Membership, passphrase: str, next_seq: int
) -> tuple[Ed25519PrivateKey, str | None]:
    """The feed key, checked against the membership; a warning if it may not sign now."""
    try:
        key = load_private_key(data / KEY_FILE, passphrase)
    except KeyStoreError as exc:
        raise AppError(str(exc)) from None
    try:
        spec = membership.feed(config.feed)
    except LedgerError as exc:
        raise AppError(f"{data / 'node.json'}: {exc}") from None
    public = public_bytes(key)
    listed = [k for k in spec.keys if k.public == public]
    if not listed:
        raise AppError(
            f"{data / KEY_FILE}: expected a key membership v{membership.version} lists for feed "
            f"{config.feed}, found another key"
        )
    if not any(k.covers(next_seq) for k in listed):
        return key, (
            f"the key of feed {config.feed} is not valid at seq {next_seq} (rotated or revoked): "
            "this node serves and replicates, but every write will be refused"
        )
    return key, None


# -- replication ---------------------------------------------------------------------------------


def load_replicator_factory(log: NodeLogger | None = None) -> ReplicatorFactory | None:
    """``node.replicator.Replicator`` if that module is importable, else ``None``."""
    try:
        module = importlib.import_module("node.replicator")
        cls = module.Replicator
    except (ImportError, AttributeError) as exc:
        if log is not None:
            log.event(
                "replication unavailable",
                level=logging.WARNING,
                error=f"{type(exc).__name__}: {exc}",
            )
        return None

    accepts_callback = "on_membership" in inspect.signature(cls).parameters

    def factory(
        store: Store,
        membership: Membership,
        peers: Sequence[PeerConfig],
        interval_s: float,
        self_name: str,
        on_membership: Callable[[Membership], None],
    ) -> ReplicatorLike:
        extra = {"on_membership": on_membership} if accepts_callback else {}
        replicator: ReplicatorLike = cls(
            store, membership, peers, interval_s=interval_s, self_name=self_name, **extra
        )
        return replicator

    return factory


def _relay_address(data: Path) -> str:
    path = str((data / RELAY_SOCKET).resolve())
    if len(path.encode()) < _SUN_PATH_MAX:
        return path
    digest = hashlib.sha256(path.encode()).hexdigest()[:32]
    return f"\0medtrace-replicator-{digest}"  # Linux abstract namespace: no path limit


class ReplicationHost:
    """Runs the replicator in one process of the node and relays to it from the others."""

    def __init__(
        self,
        data: Path,
        replicator: ReplicatorLike,
        log: NodeLogger,
        *,
        run: bool,
        peers: Sequence[str] = (),
        retry_s: float = 5.0,
    ) -> None:
        self.data = data
        self.replicator = replicator
        self.log = log
        self.peers = frozenset(peers)
        self.retry_s = retry_s
        self.address = _relay_address(data)
        self.owner = False
        self._lock_fd: int | None = None
        self._sock: socket.socket | None = None
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._guard = threading.Lock()
        if run and not self._try_own():
            self._spawn(self._standby, "medtrace-replication-standby")

    # -- ownership -----------------------------------------------------------------------------
    def _try_own(self) -> bool:
        with self._guard:
            if self.owner or self._stop.is_set():
                return self.owner
            fd = os.open(self.data / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                return False
            self._lock_fd = fd
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
            self._bind()
            self.replicator.start()
            self.owner = True
        self.log.event("replicator started", pid=os.getpid(), peers=",".join(sorted(self.peers)))
        return True

    def _standby(self) -> None:
        while not self._stop.wait(self.retry_s):
            if self._try_own():
                return

    def _spawn(self, target: Callable[[], None], name: str) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    # -- relay ---------------------------------------------------------------------------------
    def _bind(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        if not self.address.startswith("\0"):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.address)  # a stale socket of a dead owner: we hold the lock now
        try:
            sock.bind(self.address)
        except OSError as exc:
            sock.close()
            self.log.event(
                "relay unavailable", level=logging.WARNING, error=exc.strerror or str(exc)
            )
            return
        sock.settimeout(0.5)
        self._sock = sock
        self._spawn(self._listen, "medtrace-replication-relay")

    def _listen(self) -> None:
        sock = self._sock
        assert sock is not None
        while not self._stop.is_set():
            try:
                message = sock.recv(256)
            except TimeoutError:
                continue
            except OSError:
                return
            self._received(message)

    def _received(self, message: bytes) -> None:
        try:
            verb, _, arg = message.decode("utf-8").partition(" ")
        except UnicodeDecodeError:
            return
        try:
            if verb == "notify":
                self.replicator.notify_peers()
            elif verb == "hint":
                self.replicator.hint(arg if arg in self.peers else None)
        except Exception as exc:  # noqa: BLE001 (a relay must outlive a failing call)
            self.log.event("relay call failed", level=logging.WARNING, error=type(exc).__name__)

    def _send(self, message: bytes) -> bool:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.setblocking(False)
            try:
                sock.sendto(message, self.address)
            except OSError:
                return False
        return True

    # -- what the API calls --------------------------------------------------------------------
    def hint(self, peer_name: str | None = None) -> None:
        if self.owner or not self._send(
            b"hint" + (b" " + peer_name.encode() if peer_name else b"")
        ):
            self.replicator.hint(peer_name)

    def notify(self) -> None:
        if self.owner or not self._send(b"notify"):
            self.replicator.notify_peers()

    def run_once(self) -> IngestReport:
        return self.replicator.run_once()

    def close(self) -> None:
        self._stop.set()
        with self._guard:
            if self.owner:
                try:
                    self.replicator.stop()
                finally:
                    self.owner = False
            if self._sock is not None:
                self._sock.close()
                self._sock = None
                if not self.address.startswith("\0"):
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(self.address)
            if self._lock_fd is not None:
                os.close(self._lock_fd)
                self._lock_fd = None
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join(timeout=2.0)


# -- the factory ---------------------------------------------------------------------------------


def create_app(
    data: Path,
    *,
    passphrase: str | None = None,
    start_replicator: bool = True,
    replicator_factory: ReplicatorFactory | None = None,
) -> Flask:
    """The node's WSGI application for data directory ``data``.

    ``replicator_factory`` replaces ``node.replicator.Replicator`` (tests). A replicator is built
    when peers are configured; its loop runs only if ``start_replicator`` (and then in one
    process of the node: see the module docstring).
    """
    data = Path(data)
    try:
        config = load_config(data)
    except ConfigError as exc:
        raise AppError(str(exc)) from None
    log = node_logger(config.name)
    secret = resolve_node_passphrase(data, passphrase)
    store = Store(config.database_url(data))
    try:
        ctx = _context(data, config, store, log, secret, start_replicator, replicator_factory)
    except BaseException:
        store.close()
        raise
    app = Flask(__name__, static_folder=None)
    api.register(app, ctx)
    if config.tls:
        require_peer_certificates(app, ctx)
    log.event(
        "node started",
        feed=config.feed,
        pid=os.getpid(),
        entries=store.count("entries"),
        peers=",".join(p.name for p in config.peers),
    )
    return app


def _context(
    data: Path,
    config: NodeConfig,
    store: Store,
    log: NodeLogger,
    secret: str,
    start_replicator: bool,
    replicator_factory: ReplicatorFactory | None,
) -> NodeContext:
    try:
        chain = store.membership_chain(config.genesis_id)
    except LedgerError as exc:
        raise AppError(
            f"{store.url}: {exc} (was the node created with `medtrace node init`?)"
        ) from None
    membership = chain.current
    head = store.heads().get(config.feed)
    key, warning = load_feed_key(data, config, membership, secret, head.size if head else 0)
    if warning is not None:
        log.event("feed key not valid", level=logging.WARNING, detail=warning)
    ctx = NodeContext(
        data=data,
        config=config,
        store=store,
        service=NodeService(store, membership, config.feed, key),
        chain=chain,
        tokens=Tokens(store),
        log=log,
        limiter=RateLimiter(config.verify_rate_per_minute),
        metrics=Metrics(),
    )
    if config.tls:
        # Set before the replicator builds its peers: they present this node's certificate.
        files = NodeTlsFiles.in_dir(data)
        try:
            use_client_tls(client_context(files.ca, identity=files, passphrase=secret))
        except KeyStoreError as exc:
            raise AppError(str(exc)) from None
    if config.peers:
        factory = replicator_factory or load_replicator_factory(log)
        if factory is not None:

            def adopted(_membership: Membership) -> None:
                try:
                    ctx.refresh_membership(force=True)
                except LedgerError as exc:
                    log.event("membership not adopted", level=logging.WARNING, error=str(exc))

            replicator = factory(
                store,
                membership,
                config.peers,
                config.replication_interval_s,
                config.name,
                adopted,
            )
            ctx.replication = ReplicationHost(
                data,
                replicator,
                log,
                run=start_replicator,
                peers=[p.name for p in config.peers],
                retry_s=max(config.replication_interval_s, 1.0),
            )
            ctx.service.before_first_write = ctx.replication.run_once
    return ctx


def app_context(app: Flask) -> NodeContext:
    ctx = app.extensions[EXTENSION]
    assert isinstance(ctx, NodeContext)
    return ctx


def close_app(app: Flask) -> None:
    """Stop the replicator and close the store of an app from ``create_app``."""
    app_context(app).close()
