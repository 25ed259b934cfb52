"""The consortium directory: versions signed by the governance threshold, keys that match them."""

from __future__ import annotations

import base64
import json
import os
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from keys.consortium import Consortium
from keys.consortium.layout import (
    CONSORTIUM_FILE,
    ConsortiumError,
    load_chain,
    version_file_name,
)
from keys.keystore import (
    PASSPHRASE_ENV,
    KeyStoreError,
    WrongPassphrase,
    generate_key,
    load_private_key,
    public_bytes,
)
from ledger.canonical import canonical_bytes
from ledger.entry import Payload, SignedEntry, sign
from ledger.errors import (
    IdentifierError,
    KeyNotAuthorised,
    MembershipChainError,
    MembershipError,
    SignatureInvalid,
    ThresholdNotMet,
    UnknownFeed,
)
from ledger.feed import verify_entry
from ledger.kinds import ROLE_KINDS, Kind, Role
from ledger.membership import SignedMembership, sign_membership


def signed_at(feed: str, seq: int, key: Ed25519PrivateKey, kind: Kind = Kind.SHIP) -> SignedEntry:
    """An entry of ``feed`` at ``seq`` signed with ``key`` (links are not what these tests test)."""
    payload = Payload(
        feed=feed,
        seq=seq,
        prev=None if seq == 0 else "ab" * 32,
        ts="2026-11-22T10:15:00.000Z",
        kind=kind,
    )
    return sign(payload, key)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def snapshot(directory: Path) -> dict[str, bytes]:
    """Every file under ``directory`` (bar the lock) and its bytes."""
    return {
        str(p.relative_to(directory)): p.read_bytes()
        for p in sorted(directory.rglob("*"))
        if p.is_file() and p.name != ".lock"
    }


def drop_version(directory: Path, signed: SignedMembership) -> Path:
    path = directory / "membership" / version_file_name(signed.membership.version)
    path.write_text(json.dumps(signed.to_wire()))
    return path


# -- create and open -----------------------------------------------------------------------------


def test_create_lays_out_the_directory(consortium_dir: Path, pw: str) -> None:
    c = Consortium.create(consortium_dir, "Test pilot", passphrase=pw)
    pin = json.loads((consortium_dir / CONSORTIUM_FILE).read_text())
    assert pin == {"name": "Test pilot", "genesis_id": c.genesis_id, "current_version": 1}
    genesis = c.versions()[0]
    assert genesis.id == c.genesis_id
    assert json.loads((consortium_dir / "membership" / "v0001.json").read_text()) == (
        genesis.to_wire()
    )
    m = c.membership
    assert (m.version, m.previous, m.threshold, m.consortium) == (1, None, 2, "Test pilot")
    assert sorted(m.governance) == ["gov-1", "gov-2", "gov-3"]
    assert set(genesis.signatures) == {"gov-1", "gov-2", "gov-3"}
    for name, public in m.governance.items():
        path = consortium_dir / "governance" / f"{name}.key"
        assert mode(path) == 0o600
        assert public_bytes(c.governance_key(name, pw)) == public
    assert mode(consortium_dir / "governance") == 0o700
    assert mode(consortium_dir / "feeds") == 0o700


def test_create_with_other_governance(consortium_dir: Path) -> None:
    c = Consortium.create(
        consortium_dir, "Five", governance=["a", "b", "c", "d", "e"], threshold=3, passphrase="p"
    )
    assert c.membership.threshold == 3
    assert sorted(c.membership.governance) == ["a", "b", "c", "d", "e"]


@pytest.mark.parametrize(
    ("governance", "threshold", "match"),
    [
        (("gov-1", "gov-2"), 3, "threshold between 1 and 2"),
        (("gov-1", "gov-2"), 0, "threshold between 1 and 2"),
        (("gov-1", "gov-1"), 1, "distinct"),
        ((), 1, "distinct"),
        (("../evil",), 1, "governance key name"),
        (("Gov",), 1, "governance key name"),
    ],
)
def test_create_refuses_bad_governance(
    consortium_dir: Path, governance: tuple[str, ...], threshold: int, match: str
) -> None:
    with pytest.raises(ConsortiumError, match=match):
        Consortium.create(
            consortium_dir, "X", governance=governance, threshold=threshold, passphrase="p"
        )
    assert not consortium_dir.exists()


