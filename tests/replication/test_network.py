"""Real node processes on loopback ports: ``medtrace node run`` (granian, its default two
workers), data directories made by ``medtrace node init``, peers joined with ``medtrace node
token create --role peer`` and ``medtrace node peer add``; writes over HTTP.

Three organisations: a manufacturer (commissions, ships), a distributor (receives what was
shipped to it, once replication brought the shipment) and a regulator (recalls lots).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
from click.testing import CliRunner

from ledger.identifiers import lot_uri, pack_uri
from ledger.kinds import Role
from medtrace.cli.main import cli
from node.config import PeerConfig, load_config, save_config
from node.localnet.network import gln
from tests.nodes_setup import Member, make_consortium
from tests.reliability.faulty_link import FaultyLink

PASSPHRASE = "network-test-passphrase"
GTIN = "09506000134352"
MEDTRACE = str(Path(sys.executable).parent / "medtrace")
ORGS = {
    "acme": ("acme/line-1", Role.MANUFACTURER, ["9506000"]),
    "dist": ("dist/wh", Role.DISTRIBUTOR, []),
    "reg": ("reg/office", Role.REGULATOR, []),
}
DEADLINE_S = 20.0

pytestmark = pytest.mark.skipif(
    not Path(MEDTRACE).exists(), reason="the medtrace command is not installed in this venv"
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def medtrace(*args: str) -> str:
    """Run a ``medtrace`` command in this process (as the CLI would); its stdout."""
    result = CliRunner().invoke(cli, list(args), env={"MEDTRACE_PASSPHRASE": PASSPHRASE})
    assert result.exit_code == 0, (args, result.output)
    return result.stdout


# -- the template: consortium, data directories, tokens (built once) ----------------------


@dataclass
class Template:
    root: Path
    operators: dict[str, str]  # node -> operator token
    peer_tokens: dict[tuple[str, str], str]  # (issuer, holder) -> peer token


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Template:
    root = tmp_path_factory.mktemp("network-template")
    members = {
        org: Member(role, (feed.split("/")[1],), tuple(prefixes), gln(index))
        for index, (org, (feed, role, prefixes)) in enumerate(ORGS.items(), 1)
    }
    make_consortium(root / "consortium", "network-test", members, PASSPHRASE)
    for org, (feed, _, _) in ORGS.items():
        medtrace(
            "node",
            "init",
            "--data",
            str(root / org),
            "--consortium",
            str(root / "consortium"),
            "--feed",
            feed,
            "--name",
            org,
            "--keep-passphrase",
        )
    token = _token_of
    operators = {
        org: token(
            medtrace(
                "node",
                "token",
                "create",
                "--data",
                str(root / org),
                "--user",
                "ops",
                "--role",
                "operator",
            )
        )
        for org in ORGS
    }
    peer_tokens = {
        (issuer, holder): token(
            medtrace(
                "node",
                "token",
                "create",
                "--data",
                str(root / issuer),
                "--user",
                holder,
                "--role",
                "peer",
            )
        )
        for issuer in ORGS
        for holder in ORGS
        if issuer != holder
    }
    for holder in ORGS:
        for issuer in ORGS:
            if issuer != holder:
                medtrace(
                    "node",
                    "peer",
                    "add",
                    "--data",
                    str(root / holder),
                    "--name",
                    issuer,
                    "--url",
                    "http://127.0.0.1:9",  # set per test
                    "--token",
                    peer_tokens[(issuer, holder)],
                )
    return Template(root, operators, peer_tokens)


def _token_of(output: str) -> str:
    tokens = [line.strip() for line in output.splitlines() if line.strip().startswith("mt_")]
    assert len(tokens) == 1, output
    return tokens[0]


# -- nodes -----------------------------------------------------------------------------------


@dataclass
class Node:
    name: str
    data: Path
    port: int
    operator: str
    log: Path
    proc: subprocess.Popen[bytes] | None = None
    session: requests.Session = field(default_factory=requests.Session)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        assert self.proc is None
        env = {**os.environ, "MEDTRACE_PASSPHRASE": PASSPHRASE}
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [MEDTRACE, "node", "run", "--data", str(self.data)],
                stdout=log,
                stderr=log,
                env=env,
                start_new_session=True,
            )

    def wait_ready(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                pytest.fail(f"node {self.name} exited: {self.log.read_text()[-3000:]}")
            with contextlib.suppress(requests.RequestException):
                if requests.get(self.url + "/healthz", timeout=1).ok:
                    return
            time.sleep(0.1)
        pytest.fail(
            f"node {self.name} did not answer in {timeout} s: {self.log.read_text()[-3000:]}"
        )

    def stop(self) -> None:
        """SIGTERM (graceful), as an operator stops a node."""
        if self.proc is None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=40)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
            pytest.fail(f"node {self.name} did not stop on SIGTERM")
        finally:
            self.proc = None

    def kill_all(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self.proc = None
        self.session.close()

    def call(self, method: str, path: str, body: Any = None) -> Any:
        response = self.session.request(
            method,
            self.url + path,
            json=body,
            headers={"Authorization": f"Bearer {self.operator}"},
            timeout=30,
        )
        assert response.status_code < 300, (self.name, path, response.status_code, response.text)
        return response.json()

    def health(self) -> dict[str, Any]:
        response = self.session.get(self.url + "/healthz", timeout=5)
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    def heads(self) -> dict[str, Any]:
        feeds: dict[str, Any] = self.call("GET", "/api/v1/feeds")["feeds"]
        return feeds

    def commission(self, lot: str, count: int = 5) -> list[str]:
        done = self.call(
            "POST",
            "/api/v1/commission",
            {"gtin": GTIN, "lot": lot, "expiry": "2031-12-31", "count": count},
        )
        serials: list[str] = done["serials"]
        return serials

    def act(self, kind: str, subjects: list[str], **extra: Any) -> dict[str, Any]:
        entry: dict[str, Any] = self.call(
            "POST", f"/api/v1/actions/{kind}", {"subjects": subjects, **extra}
        )["entry"]
        return entry


@dataclass
class Network:
    nodes: dict[str, Node]
    links: dict[tuple[str, str], FaultyLink] = field(default_factory=dict)

    def __getitem__(self, name: str) -> Node:
        return self.nodes[name]

    def digests(self, names: list[str] | None = None) -> dict[str, str]:
        return {n: self.nodes[n].health()["digest"] for n in names or list(self.nodes)}

    def converged(self, names: list[str] | None = None, deadline: float = DEADLINE_S) -> str:
        """Wait until every node (of ``names``) has the same digest and heads; that digest."""
        names = names or list(self.nodes)
        end = time.monotonic() + deadline
        seen: dict[str, str] = {}
        while time.monotonic() < end:
            seen = self.digests(names)
            if len(set(seen.values())) == 1:
                heads = [self.nodes[n].heads() for n in names]
                if all(h == heads[0] for h in heads):
                    return next(iter(seen.values()))
            time.sleep(0.2)
        pytest.fail(f"no convergence within {deadline} s: {seen}")


def build(
    template: Template,
    tmp_path: Path,
    *,
    interval_s: float = 1.0,
    links: Sequence[tuple[str, str]] = (),
) -> Network:
    """Copies of the template's data directories on fresh ports; ``links`` (holder, peer)
    go through a ``FaultyLink`` that a test can cut."""
    ports = {org: free_port() for org in ORGS}
    network = Network({})
    for holder, peer_name in links:
        network.links[(holder, peer_name)] = FaultyLink(ports[peer_name])
    for org in ORGS:
        data = tmp_path / org
        shutil.copytree(template.root / org, data)
        config = load_config(data)
        peers = tuple(
            PeerConfig(
                p.name,
                f"http://127.0.0.1:{network.links[(org, p.name)].port if (org, p.name) in network.links else ports[p.name]}",
                p.token,
            )
            for p in config.peers
        )
        save_config(
            data,
            dataclasses.replace(
                config, port=ports[org], peers=peers, replication_interval_s=interval_s
            ),
        )
        network.nodes[org] = Node(
            org, data, ports[org], template.operators[org], tmp_path / f"{org}.log"
        )
    return network


@pytest.fixture
def network_factory(template: Template, tmp_path: Path) -> Iterator[Callable[..., Network]]:
    made: list[Network] = []

    def make(**kwargs: Any) -> Network:
        network = build(template, tmp_path, **kwargs)
        made.append(network)
        for node in network.nodes.values():
            node.start()
        for node in network.nodes.values():
            node.wait_ready()
        return network

    yield make
    for network in made:
        for node in network.nodes.values():
            node.kill_all()
        for link in network.links.values():
            link.close()


def _ship_and_receive(net: Network, serials: list[str]) -> None:
    """The manufacturer ships packs to the distributor; the distributor receives them as soon
    as replication has brought the shipment."""
    uris = [pack_uri(GTIN, s) for s in serials]
    ship = net["acme"].act("ship", uris, body={"destination": "dist"})
    end = time.monotonic() + DEADLINE_S
    while time.monotonic() < end:
        if net["dist"].heads().get("acme/line-1", {}).get("head") == ship["id"]:
            break
        time.sleep(0.1)
    else:
        pytest.fail("the shipment never reached the distributor")
    net["dist"].act("receive", uris, refs=[ship["id"]])


# -- the tests -------------------------------------------------------------------------------


def test_concurrent_writes_at_three_nodes_converge(
    network_factory: Callable[..., Network],
) -> None:
    net = network_factory(interval_s=1.0)
    errors: list[BaseException] = []

    def manufacturer() -> None:
        try:
            for batch in range(4):
                serials = net["acme"].commission(f"B{batch}", count=20)
                _ship_and_receive(net, serials[:5])
        except BaseException as exc:  # noqa: BLE001 (reported by the test thread)
            errors.append(exc)

    def regulator() -> None:
        try:
            for n in range(6):
                net["reg"].act("recall", [lot_uri(GTIN, f"R{n}")])
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=manufacturer), threading.Thread(target=regulator)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    net.converged()
    heads = net["dist"].heads()
    assert heads["acme/line-1"]["size"] == 8  # 4 commissions, 4 ships
    assert heads["dist/wh"]["size"] == 4
    assert heads["reg/office"]["size"] == 6


def test_a_push_hint_carries_a_write_long_before_the_timer(
    network_factory: Callable[..., Network],
) -> None:
    """With a 60 s timer, only the hint after the write explains a copy within seconds."""
    net = network_factory(interval_s=60.0)
    time.sleep(1.0)  # the first round of each loop (at start) is over
    net["reg"].act("recall", [lot_uri(GTIN, "HINTED")])
    start = time.monotonic()
    net.converged(deadline=10.0)
    assert time.monotonic() - start < 10.0


def test_a_stopped_node_catches_up_when_restarted(
    network_factory: Callable[..., Network],
) -> None:
    net = network_factory(interval_s=1.0)
    net["acme"].commission("BEFORE")
    net.converged()
    net["dist"].stop()
    for n in range(3):
        net["acme"].commission(f"WHILE-DOWN-{n}")
        net["reg"].act("recall", [lot_uri(GTIN, f"DOWN{n}")])
    up = ["acme", "reg"]
    net.converged(up)
    net["dist"].start()
    net["dist"].wait_ready()
    net.converged()
    assert net["dist"].heads()["acme/line-1"]["size"] == 4


def test_an_unreachable_peer_healed_reaches_the_same_digest(
    network_factory: Callable[..., Network],
) -> None:
    """The regulator is cut off from both others (every link to and from it), writes on both
    sides of the cut, then the links heal."""
    cut = [("reg", "acme"), ("reg", "dist"), ("acme", "reg"), ("dist", "reg")]
    net = network_factory(interval_s=0.5, links=cut)
    net["acme"].commission("SHARED")
    net.converged()
    for pair in cut:
        net.links[pair].cut()
    net["acme"].commission("CUT-OFF")
    net["reg"].act("recall", [lot_uri(GTIN, "CUT-OFF")])
    net.converged(["acme", "dist"])
    time.sleep(1.5)  # a few rounds fail while cut
    assert net["reg"].health()["digest"] != net["acme"].health()["digest"]
    for pair in cut:
        net.links[pair].heal()
    digest = net.converged()
    assert digest == net["reg"].health()["digest"]
    assert net["acme"].heads()["reg/office"]["size"] == 1


def test_a_node_that_syncs_by_bundle_file_reaches_the_same_digest(
    network_factory: Callable[..., Network], tmp_path: Path
) -> None:
    """``medtrace sync`` on data directories made by ``medtrace node init``: the distributor's
    node is down (a post with no link); a bundle exported from the running manufacturer's node
    and imported into it brings it to the same digest, before it ever talks to a peer."""
    net = network_factory(interval_s=1.0)
    net["dist"].stop()
    net["acme"].commission("BY-FILE", count=10)
    net["reg"].act("recall", [lot_uri(GTIN, "BY-FILE")])
    digest = net.converged(["acme", "reg"])
    env = {**os.environ, "MEDTRACE_PASSPHRASE": PASSPHRASE}
    bundle = tmp_path / "to-dist.mtb"

    def sync(*args: str) -> dict[str, Any]:
        done = subprocess.run(
            [MEDTRACE, "sync", *args, "--json"],
            capture_output=True,
            env=env,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stderr.decode()
        result: dict[str, Any] = json.loads(done.stdout)
        return result

    exported = sync("export", "--data", str(net["acme"].data), "--out", str(bundle))
    assert exported["entries"] == 2  # the commissioning and the recall
    imported = sync("import", "--data", str(net["dist"].data), str(bundle))
    assert imported["ok"] is True
    assert imported["digest"] == digest
    heads = sync("heads", "--data", str(net["dist"].data), "--out", str(tmp_path / "h.json"))
    assert heads["digest"] == digest
    net["dist"].start()
    net["dist"].wait_ready()
    assert net.converged() == digest
