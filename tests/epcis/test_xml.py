"""EPCIS 2.0 XML binding (issue 18): GS1's XML examples are captured as the same events (same CBV
2.0 event hashes) as their JSON twins, query answers in XML validate against GS1's XSD, and
hostile XML (entities, external DTDs, oversize, deep nesting) is refused with a problem and
nothing stored."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from api.epcis import FILE_SIZE_LIMIT
from ledger.epcis import jsontext
from ledger.epcis.hash import document_hashes
from ledger.epcis.xml_read import MAX_DEPTH, read_xml
from ledger.epcis.xml_write import write_xml
from tests.api.test_problems import assert_problem
from tests.epcis.conftest import GS1_EPCIS, load, need
from tests.epcis.test_capture import all_events, commissioning, ours
from tests.nodes_setup import Node

XSD = GS1_EPCIS / "XSD" / "EPCglobal-epcis-query-2_0.xsd"
XML = GS1_EPCIS / "XML"
HASH_ID = XML / "WithEventHashID"
IDENTICAL_HASH = (
    "ni:///sha-256;562ccc013c1a8bd231aa3577158164098fe1dd72e88cf4cad64137470627b82b?ver=CBV2.0"
)


def post_xml(node: Node, data: bytes, content_type: str = "application/xml") -> Any:
    headers = {**node.auth("operator"), "Content-Type": content_type}
    return node.client.post("/epcis/capture", data=data, headers=headers)


def from_xml(data: bytes) -> Any:
    """The JSON-LD document an XML document stands for, numbers as capture parses them."""
    return jsontext.loads(jsontext.dumps(read_xml(data, FILE_SIZE_LIMIT)))


def xml_examples() -> list[Path]:
    """GS1's XML examples that are event documents (not capture jobs or master data)."""
    found = sorted(need(XML).rglob("*.xml"))
    return [p for p in found if b"EventList" in p.read_bytes()]


def schema() -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(need(XSD))))


def ledger_state(node: Node) -> tuple[str, int]:
    return node.ctx.store.digest(), len(node.ctx.store.heads())


# -- GS1's examples ------------------------------------------------------------------------------


def test_gs1_xml_example_gives_the_events_of_its_json_twin(maker: Node) -> None:
    xml = need(XML / "Example_9.6.1-ObjectEvent-2020_06_18a.xml").read_bytes()
    twin = document_hashes(load(GS1_EPCIS / "JSON" / "Example_9.6.1-ObjectEvent.jsonld"))
    answer = post_xml(maker, xml)
    assert answer.status_code == 202, answer.get_data(as_text=True)
    hashes = answer.get_json()["eventHashes"]
    assert hashes == document_hashes(from_xml(xml))
    assert hashes[0] == twin[0]
    # The twins differ in one thing: the JSON declares the extension namespace with a trailing
    # slash (a different namespace, so a different hash by CBV 2.0); given the same namespace,
    # every event is the same.
    same_namespace = xml.replace(
        b'"http://ns.example.com/epcis"', b'"http://ns.example.com/epcis/"'
    )
    assert document_hashes(from_xml(same_namespace)) == twin


def test_gs1_events_with_identical_hash_ids_are_captured_once_from_xml_and_json(
    maker: Node,
) -> None:
    # GS1's "identical hash" set: the same event written differently (time zone of the instant,
    # element order, prefixes …), in XML and in JSON (7). Example 2 changes eventTimeZoneOffset,
    # which CBV 2.0 hashes, so it is another event.
    same = [need(HASH_ID / f"event_with_identical_hash_id_{n}.xml") for n in (1, 3, 4, 5, 6)]
    first = post_xml(maker, same[0].read_bytes()).get_json()
    assert first["entries"], first
    assert first["eventHashes"] == [IDENTICAL_HASH]  # ADR 0010: the hash GS1's set intends
    for path in same[1:]:
        job = post_xml(maker, path.read_bytes()).get_json()
        assert job["eventHashes"] == first["eventHashes"], path.name
        assert job["entries"] == [], path.name
        assert job["alreadyHeld"], path.name
    # The JSON twin writes CBV values as URNs, which the JSON binding does not take (400), but
    # its events hash the same.
    json_twin = load(HASH_ID / "event_with_identical_hash_id_7.json")
    assert document_hashes(json_twin) == first["eventHashes"]