def test_create_refuses_a_directory_in_use(consortium_dir: Path) -> None:
    consortium_dir.mkdir()
    (consortium_dir / "notes.txt").write_text("mine")
    with pytest.raises(ConsortiumError, match="in use"):
        Consortium.create(consortium_dir, "X", passphrase="p")
    assert sorted(p.name for p in consortium_dir.iterdir()) == ["notes.txt"]


def test_create_takes_the_passphrase_from_the_environment(
    consortium_dir: Path, monkeypatch: pytest.MonkeyPatch, pw: str
) -> None:
    monkeypatch.setenv(PASSPHRASE_ENV, "from-env")
    c = Consortium.create(consortium_dir, "Env")
    c.governance_key("gov-1", "from-env")
    with pytest.raises(WrongPassphrase):
        c.governance_key("gov-1", pw)


def test_open_verifies_and_matches(consortium: Consortium) -> None:
    again = Consortium.open(consortium.path, genesis_id=consortium.genesis_id)
    assert [v.id for v in again.versions()] == [v.id for v in consortium.versions()]
    assert again.version == 3
    assert again.chain.current == again.membership
    assert again.membership.organisations["acme"].role is Role.MANUFACTURER


def test_open_with_a_different_pin_is_refused(consortium: Consortium) -> None:
    with pytest.raises(MembershipChainError, match="pinned genesis"):
        Consortium.open(consortium.path, genesis_id="0" * 64)


def test_open_a_missing_directory_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConsortiumError, match=r"consortium\.json: expected the consortium file"):
        Consortium.open(tmp_path / "nowhere")


# -- changes -------------------------------------------------------------------------------------


def test_add_organisation_writes_keys_and_version(consortium: Consortium, pw: str) -> None:
    d = consortium.path
    assert consortium.version == 3
    assert json.loads((d / CONSORTIUM_FILE).read_text())["current_version"] == 3
    acme = consortium.membership.organisations["acme"]
    assert acme.company_prefixes == ("4012345",)
    assert sorted(acme.feeds) == ["acme/line-1", "acme/wh"]
    for feed_id, spec in acme.feeds.items():
        assert spec.kinds == ROLE_KINDS[Role.MANUFACTURER]
        path = consortium.feed_key_path(feed_id)
        assert path == d / "feeds" / "acme" / f"{feed_id.split('/')[1]}.key"
        assert mode(path) == 0o600
        key = consortium.feed_key(feed_id, pw)
        assert public_bytes(key) == spec.keys[0].public
        verify_entry(signed_at(feed_id, 0, key), consortium.membership)
    assert mode(d / "feeds" / "acme") == 0o700
    assert sorted(consortium.membership.organisations["apo"].feeds) == ["apo/main"]
    assert all(len(v.signatures) == 3 for v in consortium.versions())


def test_add_feed_with_narrowed_kinds(consortium: Consortium, pw: str) -> None:
    signed = consortium.add_feed("acme", "returns", pw, kinds=["receive", Kind.RETURN])
    assert signed.membership.version == 4
    spec = consortium.membership.feed("acme/returns")
    assert spec.kinds == {Kind.RECEIVE, Kind.RETURN}
    key = consortium.feed_key("acme/returns", pw)
    verify_entry(signed_at("acme/returns", 0, key, Kind.RETURN), consortium.membership)


def test_rotation_splits_validity_at_the_position(consortium: Consortium, pw: str) -> None:
    feed = "acme/line-1"
    old = consortium.feed_key(feed, pw)
    signed = consortium.rotate_feed_key(feed, 10, pw)
    assert signed.membership.version == 4
    new = consortium.feed_key(feed, pw)
    assert public_bytes(new) != public_bytes(old)
    m = consortium.membership
    verify_entry(signed_at(feed, 9, old), m)
    verify_entry(signed_at(feed, 10, new), m)
    verify_entry(signed_at(feed, 500, new), m)
    with pytest.raises(SignatureInvalid):
        verify_entry(signed_at(feed, 10, old), m)
    with pytest.raises(SignatureInvalid):
        verify_entry(signed_at(feed, 9, new), m)
    # the old key file is kept for audit, still encrypted and 0600, under a *.key name
    retired = consortium.path / "feeds" / "acme" / "line-1.retired-v0004.key"
    assert consortium.retired_key_paths(feed) == [retired]
    assert mode(retired) == 0o600
    assert public_bytes(load_private_key(retired, pw)) == public_bytes(old)
    assert sorted(p.name for p in retired.parent.iterdir()) == [
        "line-1.key",
        "line-1.retired-v0004.key",
        "wh.key",
    ]


