"""Creating a node's data directory (``medtrace node init``, the demo, the docker setup)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from keys.consortium import Consortium
from keys.keystore import atomic_write, write_private_key
from keys.tls import issue_node_files
from node.config import KEY_FILE, ConfigError, NodeConfig, save_config
from node.store import Store
from node.tokens import Tokens
from node.unlock import PASSPHRASE_FILE

#: Files a data directory may hold before ``init`` (anything else needs ``force``).
_HARMLESS = frozenset({".DS_Store"})
#: Addresses that mean "every interface": no certificate can name them.
_WILDCARDS = frozenset({"", "0.0.0.0", "::"})  # noqa: S104


def default_tls_hosts(config: NodeConfig) -> list[str]:
    """The names a node's certificate covers unless told: its address, and this machine."""
    hosts = [] if config.host in _WILDCARDS else [config.host]
    return [*hosts, *(h for h in ("localhost", "127.0.0.1") if h not in hosts)]


def ensure_data_dir(data: Path, force: bool) -> None:
    if data.exists():
        if not data.is_dir():
            raise ConfigError(f"{data}: expected a directory, found a file")
        used = [p.name for p in data.iterdir() if p.name not in _HARMLESS]
        if used and not force:
            raise ConfigError(
                f"{data}: expected an empty or absent data directory, found {len(used)} entries "
                "(pass --force to re-initialise it: node.json and feed.key are rewritten, the "
                "database is kept)"
            )
    else:
        data.mkdir(parents=True, mode=0o700)
    data.chmod(0o700)  # the key file's directory must not be readable by others


def private_file(path: Path) -> None:
    """Create ``path`` empty with mode 0600 if absent, or narrow it to 0600.

    SQLite creates a database with the process's umask (0644 as a rule) and gives its -wal and
    -shm files the mode of the database: created 0600 first, all three stay private.
    """
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o600)
    try:
        os.fchmod(fd, 0o600)
    finally:
        os.close(fd)


def init_node(
    data: Path,
    consortium: Consortium,
    config: NodeConfig,
    passphrase: bytes,
    *,
    keep_passphrase: bool = False,
    force: bool = False,
    tls_hosts: Sequence[str] = (),
    node_passphrase: bytes | None = None,
) -> None:
    """The feed's key re-sealed into DATA/feed.key (0600), every membership version and the
    pinned genesis in the node's store, the token table, and DATA/node.json.

    ``passphrase`` opens the consortium's keys; the node's own keys are sealed under
    ``node_passphrase`` (default: the same), so a network of nodes need not share one secret.

    With ``config.tls``: a TLS key and certificate from the consortium's CA for ``tls_hosts``
    (default: ``default_tls_hosts``), in DATA/tls.key (0600), DATA/tls.crt, DATA/tls-ca.crt.
    """
    key = consortium.feed_key(config.feed, passphrase)
    own = node_passphrase or passphrase
    ensure_data_dir(data, force)
    write_private_key(data / KEY_FILE, key, own, overwrite=force)
    if config.tls:
        hosts = list(tls_hosts) or default_tls_hosts(config)
        issue_node_files(
            consortium.path,
            config.org,
            hosts,
            data,
            passphrase,
            overwrite=force,
            node_passphrase=own,
        )
    url = config.database_url(data)
    if "://" not in url:
        private_file(Path(url))
    store = Store(url)
    try:
        pinned = store.meta("genesis_id")
        if pinned is not None and pinned != consortium.genesis_id:
            raise ConfigError(
                f"{store.url}: expected a store of consortium genesis {consortium.genesis_id[:16]}…, "
                f"found one pinned to {pinned[:16]}… (use another --database or data directory)"
            )
        for version in consortium.versions():
            store.save_membership(version)
        store.set_meta("genesis_id", consortium.genesis_id)
        store.membership_chain(consortium.genesis_id)  # what the node will load: check it now
        Tokens(store)
    finally:
        store.close()
    save_config(data, config)
    if keep_passphrase:
        atomic_write(data / PASSPHRASE_FILE, own + b"\n", mode=0o600, overwrite=True)