def test_every_gs1_xml_example_is_captured_or_refused_naming_its_path(maker: Node) -> None:
    captured = 0
    for path in xml_examples():
        data = path.read_bytes()
        answer = post_xml(maker, data, "text/xml" if captured % 2 else "application/xml")
        if answer.status_code == 202:
            captured += 1
            assert answer.get_json()["eventHashes"] == document_hashes(from_xml(data))
        else:  # a rule it breaks (CBV 2.0, GS1's JSON schema, the lifecycle), as in JSON
            problem = assert_problem(answer, answer.status_code)
            assert answer.status_code in (400, 422), problem
            assert problem["path"].startswith("$.epcisBody"), (path.name, problem)
    assert captured >= 20


def test_query_answers_xml_that_validates_against_gs1_xsd(maker: Node) -> None:
    for path in xml_examples()[:12]:
        post_xml(maker, path.read_bytes())
    as_json = all_events(maker)
    answer = maker.client.get(
        "/epcis/events?perPage=1000",
        headers={**maker.auth("operator"), "Accept": "application/xml"},
    )
    assert answer.status_code == 200
    assert answer.mimetype == "application/xml"
    document = etree.fromstring(answer.get_data())
    xsd = schema()
    assert xsd.validate(document), xsd.error_log.last_error
    assert document_hashes(from_xml(answer.get_data())) == document_hashes(as_json)
    # an auditor's answer, its EPC lists cut to the EPCs it names (issue 14), validates too
    cut = maker.client.get(
        "/epcis/events?perPage=1000",
        headers={**maker.auth("auditor"), "Accept": "application/xml"},
    )
    assert xsd.validate(etree.fromstring(cut.get_data())), xsd.error_log.last_error
    assert len(document_hashes(as_json)) > 12


def test_every_gs1_json_example_written_as_xml_validates_and_keeps_its_hashes() -> None:
    xsd = schema()
    examples = sorted((GS1_EPCIS / "JSON").rglob("*.jsonld"))
    for path in examples:
        document = load(path)
        xml = write_xml(document)
        assert xsd.validate(etree.fromstring(xml)), (path.name, xsd.error_log.last_error)
        assert document_hashes(from_xml(xml)) == document_hashes(document), path.name


def test_an_xml_commissioning_commissions_packs_under_the_rules(maker: Node) -> None:
    """medtrace's own events in XML: ILMD in CBV's XML namespace gives the lot and expiry."""
    xml = write_xml(ours(commissioning("X1", "X2")))
    assert b'xmlns:cbvmda="urn:epcglobal:cbv:mda"' in xml
    assert b"<cbvmda:lotNumber>L1</cbvmda:lotNumber>" in xml
    answer = post_xml(maker, xml)
    assert answer.status_code == 202, answer.get_data(as_text=True)
    assert len(answer.get_json()["entries"]) == 1
    assert maker.ctx.store.count("packs") == 2
    again = post_xml(maker, xml)  # the same event again: held, not stored twice
    assert again.get_json()["entries"] == []
    assert maker.ctx.store.count("packs") == 2


def test_a_json_client_still_gets_json_ld(maker: Node) -> None:
    for accept in (None, "*/*", "application/ld+json, application/xml;q=0.5"):
        headers = maker.auth("auditor") | ({"Accept": accept} if accept else {})
        answer = maker.client.get("/epcis/events", headers=headers)
        assert answer.mimetype == "application/ld+json", accept