def test_rotation_into_the_past_of_the_current_key_is_refused(
    consortium: Consortium, pw: str
) -> None:
    consortium.rotate_feed_key("acme/line-1", 10, pw)
    before = snapshot(consortium.path)
    with pytest.raises(MembershipError, match="≥ 10"):
        consortium.rotate_feed_key("acme/line-1", 5, pw)
    assert snapshot(consortium.path) == before


def test_revoke_feed_from_a_position(consortium: Consortium, pw: str) -> None:
    key = consortium.feed_key("acme/wh", pw)
    consortium.revoke_feed("acme/wh", 3, pw)
    m = consortium.membership
    verify_entry(signed_at("acme/wh", 2, key), m)
    with pytest.raises(KeyNotAuthorised):
        verify_entry(signed_at("acme/wh", 3, key), m)
    with pytest.raises(MembershipError, match="found none"):
        consortium.revoke_feed("acme/wh", 3, pw)  # nothing left to revoke: no new version
    assert consortium.version == 4


def test_revoke_organisation_needs_exactly_its_feeds(consortium: Consortium, pw: str) -> None:
    before = snapshot(consortium.path)
    with pytest.raises(ConsortiumError, match=r"missing \['acme/wh'\]"):
        consortium.revoke_organisation("acme", {"acme/line-1": 4}, pw)
    with pytest.raises(ConsortiumError, match=r"unknown \['acme/mian'\]"):
        consortium.revoke_organisation("acme", {"acme/line-1": 4, "acme/mian": 0}, pw)
    assert snapshot(consortium.path) == before
    line, wh = (consortium.feed_key(f, pw) for f in ("acme/line-1", "acme/wh"))
    consortium.revoke_organisation("acme", {"acme/line-1": 4, "acme/wh": 0}, pw)
    m = consortium.membership
    verify_entry(signed_at("acme/line-1", 3, line), m)
    for feed, key, seq in (("acme/line-1", line, 4), ("acme/wh", wh, 0)):
        with pytest.raises(KeyNotAuthorised):
            verify_entry(signed_at(feed, seq, key), m)


