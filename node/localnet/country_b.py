"""The demo's second country: another consortium, with a customs post and a regulator, each
its own node process, and the pins that let the two countries' authorities work together
(issue 17; docs/spec/cross-border.md, docs/spec/cases.md; ADRs 0028, 0029).

Country A is the demo's consortium (``network.py``; its pharmacy and customs post are in
Germany, so B pins it as ``DE``); country B (``CH``) runs a consortium of its own, with its own
genesis, keys and TLS CA, laid out under ``OUT/abroad`` like A under ``OUT``: ``consortium/``,
``nodes/<name>/``, ``secrets/`` and ``tokens.json``. What each side's governance and nodes do,
as the commands would:

* B's governance pins A's genesis as a foreign root for A's manufacturer's company prefix, with
  A's customs node as its verification service (``medtrace keys trust-foreign``, k of n);
* A's governance pins B's genesis, so that A's regulator node imports B's cases, and in the
  same version lists the Swiss importer A's manufacturer ships to (an organisation without a
  node or a feed: a shipment must name a member organisation as its destination);
* A's customs node issues B's customs node a verifier token bound to B's consortium, which B's
  node keeps with A's CA certificate (``medtrace node token create --consortium``, ``medtrace
  node foreign add``): A answers it only when the request is signed by a current member of B's
  membership, which A's customs node follows by asking B's customs node with a token B issued
  to it (docs/spec/cross-border.md, "Signed requests between consortia").
"""

from __future__ import annotations

import secrets
import shutil
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

from keys.consortium import DEFAULT_GOVERNANCE, DEFAULT_THRESHOLD, Consortium
from keys.keystore import atomic_write, ensure_private_dir
from keys.tls import NodeTlsFiles
from ledger.kinds import Role
from ledger.membership import Organisation, foreign_root, organisation
from node.config import ForeignConfig, load_config, save_config
from node.localnet.http_actor import HttpNode
from node.localnet.network import COMPANY_PREFIX, Member, gln
from node.localnet.processes import (
    Layout,
    converge_nodes,
    failed_nodes,
    free_port,
    http_nodes,
    init_network,
    launch_nodes,
    passphrase_file,
    wait_healthy,
)
from node.process import NodeProcess
from node.store import Store
from node.tokens import Tokens

#: Where country B lives inside the demo's output folder.
ABROAD_DIR = "abroad"
COUNTRY_A = "DE"
COUNTRY_B = "CH"
CONSORTIUM_B = "medtrace-demo-ch"
#: The GS1 company prefix A's membership routes to B's ledger (GS1 Switzerland's range).
PREFIX_B = "7612345"
MEMBERS_B = (
    Member("customs-ch", "Border Post Basel", Role.CUSTOMS, ("post",)),
    Member("regulator-ch", "Swiss Medicines Agency (demo)", Role.REGULATOR, ("office",)),
)
NODE_FEEDS_B = {m.org: f"{m.org}/{m.sites[0]}" for m in MEMBERS_B}
ROLES_B = {m.org: m.role for m in MEMBERS_B}
#: The importer in B that A's manufacturer ships to: a member of A's consortium without a node.
IMPORTER = Member("importer-ch", "Rhein Pharma Import AG, Basel", Role.DISTRIBUTOR, ())
#: A's node that answers B's questions about A's packs, and B's node that asks them.
SERVICE_A = "customs"
ASKING_B = "customs-ch"
#: A's CA certificate, as B's node keeps it (relative to its data directory).
#: k of the n governance keys sign each version here (the threshold: 2 of 3, as a governance
#: would, and each key opened costs the sealing's Argon2id once).
SIGN_WITH = DEFAULT_GOVERNANCE[:DEFAULT_THRESHOLD]


@dataclass(frozen=True)
class Pin:
    """One consortium's foreign root, as its governance signed it."""

    consortium: str
    country: str
    pins: str  # the pinned consortium's name
    genesis: str
    prefixes: tuple[str, ...]
    endpoint: str | None
    version: int
    signed_by: tuple[str, ...]

    def to_json(self) -> dict[str, object]:
        return {
            "consortium": self.consortium,
            "pins": self.pins,
            "country": self.country,
            "genesis": self.genesis,
            "prefixes": list(self.prefixes),
            "endpoint": self.endpoint,
            "membership_version": self.version,
            "signed_by": list(self.signed_by),
        }


