"""``medtrace verify-remote``: ask a party that speaks the GS1 Lightweight Verification
Messaging standard (a medtrace node's ``/vrs/v1``, a DSCSA verification router, a
manufacturer's service) whether a pack's identifier is genuine, and print its answer in words.

The request is the standard's (``GET <base>/gtin/{gtin}/lot/{lot}/ser/{serial}?exp=YYMMDD&
linkType=verificationService&context=…&reqGLN=…&corrUUID=…``); the answer is read back with
``api.vrs_mapping`` (docs/spec/verification-messaging.md). Exit 0 when verified, 2 when not,
1 when no answer could be had, 4 on bad options.
"""

from __future__ import annotations

import uuid
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import click
import requests
from rich.table import Table

from api.vrs_mapping import (
    ADDITIONAL_INFO,
    CONTEXT_SALEABLE_RETURN,
    CONTEXTS,
    FAILURE_REASONS,
    LINK_TYPE,
    MEANINGS,
)
from ledger.errors import IdentifierError
from ledger.identifiers import check_gln, gtin14
from medtrace.cli.console import FilePath, fail, out, print_json
from scanner.reading import ScanError, read_text
from scanner.sources.online import connection_problem, node_session

NOT_VERIFIED = 2
#: Bad options, as ``medtrace scan`` (click's own 2 would read as "not verified").
USAGE = 4
TIMEOUT_S = 30.0

_STATUS_LINES = {
    400: "the service refused the request as malformed",
    401: "the service did not accept the token (--token, $MEDTRACE_VRS_TOKEN)",
    403: "the service refuses this requestor",
    404: "the service does not answer for this GTIN",
    429: "the service throttled this token",
}


def _yymmdd(expiry: str) -> str:
    """``2030-12-31`` or ``301231`` as the standard's ``exp`` (YYMMDD)."""
    if len(expiry) == 6 and expiry.isascii() and expiry.isdigit():
        return expiry
    try:
        return date.fromisoformat(expiry).strftime("%y%m%d")
    except ValueError:
        fail(f"--expiry: expected YYYY-MM-DD or YYMMDD, found {expiry[:20]!r}", USAGE)


def _identifier(
    code: str | None, gtin: str | None, lot: str | None, serial: str | None, expiry: str | None
) -> tuple[str, str, str, str]:
    """GTIN-14, lot, serial and YYMMDD from the code and the options (an option wins)."""
    if code is not None:
        try:
            scanned = read_text(code)
        except ScanError as exc:
            fail(f"{code[:60]!r}: {exc}", USAGE)
        gtin = gtin or scanned.gtin
        lot = lot or scanned.lot
        serial = serial or scanned.serial
        expiry = expiry or scanned.expiry
    given = {"--gtin": gtin, "--lot": lot, "--serial": serial, "--expiry": expiry}
    missing = [name for name, value in given.items() if not value]
    if missing:
        fail(f"expected a code or {', '.join(missing)}: the standard asks for all four", USAGE)
    gtin, lot, serial, expiry = (str(value) for value in given.values())
    try:
        return gtin14(gtin), lot, serial, _yymmdd(expiry)
    except IdentifierError as exc:
        fail(str(exc), USAGE)


def _session(ca: Path | None) -> requests.Session:
    try:
        return node_session(ca)
    except (OSError, ValueError):
        fail(f"{ca}: expected a PEM CA certificate, found one that cannot be used")


