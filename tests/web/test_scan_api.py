"""POST /api/v1/scan: a photo or the scanned text of a pack's code to a verdict, verified here
against the pinned membership; a scan error is a 422 with a hint, never a falsification."""

from __future__ import annotations

import io
from typing import Any

import pytest
from werkzeug.datastructures import FileStorage
from werkzeug.test import TestResponse, encode_multipart

from api.web_scan import MAX_IMAGE_BYTES, image_type
from ledger.entry import SignedEntry
from ledger.identifiers import lot_uri
from node.tokens import TokenRole
from tests.api.conftest import GTIN, Node, NodeFactory, pack, register_product
from tests.web.conftest import (
    blank_png,
    datamatrix_image,
    datamatrix_png,
    digital_link,
    element_string,
    png,
    qr_image,
    side_by_side,
    wedge_text,
)

# scanner/decode.py (another work in progress) combines zxing-cpp formats with `|`, which
# zxing-cpp 3 deprecates; under `-W error` the first image scan would fail on that import.
# Only that warning is ignored, only here; drop this line once decode.py passes a tuple.
pytestmark = pytest.mark.filterwarnings("ignore:operator | is deprecated:DeprecationWarning")

SCAN = "/api/v1/scan"
LOT = "L7"
EXPIRY = "2030-12-31"
PROBLEM = "application/problem+json"


def commission(node: Node, *serials: str, lot: str = LOT, expiry: str = EXPIRY) -> None:
    response = node.post(
        "/api/v1/commission",
        {"gtin": GTIN, "lot": lot, "expiry": expiry, "serials": list(serials)},
    )
    assert response.status_code == 201, response.get_json()


def act(node: Node, kind: str, subjects: list[str], **fields: Any) -> dict[str, Any]:
    response = node.post(f"/api/v1/actions/{kind}", {"subjects": subjects, **fields})
    assert response.status_code == 201, response.get_json()
    return dict(response.get_json()["entry"])


def upload(
    node: Node,
    data: bytes,
    *,
    role: TokenRole | str = TokenRole.VERIFIER,
    context: str | None = None,
    filename: str = "label.png",
) -> TestResponse:
    form: dict[str, Any] = {"image": FileStorage(io.BytesIO(data), filename, "image")}
    if context is not None:
        form["context"] = context
    # Encoded here, in memory: the test client would spool a large body to a temporary file
    # that nobody closes when the app answers without reading it.
    boundary, body = encode_multipart(form)
    return node.client.post(
        SCAN,
        data=body,
        content_type=f"multipart/form-data; boundary={boundary}",
        headers=node.auth(role),
    )


def scan_text(
    node: Node, text: str, role: TokenRole | str = TokenRole.VERIFIER, **extra: Any
) -> TestResponse:
    return node.client.post(SCAN, json={"text": text, **extra}, headers=node.auth(role))


def problem(response: TestResponse, status: int, slug: str) -> dict[str, Any]:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == PROBLEM
    body: dict[str, Any] = response.get_json()
    assert body["type"] == f"urn:medtrace:problem:{slug}"
    assert body["status"] == status
    return body


def test_a_label_photo_of_a_commissioned_pack_is_released(acme: Node) -> None:
    commission(acme, "SER001")
    response = upload(acme, datamatrix_png(GTIN, "SER001", LOT, EXPIRY))
    assert response.status_code == 200, response.get_json()
    result = response.get_json()
    assert result["verdict"] == "RELEASE"
    assert result["pack"] == pack("SER001")
    assert (result["gtin"], result["serial"], result["lot"], result["expiry"]) == (
        GTIN,
        "SER001",
        LOT,
        EXPIRY,
    )
    assert [r["code"] for r in result["reasons"]] == ["authentic"]
    assert all(r["message"] for r in result["reasons"])
    assert result["scan"]["symbology"] == "]d2"
    assert result["scan"]["raw"]
    assert result["status"] == "active"
    assert result["custodian"] == "acme/line-1"
    assert result["context"] == "counter"
    assert result["alerts"] == []
    (commissioning,) = result["timeline"]
    assert commissioning["kind"] == "commission"
    assert commissioning["feed"] == "acme/line-1"
    assert commissioning["seq"] == 0
    assert set(commissioning) == {"ts", "feed", "seq", "kind", "entry", "detail"}
    assert commissioning["detail"].startswith("lot ")  # as `medtrace scan` shows it


def test_the_timeline_is_the_verified_provenance_in_order(acme: Node) -> None:
    commission(acme, "T1", "T2")
    shipped = act(acme, "ship", [pack("T1")], body={"destination": "dist"})
    result = scan_text(acme, wedge_text(GTIN, "T1", LOT, EXPIRY)).get_json()
    assert [t["kind"] for t in result["timeline"]] == ["commission", "ship"]
    assert result["timeline"][-1]["entry"] == SignedEntry.from_wire(shipped).id
    provenance = acme.get(f"/api/v1/packs/{GTIN}/T1/provenance", role="verifier").get_json()
    assert {t["entry"] for t in result["timeline"]} == {w["id"] for w in provenance["entries"]}


