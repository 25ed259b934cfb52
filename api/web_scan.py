"""``POST /api/v1/scan``: from a photo or the text of a pack's code to RELEASE / HOLD / REJECT.

The code is read by ``scanner.reading`` (image: zxing-cpp and pyzbar, within the limits of
``scanner.image_loading`` and ``scanner.decode_slots``: a worker decoding all the photos it may
at once answers 503 with ``Retry-After``; text: a keyboard wedge's element string or a GS1
Digital Link URI). A code that cannot be read, or whose syntax is wrong, is a **scan error**
(422, ``urn:medtrace:problem:scan-error``, with a ``hint`` for the person at the counter), never
a falsification. A code that reads is looked up in this node's store and its provenance is
verified by ``scanner.verifying.decide_at`` against the node's pinned membership, exactly as a
remote scanner would verify what the node returns; at a pharmacy's counter the pack must also
be in the pharmacy's custody. A pack whose GTIN the membership routes to a foreign root is asked of
that consortium's ledger and verified here instead (``api.cross_border``, ADR 0028). The route is rate-limited like the other verification queries (a
scan endpoint is a serial oracle too).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

from flask import Response, request
from werkzeug.datastructures import FileStorage
from werkzeug.exceptions import RequestEntityTooLarge

from api.call import Call, json_response
from api.consignment import consignment_scan
from api.context import NodeContext
from api.cross_border import foreign_scan
from api.failed_checks import record_failed_check
from api.harvest import note_unknown
from api.problems import Problem
from api.queries import alert_json, pack_view, per_pack, today
from ledger.entry import SignedEntry
from ledger.errors import IdentifierError
from ledger.identifiers import gtin14, pack_uri
from ledger.membership import ForeignRoot
from scanner.decode_slots import DecodersBusy
from scanner.outcome import timeline_json as step_rows
from scanner.reading import ScanData, ScanError, read_image, read_text
from scanner.verdict import Scanned, Verdict
from scanner.verifying import custodian_shown, decide_at, hold_withheld

MAX_IMAGE_BYTES = 10 * 1024 * 1024
MAX_TEXT = 2048
#: A multipart body may exceed the image by this much (boundaries, part headers, the context).
_MULTIPART_SLACK = 64 * 1024
IMAGE_FIELD = "image"
CONTEXTS = ("counter", "border")

#: Leading bytes of the image formats the scanner reads.
_MAGIC: tuple[tuple[str, bytes, int], ...] = (
    ("image/png", b"\x89PNG\r\n\x1a\n", 0),
    ("image/jpeg", b"\xff\xd8\xff", 0),
    ("image/webp", b"WEBP", 8),
)


def image_type(data: bytes) -> str | None:
    """The media type of ``data`` if it is a PNG, JPEG or WebP file, by its leading bytes."""
    for media_type, magic, offset in _MAGIC:
        if data[offset : offset + len(magic)] == magic:
            if media_type == "image/webp" and data[:4] != b"RIFF":
                continue
            return media_type
    return None


@dataclass(frozen=True)
class _Request:
    context: str
    text: str | None = None
    image: bytes | None = None


def _scan_error(exc: ScanError) -> Problem:
    hint = exc.hint or "rescan the code"
    return Problem(
        "scan-error", (str(exc) or hint)[:500], extra={"hint": hint[:500], "scan_error": exc.code}
    )


def _upload() -> _Request:
    """The image and context of a multipart/form-data request (read here, not by the
    dispatcher: a photo may be larger than the JSON body limit)."""
    # Per-request limits are Flask >= 3.1; on 3.0 the app's 8 MiB limit stays in force.
    with contextlib.suppress(AttributeError):
        request.max_content_length = MAX_IMAGE_BYTES + _MULTIPART_SLACK
    try:
        files = request.files
        form = request.form
    except RequestEntityTooLarge:
        raise Problem(
            "body-too-large", f"expected an image of at most {MAX_IMAGE_BYTES} bytes (10 MiB)"
        ) from None
    upload: FileStorage | None = files.get(IMAGE_FIELD)
    if upload is None:
        raise Problem(
            "invalid-request",
            f"expected a file in the form field {IMAGE_FIELD!r}, found "
            f"{', '.join(sorted(files)[:5]) or 'no file'}"[:300],
            extra={"path": f"$.{IMAGE_FIELD}"},
        )
    data = upload.stream.read(MAX_IMAGE_BYTES + 1)
    if len(data) > MAX_IMAGE_BYTES:
        raise Problem(
            "body-too-large", f"expected an image of at most {MAX_IMAGE_BYTES} bytes (10 MiB)"
        )
    if not data:
        raise Problem(
            "invalid-request", "expected an image, found an empty file", extra={"path": "$.image"}
        )
    if image_type(data) is None:
        raise Problem(
            "invalid-request",
            "expected a PNG, JPEG or WebP image, found another kind of file",
            extra={"path": f"$.{IMAGE_FIELD}"},
        )
    context = form.get("context", "counter")
    if context not in CONTEXTS:
        raise Problem(
            "invalid-request",
            f"$.context: expected one of {', '.join(CONTEXTS)}, found {context[:40]!r}",
            extra={"path": "$.context"},
        )
    return _Request(context, image=data)


def _request(call: Call) -> _Request:
    if call.body is None:
        return _upload()
    body: dict[str, Any] = call.body
    return _Request(str(body.get("context", "counter")), text=str(body["text"]))


def _one(found: list[ScanData]) -> ScanData:
    """The pack an image shows: several codes of one pack are fine, codes of several packs
    (or codes that disagree on one pack) are not: which pack would the verdict be about?"""
    if not found:
        raise Problem(
            "scan-error",
            "no GS1 code found in the image",
            extra={
                "hint": "no code found: photograph the code closer, flat and in focus",
                "scan_error": "no_barcode",
            },
        )
    distinct = {(d.gtin, d.serial, d.lot, d.expiry): d for d in found}
    if len(distinct) > 1:
        packs = {(d.gtin, d.serial) for d in found}
        what = f"{len(packs)} different packs" if len(packs) > 1 else "codes that disagree"
        raise Problem(
            "scan-error",
            f"the image shows {what}",
            extra={
                "hint": f"the photo shows {what}: scan one pack's code at a time",
                "scan_error": "several_packs",
            },
        )
    return found[0]


def _read(req: _Request) -> ScanData:
    try:
        if req.text is not None:
            return read_text(req.text)
        assert req.image is not None
        return _one(read_image(req.image))
    except ScanError as exc:
        raise _scan_error(exc) from None
    except DecodersBusy as exc:  # this worker decodes as many photos as it may at once
        raise Problem(
            "unavailable",
            str(exc),
            extra={"retry_after": exc.retry_after_s},
            headers={"Retry-After": str(exc.retry_after_s)},
        ) from None
    except (OSError, ValueError):  # Pillow could not decode the file
        if req.text is not None:
            raise
        raise Problem(
            "invalid-request",
            "expected an image file (a photo or scan of the label), found data that cannot be "
            "decoded as an image",
            extra={"path": f"$.{IMAGE_FIELD}"},
        ) from None


def timeline_json(entries: list[SignedEntry]) -> list[dict[str, Any]]:
    """Each step of the pack's custody, with the decision or detail ``medtrace scan`` shows
    (an inspection's release / hold / detain, a shipment's destination, a commissioning's lot)."""
    rows = step_rows(entries)
    for row, e in zip(rows, entries, strict=True):
        row["seq"] = e.payload.seq
        row.setdefault("detail", "")
    return rows


def verdict_json(
    ctx: NodeContext, data: ScanData, gtin: str, verdict: Verdict, context: str
) -> dict[str, Any]:
    state = verdict.state
    return {
        "verdict": verdict.decision.value,
        "pack": verdict.pack,
        "gtin": gtin,
        "serial": data.serial,
        "lot": data.lot,
        "expiry": data.expiry,
        "context": context,
        "node": ctx.name,
        "status": state.status.value if state is not None else None,
        "custodian": custodian_shown(verdict),
        "reasons": [{"code": r.code, "message": r.message} for r in verdict.reasons],
        "warnings": [{"code": r.code, "message": r.message} for r in verdict.warnings],
        "product": None if verdict.product is None else verdict.product.to_json(),
        "timeline": timeline_json(verdict.timeline),
        "alerts": [alert_json(a) for a in verdict.alerts],
        "scan": {
            "symbology": data.symbology,
            "decoder": data.decoder,
            "raw": data.raw,
            "recovered": data.recovered,
            "notes": list(data.notes),
        },
    }


def _foreign(
    ctx: NodeContext, call: Call, data: ScanData, gtin: str, root: ForeignRoot, context: str
) -> Response:
    verdict, fields = foreign_scan(ctx, data, root, context=context)
    if verdict.state is None and any(r.code == "unknown_pack" for r in verdict.reasons):
        note_unknown(verdict.pack)  # serial harvesting through this node (ADR 0012)
    failed = [r.code for r in verdict.reasons]
    record_failed_check(ctx, call.token, packs=[verdict.pack], verdict=verdict.decision.value, reasons=failed, context=context, lot=data.lot, expiry=data.expiry)  # fmt: skip
    return json_response(verdict_json(ctx, data, gtin, verdict, context) | fields)


def scan(ctx: NodeContext, call: Call) -> Response:
    if (whole := consignment_scan(ctx, call)) is not None:  # an SSCC or a declaration: every pack
        return whole
    req = _request(call)
    data = _read(req)
    try:  # the reader checks these; a second line of defence
        gtin = gtin14(data.gtin)
        uri = pack_uri(gtin, data.serial)
    except IdentifierError as exc:
        raise Problem(
            "scan-error",
            str(exc)[:300],
            extra={"hint": "the code does not read: rescan it", "scan_error": "syntax"},
        ) from None
    scanned = Scanned(gtin, data.serial, data.lot, data.expiry)
    root = ctx.membership.foreign_root_for_gtin(gtin)
    if root is not None:  # another consortium's pack: asked of its ledger (ADR 0028)
        return _foreign(ctx, call, data, gtin, root, req.context)
    withheld: list[str] = []
    if per_pack(call.token):  # a verifier decides on what a remote scanner would be sent
        view = pack_view(ctx, uri)
        provenance, withheld = view.entries, view.withheld
    else:
        provenance = ctx.store.provenance(uri)
    verdict = decide_at(  # at a pharmacy's counter, also: is the pack in its custody?
        scanned,
        provenance,
        ctx.membership,
        org=ctx.config.org,
        today=today(),
        in_transit_ok=req.context == "border",
    )
    verdict = hold_withheld(verdict, withheld)
    if verdict.state is None and any(r.code == "unknown_pack" for r in verdict.reasons):
        note_unknown(uri)  # serial harvesting (ADR 0012)
    failed = [r.code for r in verdict.reasons]  # REJECT, or HOLD on evidence: an alert (ADR 0022)
    record_failed_check(ctx, call.token, packs=[uri], verdict=verdict.decision.value, reasons=failed, context=req.context, lot=data.lot, expiry=data.expiry)  # fmt: skip
    return json_response(verdict_json(ctx, data, gtin, verdict, req.context))