def _get(session: requests.Session, url: str, token: str | None) -> requests.Response:
    headers = {"Accept": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    try:
        return session.get(url, headers=headers, timeout=TIMEOUT_S)
    except requests.ConnectionError as exc:
        fail(connection_problem(url, exc))
    except requests.RequestException:
        fail(f"{url}: no answer in time")


def _refused(response: requests.Response) -> None:
    if response.status_code == 200:
        return
    line = _STATUS_LINES.get(
        response.status_code, f"the service failed (HTTP {response.status_code})"
    )
    detail = ""
    if response.headers.get("Content-Type", "").endswith("json"):
        try:
            found = response.json()
            detail = str(found.get("detail", "")) if isinstance(found, dict) else ""
        except ValueError:
            pass
    retry = response.headers.get("Retry-After")
    if retry:
        line += f"; retry in {retry} s"
    fail(f"{line}{': ' + detail if detail else ''} (HTTP {response.status_code})")


def _json_body(response: requests.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        fail("the service answered 200 with a body that is not JSON")
    if not isinstance(body, dict):
        fail("the service answered 200 with JSON that is not an object")
    return body


def _read_answer(body: dict[str, Any], corr_uuid: str) -> dict[str, Any]:
    """The standard's answer, checked for what this command relies on."""
    data = body.get("data")
    if not isinstance(data, dict) or not isinstance(data.get("verified"), bool):
        fail("the service's answer has no data.verified (true or false): not the standard's")
    if body.get("corrUUID") not in (None, corr_uuid):
        fail(
            f"the answer's corrUUID {str(body.get('corrUUID'))[:40]!r} is not this request's "
            f"{corr_uuid}: an answer to another request"
        )
    return data


def _explained(value: Any, known: tuple[str, ...]) -> str:
    if value is None:
        return ""
    if value in known:
        return f"{value}: {MEANINGS[value]}"
    return f"{value} (not a value of the standard)"


def _show(uri: str, body: dict[str, Any], data: dict[str, Any]) -> None:
    verified = data["verified"]
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold")
    table.add_column()
    table.add_row("verified", "[bold green]true[/]" if verified else "[bold red]false[/]")
    reason = _explained(data.get("verificationFailureReason"), FAILURE_REASONS)
    if reason:
        table.add_row("reason", reason)
    info = _explained(data.get("additionalInfo"), ADDITIONAL_INFO)
    if info:
        table.add_row("additional info", info)
    table.add_row("responder GLN", str(body.get("responderGLN", "")))
    table.add_row("verified at", str(body.get("verificationTimestamp", "")))
    table.add_row("corrUUID", str(body.get("corrUUID", "(not echoed)")))
    table.add_row("asked", uri)
    out().print(table)


class _Command(click.Command):
    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)
        except click.UsageError as exc:
            fail(exc.format_message(), USAGE)


@click.command("verify-remote", cls=_Command)
@click.argument("code", required=False)
@click.option(
    "--vrs",
    "base",
    envvar="MEDTRACE_VRS_URL",
    required=True,
    help="The verification service's base URI, e.g. https://HOST:PORT/vrs/v1 for a medtrace "
    "node [env MEDTRACE_VRS_URL].",
)
@click.option("--gtin", help="The pack's GTIN (else from CODE).")
@click.option("--lot", help="The pack's lot (else from CODE).")
@click.option("--serial", help="The pack's serial number (else from CODE).")
@click.option("--expiry", help="The pack's expiry, YYYY-MM-DD or YYMMDD (else from CODE).")
@click.option(
    "--req-gln",
    envvar="MEDTRACE_REQ_GLN",
    help="Your organisation's GLN, sent as reqGLN [env MEDTRACE_REQ_GLN].",
)
@click.option(
    "--context",
    type=click.Choice(CONTEXTS),
    default=CONTEXT_SALEABLE_RETURN,
    show_default=True,
    help="Why you ask (the standard's context).",
)
@click.option("--corr-uuid", help="The correlation UUID to send (default: a new one).")
@click.option(
    "--token",
    envvar="MEDTRACE_VRS_TOKEN",
    help="The bearer token the service gave you [env MEDTRACE_VRS_TOKEN].",
)
@click.option("--ca", type=FilePath(exists=True), help="Trust only this CA (PEM) for https.")
@click.option(
    "--check-connectivity",
    is_flag=True,
    help="Only check that the service answers this token (and this GTIN, if given).",
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object: the URI and the answer.")
def verify_remote_command(
    code: str | None,
    base: str,
    gtin: str | None,
    lot: str | None,
    serial: str | None,
    expiry: str | None,
    req_gln: str | None,
    context: str,
    corr_uuid: str | None,
    token: str | None,
    ca: Path | None,
    check_connectivity: bool,
    as_json: bool,
) -> None:
    """Ask another party's verification service, in the GS1 Lightweight Verification
    Messaging standard, whether a pack is genuine.

    CODE is what the pack's code says (an element string such as
    '(01)04012345000016(17)301231(10)L2611(21)AUTH1' or a GS1 Digital Link URI); --gtin,
    --lot, --serial and --expiry give or override its parts. Exit 0: verified; 2: not
    verified; 1: no answer (one line says why); 4: bad options.

    \b
    medtrace verify-remote --vrs https://vrs.acme.example/vrs/v1 --token $T \\
        --req-gln 4000000000020 '(01)04012345000016(17)301231(10)L2611(21)AUTH1'
    medtrace verify-remote --vrs $URL --token $T --check-connectivity --gtin 04012345000016
    """
    base = base.rstrip("/")
    if req_gln is not None:
        try:
            check_gln(req_gln)
        except IdentifierError as exc:
            fail(f"--req-gln: {exc}", USAGE)
    session = _session(ca)
    if check_connectivity:
        _connectivity(session, base, gtin, req_gln, context, token, as_json)
        return
    gtin14_, lot_, serial_, exp = _identifier(code, gtin, lot, serial, expiry)
    corr = corr_uuid or str(uuid.uuid4())
    query = {"exp": exp, "linkType": LINK_TYPE, "context": context, "corrUUID": corr}
    if req_gln is not None:
        query["reqGLN"] = req_gln
    uri = (
        f"{base}/gtin/{gtin14_}/lot/{quote(lot_, safe='')}/ser/{quote(serial_, safe='')}"
        f"?{urlencode(query)}"
    )
    response = _get(session, uri, token)
    _refused(response)
    body = _json_body(response)
    data = _read_answer(body, corr)
    if as_json:
        print_json({"uri": uri, "answer": body})
    else:
        _show(uri, body, data)
    if not data["verified"]:
        raise click.exceptions.Exit(NOT_VERIFIED)


def _connectivity(
    session: requests.Session,
    base: str,
    gtin: str | None,
    req_gln: str | None,
    context: str,
    token: str | None,
    as_json: bool,
) -> None:
    query = {"context": context}
    if gtin is not None:
        try:
            query["gtin"] = gtin14(gtin)
        except IdentifierError as exc:
            fail(f"--gtin: {exc}", USAGE)
    if req_gln is not None:
        query["reqGLN"] = req_gln
    uri = f"{base}/checkConnectivity?{urlencode(query)}"
    response = _get(session, uri, token)
    _refused(response)
    body = _json_body(response)
    if as_json:
        print_json({"uri": uri, "answer": body})
    else:
        out().print(
            f"[green]✓[/] the service answers: responder GLN {body.get('responderGLN', '?')}"
        )