def test_a_digital_link_qr_photo_reads_too(acme: Node) -> None:
    commission(acme, "QR1")
    image = png(qr_image(digital_link(GTIN, "QR1", LOT, EXPIRY)))
    result = upload(acme, image).get_json()
    assert result["verdict"] == "RELEASE", result
    assert result["lot"] == LOT


def test_wedge_text_with_the_group_separator_is_released(acme: Node) -> None:
    commission(acme, "W1")
    for text in (
        wedge_text(GTIN, "W1", LOT, EXPIRY),
        element_string(GTIN, "W1", LOT, EXPIRY),
        digital_link(GTIN, "W1", LOT, EXPIRY),
    ):
        response = scan_text(acme, text)
        assert response.status_code == 200, (text, response.get_json())
        assert response.get_json()["verdict"] == "RELEASE", text


#: Lot "L21" and serial "X" with the group separator lost: it reads as lot L21 and serial X,
#: or as lot L and serial 21X. Which pack is it? A scan error, never a guess.
AMBIGUOUS = f"01{GTIN}17301231" + "10L21" + "21X"


def test_a_lost_group_separator_is_a_scan_error_with_a_hint(acme: Node) -> None:
    commission(acme, "X", lot="L21")
    body = problem(scan_text(acme, AMBIGUOUS), 422, "scan-error")
    assert "group separator" in body["hint"]
    assert body["scan_error"] == "lost_separator"
    assert "code" not in body  # not an alert code: nothing was falsified


def test_a_lost_group_separator_with_one_reading_is_put_back(acme: Node) -> None:
    commission(acme, "LOST1")
    lost = f"01{GTIN}17301231" + f"10{LOT}" + "21LOST1"
    result = scan_text(acme, lost).get_json()
    assert result["verdict"] == "RELEASE"
    assert result["scan"]["recovered"] is True
    assert result["scan"]["notes"]


def test_a_wrong_gtin_check_digit_is_a_scan_error(acme: Node) -> None:
    body = problem(scan_text(acme, "]d2010401234500001721SER"), 422, "scan-error")
    assert "check digit" in body["hint"]
    assert body["scan_error"] == "check_digit"


def test_an_unknown_pack_is_held_not_rejected(acme: Node) -> None:
    result = scan_text(acme, digital_link(GTIN, "NOBODY")).get_json()
    assert result["verdict"] == "HOLD"
    assert [r["code"] for r in result["reasons"]] == ["unknown_pack"]
    assert result["timeline"] == []
    assert result["status"] is None


def test_a_recalled_lot_is_rejected(acme: Node) -> None:
    commission(acme, "R1", lot="LR")
    act(acme, "recall", [lot_uri(GTIN, "LR")])
    result = scan_text(acme, wedge_text(GTIN, "R1", "LR", EXPIRY)).get_json()
    assert result["verdict"] == "REJECT"
    assert "recalled" in [r["code"] for r in result["reasons"]]
    assert [t["kind"] for t in result["timeline"]] == ["commission", "recall"]


def test_a_printed_lot_that_differs_from_the_commissioning_is_rejected(acme: Node) -> None:
    commission(acme, "M1")
    result = scan_text(acme, wedge_text(GTIN, "M1", "OTHER", EXPIRY)).get_json()
    assert result["verdict"] == "REJECT"
    assert "lot_mismatch" in [r["code"] for r in result["reasons"]]


def test_in_transit_is_held_at_the_counter_and_fine_at_the_border(acme: Node) -> None:
    register_product(acme)  # a border holds an unregistered product
    commission(acme, "B1")
    act(acme, "ship", [pack("B1")], body={"destination": "border"})
    text = wedge_text(GTIN, "B1", LOT, EXPIRY)
    counter = scan_text(acme, text).get_json()
    assert counter["verdict"] == "HOLD"
    assert "in_transit" in [r["code"] for r in counter["reasons"]]
    border = scan_text(acme, text, context="border").get_json()
    assert border["verdict"] == "RELEASE"
    assert border["context"] == "border"
    image = upload(acme, datamatrix_png(GTIN, "B1", LOT, EXPIRY), context="border")
    assert image.get_json()["verdict"] == "RELEASE"


def test_an_image_without_a_code_is_a_scan_error(acme: Node) -> None:
    body = problem(upload(acme, blank_png()), 422, "scan-error")
    assert body["hint"]


def test_a_photo_of_two_different_packs_is_a_scan_error(acme: Node) -> None:
    commission(acme, "P1", "P2")
    both = side_by_side(
        datamatrix_image(GTIN, "P1", LOT, EXPIRY), datamatrix_image(GTIN, "P2", LOT, EXPIRY)
    )
    body = problem(upload(acme, both), 422, "scan-error")
    assert "one" in body["hint"]


def test_two_codes_of_the_same_pack_are_one_scan(acme: Node) -> None:
    commission(acme, "D1")
    both = side_by_side(
        datamatrix_image(GTIN, "D1", LOT, EXPIRY), qr_image(digital_link(GTIN, "D1", LOT, EXPIRY))
    )
    assert upload(acme, both).get_json()["verdict"] == "RELEASE"


