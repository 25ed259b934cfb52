"""A Byzantine peer, as a real HTTP server on a loopback port, against an honest node's
``Replicator``: each test names what the peer breaks.

In every test the victim pulls in one ``run_once()`` from the liar (asked first) and from an
honest peer that holds entries the victim lacks. The victim must refuse what the liar forged,
or keep it only as evidence (a fork: alert and frozen feed; an unauthorised kind: a rejected
row and an alert), never show it as pack state, and still take everything the honest peer has.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from flask import Response
from sqlalchemy import select

from ledger import membership as ms
from ledger.entry import SignedEntry
from ledger.feed import FeedWriter
from ledger.identifiers import lot_uri
from ledger.kinds import Kind, Role
from ledger.serials import generate_serials
from node.replication.loop import Replicator
from node.replication.protocol import MAX_BODY
from node.store import IngestReport, Store
from node.store import models as m
from tests.node.world import GTIN, LOT, key
from tests.replication.support import (
    Byzantine,
    History,
    Honest,
    base_history,
    closed_port_url,
    ingest_all,
    open_node,
    peer,
    serve,
    signed_genesis,
)

Snapshot = dict[str, tuple[str, str, str | None, str | None, str]]


@dataclass
class Scene:
    h: History
    victim: Store
    honest: Store
    more: list[SignedEntry]  # what the honest peer holds beyond the victim
    extra_acme: SignedEntry  # a genuine acme entry beyond what the honest peer holds

    def entry(self, feed: str, seq: int) -> SignedEntry:
        held = self.honest.entries(feed, seq, 1)
        assert held, (feed, seq)
        return held[0]

    def chain(self, feed: str) -> list[SignedEntry]:
        return self.honest.entries(feed, 0, 1000)


@pytest.fixture
def scene(tmp_path: Path) -> Iterator[Scene]:
    h = base_history()
    w = h.world
    more = [w.commission(generate_serials(5), lot="L2")]  # acme #3
    more.append(w.commission(generate_serials(5), lot="L3"))  # acme #4
    ship = w.write("dist/wh", Kind.SHIP, subjects=h.uris[:5], body={"destination": "ph"})
    more.append(ship)  # dist #2
    more.append(w.write("ph/a", Kind.RECEIVE, subjects=h.uris[:5], refs=[ship.id]))
    more.append(w.write("ph/a", Kind.DISPENSE, subjects=[h.uris[0]]))
    extra = w.commission(generate_serials(5), lot="L4")  # acme #5: only liars have it
    with (
        open_node(tmp_path / "victim.db", w) as victim,
        open_node(tmp_path / "honest.db", w) as honest,
    ):
        ingest_all(victim, h.base, w)
        ingest_all(honest, h.base + more, w)
        yield Scene(h, victim, honest, more, extra)


@dataclass
class Outcome:
    report: IngestReport
    status: dict[str, Any]

    @property
    def liar(self) -> dict[str, Any]:
        peers: dict[str, dict[str, Any]] = self.status["peers"]
        return peers["byzantine"]


def replicate(scene: Scene, liar: Byzantine) -> Outcome:
    with serve(liar.app()) as bad, serve(Honest(scene.honest).app()) as good:
        replicator = Replicator(
            scene.victim,
            scene.h.world.membership,
            [peer("byzantine", bad), peer("honest", good)],
            self_name="victim",
            timeout=5,
        )
        try:
            report = replicator.run_once()
            return Outcome(report, replicator.status())
        finally:
            replicator.stop()


def snapshot(store: Store, uris: list[str] | None = None) -> Snapshot:
    rows = {
        p.uri: (p.status.value, p.custodian, p.container, p.changed_by, p.lot)
        for p in store.pack_rows()
    }
    return rows if uris is None else {u: rows[u] for u in uris}


def assert_honest_replication_went_on(scene: Scene) -> None:
    """Everything the honest peer had reached the victim in the same round."""
    assert scene.victim.digest() == scene.honest.digest()
    assert scene.victim.heads() == scene.honest.heads()
    assert snapshot(scene.victim) == snapshot(scene.honest)
    assert sorted(a.id for a in scene.victim.alerts()) == sorted(
        a.id for a in scene.honest.alerts()
    )


def assert_nothing_frozen(store: Store) -> None:
    assert all(h.frozen_at is None for h in store.heads().values())
    assert store.alerts(code="fork") == []


def forger(scene: Scene, feed: str, seq: int, seed: int = 99) -> FeedWriter:
    """A writer at ``feed`` #seq that signs with another key than the feed's."""
    head = scene.entry(feed, seq - 1) if seq else None
    return FeedWriter(feed, key(seed), head)


