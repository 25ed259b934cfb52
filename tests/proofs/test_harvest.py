"""A counterfeiter with one genuine pack and a verifier token learns no other valid serial from
any answer of a real node (issue 14): each test is named after the harvest it stops."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from pathlib import Path
from urllib.parse import quote

import requests
from click.testing import CliRunner

from ledger.commitments import PackIds, leaf_data
from ledger.entry import SignedEntry
from ledger.kinds import Kind
from ledger.openings import Disclosure, commit, open_sidecar
from medtrace.cli.main import cli
from tests.api.conftest import GTIN, case, pack, sscc
from tests.proofs.conftest import PALLET, Harvest

_PAYLOAD = re.compile(r'"payload":\s*"([A-Za-z0-9+/=]+)"')


def revealed(text: str) -> str:
    """An answer with every entry payload it carries decoded beside it (a harvester reads the
    signed bytes too)."""
    decoded = [base64.b64decode(p).decode("utf-8", "replace") for p in _PAYLOAD.findall(text)]
    return "\n".join([text, *decoded])


def others(h: Harvest, text: str) -> set[str]:
    return h.others_in(revealed(text))


def test_harvest_from_provenance(harvest: Harvest) -> None:
    for role in ("verifier", "auditor"):
        answer = harvest.get(f"/api/v1/packs/{GTIN}/{harvest.genuine}/provenance", role)
        assert answer.status_code == 200
        assert others(harvest, answer.text) == set(), role
        value = answer.json()
        assert value["withheld"] == []
        assert not any("sidecar" in e for e in value["entries"])
        entries = [SignedEntry.from_wire(e) for e in value["entries"]]
        (commissioning,) = [e for e in entries if e.payload.kind is Kind.COMMISSION]
        assert commissioning.about == (pack(harvest.genuine),)  # its own leaf, checked
    # the node's operator keeps the node's view: every pack of the commitment
    operator = harvest.get(f"/api/v1/packs/{GTIN}/{harvest.genuine}/provenance", "operator")
    assert len(others(harvest, operator.text)) >= 999


def test_harvest_from_container(harvest: Harvest) -> None:
    for number in (*range(1, 13), PALLET):
        answer = harvest.get(f"/api/v1/containers/{sscc(number)}")
        assert answer.status_code == 200
        assert others(harvest, answer.text) == set()
        value = answer.json()
        assert value["children"] is None
        assert value["listed"] is False
    assert harvest.get(f"/api/v1/containers/{sscc(1)}").json()["packs"] == 100
    assert harvest.get(f"/api/v1/containers/{sscc(PALLET)}").json()["containers"] == 12
    # the auditor of another organisation's node is no custodian either; the custodian's
    # operator (acme still holds the pallet it shipped) lists it
    listed = harvest.get(f"/api/v1/containers/{sscc(1)}", "operator").json()
    assert listed["listed"] is True
    assert len(listed["children"]) == 100


def test_harvest_from_epcis_query(harvest: Harvest) -> None:
    asked = [pack(harvest.genuine), pack(harvest.captured[0]), case(1), case(PALLET)]
    for epc in asked:
        for path in (
            f"/epcis/epcs/{quote(epc, safe=':')}/events",
            f"/epcis/events?MATCH_anyEPC={quote(epc, safe='')}",
        ):
            answer = harvest.get(path)
            assert answer.status_code == 200, answer.text[:300]
            assert others(harvest, answer.text) - {harvest.captured[0]} == set(), path
            if epc != pack(harvest.captured[0]):
                assert harvest.captured[0] not in answer.text
    captured = harvest.get(f"/epcis/epcs/{quote(pack(harvest.captured[0]), safe=':')}/events")
    events = captured.json()["epcisBody"]["queryResults"]["resultsBody"]["eventList"]
    stored = [e for e in events if e.get("bizStep") == "storing"]
    assert stored, "expected the captured event, redacted"
    assert stored[0]["epcList"] == [pack(harvest.captured[0])]
    # in XML too (the redaction is of the event, whatever the binding)
    xml = harvest.get(
        f"/epcis/epcs/{quote(pack(harvest.genuine), safe=':')}/events", Accept="application/xml"
    )
    assert xml.status_code == 200
    assert others(harvest, xml.text) == set()


def test_harvest_from_alerts(harvest: Harvest) -> None:
    everything = harvest.get("/api/v1/alerts", "auditor").json()
    assert any(a["subject"] == pack(harvest.stray) for a in everything["alerts"])
    for query in (
        "",
        f"?subject={quote(pack(harvest.genuine), safe='')}",
        "?code=custody_violation",
        f"?subject={quote(case(1), safe='')}",
    ):
        answer = harvest.get(f"/api/v1/alerts{query}")
        assert answer.status_code == 200
        assert others(harvest, answer.text) == set(), query
        assert all(a["subject"] != pack(harvest.stray) for a in answer.json()["alerts"])
    # a harvester holding one of three packs one entry locks: its alert's evidence entry comes
    # with that pack's leaf only, never the entry's sidecar
    mine, *theirs = harvest.locked
    answer = harvest.get(f"/api/v1/alerts?subject={quote(pack(mine), safe='')}")
    assert answer.json()["count"] >= 1
    assert [e for a in answer.json()["alerts"] for e in a["entries"]], "expected the evidence"
    assert not any(s in revealed(answer.text) for s in theirs)
    assert "sidecar" not in answer.text


def test_harvest_from_sibling_hashes(harvest: Harvest) -> None:
    """The path's sibling hashes are salted leaves: hashing a guessed serial (with no salt,
    a zero salt, or the genuine pack's own salt) confirms none of the 1,199 others."""
    value = harvest.get(f"/api/v1/packs/{GTIN}/{harvest.genuine}/provenance").json()
    commissioning = next(
        SignedEntry.from_wire(e)
        for e in value["entries"]
        if SignedEntry.from_wire(e).payload.kind is Kind.COMMISSION
    )
    assert isinstance(commissioning.opening, tuple)
    (mine,) = commissioning.opening
    assert isinstance(mine, Disclosure)
    siblings = set(mine.path)
    assert len(siblings) >= 9  # a tree of 1,000 leaves
    guesses = 0
    for serial in harvest.serials:
        ids = PackIds(GTIN, serial, "L1", "2031-12-31")
        for salt in (bytes(16), mine.salt):
            guess = hashlib.sha256(b"\x00" + leaf_data(ids, salt)).digest()
            assert guess not in siblings, f"the path confirms serial {serial}"
            guesses += 1
        unsalted = ids.domain + ids.encode()  # the leaf without any salt
        assert hashlib.sha256(b"\x00" + unsalted).digest() not in siblings
    assert guesses == 2 * len(harvest.serials)
    # the same guesses do find a serial when leaves are not salted at random (the protection
    # removed): a commitment of the same serials with zero salts
    body = {
        "gtin": GTIN,
        "ilmd": {"lotNumber": "L1", "itemExpirationDate": "2031-12-31"},
        "serials": harvest.serials[:1000],
    }
    subjects, signed, sidecar = commit(Kind.COMMISSION, (), body, salts=[bytes(16)] * 1000)
    assert sidecar is not None
    tree = open_sidecar(Kind.COMMISSION, subjects, signed, 2, sidecar)
    (weak,) = tree.disclose([harvest.genuine])
    confirmed = [
        s
        for s in harvest.serials
        if hashlib.sha256(
            b"\x00" + leaf_data(PackIds(GTIN, s, "L1", "2031-12-31"), bytes(16))
        ).digest()
        in set(weak.path)
    ]
    assert confirmed, "unsalted leaves would have confirmed a guessed serial"


