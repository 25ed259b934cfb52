"""``medtrace case``: cases between authorities (issue 17, ADR 0029, docs/spec/cases.md).

::

    medtrace case export --alert ID --out case.json [--photo seized.jpg …] --node $B --token $T
    medtrace case verify case.json --genesis $GENESIS_OF_B [--json]
    medtrace case import case.json --node $A --token $T

``export`` asks a customs or regulator node for a signed case file about one of its alerts or
declarations; ``verify`` checks a file offline with nothing but the exporting consortium's
genesis id; ``import`` hands it to a customs or regulator node of another consortium, which
verifies it against the foreign root its membership pins and lists it as a ``foreign_case``
alert. Exit codes of ``verify``: 0 valid, 4 not a case file / another consortium /
unreadable, 5 refused (``case_refused``: one line naming the check that failed).
"""

from __future__ import annotations

import base64
import json
import sys
import time
from pathlib import Path
from typing import Any

import click
from rich.markup import escape

from ledger.cases import (
    FORMAT,
    PHOTO_TYPES,
    CaseCode,
    CaseRefused,
    VerifiedCase,
    case_id,
    encode_case,
    verify_case,
)
from medtrace.cli.console import FilePath, out, print_json
from medtrace.cli.offline_files import load_json_file, refuse
from medtrace.cli.work.client import WorkError
from medtrace.cli.work.target import Target, node_options

REFUSED_EXIT = 5
USAGE_EXIT = 4
_SUFFIX_TYPES = {
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".png": "image/png",
    ".webp": "image/webp",
}


@click.group("case")
def case_group() -> None:
    """Cases between authorities: export a signed case file, verify one offline, import one
    from another consortium (docs/spec/cases.md)."""


def _photo(path: Path) -> dict[str, Any]:
    media = _SUFFIX_TYPES.get(path.suffix.lower())
    if media is None:
        raise WorkError(f"{path}: expected a photo of {', '.join(PHOTO_TYPES)} (.jpg, .png, .webp)")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise WorkError(f"{path}: cannot be read ({exc.__class__.__name__})") from None
    name = "".join(c if c.isascii() and (c.isalnum() or c in "._-") else "-" for c in path.name)
    return {
        "name": name.lstrip("._-")[:100] or "photo",
        "mediaType": media,
        "data": base64.b64encode(data).decode(),
    }


@case_group.command("export")
@click.option("--alert", "alert", help="The id of an alert the node holds (GET /api/v1/alerts).")
@click.option("--declaration", help="The reference of a declaration the node holds.")
@click.option(
    "--out", "out_file", type=click.Path(path_type=Path), required=True, help="Write the case here."
)
@click.option(
    "--photo",
    "photos",
    multiple=True,
    type=FilePath(exists=True),
    help="A photo to carry (JPEG, PNG or WebP, at most 1 MiB; up to 4; repeat the option).",
)
@click.option(
    "--wait",
    type=click.FloatRange(0, 600),
    default=30.0,
    show_default=True,
    help="Seconds to wait for the witnesses to cosign a checkpoint covering every entry.",
)
@node_options
def export_command(
    alert: str | None,
    declaration: str | None,
    out_file: Path,
    photos: tuple[Path, ...],
    wait: float,
    target: Target,
) -> None:
    """Export a signed case file about an alert (--alert ID) or a declaration (--declaration
    REF) from a customs or regulator node (an operator or auditor token).

    \b
    The node signs the file with its feed key; it carries the alert(s), the evidence entries
    (each pack's leaves only), their inclusion proofs under cosigned checkpoints, the
    membership, the declaration's opened commercial fields (at the customs post that took it)
    and the photos. Entries signed a moment ago wait for the witnesses (--wait).
    \b
    Example:
      medtrace case export --alert 3f9a…c2 --photo seized.jpg --out case.json
    """
    if (alert is None) == (declaration is None):
        raise WorkError("expected --alert ID or --declaration REF (one of them)")
    body: dict[str, Any] = {"alert": alert} if alert else {"declaration": declaration}
    if photos:
        body["photos"] = [_photo(p) for p in photos]
    api = target.connect()
    deadline = time.monotonic() + wait
    try:
        while True:
            try:
                doc = api.call("POST", "/api/v1/cases/export", body=body, what="case export")
                break
            except WorkError as exc:
                if exc.status != 409 or time.monotonic() >= deadline:
                    raise
                time.sleep(1.0)
    finally:
        api.close()
    out_file.write_bytes(encode_case(doc))
    summary: dict[str, Any] = {
        "out": str(out_file),
        "case": case_id(doc),
        "alerts": len(doc.get("alerts", [])),
        "entries": len(doc.get("entries", [])),
        "photos": len(doc.get("photos", [])),
    }
    if target.as_json:
        print_json(summary)
        return
    out().print(
        f"wrote {escape(str(out_file))}: case {summary['case'][:16]}…, {summary['alerts']} "
        f"alert(s), {summary['entries']} entries, {summary['photos']} photo(s)"
    )


