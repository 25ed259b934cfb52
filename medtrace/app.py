"""The node's Flask application factory: the composition of store, service, tokens, replication
and API for one data directory.

``create_app(DATA)`` reads ``DATA/node.json``, opens the store, loads the membership chain
pinned to the configured genesis, decrypts ``DATA/feed.key``, and builds the ``NodeService``
(the only writer), the token table, the replicator (when peers are configured, run by
``node.replication.host.ReplicationHost``) and the API.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from flask import Flask

import api
from api.context import EXTENSION, NodeContext
from api.cross_border import sign_foreign_requests
from api.foreign_auth import require_foreign_signatures
from api.metrics import Metrics
from api.peer_auth import require_peer_signatures
from api.ratelimit import shared_guards
from api.routes import ROUTES
from keys.keystore import KeyStoreError
from keys.tls import NodeTlsFiles
from keys.tls_contexts import client_context
from ledger.errors import LedgerError
from ledger.membership import Membership
from node.config import ConfigError, NodeConfig, load_config
from node.logs import NodeLogger, node_logger
from node.replication.election import election_for
from node.replication.host import ReplicationHost, ReplicatorFactory, load_replicator_factory
from node.replication.http_peer import use_client_tls, use_request_signer
from node.replication.signed_requests import RequestSigner
from node.replication.witnessing import CheckpointKey, use_checkpoint_key
from node.service import NodeService
from node.store import Store
from node.tokens import Tokens
from node.unlock import AppError, load_feed_key, resolve_node_passphrase
from scanner.cross_border import foreign_signer

#: How often a process compares the stored membership version with its own (one SELECT of a
#: number): a version another server adopted is served everywhere within 1 s (ADR 0021).
MEMBERSHIP_CHECK_S = 0.5


def create_app(
    data: Path,
    *,
    passphrase: str | None = None,
    start_replicator: bool = True,
    replicator_factory: ReplicatorFactory | None = None,
) -> Flask:
    """The node's WSGI application for data directory ``data``.

    ``replicator_factory`` replaces ``node.replication.loop.Replicator`` (tests). A replicator is built
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
    store = Store(config.database_url(data), read_url=config.database_read_url or None)
    try:
        ctx = _context(data, config, store, log, secret, start_replicator, replicator_factory)
    except BaseException:
        store.close()
        raise
    app = Flask(__name__, static_folder=None)
    api.register(app, ctx)
    if config.tls:
        require_peer_signatures(app, ctx)
    require_foreign_signatures(app, ctx, ROUTES)  # only tokens bound to a consortium
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
    # Buckets and harvest counts in the database, shared by every server (ADR 0021).
    limiter, write_limiter, harvest = shared_guards(
        store.counters(),
        query_per_minute=config.verify_rate_per_minute,
        write_per_minute=config.write_rate_per_minute,
        max_unknown=config.harvest_max_unknown,
        window_s=config.harvest_window_s,
    )
    ctx = NodeContext(
        data=data,
        config=config,
        store=store,
        service=NodeService(store, membership, config.feed, key),
        chain=chain,
        tokens=Tokens(store),
        log=log,
        limiter=limiter,
        write_limiter=write_limiter,
        metrics=Metrics(),
        membership_check_s=MEMBERSHIP_CHECK_S,
    )
    ctx.harvest = harvest
    # Both set before the replicator builds its peers, which sign every request with the feed
    # key (ADR 0015) and, over TLS, still present this node's certificate: a peer that has not
    # moved to signatures yet checks that instead (ADR 0011).
    use_request_signer(RequestSigner(config.feed, key))
    use_checkpoint_key(CheckpointKey(config.feed, key, config.genesis_id))  # docs/spec/proofs.md
    # Requests to other consortia's ledgers are signed too (ADR 0028, addendum).
    sign_foreign_requests(ctx, foreign_signer(config.feed, key, config.genesis_id))
    if config.tls:
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
                election=election_for(store, data),
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
