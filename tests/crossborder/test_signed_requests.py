"""Signed requests between consortia (ADR 0028, addendum; docs/spec/cross-border.md, "Signed
requests between consortia"): A issued B's node a verifier token bound to B, so a request with
it counts only when signed by the current key of a feed of B's membership, which A follows from
B's pinned genesis. Each refusal is 403 problem details before the route runs."""

from __future__ import annotations

import json
import time
from typing import Any

import requests
from click.testing import CliRunner
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from api.foreign_auth import REASK_S
from keys.consortium import Consortium
from medtrace.cli.node import node_group
from node.config import load_config
from node.replication.signed_requests import RequestSigner
from node.store import Store
from scanner.cross_border import foreign_signer
from tests.crossborder.conftest import GTIN, World
from tests.nodes_setup import PASSPHRASE

PROBLEM_JSON = "application/problem+json"


def _provenance(w: World, token: str, signer: RequestSigner | None) -> requests.Response:
    """What B's node asks A first about a pack: its provenance, with ``token``."""
    return requests.get(
        f"{w.a.url}/api/v1/packs/{GTIN}/{w.authentic}/provenance",
        headers={"Authorization": f"Bearer {token}"},
        auth=signer,
        timeout=60,
    )


def _key(consortium: Any, feed: str) -> Ed25519PrivateKey:
    return Consortium.open(consortium).feed_key(feed, PASSPHRASE)


def _refused(answer: requests.Response, *found: str) -> str:
    """The 403 problem's detail, checked to be one line naming what was expected and found."""
    assert answer.status_code == 403, (answer.status_code, answer.text[:500])
    assert answer.headers["Content-Type"].startswith(PROBLEM_JSON)
    problem = answer.json()
    assert problem["type"].endswith(":forbidden")
    detail = str(problem["detail"])
    assert "\n" not in detail, detail
    assert detail.startswith("expected "), detail
    for part in found:
        assert part in detail, detail
    return detail


def test_bound_token_and_signed_request_get_the_verdict(w: World) -> None:
    """A's token for B's node is bound to B; B's node signs every request with its feed key
    (and its consortium); A checks it and answers: the scan at B is RELEASE as before."""
    listed = CliRunner().invoke(node_group, ["token", "list", "--data", str(w.a.data), "--json"])
    bound = {t["user"]: t["consortium"] for t in json.loads(listed.stdout)["tokens"]}
    assert bound["no-tull"] == w.b.genesis
    assert bound["verifier-1"] is None
    answer = w.scan(w.authentic)
    assert answer["verdict"] == "RELEASE", answer["reasons"]
    assert w.proxy.headers
    for sent in w.proxy.headers:  # provenance and every proof, each signed by B's customs node
        assert 'tag="medtrace-foreign"' in sent["Signature-Input"]
        assert 'keyid="tull/post"' in sent["Signature-Input"]
        assert sent["Medtrace-Consortium"] == w.b.genesis
    # and any current member of B may sign: the pharmacy's feed key, asked directly
    signer = foreign_signer("apotek/disk", _key(w.b.consortium, "apotek/disk"), w.b.genesis)
    assert _provenance(w, w.bound["b"], signer).status_code == 200
    # an unbound token is not affected: no signature, answered as before
    assert _provenance(w, w.a.tokens["verifier"], None).status_code == 200


def test_unsigned_request_with_bound_token_is_refused(w: World) -> None:
    detail = _refused(_provenance(w, w.bound["b"], None), "Legemidler NO", "unsigned request")
    assert "medtrace-foreign" in detail
    # a man in the middle who strips B's node's signature: A refuses, B's verdict is HOLD
    w.proxy.strip_signatures = True
    answer = w.scan(w.authentic)
    assert answer["verdict"] == "HOLD"
    assert {r["code"] for r in answer["reasons"]} == {"ledger_unreachable"}
    assert "unsigned request" in answer["reasons"][0]["message"]


def test_request_signed_by_another_consortium_is_refused(w: World) -> None:
    """A member of C (which A pins too) signs with B's bound token: naming C, naming B, or with
    a feed id B's membership also lacks; and B's own node with the token A bound to C."""
    c_genesis = load_config(w.c.data).genesis_id
    c_key = _key(w.c.consortium, "fake/line")
    as_c = foreign_signer("fake/line", c_key, c_genesis)
    _refused(_provenance(w, w.bound["b"], as_c), "Legemidler NO", "token of another consortium")
    as_b = foreign_signer("fake/line", c_key, w.b.genesis)
    _refused(_provenance(w, w.bound["b"], as_b), "'fake/line'", "which it does not list")
    # a feed id both consortia have: C's key does not verify as B's
    dist = foreign_signer("dist/wh", _key(w.c.consortium, "dist/wh"), w.b.genesis)
    _refused(_provenance(w, w.bound["b"], dist), "does not list")
    # a valid key of B with the token A bound to C
    b_node = foreign_signer("tull/post", _key(w.b.consortium, "tull/post"), w.b.genesis)
    _refused(_provenance(w, w.bound["c"], b_node), "Not trusted", "token of another consortium")


