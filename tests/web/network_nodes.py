"""Two real node processes and a peer that is down, for the /network page, /docs and
`medtrace node status` (tests/web/test_docs_and_network.py, tests/cli/test_node_status.py).

acme (a manufacturer) has two peers: dist, running, and apo, whose port nothing listens on.
dist has no peers, so it never pulls: every entry acme writes leaves dist that much behind
until a test copies acme's entries into dist's store (``catch_up``)."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import requests

from node.config import PeerConfig, load_config, save_config
from node.store import Store
from tests.api.conftest import GTIN, init_node
from tests.api.test_server import Running, create_token, free_port, start


@dataclass
class Network:
    acme: Running
    dist: Running
    down_url: str  # apo's: nothing listens there
    operator: str  # acme's
    auditor: str  # acme's
    verifier: str  # acme's
    dist_operator: str

    def commission(self, *serials: str, lot: str = "N1") -> None:
        made = requests.post(
            f"{self.acme.url}/api/v1/commission",
            json={"gtin": GTIN, "lot": lot, "expiry": "2030-12-31", "serials": list(serials)},
            headers={"Authorization": f"Bearer {self.operator}"},
            timeout=10,
        )
        assert made.status_code == 201, made.text

    def network(self, token: str | None = None) -> dict[str, Any]:
        value: dict[str, Any] = _get(self.acme, "/api/v1/network", token or self.operator, 20)
        return value

    def sizes(self, running: Running, token: str) -> dict[str, int]:
        feeds = _get(running, "/api/v1/feeds", token, 10)["feeds"]
        return {feed: info["size"] for feed, info in feeds.items()}

    def catch_up(self) -> None:
        """Copy every entry acme holds into dist's store, beside the running node (as a
        replication or a `medtrace sync import` would)."""
        stores = {}
        for name, running in (("acme", self.acme), ("dist", self.dist)):
            config = load_config(running.data)
            stores[name] = (Store(config.database_url(running.data)), config)
        try:
            source, _ = stores["acme"]
            target, config = stores["dist"]
            membership = target.membership_chain(config.genesis_id).current
            target.ingest(list(source.iter_entries()), membership)
        finally:
            for store, _ in stores.values():
                store.close()


def _get(running: Running, path: str, token: str, timeout: float) -> Any:
    """The JSON of a GET of ``path`` on ``running`` with ``token``, which must answer 200."""
    with requests.get(
        f"{running.url}{path}", headers={"Authorization": f"Bearer {token}"}, timeout=timeout
    ) as answer:
        assert answer.status_code == 200, answer.text
        return answer.json()


@contextmanager
def network_of_nodes(consortium_dir: Path, root: Path) -> Iterator[Network]:
    ports = {"acme": free_port(), "dist": free_port(), "apo": free_port()}
    acme = init_node(consortium_dir, root / "acme", "acme/line-1", workers=1, threads=4)
    dist = init_node(consortium_dir, root / "dist", "dist/wh", workers=1, threads=4)
    apo = init_node(consortium_dir, root / "apo", "apo/counter", workers=1, threads=2)
    peers = (
        PeerConfig("dist", f"http://127.0.0.1:{ports['dist']}", create_token(dist, "peer", "acme")),
        PeerConfig("apo", f"http://127.0.0.1:{ports['apo']}", create_token(apo, "peer", "acme")),
    )
    # node.json holds each port: `medtrace node status --data` finds the node there.
    save_config(
        acme,
        replace(load_config(acme), peers=peers, replication_interval_s=1.0, port=ports["acme"]),
    )
    save_config(dist, replace(load_config(dist), port=ports["dist"]))
    running: list[Running] = []
    try:
        running.append(start(dist, ports["dist"], root))
        running.append(start(acme, ports["acme"], root))
        network = Network(
            acme=running[1],
            dist=running[0],
            down_url=f"http://127.0.0.1:{ports['apo']}",
            operator=create_token(acme, "operator", "ops"),
            auditor=create_token(acme, "auditor", "inspector"),
            verifier=create_token(acme, "verifier", "pharmacist"),
            dist_operator=create_token(dist, "operator", "dist-ops"),
        )
        network.commission("NET1", "NET2")
        network.commission("NET3")
        yield network
    finally:
        for each in running:
            each.stop(signal.SIGKILL)
