"""Creating a node's data directory (``medtrace node init``, the demo, the docker setup)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from keys.consortium import Consortium
from keys.keystore import atomic_write, write_private_key
from keys.tls import issue_node_files
from node.app import PASSPHRASE_FILE
from node.config import KEY_FILE, ConfigError, NodeConfig, save_config
from node.store import Store
from node.tokens import Tokens

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


def init_node(
    data: Path,
    consortium: Consortium,
    config: NodeConfig,
    passphrase: bytes,
    *,
    keep_passphrase: bool = False,
    force: bool = False,
    tls_hosts: Sequence[str] = (),
) -> None:
    """The feed's key re-encrypted into DATA/feed.key (0600), every membership version and the
    pinned genesis in the node's store, the token table, and DATA/node.json.

    With ``config.tls``: a TLS key and certificate from the consortium's CA for ``tls_hosts``
    (default: ``default_tls_hosts``), in DATA/tls.key (0600), DATA/tls.crt, DATA/tls-ca.crt.
    """
    key = consortium.feed_key(config.feed, passphrase)
    ensure_data_dir(data, force)
    write_private_key(data / KEY_FILE, key, passphrase, overwrite=force)
    if config.tls:
        hosts = list(tls_hosts) or default_tls_hosts(config)
        issue_node_files(consortium.path, config.org, hosts, data, passphrase, overwrite=force)
    store = Store(config.database_url(data))
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
        atomic_write(data / PASSPHRASE_FILE, passphrase + b"\n", mode=0o600, overwrite=True)