# -- hostile XML ---------------------------------------------------------------------------------

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol">
<!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
<!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
<!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
<!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
<!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
<!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
<!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>"""


def _event_document(prolog: bytes, serial_text: str) -> bytes:
    """A valid one-event EPCISDocument whose serial is ``serial_text`` (an entity reference)."""
    return (
        prolog
        + (
            f"""<epcis:EPCISDocument xmlns:epcis="urn:epcglobal:epcis:xsd:2" schemaVersion="2.0"
    creationDate="2026-03-02T09:00:00Z"><EPCISBody><EventList><ObjectEvent>
    <eventTime>2026-03-02T09:00:00Z</eventTime><eventTimeZoneOffset>+00:00</eventTimeZoneOffset>
    <epcList><epc>urn:epc:id:sgtin:0614141.107346.{serial_text}</epc></epcList><action>OBSERVE</action>
    </ObjectEvent></EventList></EPCISBody></epcis:EPCISDocument>"""
        ).encode()
    )


def _refused(
    node: Node,
    data: bytes,
    status: int,
    slug: str,
    words: str,
    content_type: str = "application/xml",
) -> dict[str, Any]:
    before = ledger_state(node)
    problem = assert_problem(post_xml(node, data, content_type), status, slug)
    assert words in problem["detail"], problem
    assert ledger_state(node) == before
    assert document_hashes(all_events(node)) == []
    return problem


def test_the_hostile_documents_are_well_formed_epcis_otherwise(maker: Node) -> None:
    # Without its DTD each document below would be captured: the refusals are the guard's.
    answer = post_xml(maker, _event_document(b'<?xml version="1.0"?>\n', "2017"))
    assert answer.status_code == 202, answer.get_data(as_text=True)


def test_xml_billion_laughs_refused(maker: Node) -> None:
    problem = _refused(
        maker, _event_document(BILLION_LAUGHS, "&lol9;"), 400, "malformed-xml", "entity"
    )
    assert "lol" in problem["detail"]


def test_xml_external_entity_refused(maker: Node) -> None:
    prolog = b'<?xml version="1.0"?>\n<!DOCTYPE d [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n'
    problem = _refused(maker, _event_document(prolog, "&xxe;"), 400, "malformed-xml", "entit")
    assert "root:" not in problem["detail"]


def test_xml_parameter_entity_refused(maker: Node) -> None:
    prolog = (
        b'<?xml version="1.0"?>\n'
        b'<!DOCTYPE d [<!ENTITY % remote SYSTEM "http://127.0.0.1:9/evil.dtd"> %remote;]>\n'
    )
    _refused(maker, _event_document(prolog, "2017"), 400, "malformed-xml", "entit")


def test_xml_external_dtd_refused(maker: Node) -> None:
    prolog = b'<?xml version="1.0"?>\n<!DOCTYPE d SYSTEM "http://127.0.0.1:9/evil.dtd">\n'
    _refused(maker, _event_document(prolog, "2017"), 400, "malformed-xml", "external DTD")


def test_xml_oversize_refused(maker: Node) -> None:
    padding = b"<!--" + b"x" * FILE_SIZE_LIMIT + b"-->"
    data = _event_document(b'<?xml version="1.0"?>\n' + padding, "2017")
    _refused(maker, data, 413, "body-too-large", str(FILE_SIZE_LIMIT))


def test_xml_nested_too_deep_refused(maker: Node) -> None:
    deep = "<example:x>" * (MAX_DEPTH + 1) + "</example:x>" * (MAX_DEPTH + 1)
    data = _event_document(b'<?xml version="1.0"?>\n', "2017").replace(
        b"<action>",
        f'<x:deep xmlns:x="urn:x" xmlns:example="urn:e">{deep}</x:deep><action>'.encode(),
    )
    _refused(maker, data, 400, "malformed-xml", "levels deep")


def test_xml_not_well_formed_refused(maker: Node) -> None:
    _refused(maker, b"<epcis:EPCISDocument><unclosed>", 400, "malformed-xml", "well-formed")


@pytest.mark.parametrize("content_type", ["application/xml", "text/xml"])
def test_xml_of_another_kind_refused(maker: Node, content_type: str) -> None:
    data = b'<?xml version="1.0"?><html><body>not EPCIS</body></html>'
    _refused(maker, data, 400, "malformed-xml", "EPCISDocument", content_type)