def test_add_organisation_refuses_a_wrong_gln_check_digit(
    consortium: Consortium, pw: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 18: ``keys add-org --gln 9506000000019`` was signed into the membership. The GLN
    is checked before any passphrase is asked for: with none to be had (no argument, no
    $MEDTRACE_PASSPHRASE, no terminal) the GLN is still what is refused."""
    monkeypatch.delenv(PASSPHRASE_ENV, raising=False)
    before = snapshot(consortium.path)
    with pytest.raises(
        MembershipError, match="GLN 9506000000019 is not valid: expected check digit 5, found 9"
    ):
        consortium.add_organisation("newco", name="New", role="pharmacy", gln="9506000000019")
    assert snapshot(consortium.path) == before
    signed = consortium.add_organisation(
        "newco", name="New", role="pharmacy", gln="9506000000015", passphrase=pw
    )
    assert signed.membership.organisations["newco"].gln == "9506000000015"


def test_an_invalid_change_writes_nothing(consortium: Consortium, pw: str) -> None:
    before = snapshot(consortium.path)
    with pytest.raises(MembershipError, match="13-digit GLN"):
        consortium.add_organisation("bad", name="Bad", role="pharmacy", gln="123", passphrase=pw)
    with pytest.raises(WrongPassphrase, match=r"gov-\d\.key"):
        consortium.add_organisation(
            "newco", name="New", role="pharmacy", gln="4098765000003", passphrase="wrong"
        )
    with pytest.raises((MembershipError, IdentifierError), match="company prefix"):
        consortium.add_organisation(
            "pfx",
            name="P",
            role="manufacturer",
            gln="4012345000009",
            company_prefixes=["12ab"],
            passphrase=pw,
        )
    with pytest.raises(MembershipError, match="already listed"):
        consortium.add_organisation(
            "acme", name="Again", role="pharmacy", gln="4098765000003", passphrase=pw
        )
    with pytest.raises(UnknownFeed):
        consortium.revoke_feed("acme/nope", 0, pw)
    with pytest.raises(ConsortiumError, match="role"):
        consortium.add_organisation("r", name="R", role="king", gln="4098765000003")
    assert snapshot(consortium.path) == before
    assert not (consortium.path / "feeds" / "bad").exists()
    assert consortium.version == 3


@pytest.mark.parametrize(
    ("org", "site"), [("../up", "main"), ("acme", ".."), ("acme", "a/b"), ("ACME", "x")]
)
def test_names_that_would_escape_the_directory_are_refused(
    consortium: Consortium, org: str, site: str, pw: str
) -> None:
    with pytest.raises(ConsortiumError, match="expected a"):
        consortium.add_feed(org, site, pw)
    with pytest.raises(ConsortiumError):
        consortium.feed_key_path(f"{org}/{site}")


# -- governance thresholds -----------------------------------------------------------------------


def test_under_signed_change_is_refused_and_not_written(consortium: Consortium, pw: str) -> None:
    before = snapshot(consortium.path)
    with pytest.raises(ThresholdNotMet, match="expected 2 valid signatures"):
        consortium.add_feed("acme", "line-2", pw, sign_with=["gov-1"])
    assert snapshot(consortium.path) == before
    assert not consortium.feed_key_path("acme/line-2").exists()
    assert list(consortium.feed_key_path("acme/line-2").parent.glob("line-2*")) == []
    signed = consortium.add_feed("acme", "line-2", pw, sign_with=["gov-1", "gov-3"])
    assert set(signed.signatures) == {"gov-1", "gov-3"}
    assert Consortium.open(consortium.path).version == 4


def test_unknown_signer_is_refused(consortium: Consortium, pw: str) -> None:
    with pytest.raises(ConsortiumError, match="unknown"):
        consortium.add_feed("acme", "line-2", pw, sign_with=["gov-9"])


def test_under_signed_version_dropped_in_makes_open_fail(consortium: Consortium, pw: str) -> None:
    proposal = consortium.membership.revoke_feed("acme/line-1", 0)
    one = {"gov-2": consortium.governance_key("gov-2", pw)}
    drop_version(consortium.path, sign_membership(proposal, one))
    with pytest.raises(ThresholdNotMet, match="v4: expected 2 valid signatures"):
        Consortium.open(consortium.path)
    with pytest.raises(ThresholdNotMet):
        load_chain(consortium.path, consortium.genesis_id)


def test_signatures_by_keys_outside_governance_do_not_count(consortium: Consortium) -> None:
    proposal = consortium.membership.revoke_feed("acme/line-1", 0)
    forged = {"gov-1": generate_key(), "gov-2": generate_key(), "gov-3": generate_key()}
    drop_version(consortium.path, sign_membership(proposal, forged))
    with pytest.raises(ThresholdNotMet, match="found 0"):
        Consortium.open(consortium.path)


def test_tampered_version_file_is_refused(consortium: Consortium) -> None:
    path = consortium.path / "membership" / "v0002.json"
    wire = json.loads(path.read_text())
    doc = json.loads(base64.b64decode(wire["membership"]))
    doc["organisations"]["acme"]["company_prefixes"] = ["4012345", "999999"]
    wire["membership"] = base64.b64encode(canonical_bytes(doc)).decode()
    path.write_text(json.dumps(wire))
    with pytest.raises((ThresholdNotMet, MembershipChainError)):
        Consortium.open(consortium.path)


def test_missing_or_misnamed_versions_are_refused(consortium: Consortium) -> None:
    folder = consortium.path / "membership"
    (folder / "v0003.json").rename(folder / "v0003.json.bak")
    with pytest.raises(MembershipChainError, match="up to v3"):
        Consortium.open(consortium.path)  # rolled back below consortium.json's current_version
    (folder / "v0003.json.bak").rename(folder / "v0004.json")
    with pytest.raises(MembershipChainError, match=r"v0004\.json for membership v3|v0003\.json"):
        Consortium.open(consortium.path)
    (folder / "v0004.json").rename(folder / "v0003.json")
    (folder / "v0002.json").rename(folder / "v0002.old")
    with pytest.raises(MembershipChainError, match="a version is missing"):
        Consortium.open(consortium.path)


def test_a_verified_version_beyond_the_recorded_one_is_accepted(
    consortium: Consortium, pw: str
) -> None:
    """A crash after writing v4 but before consortium.json: v4 verifies, so it stands."""
    pin = consortium.path / CONSORTIUM_FILE
    recorded = pin.read_bytes()
    consortium.add_feed("acme", "line-2", pw)
    pin.write_bytes(recorded)
    assert Consortium.open(consortium.path).version == 4


def test_publish_an_externally_signed_version(consortium: Consortium, pw: str) -> None:
    proposal = consortium.membership.revoke_feed("apo/main", 7)
    signed = sign_membership(proposal, {"gov-1": consortium.governance_key("gov-1", pw)})
    with pytest.raises(ThresholdNotMet):
        consortium.publish(signed)
    signed = sign_membership(
        proposal, {"gov-3": consortium.governance_key("gov-3", pw)}, into=signed
    )
    assert consortium.publish(signed).id == signed.id
    assert consortium.version == 4
    with pytest.raises((KeyStoreError, MembershipChainError)):
        consortium.publish(signed)  # the same version again is not written twice


def test_a_stale_handle_builds_on_the_latest_version(consortium: Consortium, pw: str) -> None:
    other = Consortium.open(consortium.path)
    consortium.add_feed("acme", "line-2", pw)
    signed = other.add_feed("acme", "line-3", pw)  # other still saw v3
    assert signed.membership.version == 5
    assert signed.membership.previous == consortium.versions()[-1].id
    assert {"acme/line-2", "acme/line-3"} <= set(signed.membership.organisations["acme"].feeds)


# -- key files -----------------------------------------------------------------------------------


def test_swapped_key_files_are_detected(consortium: Consortium, pw: str) -> None:
    a = consortium.feed_key_path("acme/line-1")
    b = consortium.feed_key_path("acme/wh")
    tmp = a.with_name("swap.tmp")
    os.rename(a, tmp)
    os.rename(b, a)
    os.rename(tmp, b)
    with pytest.raises(ConsortiumError, match="fingerprint"):
        consortium.feed_key("acme/line-1", pw)
    problems = consortium.check_keys(pw)
    assert len(problems) == 2
    assert all("latest key of acme/" in p for p in problems)


def test_check_keys_reports_missing_and_wrong_passphrase(consortium: Consortium, pw: str) -> None:
    assert consortium.check_keys(pw) == []
    consortium.feed_key_path("apo/main").unlink()
    problems = consortium.check_keys(pw)
    assert problems == [
        f"{consortium.feed_key_path('apo/main')}: expected a private key file, found none"
    ]
    wrong = consortium.check_keys("wrong")
    assert len(wrong) == 6  # 3 governance keys + 2 acme feeds undecryptable, apo/main missing
    assert sum("wrong passphrase" in p for p in wrong) == 5


def test_summary_is_public_and_json_ready(consortium: Consortium, pw: str) -> None:
    consortium.rotate_feed_key("acme/line-1", 10, pw)
    summary = consortium.summary()
    text = json.dumps(summary)
    assert pw not in text
    assert "PRIVATE" not in text
    assert summary["version"] == 4
    acme = summary["organisations"][0]
    assert (acme["id"], acme["role"], acme["gln"]) == ("acme", "manufacturer", "4012345000009")
    line = next(f for f in acme["feeds"] if f["id"] == "acme/line-1")
    assert [(k["from_seq"], k["until_seq"]) for k in line["keys"]] == [(0, 10), (10, None)]
    assert all(len(k["fingerprint"]) == 16 for k in line["keys"])