def report_json(case: VerifiedCase) -> dict[str, Any]:
    return {
        "valid": True,
        "case": case.id,
        "genesis": case.genesis,
        "consortium": case.consortium,
        "exported_at": case.exported_at,
        "exporter": {
            "organisation": case.exporter_org,
            "feed": case.exporter_feed,
            "role": case.exporter_role.value,
        },
        "subject": case.subject,
        "alerts": [
            {"id": a.id, "code": a.code.value, "subject": a.subject, "message": a.message}
            for a in case.alerts
        ],
        "entries": len(case.entries),
        "declarations": case.declarations,
        "photos": [
            {
                "name": p["name"],
                "mediaType": p["mediaType"],
                "sha256": p["sha256"],
                "bytes": len(p["bytes"]),
            }
            for p in case.photos
        ],
        "not_witnessed_feeds": case.not_witnessed_feeds,
    }


@case_group.command("verify")
@click.argument("file", type=click.Path(path_type=Path))
@click.option(
    "--genesis",
    envvar="MEDTRACE_GENESIS",
    help="The exporting consortium's genesis id, pinned out of band (or MEDTRACE_GENESIS); "
    "required.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON on one line.")
def verify_command(file: Path, genesis: str | None, as_json: bool) -> None:
    """Verify a case file offline with nothing but the exporting consortium's genesis id:
    membership chain, the exporter (a customs or regulator node), every entry and disclosed
    leaf, every entry in a witnessed checkpoint, the alerts, the opened declaration fields,
    the photos' SHA-256 and the outer signature.

    \b
    Exit codes: 0 valid, 4 not JSON, not of format medtrace-case/1 or of another consortium,
    5 refused (case_refused: any other check, missing or unknown members included).
    \b
    Example:
      medtrace case verify case.json --genesis $GENESIS
    """
    if not genesis:
        refuse("usage", "expected --genesis ID (or MEDTRACE_GENESIS)", USAGE_EXIT, as_json)
    doc = load_json_file(file, "case file", USAGE_EXIT, as_json)
    try:
        case = verify_case(doc, genesis)
    except CaseRefused as exc:
        not_a_case = not isinstance(doc, dict) or doc.get("format") != FORMAT
        usage = exc.code is CaseCode.OTHER_CONSORTIUM or not_a_case
        refuse(
            exc.code.value,
            f"{file}: case_refused: {exc}",
            USAGE_EXIT if usage else REFUSED_EXIT,
            as_json,
        )
    if as_json:
        sys.stdout.write(json.dumps(report_json(case), ensure_ascii=False) + "\n")
        return
    console = out()
    console.print(
        f"[green]✓[/] case {case.id[:16]}… of {escape(case.consortium)}, exported by "
        f"{escape(case.exporter_org)} ({case.exporter_role.value}) at {case.exported_at}"
    )
    console.print(
        f"{len(case.entries)} entries, {len(case.alerts)} alert(s), "
        f"{len(case.declarations)} opened declaration(s), {len(case.photos)} photo(s) verified "
        "from the genesis alone"
    )
    for alert in case.alerts:
        console.print(
            f"• [bold]{alert.code.value}[/] {escape(alert.subject)}: {escape(alert.message)}"
        )
    for opened in case.declarations:
        console.print(
            f"• declaration {escape(str(opened['reference']))}: {', '.join(sorted(opened['fields']))} opened"
        )


@case_group.command("import")
@click.argument("file", type=click.Path(path_type=Path))
@node_options
def import_command(file: Path, target: Target) -> None:
    """Import another consortium's case file at a customs or regulator node (an operator
    token): the node verifies it against the foreign root its membership pins and lists it as
    a foreign_case alert. Importing the same file again changes nothing.

    \b
    Example:
      medtrace case import case.json --node https://regulator.a.example:8443 --token $T
    """
    try:
        doc = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise WorkError(f"{file}: expected a JSON case file ({exc.__class__.__name__})") from None
    api = target.connect()
    try:
        answer = api.call("POST", "/api/v1/cases", body=doc, what="case import", ok=(200, 201))
    finally:
        api.close()
    if target.as_json:
        print_json(answer)
        return
    held = "already held: nothing changed" if answer.get("alreadyHeld") else "imported"
    alert = answer.get("alert") or {}
    out().print(f"case {str(answer.get('case'))[:16]}… {held}")
    out().print(
        f"• foreign_case {escape(str(alert.get('subject')))}: {escape(str(alert.get('message')))}"
    )