def test_proof_file_tampered(harvest: Harvest, tmp_path: Path) -> None:
    proof = tmp_path / "pack.proof.json"
    text = f"(01){GTIN}(17)311231(10)L1(21){harvest.genuine}"
    runner = CliRunner()
    harvest.witness()  # the entries scanned must be in cosigned checkpoints (ADR 0024)
    scanned = runner.invoke(
        cli,
        [
            "scan", text, "--node", harvest.url, "--token", harvest.tokens["verifier"],
            "--genesis", harvest.genesis, "--customs", "--export-proof", str(proof), "--json",
        ],
    )  # fmt: skip
    assert scanned.exit_code == 0, scanned.output
    assert others(harvest, proof.read_text()) == set()
    ok = runner.invoke(cli, ["proof", "verify", str(proof), "--genesis", harvest.genesis, "--json"])
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.stdout)["verdict"] == "RELEASE"

    def refused(doc: dict[str, object], named: str) -> None:
        bad = tmp_path / "tampered.json"
        bad.write_text(json.dumps(doc))
        result = runner.invoke(cli, ["proof", "verify", str(bad), "--genesis", harvest.genesis])
        assert result.exit_code == 5, result.output
        line = result.stderr.strip()
        assert "\n" not in line, line
        assert "proof_file_tampered" in line, line
        assert named in line, line

    original = json.loads(proof.read_text())
    # a disclosed leaf swapped for another serial: its path no longer leads to the signed root
    doc = json.loads(proof.read_text())
    commissioning = next(e for e in doc["entries"] if "leaves" in e and len(e["leaves"]) == 1)
    commissioning["leaves"][0]["value"] = harvest.serials[8]
    refused(doc, "commitment")
    # a signature bit flipped
    doc = json.loads(proof.read_text())
    sig = bytearray(base64.b64decode(doc["entries"][-1]["signature"]))
    sig[0] ^= 1
    doc["entries"][-1]["signature"] = base64.b64encode(bytes(sig)).decode()
    refused(doc, "signature")
    # the verdict summary rewritten
    doc = json.loads(json.dumps(original))
    doc["verdict"]["verdict"] = "REJECT"
    refused(doc, "REJECT")
    # the scan's context rewritten (a counter expecting the pack): the verdict no longer follows
    doc = json.loads(json.dumps(original))
    doc["context"] = {"in_transit_ok": False, "custodian": "apo"}
    refused(doc, "HOLD")


