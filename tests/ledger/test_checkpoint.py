"""C2SP signed notes, checkpoints and cosignatures against the published examples and the
golang.org/x/mod reference vectors (../shared/testdata/c2sp-signed-note-tlog)."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger.checkpoint import (
    Checkpoint,
    CheckpointInvalid,
    Cosigner,
    cosign,
    cosigned_message,
    open_checkpoint,
    parse_checkpoint,
    sign_checkpoint,
)
from ledger.errors import LedgerError
from ledger.merkle import MerkleTree, leaf_hash
from ledger.notes import (
    NoteMalformed,
    NoteSignatureInvalid,
    Signer,
    Verifier,
    key_id,
    open_note,
    parse_note,
    parse_vkey,
    sign_note,
)

VECTORS = Path(__file__).resolve().parents[3] / "shared" / "testdata" / "c2sp-signed-note-tlog"
ABSENT = "C2SP signed-note vectors: ../shared/testdata/c2sp-signed-note-tlog is absent"


def _vectors() -> dict[str, Any]:
    if not VECTORS.is_dir():
        pytest.skip(ABSENT)
    data: dict[str, Any] = json.loads(
        (VECTORS / "signed_note_and_tlog_vectors.json").read_text(encoding="utf-8")
    )
    return data


def _note_ids() -> list[Any]:
    if not VECTORS.is_dir():
        return [pytest.param("absent", marks=pytest.mark.skip(reason=ABSENT))]
    data = json.loads((VECTORS / "signed_note_and_tlog_vectors.json").read_text(encoding="utf-8"))
    return [n["id"] for n in data["notes"]]


def _case(case_id: str) -> dict[str, Any]:
    (case,) = [n for n in _vectors()["notes"] if n["id"] == case_id]
    return dict(case)


def _seed_key(skey: str) -> tuple[str, Ed25519PrivateKey]:
    """``PRIVATE+KEY+<name>+<hash>+<base64(0x01 || seed)>`` as golang.org/x/mod writes it."""
    _, _, name, _, material = skey.split("+", 4)
    raw = base64.b64decode(material)
    assert raw[0] == 1
    return name, Ed25519PrivateKey.from_private_bytes(raw[1:])


@pytest.mark.parametrize("case_id", _note_ids())
def test_note_vector(case_id: str) -> None:
    case = _case(case_id)
    keys = _vectors()["keys"]
    known = [parse_vkey(keys[name]["vkey"]) for name in case["verifiers"]]
    data = base64.b64decode(case["note_bytes_b64"])
    if case["expect"] == "error":
        expected = case["expected_error"]
        kind = NoteMalformed if expected == "malformed note" else NoteSignatureInvalid
        with pytest.raises(kind, match=re.escape(expected)):
            open_note(data, known)
        return
    opened = open_note(data, known)
    assert opened.text == case.get("expected_text", opened.text)
    assert opened.text.encode() + b"\n" == data[: len(opened.text) + 1]
    labels = case.get("expected_verified_sigs", [v.label for v in known])
    assert [s.label for s in opened.verified] == labels
    assert [s.label for s in opened.unverified] == case.get("expected_unverified_sigs", [])


def test_the_vector_files_match_the_json() -> None:
    data = _vectors()
    by_id = {n["id"]: base64.b64decode(n["note_bytes_b64"]) for n in data["notes"]}
    by_id |= {n["id"]: base64.b64decode(n["note_bytes_b64"]) for n in data["format_only_examples"]}
    assert (VECTORS / "peter-signed.note").read_bytes() == by_id["peter-signed"]
    assert (VECTORS / "c2sp-example.note").read_bytes() == by_id["c2sp-example"]
    assert (VECTORS / "c2sp-checkpoint-example.note").read_bytes() == by_id[
        "c2sp-checkpoint-example"
    ]
    assert len(data["notes"]) == 14


def test_vkeys_parse_and_their_key_ids_match() -> None:
    keys = _vectors()["keys"]
    for name, entry in keys.items():
        verifier = parse_vkey(entry["vkey"])
        assert verifier.name == name
        assert verifier.vkey() == entry["vkey"]
        assert key_id(name, 1, verifier.public_key) == verifier.key_id


def test_bad_vkeys_are_refused() -> None:
    bad = _vectors()["bad_vkeys"]
    assert len(bad) == 2
    for case in bad:
        with pytest.raises(NoteMalformed):
            parse_vkey(case["vkey"])


def test_signing_reproduces_the_published_signature() -> None:
    case = _case("peter-signed")
    name, key = _seed_key(_vectors()["keys"]["PeterNeumann"]["skey"])
    signer = Signer(name, key)
    assert signer.verifier.vkey() == _vectors()["keys"]["PeterNeumann"]["vkey"]
    assert sign_note(case["expected_text"], [signer]) == base64.b64decode(case["note_bytes_b64"])


def test_the_c2sp_checkpoint_examples_parse() -> None:
    for example in _vectors()["format_only_examples"]:
        note = parse_note(base64.b64decode(example["note_bytes_b64"]))
        checkpoint = parse_checkpoint(note.text)
        expected = example["expected_parse"]
        assert checkpoint.origin == expected["origin"]
        assert checkpoint.size == expected["tree_size"]
        if "root_hash_b64" in expected:
            assert base64.b64encode(checkpoint.root).decode() == expected["root_hash_b64"]
            assert list(checkpoint.extensions) == expected["extension_lines"]
        else:
            assert len(note.signatures) == expected["signature_lines"]
        assert checkpoint.text() == note.text
        assert note.to_bytes() == base64.b64decode(example["note_bytes_b64"])
    cosigned = parse_note(base64.b64decode(_vectors()["format_only_examples"][1]["note_bytes_b64"]))
    witness = cosigned.signatures[1]
    assert len(witness.signature) == 8 + 64
    assert int.from_bytes(witness.signature[:8], "big") == 1679315147  # the spec's "time" line


LOG_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
WITNESS_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32, 64)))
OTHER_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(64, 96)))
ORIGIN = "medtrace.example/feed/acme-pharma/plant-1"
CHECKPOINT = Checkpoint(ORIGIN, 4, bytes(range(32)))


def _signed() -> tuple[bytes, Verifier, Cosigner]:
    log = Signer(ORIGIN, LOG_KEY)
    return (
        sign_checkpoint(CHECKPOINT, log),
        log.verifier,
        Cosigner("witness.example/w1", WITNESS_KEY),
    )


def test_a_checkpoint_signs_cosigns_and_verifies() -> None:
    note, log, witness = _signed()
    cosigned = cosign(note, witness, 1772622000)
    verified = open_checkpoint(cosigned, log, [witness.verifier], quorum=1)
    assert verified.checkpoint == CHECKPOINT
    assert verified.cosigned_at == {witness.verifier.label: 1772622000}
    assert parse_vkey(witness.verifier.vkey()) == witness.verifier
    assert cosigned_message(CHECKPOINT.text(), 7).startswith(b"cosignature/v1\ntime 7\n")


def test_a_missing_quorum_a_wrong_origin_or_a_forged_cosignature_is_refused() -> None:
    note, log, witness = _signed()
    with pytest.raises(CheckpointInvalid, match="at least 1 known witnesses, found 0"):
        open_checkpoint(note, log, [witness.verifier], quorum=1)
    other_log = Verifier("medtrace.example/feed/other", 1, log.public_key)
    with pytest.raises(NoteSignatureInvalid, match="no verifiable signatures"):
        open_checkpoint(note, other_log)
    forged = Cosigner(witness.name, OTHER_KEY).cosignature_line(CHECKPOINT, 5)
    # same name, another key: an unknown key id, ignored; quorum then fails
    with pytest.raises(CheckpointInvalid, match="found 0"):
        open_checkpoint(note + forged.encode(), log, [witness.verifier], quorum=1)
    line = witness.cosignature_line(CHECKPOINT, 5)
    kid_and_sig = base64.b64decode(line.split()[-1])
    tampered = kid_and_sig[:4] + (6).to_bytes(8, "big") + kid_and_sig[12:]
    bad = f"— {witness.name} {base64.b64encode(tampered).decode()}\n"
    with pytest.raises(NoteSignatureInvalid, match="invalid signature for key witness"):
        open_checkpoint(note + bad.encode(), log, [witness.verifier], quorum=1)
    with pytest.raises(CheckpointInvalid, match="named after the origin"):
        sign_checkpoint(CHECKPOINT, Signer("someone-else", LOG_KEY))


@pytest.mark.parametrize(
    "text",
    [
        "o\n4\n",  # two lines
        "o\n04\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n",  # leading zero
        "o\n-1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n",
        "o\n4\nAAAA\n",  # not 32 bytes
        "o\n4\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n",  # unpadded
        "o\n4\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n\n",  # empty extension line
        "\n4\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n",  # empty origin
        "o\n4\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",  # no final newline
        "o\n\u0664\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n",  # Arabic-Indic digit
    ],
)
def test_malformed_checkpoints_are_refused(text: str) -> None:
    with pytest.raises(CheckpointInvalid) as caught:
        parse_checkpoint(text)
    assert isinstance(caught.value, LedgerError)
    assert "expected" in str(caught.value)


def test_extension_lines_round_trip() -> None:
    checkpoint = Checkpoint(ORIGIN, 0, bytes(32), ("ext one",))
    assert parse_checkpoint(checkpoint.text()) == checkpoint


SPEC = Path(__file__).resolve().parents[2] / "docs" / "spec" / "proofs.md"


def _blocks() -> list[str]:
    return re.findall(r"^```\n(.*?)^```$", SPEC.read_text(encoding="utf-8"), re.S | re.M)


def test_the_spec_example_checkpoint_is_what_the_code_signs() -> None:
    log = Signer("medtrace.example/acme-pharma/plant-1", LOG_KEY)
    witness = Cosigner("medtrace.example/witness/border-customs", WITNESS_KEY)
    tree = MerkleTree([leaf_hash(f"entry {i}".encode()) for i in range(8)])
    checkpoint = Checkpoint(log.name, 8, tree.root)
    note = cosign(sign_checkpoint(checkpoint, log), witness, 1772622000)
    blocks = _blocks()
    assert note.decode() in blocks
    assert f"{log.verifier.vkey()}\n{witness.verifier.vkey()}\n" in blocks
    assert cosigned_message(checkpoint.text(), 1772622000).decode() in blocks
    verified = open_checkpoint(note, log.verifier, [witness.verifier], quorum=1)
    label = witness.verifier.label
    assert f"key id `{label.split('+')[1]}`" in SPEC.read_text(encoding="utf-8")
    assert f"`{(1772622000).to_bytes(8, 'big').hex()}`" in SPEC.read_text(encoding="utf-8")
    assert verified.cosigned_at == {label: 1772622000}


def test_a_cosigner_key_is_not_taken_as_the_log_key_nor_checked_without_its_type() -> None:
    note, log, witness = _signed()
    with pytest.raises(CheckpointInvalid, match="Ed25519 \\(0x01\\) log key"):
        open_checkpoint(note, witness.verifier)
    cosigned = cosign(note, witness, 9)
    with pytest.raises(NoteSignatureInvalid, match="check for signature type 0x04"):
        open_note(cosigned, [log, witness.verifier])