def at(scene: Scene, feed: str, seq: int, seed: int) -> FeedWriter:
    head = scene.entry(feed, seq - 1) if seq else None
    return FeedWriter(feed, key(seed), head)


# -- signatures and history ------------------------------------------------------------------


def test_forged_signature_is_refused_and_the_honest_copy_taken(scene: Scene) -> None:
    """The liar advertises a longer acme feed whose next entry is signed by a key that is not
    acme's: it is refused, and acme's genuine entries come from the honest peer."""
    writer = forger(scene, "acme/line1", 3)
    forged = [
        writer.append(
            Kind.SHIP,
            ts=scene.h.world.ts(),
            subjects=scene.h.uris[10:15],
            body={"destination": "border"},
        )
        for _ in range(4)
    ]
    liar = Byzantine()
    liar.put(scene.chain("acme/line1")[:3] + forged)
    outcome = replicate(scene, liar)
    assert forged[0].id in {entry for entry, _ in outcome.report.rejected}
    reasons = dict(outcome.report.rejected)
    assert "signature" in reasons[forged[0].id]
    assert all(p[0] != "in_transit" for p in snapshot(scene.victim, scene.h.uris[10:15]).values())
    assert outcome.liar["entries_refused"] >= 1
    assert "signature" in outcome.liar["last_refusal"]
    assert_nothing_frozen(scene.victim)
    assert_honest_replication_went_on(scene)


@pytest.mark.parametrize("shape", ["longer-rewritten-chain", "old-entry-at-its-head"])
def test_rewritten_old_entry_is_refused_and_not_taken_as_a_fork(scene: Scene, shape: str) -> None:
    """The liar rewrites acme's commissioning (another lot) under the original signature; the
    entries after it are re-linked and signed by the liar. Not a fork (acme never signed it),
    so nothing is frozen: a forgery, refused."""
    original = scene.entry("acme/line1", 0)
    body = dict(original.payload.body)
    body["ilmd"] = {"lotNumber": "FAKE", "itemExpirationDate": "2035-01-01"}
    rewritten_payload = dataclasses.replace(
        original.payload, body=body, subjects=(lot_uri(GTIN, "FAKE"),)
    )
    rewritten = SignedEntry.from_bytes(rewritten_payload.encode(), original.signature)
    liar = Byzantine()
    if shape == "longer-rewritten-chain":
        writer = FeedWriter("acme/line1", key(99), rewritten)
        relinked = [rewritten]
        for old in [*scene.chain("acme/line1")[1:], scene.extra_acme]:
            p = old.payload
            relinked.append(
                writer.append(p.kind, ts=p.ts, subjects=p.subjects, refs=p.refs, body=p.body)
            )
        liar.put(relinked)
    else:
        liar.put([rewritten])  # heads: acme size 1, head = the rewritten entry
    outcome = replicate(scene, liar)
    refused = dict(outcome.report.rejected)
    probed = rewritten.id if shape == "old-entry-at-its-head" else liar.feeds["acme/line1"][2]["id"]
    assert "signature" in refused[probed]
    assert outcome.report.forks == []
    assert {p[4] for p in snapshot(scene.victim, scene.h.uris).values()} == {LOT}
    assert_nothing_frozen(scene.victim)
    assert_honest_replication_went_on(scene)


def test_fork_is_kept_as_evidence_alerted_and_the_feed_frozen(scene: Scene) -> None:
    """The liar is the distributor itself: it signs a second, different entry at a position
    the victim already holds (dist/wh #1: another unpack). Both entries are kept as proof, the
    feed is frozen at #1, a fork alert names both, and the second entry is never applied."""
    genuine = scene.entry("dist/wh", 1)
    writer = at(scene, "dist/wh", 1, seed=12)  # the distributor's real key
    alternative = writer.append(
        Kind.UNPACK,
        ts=genuine.payload.ts,
        subjects=[genuine.payload.subjects[0], *scene.h.uris[5:10]],
    )
    liar = Byzantine()
    liar.put([*scene.chain("dist/wh")[:1], alternative])
    before = snapshot(scene.victim, scene.h.uris[5:10])
    outcome = replicate(scene, liar)
    assert len(outcome.report.forks) == 1
    alerts = scene.victim.alerts(code="fork")
    assert len(alerts) == 1
    assert set(alerts[0].evidence) == {genuine.id, alternative.id}
    assert scene.victim.heads()["dist/wh"].frozen_at == 1
    with scene.victim.engine.connect() as conn:
        fork = conn.execute(select(m.FORKS)).one()
    assert {fork.first_payload, fork.second_payload} == {
        genuine.payload_bytes,
        alternative.payload_bytes,
    }
    assert snapshot(scene.victim, scene.h.uris[5:10]) == before  # still packed in case 1
    # the honest peer's other feeds still arrived in the same round
    for feed in ("acme/line1", "ph/a"):
        assert scene.victim.heads()[feed] == scene.honest.heads()[feed]


