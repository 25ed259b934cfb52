"""Cross-border verification (issue 17, item 2): B's node verifies A's packs against A's roots
and A's cosigned checkpoints (docs/spec/cross-border.md, ADR 0028)."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

from click.testing import CliRunner

from keys.consortium import Consortium
from ledger.feed import FeedWriter
from ledger.feedlog import sign_feed_checkpoint
from ledger.identifiers import lot_uri
from ledger.kinds import Kind
from ledger.witness import cosign_feed_checkpoint, open_feed_checkpoint
from medtrace.cli.main import cli as medtrace_cli
from node.config import load_config
from node.store import Store
from tests.crossborder.conftest import EXPIRY, GTIN, World, rewrite_json
from tests.nodes_setup import PASSPHRASE

UNKNOWN = "NOSUCHPACK01"


def codes(answer: dict[str, Any]) -> set[str]:
    return {r["code"] for r in answer["reasons"]}


def test_authentic_foreign_pack_is_released(w: World) -> None:
    answer = w.scan(w.authentic)
    assert answer["verdict"] == "RELEASE", answer["reasons"]
    assert answer["ledger_country"] == "DE"
    assert answer["answered_by"]["genesis"] == w.a.genesis
    assert answer["answered_by"]["consortium"] == "Medicines DE"
    assert answer["answered_by"]["url"] == w.proxy.url  # as the GS1 resolver named it
    assert f"/01/{GTIN}?linkType=gs1:verificationService" in w.resolver.asked
    assert 0 <= answer["checkpoint_age_s"] < 600


def test_recalled_in_a_is_rejected(w: World) -> None:
    answer = w.scan(w.recalled, lot="LR")
    assert (answer["verdict"], codes(answer)) == ("REJECT", {"recalled"})
    assert answer["ledger_country"] == "DE"
    # the failed check is signed on B's feed: B's regulator sees it as an alert
    alerts = w.b.get("/api/v1/alerts", "operator").json()["alerts"]
    mine = [a for a in alerts if a["code"] == "check_rejected" and a["subject"] == answer["pack"]]
    assert mine, alerts


def test_dispensed_in_a_is_rejected(w: World) -> None:
    answer = w.scan(w.dispensed)
    assert (answer["verdict"], codes(answer)) == ("REJECT", {"already_dispensed"})


def test_unknown_in_a_is_what_a_says_at_home(w: World) -> None:
    answer = w.scan(UNKNOWN)
    text = f"(01){GTIN}(17)311231(10)L1(21){UNKNOWN}"
    home = w.a.post("/api/v1/scan", {"text": text, "context": "border"}, "verifier").json()
    assert (answer["verdict"], codes(answer)) == (home["verdict"], codes(home))
    assert answer["verdict"] != "RELEASE"


def _provenance(path: str) -> bool:
    return path.split("?", maxsplit=1)[0].endswith("/provenance")


def test_answer_altered_in_transit(w: World) -> None:
    """The commissioning entry's lot is changed on the way: its signature no longer holds."""

    def alter(value: dict[str, Any]) -> None:
        for wire in value["entries"]:
            payload = json.loads(base64.b64decode(wire["payload"]))
            if payload["kind"] == "commission":
                payload["body"]["ilmd"]["lotNumber"] = "L9"
                raw = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
                wire["payload"] = base64.b64encode(raw).decode()

    w.proxy.tamper = lambda path, status, body: (
        status,
        rewrite_json(body, alter) if _provenance(path) else body,
    )
    answer = w.scan(w.authentic, lot="L9")
    assert answer["verdict"] == "REJECT", answer["reasons"]
    assert "altered" in codes(answer)


def _cosigned_note(w: World, feed: str, at: int) -> str:
    opened = Consortium.open(w.a.consortium)
    store = Store(load_config(w.a.data).database_url(w.a.data))
    try:
        note = sign_feed_checkpoint(
            w.a.genesis, store.feed_tree(feed), opened.feed_key(feed, PASSPHRASE)
        )
    finally:
        store.close()
    checkpoint = open_feed_checkpoint(opened.membership, w.a.genesis, note)
    witness = opened.feed_key("dist/wh", PASSPHRASE)
    cosigned = cosign_feed_checkpoint(checkpoint, w.a.genesis, "dist/wh", witness, at)
    return cosigned.decode()


def _replace_checkpoints(w: World, note_of: Any) -> None:
    def tamper(path: str, status: int, body: bytes) -> tuple[int, bytes]:
        if "/proof?" not in path or status != 200:
            return status, body
        return status, rewrite_json(body, lambda v: v.update(checkpoint=note_of(v)))

    w.proxy.tamper = tamper


def test_stale_foreign_checkpoint(w: World) -> None:
    """An old view replayed: a genuine checkpoint cosigned two hours ago (A's policy allows
    one hour)."""
    stale = _cosigned_note(w, "acme/line-1", int(time.time()) - 7200)
    _replace_checkpoints(w, lambda v: stale if v["feed"] == "acme/line-1" else v["checkpoint"])
    answer = w.scan(w.authentic)
    assert answer["verdict"] == "HOLD", answer["reasons"]
    assert "stale_checkpoint" in codes(answer)


def test_under_cosigned_foreign_checkpoint(w: World) -> None:
    """The witnesses' cosignatures are cut from every checkpoint on the way."""

    def signed_by_the_log_only(v: dict[str, Any]) -> str:
        text, _, signatures = str(v["checkpoint"]).partition("\n\n")
        return text + "\n\n" + signatures.splitlines()[0] + "\n"

    _replace_checkpoints(w, signed_by_the_log_only)
    answer = w.scan(w.authentic)
    assert answer["verdict"] == "HOLD", answer["reasons"]
    assert "too_few_cosignatures" in codes(answer)