def test_no_other_serial_learnable_with_a_verifier_token(harvest: Harvest, tmp_path: Path) -> None:
    """Every answer the node gives a verifier token, asked everything a harvester holding one
    genuine pack can ask (SSCCs are sequential, so every case and the pallet too): 0 other
    valid serials of the 1,200."""
    g = quote(pack(harvest.genuine), safe="")
    containers = [sscc(n) for n in (*range(1, 13), PALLET)]
    paths = [
        f"/api/v1/packs/{GTIN}/{harvest.genuine}",
        f"/api/v1/packs/{GTIN}/{harvest.genuine}/provenance",
        *(f"/api/v1/containers/{s}" for s in containers),
        f"/epcis/epcs/{g}/events",
        f"/epcis/events?MATCH_epc={g}",
        f"/epcis/events?MATCH_anyEPC={g}",
        *(f"/epcis/events?MATCH_anyEPC={quote(case(n), safe='')}" for n in (*range(1, 13), PALLET)),
        f"/epcis/events?MATCH_anyEPC={g}&eventType=AggregationEvent",
        "/epcis/events?eventType=ObjectEvent",  # refused: too broad
        "/epcis/events?MATCH_epc=urn:epc:idpat:sgtin:4012345.000001.*",  # refused
        "/api/v1/alerts",
        f"/api/v1/alerts?subject={g}",
        *(f"/api/v1/alerts?subject={quote(case(n), safe='')}" for n in range(1, 13)),
        *(f"/api/v1/alerts?code={c}" for c in ("custody_violation", "unknown_pack", "fork")),
        "/api/v1/feeds/acme/line-1/checkpoint",
        *(f"/api/v1/feeds/acme/line-1/proof?seq={n}" for n in range(20)),
        "/api/v1/whoami",
    ]
    texts = [harvest.get(path).text for path in paths]
    for context in ("counter", "border"):
        scan = requests_post(
            harvest, {"text": f"(01){GTIN}(21){harvest.genuine}", "context": context}
        )
        texts.append(scan)
    proof = tmp_path / "border.proof.json"
    result = CliRunner().invoke(
        cli,
        [
            "scan", f"(01){GTIN}(21){harvest.genuine}", "--node", harvest.url,
            "--token", harvest.tokens["verifier"], "--genesis", harvest.genesis, "--customs",
            "--export-proof", str(proof), "--json",
        ],
    )  # fmt: skip
    texts += [result.output, proof.read_text()]
    found = set().union(*(others(harvest, t) for t in texts))
    assert len(found) == 0, f"{len(found)} other valid serials learnt, e.g. {sorted(found)[:3]}"


def requests_post(harvest: Harvest, body: dict[str, str]) -> str:
    answer = requests.post(
        harvest.url + "/api/v1/scan",
        json=body,
        headers={"Authorization": f"Bearer {harvest.tokens['verifier']}"},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text[:300]
    return answer.text
