"""A node's configuration: one JSON file inside its data directory.

```
DATA/node.json     this file (no secrets: peer tokens are bearer tokens of *other* nodes,
                   stored 0600 with the file)
DATA/feed.key      the feed's Ed25519 key, PKCS#8 encrypted with the passphrase (0600)
DATA/node.db       the SQLite store (unless ``database`` names a PostgreSQL URL)
DATA/tls.key, DATA/tls.crt, DATA/tls-ca.crt
                   with ``"tls": true``: the node's TLS key (encrypted like feed.key), its
                   certificate and the consortium CA's (``keys.tls``, ADR 0011)
```
The passphrase comes from ``MEDTRACE_PASSPHRASE``, a prompt, or (demo data directories only)
a ``passphrase`` file beside ``node.json``.
"""

from __future__ import annotations

import json
import os
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

CONFIG_FILE = "node.json"
KEY_FILE = "feed.key"
DB_FILE = "node.db"


class ConfigError(Exception):
    """The data directory or its configuration is missing or malformed."""


#: The JSON values a setting may have, by its annotation, and their name in a message. Numbers
#: are JSON numbers, never text: ``int`` reads "8100" in full-width digits as 8100 too, so a port
#: or a rate given as text would reach the servers in a form no check here has seen.
_JSON_TYPES: dict[str, tuple[tuple[type, ...], str]] = {
    "str": ((str,), "a string"),
    "int": ((int,), "an integer (a JSON number, not text)"),
    "float": ((int, float), "a number (a JSON number, not text)"),
    "bool": ((bool,), "true or false"),
}


def _check_types(settings: NodeConfig | PeerConfig | ForeignConfig, where: str) -> None:
    for setting in fields(settings):
        if str(setting.type) not in _JSON_TYPES:
            continue  # peers and extra: checked on their own, or free-form
        allowed, what = _JSON_TYPES[str(setting.type)]
        value = getattr(settings, setting.name)
        if isinstance(value, bool) is not (bool in allowed) or not isinstance(value, allowed):
            raise ConfigError(f"expected {where}{setting.name} to be {what}, found {value!r}")


def _json_kind(value: Any) -> str:
    """What a JSON value is, in words."""
    kinds = ((dict, "an object"), (list, "a list"), (str, "text"), (bool, "true or false"))
    for kind, words in kinds:
        if isinstance(value, kind):
            return words
    return "null" if value is None else "a number"


def _check_members(cls: type, obj: Any, what: str) -> None:
    """``obj`` is an object with every member ``cls`` needs and none it does not know."""
    if not isinstance(obj, dict):
        raise ConfigError(f"expected {what}, found {_json_kind(obj)}")
    known = {f.name for f in fields(cls)}
    needed = [
        f.name
        for f in fields(cls)
        if f.default is MISSING and f.default_factory is MISSING and f.name not in obj
    ]
    if needed:
        raise ConfigError(f"expected {what} with {', '.join(needed)}, found one without")
    unknown = sorted(str(k) for k in obj if k not in known)
    if unknown:
        raise ConfigError(f"expected {what} with only known settings, found {', '.join(unknown)}")


@dataclass(frozen=True)
class PeerConfig:
    name: str
    url: str  # base URL, e.g. http://127.0.0.1:8101
    token: str  # a bearer token with role "peer" issued by that node


@dataclass(frozen=True)
class ForeignConfig:
    """How this node asks a foreign root's ledger (docs/spec/cross-border.md): ``genesis`` the
    root's genesis id (pinned in the membership), ``token`` a verifier token that consortium's
    node issued to this node, ``url`` its base URL when not the root's endpoint (empty: the
    endpoint), ``ca`` the CA certificate its TLS certificate chains to (relative to DATA; empty:
    the system's CAs), ``resolver`` a GS1 Digital Link resolver asked for the service
    (``linkType=gs1:verificationService``) when neither ``url`` nor the endpoint names one."""

    genesis: str
    token: str
    url: str = ""
    ca: str = ""
    resolver: str = ""


