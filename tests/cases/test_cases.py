"""Cases between authorities over real node processes (issue 17, ADR 0029,
docs/spec/cases.md): B's customs post seizes a clone of an A pack and exports the case; A's
regulator verifies it against B's pinned root and imports it as one ``foreign_case`` alert."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
import requests

from keys.consortium import Consortium
from ledger.alerts import Alert, Code
from ledger.cases import CaseCode, CaseRefused, encode_case, signing_bytes, verify_case
from ledger.identifiers import pack_uri
from tests.cases.conftest import (
    CLONE,
    GTIN_A,
    OTHER,
    REFERENCE,
    UNRELATED,
    Countries,
    Seizure,
)
from tests.replication.test_network import PASSPHRASE, _token_of, medtrace


def _problem(response: Any, status: int, slug: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["type"] == f"urn:medtrace:problem:{slug}", body
    assert "\n" not in body["detail"]
    assert "Traceback" not in response.text
    return body


def test_a_clone_found_in_b_reaches_a_regulator_as_a_foreign_case(
    countries: Countries, seizure: Seizure
) -> None:
    c = countries
    checked = c.cli("case", "verify", str(seizure.file), "--genesis", c.genesis_b, "--json")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    report = json.loads(checked.stdout)
    assert report["valid"] is True
    assert report["exporter"] == {"organisation": "bcus", "feed": "bcus/post", "role": "customs"}
    assert [a["code"] for a in report["alerts"]] == ["check_rejected"]
    assert [d["reference"] for d in report["declarations"]] == [REFERENCE]
    assert report["photos"][0]["name"] == "seized-pack.png"
    imported = c.cli(
        "case", "import", str(seizure.file), "--node", c["areg"].url,
        "--token", c["areg"].operator, "--json",
    )  # fmt: skip
    assert imported.returncode == 0, imported.stdout + imported.stderr
    answer = json.loads(imported.stdout)
    assert answer["case"] == report["case"]
    assert answer["alreadyHeld"] is False
    shown = [a for a in c.foreign_alerts() if a["id"] == report["case"]]
    assert len(shown) == 1
    (alert,) = shown
    assert alert["code"] == "foreign_case"
    assert alert["level"] == "critical"
    assert alert["subject"] == pack_uri(GTIN_A, CLONE)
    assert alert["foreign"]["genesis"] == c.genesis_b
    assert alert["foreign"]["country"] == "AT"
    assert alert["foreign"]["name"] == "Consortium B"
    assert "decision seize" in alert["message"]
    assert "already_dispensed" in alert["message"]
    assert {e["id"] for e in alert["entries"]} == set(alert["evidence"])
    assert alert["foreign"]["declarations"][0]["fields"]["consignee"]["address"]["city"] == "Wien"
    by_country = c.request("areg", "GET", "/api/v1/alerts?country=AT&product=09506000134352")
    assert report["case"] in {a["id"] for a in by_country.json()["alerts"]}


FLIPS = {
    # what is altered: (the last marker in the file, how far after it, the code refusing it)
    "outer signature": (b'"signature":"', 5, CaseCode.SIGNATURE),
    "an evidence entry": (b'"payload":"', 12, CaseCode.ENTRY),
    "an opened declaration field": (b'"city":"W', 0, CaseCode.OPENING),
    "a photo": (b'"data":"iVBOR', 20, CaseCode.PHOTO),
}


@pytest.mark.parametrize("what", list(FLIPS))
def test_case_file_altered_in_one_byte_is_refused(
    countries: Countries, seizure: Seizure, what: str
) -> None:
    marker, offset, code = FLIPS[what]
    # the last: the outer signature is the last member (the entries' come before it)
    at = seizure.raw.rindex(marker) + len(marker) + offset
    old = seizure.raw[at : at + 1]
    altered = seizure.raw[:at] + (b"B" if old != b"B" else b"C") + seizure.raw[at + 1 :]
    assert len(altered) == len(seizure.raw)
    assert altered != seizure.raw
    doc = json.loads(altered)
    with pytest.raises(CaseRefused) as refused:
        verify_case(doc, countries.genesis_b)
    assert refused.value.code is code, str(refused.value)
    before = len(countries.foreign_alerts())
    body = _problem(countries.request("areg", "POST", "/api/v1/cases", doc), 422, "case-refused")
    assert body["code"] == code.value
    assert len(countries.foreign_alerts()) == before
    path = seizure.file.with_name(f"altered-{code.value}.json")
    path.write_bytes(altered)
    offline = countries.cli("case", "verify", str(path), "--genesis", countries.genesis_b)
    assert offline.returncode == 5, offline.stdout + offline.stderr
    assert len(offline.stderr.strip().splitlines()) == 1
    assert code.value in offline.stderr


def test_case_from_untrusted_consortium_is_refused(countries: Countries, seizure: Seizure) -> None:
    """The same regulator's node before its membership pinned B's root; and B's own regulator,
    whose membership pins no foreign root at all."""
    for node in ("areg-plain", "breg"):
        before = len(countries.foreign_alerts(node))
        answer = countries.request(node, "POST", "/api/v1/cases", seizure.doc)
        body = _problem(answer, 403, "untrusted-consortium")
        assert body["code"] == "untrusted_consortium"
        assert len(countries.foreign_alerts(node)) == before
    done = countries.cli(
        "case", "import", str(seizure.file), "--node", countries["areg-plain"].url,
        "--token", countries["areg-plain"].operator,
    )  # fmt: skip
    assert done.returncode == 1
    assert len(done.stderr.strip().splitlines()) == 1
    assert "untrusted_consortium" in done.stderr


def test_case_imported_twice_changes_nothing(countries: Countries, seizure: Seizure) -> None:
    c = countries
    first = c.request("areg", "POST", "/api/v1/cases", seizure.doc)
    assert first.status_code in (200, 201), first.text
    listed = c.foreign_alerts()
    second = c.request("areg", "POST", "/api/v1/cases", seizure.doc)
    assert second.status_code == 200, second.text
    assert second.json()["alreadyHeld"] is True
    assert second.json()["case"] == first.json()["case"]
    assert second.json()["alert"]["id"] == first.json()["alert"]["id"]
    assert c.foreign_alerts() == listed
    assert sum(a["id"] == first.json()["case"] for a in listed) == 1


def test_case_signed_by_non_authority_is_refused(countries: Countries, seizure: Seizure) -> None:
    """B's manufacturer signs the same content with its own (valid) feed key: its signature
    verifies, but a manufacturer is no authority."""
    key = Consortium.open(countries.consortium_b).feed_key("bmfr/line", PASSPHRASE)
    doc = {k: v for k, v in seizure.doc.items() if k != "signature"}
    doc["exporter"] = {"feed": "bmfr/line", "position": 0}
    doc["signature"] = base64.b64encode(key.sign(signing_bytes(doc))).decode()
    with pytest.raises(CaseRefused) as refused:
        verify_case(doc, countries.genesis_b)
    assert refused.value.code is CaseCode.NOT_AUTHORITY
    body = _problem(countries.request("areg", "POST", "/api/v1/cases", doc), 422, "case-refused")
    assert body["code"] == "not_authority"


def _decoded(doc: dict[str, Any]) -> str:
    """The file's text with every entry's signed bytes decoded beside it."""
    payloads = [base64.b64decode(e["payload"]).decode() for e in doc["entries"]]
    return encode_case(doc).decode() + "\n".join(payloads)


def test_case_reveals_only_the_fields_it_needs(countries: Countries, seizure: Seizure) -> None:
    text = _decoded(seizure.doc)
    assert CLONE in text
    assert OTHER not in text  # the other pack of the consignment and of the same check
    assert UNRELATED not in text
    assert "UNRELATED0003" not in text
    assert "risk" not in seizure.doc
    assert '"lane"' not in text
    assert all("sidecar" not in e for e in seizure.doc["entries"])
    (opened,) = seizure.doc["declarations"]
    assert sorted(opened["fields"]) == ["consignee", "consignor", "declarant", "goods"]
    # the other pack's alert is B's, not the case's
    others = countries.request(
        "bcus", "GET", f"/api/v1/alerts?code=check_rejected&subject={pack_uri(GTIN_A, OTHER)}"
    ).json()["alerts"]
    assert others
    assert others[0]["id"] not in text
    # the regulator's node holds the seal, not the opening: its case opens no field
    exported = countries.request(
        "breg", "POST", "/api/v1/cases/export", {"alert": seizure.alert["id"]}
    )
    assert exported.status_code == 200, exported.text
    assert exported.json()["declarations"] == []
    assert verify_case(exported.json(), countries.genesis_b).exporter_role.value == "regulator"


def _resigned(countries: Countries, doc: dict[str, Any]) -> dict[str, Any]:
    """``doc`` signed again by B's customs node's own key: only the check under test can
    refuse it (the outer signature verifies)."""
    key = Consortium.open(countries.consortium_b).feed_key("bcus/post", PASSPHRASE)
    content = {k: v for k, v in doc.items() if k != "signature"}
    return {**content, "signature": base64.b64encode(key.sign(signing_bytes(content))).decode()}


def _refused(countries: Countries, doc: dict[str, Any], code: CaseCode) -> None:
    with pytest.raises(CaseRefused) as refused:
        verify_case(doc, countries.genesis_b)
    assert refused.value.code is code, str(refused.value)
    body = _problem(countries.request("areg", "POST", "/api/v1/cases", doc), 422, "case-refused")
    assert body["code"] == code.value


def test_case_without_witnessed_checkpoints_is_refused(
    countries: Countries, seizure: Seizure
) -> None:
    """B's node re-signs the case without its checkpoints: a history no witness saw."""
    _refused(
        countries, _resigned(countries, {**seizure.doc, "checkpoints": []}), CaseCode.NOT_WITNESSED
    )