def test_forged_fork_evidence_freezes_an_honest_feed(scene: Scene) -> None:
    """The liar says acme/line1 is frozen at #1 and serves as proof acme's genuine #1 and
    another entry at #1 that a key not acme's signed. Fork evidence is verified before it is
    taken: refused as forged, the feed stays open, no fork alert."""
    chain = scene.chain("acme/line1")[:3]
    genuine = chain[1]
    forged = forger(scene, "acme/line1", 1).append(
        Kind.SHIP,
        ts=genuine.payload.ts,
        subjects=scene.h.uris[10:12],
        body={"destination": "dist"},
    )
    liar = Byzantine()
    liar.put(chain)
    answer = {
        "digest": "0" * 64,
        "node": "byzantine",
        "feeds": {"acme/line1": {"size": 3, "head": chain[2].id, "frozen_at": 1}},
        "forks": [[genuine.to_wire(), forged.to_wire()]],
    }
    liar.feeds_answer = lambda: Response(json.dumps(answer), mimetype="application/json")
    outcome = replicate(scene, liar)
    reasons = dict(outcome.report.rejected)
    assert "refused as forged" in reasons[forged.id]
    assert outcome.liar["entries_refused"] >= 1
    assert_nothing_frozen(scene.victim)
    assert_honest_replication_went_on(scene)


@pytest.mark.parametrize("shape", ["hole-in-the-page", "page-starts-late"])
def test_gap_in_a_page_is_refused(scene: Scene, shape: str) -> None:
    """Asked for acme from #3, the liar skips a position: the page is refused before it
    reaches the store, and the honest peer's #3 and #4 are taken."""
    chain = [*scene.chain("acme/line1"), scene.extra_acme]
    liar = Byzantine()
    liar.put(chain)

    def gap(feed: str, start: int, limit: int) -> Response | None:
        if feed != "acme/line1":
            return None
        items = [chain[3], chain[5]] if shape == "hole-in-the-page" else [chain[4], chain[5]]
        return Response(
            json.dumps({"feed": feed, "entries": [e.to_wire() for e in items]}),
            mimetype="application/json",
        )

    liar.entries_answer = gap
    outcome = replicate(scene, liar)
    expected = "#4" if shape == "hole-in-the-page" else "#3"
    assert f"expected acme/line1 {expected}" in outcome.liar["last_error"]
    assert scene.victim.heads()["acme/line1"].size == 5  # not #5, which only the liar has
    assert_honest_replication_went_on(scene)


def test_unauthorised_kind_is_kept_as_evidence_with_an_alert(scene: Scene) -> None:
    """The liar is the distributor: it signs, with its real key, a recall (a kind only
    manufacturers and regulators may write). The victim keeps it as a rejected row with an
    alert; the lot is not recalled."""
    writer = at(scene, "dist/wh", 3, seed=12)
    recall = writer.append(Kind.RECALL, ts=scene.h.world.ts(), subjects=[lot_uri(GTIN, LOT)])
    liar = Byzantine()
    liar.put([*scene.chain("dist/wh"), recall])
    outcome = replicate(scene, liar)
    assert recall.id in dict(outcome.report.rejected)
    assert "expected one of the kinds" in outcome.liar["last_refusal"]
    alerts = scene.victim.alerts(code="unauthorised_kind")
    assert [a.evidence for a in alerts] == [(recall.id,)]
    with scene.victim.engine.connect() as conn:
        rows = conn.execute(select(m.REJECTED.c.entry_id, m.REJECTED.c.payload)).all()
    assert [(r.entry_id, r.payload) for r in rows] == [(recall.id, recall.payload_bytes)]
    assert scene.victim.recall_of(GTIN, LOT) is None
    assert scene.victim.heads()["dist/wh"] == scene.honest.heads()["dist/wh"]
    assert_nothing_frozen(scene.victim)
    assert scene.victim.heads() == scene.honest.heads()
    assert snapshot(scene.victim) == snapshot(scene.honest)


# -- pages outside the protocol --------------------------------------------------------------