@pytest.mark.parametrize(
    ("data", "filename"),
    [
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj", "label.pdf"),
        (b"GIF89a\x01\x00\x01\x00", "label.gif"),
        (b"(01)04012345000016(21)X", "label.png"),
    ],
)
def test_a_file_that_is_not_an_image_is_a_400(acme: Node, data: bytes, filename: str) -> None:
    body = problem(upload(acme, data, filename=filename), 400, "invalid-request")
    assert "PNG, JPEG or WebP" in body["detail"]


def test_a_truncated_png_is_a_400_or_a_scan_error(acme: Node) -> None:
    data = datamatrix_png(GTIN, "X", LOT, EXPIRY)[:200]
    response = upload(acme, data)
    assert response.status_code in (400, 422)
    assert response.mimetype == PROBLEM


def test_a_form_without_the_image_field_is_a_400(acme: Node) -> None:
    boundary, body = encode_multipart({"photo": FileStorage(io.BytesIO(blank_png()), "x.png")})
    response = acme.client.post(
        SCAN,
        data=body,
        content_type=f"multipart/form-data; boundary={boundary}",
        headers=acme.auth("verifier"),
    )
    assert problem(response, 400, "invalid-request")["path"] == "$.image"


def test_an_image_over_10_mib_is_a_413(acme: Node) -> None:
    data = b"\x89PNG\r\n\x1a\n" + b"\0" * MAX_IMAGE_BYTES
    body = problem(upload(acme, data), 413, "body-too-large")
    assert "10 MiB" in body["detail"]


def test_an_image_over_the_json_limit_but_within_10_mib_is_read(acme: Node) -> None:
    """The API's bodies stop at 8 MiB; a photo may be up to 10 MiB."""
    data = b"\x89PNG\r\n\x1a\n" + b"\0" * (MAX_IMAGE_BYTES - 1024)
    response = upload(acme, data)
    assert response.status_code in (400, 422), response.get_json()  # read, found unreadable


def test_an_unknown_context_is_a_400(acme: Node) -> None:
    problem(scan_text(acme, digital_link(GTIN, "X"), context="moon"), 400, "invalid-request")
    response = upload(acme, blank_png(), context="moon")
    assert problem(response, 400, "invalid-request")["path"] == "$.context"


def test_the_json_body_is_checked_like_every_other(acme: Node) -> None:
    assert problem(scan_text(acme, "x", extra=1), 400, "invalid-request")["path"] == "$.extra"
    problem(acme.client.post(SCAN, json={}, headers=acme.auth("verifier")), 400, "invalid-request")
    problem(
        acme.client.post(
            SCAN, data="text=x", content_type="text/plain", headers=acme.auth("verifier")
        ),
        415,
        "unsupported-media-type",
    )


def test_no_token_is_a_401_and_the_wrong_role_a_403(acme: Node) -> None:
    response = acme.client.post(SCAN, json={"text": digital_link(GTIN, "X")})
    problem(response, 401, "unauthenticated")
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    problem(upload(acme, blank_png(), role="auditor"), 403, "forbidden")
    problem(scan_text(acme, digital_link(GTIN, "X"), role="peer"), 403, "forbidden")
    assert scan_text(acme, digital_link(GTIN, "X"), role="operator").status_code == 200


def test_scans_are_rate_limited_per_token(make_node: NodeFactory) -> None:
    node = make_node("acme", verify_rate_per_minute=2)
    text = digital_link(GTIN, "X")
    assert [scan_text(node, text).status_code for _ in range(2)] == [200, 200]
    limited = scan_text(node, text)
    body = problem(limited, 429, "rate-limited")
    assert int(limited.headers["Retry-After"]) >= 1
    assert body["retry_after"] >= 1


def test_the_openapi_document_describes_both_bodies(acme: Node) -> None:
    document = acme.client.get("/openapi.json").get_json()
    operation = document["paths"]["/api/v1/scan"]["post"]
    assert set(operation["requestBody"]["content"]) == {
        "application/json",
        "multipart/form-data",
    }
    assert sorted(operation["x-roles"]) == ["operator", "verifier"]
    assert operation["x-rate-limited"] is True
    assert {"400", "401", "403", "413", "415", "422", "429"} <= set(operation["responses"])
    types = document["components"]["schemas"]["Problem"]["properties"]["type"]["enum"]
    assert "urn:medtrace:problem:scan-error" in types


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"\x89PNG\r\n\x1a\nrest", "image/png"),
        (b"\xff\xd8\xff\xe0rest", "image/jpeg"),
        (b"RIFF\x10\x00\x00\x00WEBPVP8 ", "image/webp"),
        (b"RIFF\x10\x00\x00\x00WAVEfmt ", None),
        (b"", None),
        (b"<svg/>", None),
    ],
)
def test_image_types_are_told_by_their_leading_bytes(data: bytes, expected: str | None) -> None:
    assert image_type(data) == expected