def test_case_with_words_of_its_own_in_an_alert_is_refused(
    countries: Countries, seizure: Seizure
) -> None:
    """A failed check's words are the ledger's, written from the check entry: an exporter
    cannot put others in (the id is recomputed too, so only the re-derivation catches it)."""
    alerts = [dict(a) for a in seizure.doc["alerts"]]
    alerts[0]["message"] = "REJECT at a border check by bcus: counterfeit made by Acme"
    forged = Alert(
        Code(alerts[0]["code"]),
        alerts[0]["subject"],
        alerts[0]["message"],
        tuple(alerts[0]["evidence"]),
    )
    alerts[0]["id"] = forged.id
    doc = _resigned(countries, {**seizure.doc, "alerts": alerts, "subject": {"alert": forged.id}})
    _refused(countries, doc, CaseCode.ALERT)


def test_case_carrying_a_sidecar_is_refused(countries: Countries, seizure: Seizure) -> None:
    """An entry with its whole list of packs beside it would name packs beyond the case's."""
    entries = [dict(e) for e in seizure.doc["entries"]]
    entries[0]["sidecar"] = {"salts": [], "values": []}
    _refused(countries, _resigned(countries, {**seizure.doc, "entries": entries}), CaseCode.ENTRY)


def test_case_of_another_consortium_than_pinned_is_refused_offline(
    countries: Countries, seizure: Seizure
) -> None:
    done = countries.cli("case", "verify", str(seizure.file), "--genesis", countries.genesis_a)
    assert done.returncode == 4, done.stdout + done.stderr
    assert "other_consortium" in done.stderr


