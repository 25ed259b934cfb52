"""A real manufacturer's node process that commissioned 1,200 packs, captured an EPCIS event
about five of them, aggregated them into twelve cases on a pallet and shipped the pallet; a
pharmacy's signed dispense of one of them (a custody violation) replicated to it. A harvester
holds one genuine pack and a verifier token (issue 14)."""

from __future__ import annotations

import json
import re
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests

from keys.consortium import Consortium
from ledger.action import Action
from ledger.feed import FeedWriter
from ledger.feedlog import sign_feed_checkpoint
from ledger.kinds import Kind
from ledger.membership import MembershipChain, SignedMembership
from ledger.openings import commit
from ledger.witness import cosign_feed_checkpoint, open_feed_checkpoint
from node.config import load_config
from node.replication.witnessing import take_note
from node.store import Store
from tests.api.conftest import (  # noqa: F401 (fixtures)
    GTIN,
    PASSPHRASE,
    PRODUCT,
    _no_ambient_passphrase,
    case,
    pack,
    sscc,
)
from tests.api.conftest import consortium_dir as consortium_dir  # noqa: PLC0414 (a fixture)
from tests.api.conftest import template_nodes as template_nodes  # noqa: PLC0414 (a fixture)
from tests.api.test_server import Running, create_token, free_port, start
from tests.epcis.documents import document, object_event

PACKS = 1_200
CASE_SIZE = 100
PALLET = 900
#: A pack's serial as the node makes them: 12 characters of its alphabet.
SERIAL = re.compile(r"(?<![0-9A-Z])[0-9A-Z]{12}(?![0-9A-Z])")


@dataclass
class Harvest:
    """The node, its tokens, and what a harvester must not learn."""

    url: str
    data: Path
    genesis: str
    tokens: dict[str, str]
    serials: list[str]
    genuine: str  # the harvester's one pack: in case 1, not in the captured event
    captured: list[str]  # the five packs of the captured EPCIS event
    stray: str  # the pack a pharmacy dispensed without holding it (an alert names it)
    legacy: list[str] = field(default_factory=list)  # two packs a v1 entry lists together
    locked: list[str] = field(default_factory=list)  # three packs one committed entry locks
    cases: list[str] = field(default_factory=list)
    consortium: Path | None = None

    def witness(self) -> None:
        """Cosign every feed's checkpoint now, as the other members' nodes soon would: the
        node's feed grows as scans report failed checks (ADR 0022)."""
        assert self.consortium is not None
        witness_all(self.data, self.consortium)

    def get(self, path: str, role: str = "verifier", **headers: str) -> requests.Response:
        return requests.get(
            self.url + path,
            headers={"Authorization": f"Bearer {self.tokens[role]}", **headers},
            timeout=30,
        )

    def post(self, path: str, body: Any, role: str = "operator") -> requests.Response:
        return requests.post(
            self.url + path,
            json=body,
            headers={"Authorization": f"Bearer {self.tokens[role]}"},
            timeout=60,
        )

    def others_in(self, text: str) -> set[str]:
        """The valid serials other than the genuine one that ``text`` holds."""
        valid = set(self.serials) - {self.genuine}
        return {s for s in SERIAL.findall(text) if s in valid} | {
            s for s in valid if f"/21/{s}" in text or f".{s}" in text
        }


def _ok(response: requests.Response) -> Any:
    assert response.status_code in (200, 201, 202), response.text[:500]
    return response.json() if response.content else None


def _replicated(
    data: Path, consortium: Path, legacy: list[str], stray: str, locked: list[str]
) -> None:
    """Entries of other members, taken by the manufacturer's node as replicated ones: the
    regulator's lock of two packs in the format before commitments (v1: it lists them), and
    the pharmacy's counter's dispense of a pack it never received (an alert about that pack)."""
    opened = Consortium.open(consortium)
    lock = FeedWriter("reg/office", opened.feed_key("reg/office", PASSPHRASE), version=1).append(
        Kind.LOCK, subjects=[pack(s) for s in legacy]
    )
    key = opened.feed_key("apo/counter", PASSPHRASE)
    forged = FeedWriter("apo/counter", key).append(Kind.DISPENSE, subjects=[pack(stray)])
    # the distributor locks three packs it does not hold, in the current format (a commitment
    # and its sidecar): an alert about each, whose evidence entry commits to all three
    subjects, body, sidecar = commit(Kind.LOCK, [pack(s) for s in locked], {})
    dist = FeedWriter("dist/wh", opened.feed_key("dist/wh", PASSPHRASE))
    lock_v2 = dist.sign(dist.next_payload(Action(Kind.LOCK, subjects, (), body)))
    lock_v2 = lock_v2.with_opening(sidecar)
    store = Store(load_config(data).database_url(data))
    try:
        versions: list[SignedMembership] = store.memberships()
        chain = MembershipChain(versions[0], versions[0].id)
        chain.extend_all(versions[1:])
        report = store.ingest([lock, forged, lock_v2], chain.current)
        assert not report.rejected, report.rejected
        assert report.alerts, "expected an alert about the stray pack"
    finally:
        store.close()