def test_untrusted_consortium(w: World) -> None:
    """A node of consortium C (not pinned by B) answers for A's prefix: its pack of A's GTIN
    is judged against A's genesis, never C's."""
    w.proxy.target, w.proxy.token = w.c.url, w.c.tokens["verifier"]
    answer = w.scan(w.fake)
    assert answer["verdict"] == "REJECT", answer["reasons"]
    assert codes(answer) & {"forged", "wrong_consortium", "forged_membership"}


def test_pack_of_no_trusted_ledger_is_unknown(w: World) -> None:
    """A GTIN under no foreign root's prefix is looked up at home only: unknown."""
    text = "(01)09506000134352(17)311231(10)L1(21)ANYSERIAL01"
    answer = w.b.post("/api/v1/scan", {"text": text, "context": "border"}, "verifier").json()
    assert answer["verdict"] != "RELEASE"
    assert "unknown_pack" in codes(answer)
    assert "ledger_country" not in answer
    assert not w.proxy.paths  # nobody was asked


def test_answer_signed_by_revoked_member(w: World) -> None:
    """A revokes its manufacturer's line from its current size (the key was stolen). The thief
    signs a commissioning at that position and a man in the middle serves it with the
    membership before the revocation: B, which follows A's membership, refuses it."""
    opened = Consortium.open(w.a.consortium)
    before = [v.to_wire() for v in opened.versions()]  # the membership before the revocation
    store = Store(load_config(w.a.data).database_url(w.a.data))
    try:
        head = store.head("acme/line-1")
        assert head is not None
        size = head.payload.seq + 1
        revoked = opened.revoke_feed("acme/line-1", size, PASSPHRASE)
        store.save_membership(revoked)
    finally:
        store.close()
    deadline = time.monotonic() + 10
    while True:  # A's node adopts the revocation and serves it; B follows it with the next answer
        answer = w.scan(w.authentic)
        if answer["answered_by"]["membership_version"] == revoked.membership.version:
            break
        assert time.monotonic() < deadline, "A's node did not adopt the revocation"
        time.sleep(0.5)
    assert answer["verdict"] == "RELEASE"  # entries before the revocation stay valid
    thief = FeedWriter("acme/line-1", opened.feed_key("acme/line-1", PASSPHRASE), head, version=1)
    forged = thief.append(
        Kind.COMMISSION,
        subjects=[lot_uri(GTIN, "L1")],
        body={
            "gtin": GTIN,
            "ilmd": {"lotNumber": "L1", "itemExpirationDate": EXPIRY},
            "serials": ["STOLENKEY001"],
        },
    )

    def serve_forgery(path: str, status: int, body: bytes) -> tuple[int, bytes]:
        if not _provenance(path):
            return status, body
        return 200, rewrite_json(
            body,
            lambda v: v.update(memberships=before, entries=[forged.to_wire()], withheld=[]),
        )

    w.proxy.tamper = serve_forgery
    answer = w.scan("STOLENKEY001")
    assert answer["verdict"] == "REJECT", answer["reasons"]
    assert "forged" in codes(answer)
    assert answer["answered_by"]["membership_version"] == revoked.membership.version


def test_refused_token_is_hold_not_a_traceback(w: World) -> None:
    """A's node refuses the token B's node asks with (revoked at A, say): HOLD, one line."""
    w.proxy.token = "mt_not-a-token-of-a"
    answer = w.scan(w.authentic)
    assert answer["verdict"] == "HOLD"
    assert codes(answer) == {"ledger_unreachable"}
    assert "refused the token" in answer["reasons"][0]["message"]
    assert answer["ledger_country"] == "DE"


def test_medtrace_scan_at_b_shows_the_verdict_of_as_ledger(w: World) -> None:
    """``medtrace scan --node B`` of A's pack: B's node holds nothing of it, its membership
    routes the GTIN to A, so B's node verifies it against A's ledger and says so."""
    text = f"(01){GTIN}(17)311231(10)LR(21){w.recalled}"
    args = ["scan", "--node", w.b.url, "--token", w.b.tokens["verifier"]]
    args += ["--genesis", w.b.genesis, "--json", text]
    no_profile = {"MEDTRACE_PROFILE": "/nonexistent"}
    result = CliRunner().invoke(medtrace_cli, args, env=no_profile)
    assert result.exit_code == 2, result.output  # REJECT
    answer = json.loads(result.stdout.strip().splitlines()[-1])
    assert (answer["verdict"], codes(answer)) == ("REJECT", {"recalled"})
    assert answer["foreign"]["ledger_country"] == "DE"
    assert answer["foreign"]["answered_by"]["genesis"] == w.a.genesis
    shown = CliRunner().invoke(medtrace_cli, [*args[:-2], text], env=no_profile)
    assert "ledger of DE: Medicines DE" in shown.stdout


def test_foreign_ledger_down_is_hold(w: World) -> None:
    """Nothing answers behind the address the resolver named: HOLD, never a verdict on the
    pack."""
    w.proxy.target = "http://127.0.0.1:9"  # discard: nothing listens
    answer = w.scan(w.authentic)
    assert answer["verdict"] == "HOLD"
    assert codes(answer) == {"ledger_unreachable"}
    assert answer["checkpoint_age_s"] is None