def test_declaration_case_reaches_a_regulator(countries: Countries) -> None:
    """A case about the declaration itself: the seizure, its checks and its opened seal."""
    c = countries
    exported = c.request("bcus", "POST", "/api/v1/cases/export", {"declaration": REFERENCE})
    assert exported.status_code == 200, exported.text
    case = verify_case(exported.json(), c.genesis_b)
    assert case.subject == {"declaration": REFERENCE}
    assert {a.subject for a in case.alerts} == {pack_uri(GTIN_A, CLONE), pack_uri(GTIN_A, OTHER)}
    assert [d["reference"] for d in case.declarations] == [REFERENCE]
    imported = c.request("areg", "POST", "/api/v1/cases", exported.json())
    assert imported.status_code == 201, imported.text
    alert = imported.json()["alert"]
    assert alert["subject"] == f"urn:medtrace:declaration:bcus/{REFERENCE}"
    assert "decision seize" in alert["message"]
    listed = c.request("areg", "GET", f"/api/v1/alerts?code=foreign_case&declaration={REFERENCE}")
    assert case.id in {a["id"] for a in listed.json()["alerts"]}


def test_a_node_of_another_role_neither_exports_nor_imports(
    countries: Countries, seizure: Seizure
) -> None:
    """Only authorities' nodes: A's manufacturer's node refuses both, whatever the file."""
    imported = countries.request("acme", "POST", "/api/v1/cases", seizure.doc)
    assert "only authorities" in _problem(imported, 403, "not-an-authority")["detail"]
    exported = countries.request("acme", "GET", "/api/v1/cases/" + seizure.alert["id"])
    _problem(exported, 403, "not-an-authority")


def test_case_of_an_unknown_alert_is_not_found(countries: Countries) -> None:
    missing = countries.request("bcus", "GET", "/api/v1/cases/" + "0" * 64)
    _problem(missing, 404, "not-found")
    bad = countries.request("bcus", "GET", "/api/v1/cases/not-an-id")
    _problem(bad, 400, "invalid-request")


def test_a_scanner_is_not_shown_foreign_cases(countries: Countries, seizure: Seizure) -> None:
    """A verifier token (a scanner) sees no imported case: it names packs and a consignment."""
    imported = countries.request("areg", "POST", "/api/v1/cases", seizure.doc)
    assert imported.status_code in (200, 201), imported.text
    made = medtrace(
        "node", "token", "create", "--data", str(countries["areg"].data), "--user", "scanner",
        "--role", "verifier",
    )  # fmt: skip
    token = _token_of(made)
    shown = requests.get(
        countries["areg"].url + "/api/v1/alerts?code=foreign_case",
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    assert shown.status_code == 200, shown.text
    assert shown.json() == {"count": 0, "alerts": []}
    assert countries.foreign_alerts()  # the operator's


@pytest.mark.parametrize(
    ("scenario", "data"),
    [("not base64", "not base64!"), ("not ASCII", "\u008fc\u0019")],
)
def test_a_photo_that_is_not_base64_is_one_line(
    countries: Countries, scenario: str, data: str
) -> None:
    """A photo's bytes that do not decode are a 400 naming the photo, never a 500."""
    body = {
        "declaration": REFERENCE,
        "photos": [{"name": "seal.jpg", "mediaType": "image/jpeg", "data": data}],
    }
    answer = countries.request("bcus", "POST", "/api/v1/cases/export", body)
    problem = _problem(answer, 400, "invalid-request")
    assert "$.photos[0].data" in problem["detail"], scenario