def test_request_signed_by_a_revoked_key_is_refused(w: World) -> None:
    """B rotates its pharmacy's feed key (the old one revoked from position 0, say it was
    stolen). A learns the new version from B's node as soon as a key it does not hold signs (the
    pharmacy's new one), and from then on the old key is refused."""
    old = _key(w.b.consortium, "apotek/disk")
    signed_old = foreign_signer("apotek/disk", old, w.b.genesis)
    assert _provenance(w, w.bound["b"], signed_old).status_code == 200  # current until rotated
    opened = Consortium.open(w.b.consortium)
    rotated = opened.rotate_feed_key("apotek/disk", 0, PASSPHRASE)
    store = Store(load_config(w.b.data).database_url(w.b.data))
    try:
        store.save_membership(rotated)  # B's node serves it from now on
    finally:
        store.close()
    new = _key(w.b.consortium, "apotek/disk")
    assert new.public_key() != old.public_key()
    time.sleep(REASK_S + 0.5)  # A asks B again at most this often
    signed_new = foreign_signer("apotek/disk", new, w.b.genesis)
    deadline = time.monotonic() + 15
    while _provenance(w, w.bound["b"], signed_new).status_code != 200:
        assert time.monotonic() < deadline, "A did not follow B's rotation"
        time.sleep(REASK_S)
    for _ in range(4):  # every worker of A's node: each holds B's chain from the shared file
        _refused(
            _provenance(w, w.bound["b"], signed_old),
            f"v{rotated.membership.version}",
            "does not verify",
        )
    # B's customs node, whose key did not change, still gets its verdicts
    assert w.scan(w.authentic)["verdict"] == "RELEASE"


def test_stolen_bound_token_without_the_key_is_refused(w: World) -> None:
    """The token leaks, the feed key does not: a key of the thief's own under B's keyid, an
    old signature replayed onto another request, a signature made over another token."""
    thief = foreign_signer("tull/post", Ed25519PrivateKey.generate(), w.b.genesis)
    _refused(_provenance(w, w.bound["b"], thief), "Legemidler NO", "does not verify")
    # a signature B's node made for another request (another serial) replayed onto this one
    real = foreign_signer("tull/post", _key(w.b.consortium, "tull/post"), w.b.genesis)
    prepared = requests.Request(
        "GET",
        f"{w.a.url}/api/v1/packs/{GTIN}/OTHERSERIAL01/provenance",
        headers={"Authorization": f"Bearer {w.bound['b']}"},
    ).prepare()
    real(prepared)
    replayed = requests.get(
        f"{w.a.url}/api/v1/packs/{GTIN}/{w.authentic}/provenance",
        headers={k: v for k, v in prepared.headers.items() if k.lower() != "host"},
        timeout=60,
    )
    _refused(replayed, "does not verify")
    # a signature by B's node over its own token, sent with B's bound token copied elsewhere:
    # the signature covers the token, so it does not carry over to another
    signed_other = requests.Request(
        "GET",
        f"{w.a.url}/api/v1/packs/{GTIN}/{w.authentic}/provenance",
        headers={"Authorization": f"Bearer {w.bound['c']}"},
    ).prepare()
    real(signed_other)
    headers = dict(signed_other.headers)
    headers["Authorization"] = f"Bearer {w.bound['b']}"
    _refused(requests.get(signed_other.url or "", headers=headers, timeout=60), "does not verify")


def test_a_token_is_bound_only_to_a_pinned_consortium_and_as_a_verifier(w: World) -> None:
    """``--consortium`` names a foreign root of the node's membership, for a verifier token;
    anything else is one line, exit 1, and no token."""
    unpinned = "ab" * 32
    args = ["token", "create", "--data", str(w.a.data), "--user", "x", "--consortium"]
    result = CliRunner().invoke(node_group, [*args, unpinned])
    assert result.exit_code == 1
    assert not result.stdout.strip()
    assert "expected a foreign root of this consortium's membership" in result.stderr
    assert "which it does not pin" in result.stderr
    result = CliRunner().invoke(node_group, [*args, w.b.genesis, "--role", "peer"])
    assert result.exit_code == 1
    assert "expected role verifier for a token bound to a foreign consortium" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