@dataclass(frozen=True)
class NodeConfig:
    name: str  # a short label for logs and the demo report, e.g. "pharmacy"
    feed: str  # the feed this node signs, e.g. "pharmacy/counter"
    genesis_id: str  # pinned genesis membership id
    host: str = "127.0.0.1"
    port: int = 8100
    database: str = ""  # SQLAlchemy URL; empty: DATA/node.db
    # A PostgreSQL read replica of ``database`` for verification queries only (ADR 0021)
    database_read_url: str = ""
    peers: tuple[PeerConfig, ...] = ()
    replication_interval_s: float = 2.0
    verify_rate_per_minute: int = 600  # per token, for the whole node (every server)
    write_rate_per_minute: int = 1200  # per token and node: writes have their own bucket
    # Serial harvesting (ADR 0012): this many verifications of unknown packs by one token within
    # the window throttle that token and raise one alert; 0 turns the guard off. Per node.
    harvest_max_unknown: int = 50
    harvest_window_s: float = 600.0
    workers: int = 2
    threads: int = 4  # per worker: fewer threads switch less on the GIL (docs/performance.md)
    # HTTPS with the consortium's certificates (DATA/tls.*); peers must sign their requests.
    tls: bool = False
    # "auto": granian; "granian" or "gunicorn" to choose (ADR 0013, ADR 0015)
    server: str = "auto"
    # Foreign roots this node asks (ADR 0028): the verifier token each consortium issued to it.
    foreign: tuple[ForeignConfig, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def org(self) -> str:
        return self.feed.split("/", 1)[0]

    def database_url(self, data: Path) -> str:
        return self.database or str((data / DB_FILE).resolve())

    def to_json(self) -> dict[str, Any]:
        value = asdict(self)
        value["peers"] = [asdict(p) for p in self.peers]
        value["foreign"] = [asdict(f) for f in self.foreign]
        if not self.foreign:
            del value["foreign"]  # node.json files written before issue 17 keep their shape
        return value

    def foreign_for(self, genesis: str) -> ForeignConfig | None:
        return next((f for f in self.foreign if f.genesis == genesis), None)

    @classmethod
    def from_json(cls, obj: Any) -> NodeConfig:
        _check_members(cls, obj, "a node configuration object")
        peers_json = obj.get("peers", [])
        if not isinstance(peers_json, list):
            raise ConfigError(f"expected peers to be a list, found {_json_kind(peers_json)}")
        for index, peer in enumerate(peers_json):
            _check_members(PeerConfig, peer, f"peers[{index}] to be a peer object")
        foreign_json = obj.get("foreign", [])
        if not isinstance(foreign_json, list):
            raise ConfigError(f"expected foreign to be a list, found {_json_kind(foreign_json)}")
        for index, item in enumerate(foreign_json):
            _check_members(ForeignConfig, item, f"foreign[{index}] to be a foreign ledger object")
        try:
            peers = tuple(PeerConfig(**p) for p in obj.get("peers", ()))
            foreign = tuple(ForeignConfig(**f) for f in foreign_json)
            settings = {k: v for k, v in obj.items() if k not in ("peers", "foreign")}
            config = cls(peers=peers, foreign=foreign, **settings)
        except (TypeError, AttributeError) as exc:
            raise ConfigError(
                f"expected a node configuration object, found an error: {exc}"
            ) from None
        _check_types(config, "")
        if config.database_read_url and not config.database.startswith("postgresql"):
            raise ConfigError(
                "expected database_read_url only beside a PostgreSQL database, found "
                f"database {config.database or '(SQLite, DATA/node.db)'!r}"
            )
        for index, peer in enumerate(config.peers):
            _check_types(peer, f"peers[{index}].")
        for index, item in enumerate(config.foreign):
            _check_types(item, f"foreign[{index}].")
        return config


def load_config(data: Path) -> NodeConfig:
    path = data / CONFIG_FILE
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ConfigError(
            f"{path}: not found; create the node with `medtrace node init --data {data}`"
        ) from None
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"{path}: expected JSON, found an error at line {exc.lineno}: {exc.msg}"
        ) from None
    try:
        return NodeConfig.from_json(obj)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None


def save_config(data: Path, config: NodeConfig) -> None:
    """Write atomically, mode 0600 (peer tokens are credentials)."""
    path = data / CONFIG_FILE
    tmp = path.with_suffix(".json.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(config.to_json(), handle, indent=2, sort_keys=True)
        handle.write("\n")
    os.replace(tmp, path)