@pytest.mark.parametrize("shape", ["more-entries-than-asked", "body-over-32-mib"])
def test_oversized_page_is_refused(scene: Scene, shape: str) -> None:
    chain = scene.chain("acme/line1")
    liar = Byzantine()
    liar.put([*chain, scene.extra_acme])

    def oversized(feed: str, start: int, limit: int) -> Response | None:
        if feed != "acme/line1":
            return None
        if shape == "more-entries-than-asked":
            wire = chain[3].to_wire()
            return Response(
                json.dumps({"feed": feed, "entries": [wire] * (limit + 1)}),
                mimetype="application/json",
            )

        def body() -> Iterator[bytes]:
            yield b'{"feed": "acme/line1", "entries": ["'
            block = b"A" * (1024 * 1024)
            for _ in range(MAX_BODY // len(block) + 2):
                yield block
            yield b'"]}'

        return Response(body(), mimetype="application/json")

    liar.entries_answer = oversized
    outcome = replicate(scene, liar)
    expected = "oversized page" if shape == "more-entries-than-asked" else "at most 33554432 bytes"
    assert expected in outcome.liar["last_error"]
    assert_honest_replication_went_on(scene)


MALFORMED_HEADS: dict[str, bytes] = {
    "not-json": b"<html>maintenance</html>",
    "cut-short": b'{"feeds": {"acme/line1": {"size": 3',
    "nan": b'{"feeds": {"acme/line1": {"size": NaN, "head": null}}}',
    "duplicate-keys": b'{"feeds": {}, "feeds": {}}',
    "size-as-text": b'{"feeds": {"acme/line1": {"size": "9", "head": "' + b"a" * 64 + b'"}}}',
    "size-as-bool": b'{"feeds": {"acme/line1": {"size": true, "head": "' + b"a" * 64 + b'"}}}',
    "negative-size": b'{"feeds": {"acme/line1": {"size": -1, "head": null}}}',
    "head-not-hex": b'{"feeds": {"acme/line1": {"size": 9, "head": "zz"}}}',
    "head-without-size": b'{"feeds": {"acme/line1": {"size": 0, "head": "' + b"a" * 64 + b'"}}}',
    "frozen-beyond-size": b'{"feeds": {"acme/line1": {"size": 2, "head": "'
    + b"a" * 64
    + b'", "frozen_at": 7}}}',
    "feeds-as-array": b'{"feeds": []}',
    "path-as-feed-id": b'{"feeds": {"../../admin": {"size": 1, "head": "' + b"a" * 64 + b'"}}}',
    "deep-nesting": b"[" * 100_000,
    "array-at-top": b"[]",
    "invalid-utf8": b'{"feeds": {"\xff": {}}}',
}


@pytest.mark.parametrize("name", sorted(MALFORMED_HEADS))
def test_malformed_json_heads_are_refused(scene: Scene, name: str) -> None:
    body = MALFORMED_HEADS[name]
    liar = Byzantine(feeds_answer=lambda: Response(body, mimetype="application/json"))
    outcome = replicate(scene, liar)
    assert outcome.liar["last_error"] is not None
    assert outcome.liar["last_success"] is None
    assert_honest_replication_went_on(scene)


def _page(entries: Any) -> Response:
    return Response(
        json.dumps({"feed": "acme/line1", "entries": entries}), mimetype="application/json"
    )


def _reindented(wire: dict[str, str]) -> dict[str, str]:
    """The same payload JSON, pretty-printed (with its true id): not the canonical bytes that
    were signed."""
    data = json.dumps(json.loads(base64.b64decode(wire["payload"])), indent=1).encode()
    return {
        **wire,
        "id": hashlib.sha256(data).hexdigest(),
        "payload": base64.b64encode(data).decode(),
    }


def _malformed_entries(scene: Scene) -> dict[str, Any]:
    wire = scene.entry("acme/line1", 3).to_wire()
    other = scene.entry("acme/line1", 4).to_wire()
    return {
        "entries-as-object": {"0": wire},
        "entry-as-text": ["not an entry"],
        "payload-not-base64": [{**wire, "payload": "%%%"}],
        "claimed-id-of-other-bytes": [{**wire, "id": other["id"]}],
        "signature-too-short": [{**wire, "signature": "AAAA"}],
        "payload-not-canonical": [_reindented(wire)],
    }


@pytest.mark.parametrize(
    "name",
    [
        "entries-as-object",
        "entry-as-text",
        "payload-not-base64",
        "claimed-id-of-other-bytes",
        "signature-too-short",
        "payload-not-canonical",
    ],
)
def test_malformed_json_entries_are_refused(scene: Scene, name: str) -> None:
    answer = _malformed_entries(scene)[name]
    liar = Byzantine()
    liar.put([*scene.chain("acme/line1"), scene.extra_acme])
    liar.entries_answer = lambda feed, start, limit: _page(answer) if feed == "acme/line1" else None
    outcome = replicate(scene, liar)
    assert MALFORMED_ENTRY_ERRORS[name] in outcome.liar["last_error"]
    assert_honest_replication_went_on(scene)


MALFORMED_ENTRY_ERRORS = {
    "entries-as-object": "expected 'entries' to be a JSON array",
    "entry-as-text": "expected an entry with an id",
    "payload-not-base64": "base64",
    "claimed-id-of-other-bytes": "for these bytes, found claimed id",
    "signature-too-short": "64-byte Ed25519 signature",
    "payload-not-canonical": "canonical",
}


@pytest.mark.parametrize("shape", ["other-feed-named", "acme-named"])
def test_entries_of_another_feed_are_refused(scene: Scene, shape: str) -> None:
    """Asked for acme's entries, the liar replays the distributor's (genuine ones)."""
    liar = Byzantine()
    liar.put([*scene.chain("acme/line1"), scene.extra_acme])
    dist = [e.to_wire() for e in scene.chain("dist/wh")]

    def replay(feed: str, start: int, limit: int) -> Response | None:
        if feed != "acme/line1":
            return None
        named = "dist/wh" if shape == "other-feed-named" else feed
        return Response(
            json.dumps({"feed": named, "entries": dist[:limit]}), mimetype="application/json"
        )

    liar.entries_answer = replay
    outcome = replicate(scene, liar)
    assert "acme/line1" in outcome.liar["last_error"]
    assert_honest_replication_went_on(scene)


def test_lying_heads_do_not_starve_the_honest_copy(scene: Scene) -> None:
    """The liar claims a million acme entries and serves none."""
    liar = Byzantine(heads={"acme/line1": {"size": 1_000_000, "head": "b" * 64, "frozen_at": None}})
    outcome = replicate(scene, liar)
    assert "advertised 1000000 entries, served none from #3" in outcome.liar["last_error"]
    assert_honest_replication_went_on(scene)


def test_unreachable_peer_does_not_stop_the_round(scene: Scene) -> None:
    with serve(Honest(scene.honest).app()) as good:
        replicator = Replicator(
            scene.victim,
            scene.h.world.membership,
            [peer("byzantine", closed_port_url()), peer("honest", good)],
            timeout=2,
        )
        replicator.run_once()
        status = replicator.status()
        replicator.stop()
    assert "the connection failed" in status["peers"]["byzantine"]["last_error"]
    assert status["peers"]["byzantine"]["consecutive_failures"] == 1
    assert status["peers"]["honest"]["last_error"] is None
    assert_honest_replication_went_on(scene)


# -- membership ----------------------------------------------------------------------------


@pytest.mark.parametrize("shape", ["forged-next-version", "other-consortium"])
def test_forged_membership_is_refused(scene: Scene, shape: str) -> None:
    """The liar offers a membership v2 that admits its own feed (signed by a key that is not
    governance), or a genesis of another consortium; it also serves entries of that feed."""
    w = scene.h.world
    genesis = signed_genesis(w)
    intruder = ms.organisation(
        "byz",
        name="Byz",
        role=Role.MANUFACTURER,
        gln="9506000099996",
        company_prefixes=["9506000"],
        feeds={"byz/line": ms.raw_public(key(77))},
    )
    liar = Byzantine()
    if shape == "forged-next-version":
        v2 = ms.sign_membership(w.membership.with_organisation(intruder), {"gov-1": key(99)})
        liar.memberships = [genesis, v2]
    else:
        other = ms.genesis("other", {"gov-1": ms.raw_public(key(99))}, 1, [intruder])
        liar.memberships = [ms.sign_membership(other, {"gov-1": key(99)})]
    writer = FeedWriter("byz/line", key(77))
    liar.put([writer.append(Kind.COMMISSION, ts=w.ts(), body={"gtin": GTIN, "serials": ["X1"]})])
    outcome = replicate(scene, liar)
    assert "membership refused" in outcome.liar["last_error"]
    assert [v.id for v in scene.victim.memberships()] == [genesis.id]
    assert outcome.status["membership_version"] == 1
    assert "byz/line" not in scene.victim.heads()
    assert_honest_replication_went_on(scene)