#: One node of each organisation: their feed keys cosign as the witnesses' nodes would.
WITNESS_FEEDS = ("acme/line-1", "dist/wh", "border/post", "apo/counter", "reg/office")


def witness_all(
    data: Path,
    consortium: Path,
    feeds: tuple[str, ...] = WITNESS_FEEDS,
    now: int | None = None,
) -> None:
    """What the other members' nodes would do (ADR 0018): every feed's checkpoint at its size,
    signed by its key and cosigned by each other organisation's feed among ``feeds``, kept in
    the node's store, so that ``medtrace scan`` finds the entries it relies on witnessed
    (ADR 0024)."""
    opened = Consortium.open(consortium)
    store = Store(load_config(data).database_url(data))
    try:
        versions: list[SignedMembership] = store.memberships()
        genesis = versions[0].id
        chain = MembershipChain(versions[0], genesis)
        chain.extend_all(versions[1:])
        at = now or int(time.time())
        for feed in sorted(store.heads()):
            note = sign_feed_checkpoint(
                genesis, store.feed_tree(feed), opened.feed_key(feed, PASSPHRASE)
            )
            for witness in feeds:
                if witness.split("/")[0] != feed.split("/")[0]:
                    checkpoint = open_feed_checkpoint(chain.current, genesis, note)
                    key = opened.feed_key(witness, PASSPHRASE)
                    note = cosign_feed_checkpoint(checkpoint, genesis, witness, key, at)
            taken = take_note(store, chain.current, note, at, genesis_id=genesis)
            assert taken.status in {"taken", "held"}, taken
    finally:
        store.close()


@pytest.fixture(scope="module")
def harvest(
    template_nodes: dict[str, Path],
    consortium_dir: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Harvest]:
    root = tmp_path_factory.mktemp("proofs")
    data = root / "acme"
    shutil.copytree(template_nodes["acme"], data)
    tokens = {role: create_token(data, role, f"{role}-1") for role in ("operator", "auditor")}
    tokens["verifier"] = create_token(data, "verifier", "pharmacist")
    running: Running = start(data, free_port(), root)
    try:
        url = running.url
        h = Harvest(url, data, load_config(data).genesis_id, tokens, [], "", [], "")
        price = {"amount": "12.50", "currency": "EUR"}  # the border holds unregistered products
        _ok(h.post("/api/v1/products", {"gtin": GTIN, **PRODUCT, "referencePrice": price}))
        made = _ok(
            h.post(
                "/api/v1/commission",
                {"gtin": GTIN, "lot": "L1", "expiry": "2031-12-31", "count": PACKS},
            )
        )
        h.serials = list(made["serials"])
        h.captured = h.serials[100:105]  # case 2
        capture = requests.post(
            url + "/epcis/capture",
            data=json.dumps(
                document(
                    object_event(
                        epcList=[pack(s) for s in h.captured],
                        bizStep="storing",
                        disposition="active",
                        readPoint={"id": "https://id.gs1.org/414/4012345000009"},
                    )
                )
            ),
            headers={
                "Authorization": f"Bearer {tokens['operator']}",
                "Content-Type": "application/ld+json",
            },
            timeout=60,
        )
        assert capture.status_code == 202, capture.text[:500]
        for n in range(PACKS // CASE_SIZE):
            inside = h.serials[n * CASE_SIZE : (n + 1) * CASE_SIZE]
            _ok(h.post("/api/v1/actions/pack", {"subjects": [case(n + 1), *map(pack, inside)]}))
            h.cases.append(sscc(n + 1))
        _ok(
            h.post(
                "/api/v1/actions/pack",
                {"subjects": [case(PALLET), *(case(n + 1) for n in range(PACKS // CASE_SIZE))]},
            )
        )
        _ok(
            h.post(
                "/api/v1/actions/ship",
                {"subjects": [case(PALLET)], "body": {"destination": "dist"}},
            )
        )
        h.genuine, h.stray = h.serials[7], h.serials[1_150]
        h.legacy = [h.serials[300], h.serials[301]]
        h.locked = h.serials[400:403]
        _replicated(data, consortium_dir, h.legacy, h.stray, h.locked)
        h.consortium = consortium_dir
        h.witness()
        yield h
    finally:
        running.stop()