@dataclass
class CountryB:
    """Country B's consortium and nodes, and what each country pinned of the other."""

    out: Path
    consortium: Consortium
    passphrase: str
    layout: Layout
    pins: list[Pin] = field(default_factory=list)
    nodes: dict[str, HttpNode] = field(default_factory=dict)
    processes: dict[str, NodeProcess] = field(default_factory=dict)

    @property
    def genesis(self) -> str:
        return self.consortium.genesis_id

    def init(self, service_a: Path) -> None:
        """B's node data directories (peers of each other, so each witnesses the other's
        feed), and a verifier token of A's node ``service_a`` (a data directory) for B's
        customs node, kept in its ``foreign`` setting with A's CA certificate."""
        tokens = init_network(
            self.out,
            self.consortium,
            self.passphrase,
            self.layout,
            feeds=NODE_FEEDS_B,
            peer_users={n: f"peer@{n}" for n in NODE_FEEDS_B},
        )
        asking = self.out / "nodes" / ASKING_B
        with Store(load_config(service_a).database_url(service_a)) as store:
            token = Tokens(store).create(
                f"{CONSORTIUM_B}.{ASKING_B}", "verifier", consortium=self.genesis
            )[0]
        self._follow(asking, service_a, self.pin_of_a().genesis, token, COUNTRY_A)
        # A checks the signatures of B's requests against B's membership, which A's node asks
        # of B's node (the endpoint A pinned) with a token B's node issued to it.
        with Store(load_config(asking).database_url(asking)) as store:
            token_for_a = Tokens(store).create(f"{COUNTRY_A.lower()}.{SERVICE_A}", "verifier")[0]
        self._follow(service_a, asking, self.genesis, token_for_a, COUNTRY_B)
        self.nodes = http_nodes(tokens, NODE_FEEDS_B, ROLES_B)

    def _follow(
        self, asking: Path, answering: Path, genesis: str, token: str, country: str
    ) -> None:
        """``asking``'s node (a data directory) keeps ``token`` for the foreign root ``genesis``
        in its ``foreign`` setting, with the CA certificate of ``answering``'s node."""
        ca = ""
        if self.layout.tls:
            ca = f"foreign-{country.lower()}-ca.crt"
            shutil.copyfile(NodeTlsFiles.in_dir(answering).ca, asking / ca)
        config = load_config(asking)
        pinned = ForeignConfig(genesis, token, ca=ca)
        save_config(asking, replace(config, foreign=(*config.foreign, pinned)))

    def pin_of_a(self) -> Pin:
        """What B's governance pinned of A."""
        return next(p for p in self.pins if p.consortium == self.consortium.name)

    def launch(self) -> None:
        """Start B's node processes (``wait`` until they answer)."""
        self.processes.update(launch_nodes(self.out, self.nodes))

    def wait(self) -> None:
        wait_healthy(self.processes)

    def failed(self) -> list[str]:
        return failed_nodes(self.processes)

    def converge(self, rounds: int = 8) -> int:
        """Ask each of B's nodes to pull now until a round adds nothing."""
        return converge_nodes(self.nodes, rounds)

    def stop(self) -> None:
        """Stop B's node processes, both at once (each waits for its workers to end)."""
        with ThreadPoolExecutor(max_workers=max(1, len(self.processes))) as pool:
            list(pool.map(NodeProcess.stop, self.processes.values()))


def create_country_b(out: Path, a: Consortium, a_passphrase: str, a_layout: Layout) -> CountryB:
    """Country B's consortium in ``out/abroad`` and the two countries' pins of each other.

    Both sides' membership versions are signed here, before any node's data directory is
    made, so that every node starts with them. ``a_layout`` says where A's nodes will listen
    (B pins A's customs node as A's verification service)."""
    where = out / ABROAD_DIR
    where.mkdir(mode=0o700)
    ensure_private_dir(where / "secrets")
    passphrase = secrets.token_urlsafe(24)
    atomic_write(
        passphrase_file(where, "consortium"),
        passphrase.encode() + b"\n",
        mode=0o600,
        overwrite=False,
    )
    b = Consortium.create(where / "consortium", CONSORTIUM_B, passphrase=passphrase)
    for index, member in enumerate(MEMBERS_B, 1):
        b.add_organisation(
            member.org,
            name=member.name,
            role=member.role,
            gln=gln(index, PREFIX_B),
            feeds=member.sites,
            passphrase=passphrase,
            sign_with=SIGN_WITH,
        )
    layout = Layout(
        dict.fromkeys(NODE_FEEDS_B, "127.0.0.1"),
        {n: free_port() for n in NODE_FEEDS_B},
        tls=a_layout.tls,
    )
    importer = organisation(
        IMPORTER.org,
        name=IMPORTER.name,
        role=IMPORTER.role,
        gln=gln(len(MEMBERS_B) + 1, PREFIX_B),
    )
    pins = [
        _pin(a, a_passphrase, b, COUNTRY_B, (PREFIX_B,), layout.url(ASKING_B), importer),
        _pin(b, passphrase, a, COUNTRY_A, (COMPANY_PREFIX,), a_layout.url(SERVICE_A)),
    ]
    return CountryB(where, b, passphrase, layout, pins)


def _pin(
    pinning: Consortium,
    passphrase: str,
    pinned: Consortium,
    country: str,
    prefixes: tuple[str, ...],
    endpoint: str,
    member: Organisation | None = None,
) -> Pin:
    """``pinning``'s governance pins ``pinned``'s genesis (what ``medtrace keys trust-foreign
    --genesis-file`` signs: the next membership version, signed by k of its n governance keys),
    listing ``member`` too in the same version when given."""
    root = foreign_root(pinned.genesis_id, pinned.name, country, prefixes, endpoint)
    current = pinning.membership
    listed = current.with_organisation(member) if member is not None else current
    pinned_too = listed.with_foreign_root(root)  # each change checked, then one version
    proposed = current.next_version(
        organisations=pinned_too.organisations, foreign_roots=pinned_too.foreign_roots
    )
    signed = pinning.publish(pinning.sign(proposed, passphrase, sign_with=SIGN_WITH))
    return Pin(
        pinning.name,
        root.country,
        root.name,
        root.genesis,
        root.prefixes,
        root.endpoint,
        signed.membership.version,
        tuple(sorted(signed.signatures)),
    )
