"""The steps that need more than their subjects: receive (the ship or return entry it answers,
found from the node when not given), undo (the decommissioning it reverses), recall and
withdraw (irreversible: confirmed first), and pull (replicate from every peer now).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import click

from ledger.identifiers import parse_subject, product_uri
from medtrace.cli.console import done, print_json
from medtrace.cli.work.client import NodeApi, WorkError
from medtrace.cli.work.items import ITEMS_HELP, items_arguments, lot_subject, subjects
from medtrace.cli.work.steps import submit
from medtrace.cli.work.target import Target, node_options

#: After a pull, how long to wait before each further look for a shipment not seen yet.
RETRY_S = (1.0, 1.0, 2.0)
MAX_DEPTH = 4  # cases in pallets in …: as deep as a scanner looks (scanner/sources/online.py)


def _first_pack(api: NodeApi, uri: str, depth: int = 0) -> dict[str, Any] | None:
    """The state of a pack inside container ``uri`` (through nested containers)."""
    sscc = parse_subject(uri).sscc
    assert sscc is not None
    children = api.container(sscc).get("children") or []  # null: not listed to this token
    for child in children:
        if isinstance(child, str) and "/21/" in child:
            return _pack(api, child)
    for child in children:
        if isinstance(child, str) and "/00/" in child and depth < MAX_DEPTH:
            found = _first_pack(api, child, depth + 1)
            if found is not None:
                return found
    return None


def _pack(api: NodeApi, uri: str) -> dict[str, Any]:
    parsed = parse_subject(uri)
    assert parsed.gtin is not None
    assert parsed.serial is not None
    return api.pack(parsed.gtin, parsed.serial)


def _inbound(api: NodeApi, uri: str, organisation: str) -> str | None:
    """The entry that sent ``uri`` towards ``organisation``; None when the node does not show
    it in transit there (yet)."""
    try:
        state = _pack(api, uri) if "/21/" in uri else _first_pack(api, uri)
    except WorkError as exc:
        if exc.status == 404:
            return None
        raise
    if state is None or state.get("status") != "in_transit":
        return None
    if state.get("destination") != organisation:
        return None
    changed_by = state.get("changed_by")
    return changed_by if isinstance(changed_by, str) else None


def shipments(api: NodeApi, uris: list[str]) -> list[str]:
    """The ship or return entries behind ``uris``, pulling from the peers once when the node
    has not seen one of them yet."""
    organisation = api.organisation()
    refs = {uri: _inbound(api, uri, organisation) for uri in uris}
    for wait_s in (0.0, *RETRY_S):
        if None not in refs.values():
            break
        if wait_s == 0.0:
            _try_pull(api)
        time.sleep(wait_s)
        refs = {uri: ref or _inbound(api, uri, organisation) for uri, ref in refs.items()}
    missing = [uri for uri, ref in refs.items() if ref is None]
    if missing:
        raise WorkError(
            f"expected {missing[0]} in transit to {organisation} at {api.url}, found no such "
            "shipment (not shipped yet, already received, or not replicated here): pass --ref "
            "with the ship or return entry id"
        )
    return list(dict.fromkeys(ref for ref in refs.values() if ref is not None))


def _try_pull(api: NodeApi) -> None:
    """Pull now; a node whose replicator runs in another worker process (503) pulls at its own
    interval instead, which the caller waits for."""
    try:
        pull(api)
    except WorkError as exc:
        if exc.status != 503:
            raise


def pull(api: NodeApi) -> dict[str, Any]:
    return api.call("POST", "/api/v1/replication/sync", what="pull", body={})


@click.command(
    "receive",
    short_help="Receive packs or containers shipped or returned to you.",
    help="Receive packs or containers shipped or returned to your organisation. The ship or "
    "return entry it answers is found from the node (after pulling from its peers once when the "
    "node has not seen the shipment yet); --ref names it instead.\n\n"
    f"{ITEMS_HELP}\n\n\b\nExample:\n  medtrace receive 040123450000000016",
)
@items_arguments
@click.option("--ref", "refs", multiple=True, help="The ship or return entry id (repeatable).")
@node_options
def receive_command(
    items: tuple[str, ...],
    items_file: Path | None,
    gtin: str | None,
    refs: tuple[str, ...],
    target: Target,
) -> None:
    uris = subjects(items, items_file, gtin)
    api = target.connect()
    try:
        found = refs or tuple(shipments(api, uris))
        submit(target, "receive", uris, refs=found, said="received {}", api=api)
    finally:
        api.close()


@click.command(
    "undo",
    short_help="Undo a pack's last dispense, export or sample (10 days, same site).",
    help="Undo a pack's last decommissioning (dispense, export or sample) within 10 days, from "
    "the site that made it. The entry to undo is the pack's last status change as the node "
    "shows it; --ref names it instead.\n\n"
    "\b\nExample:\n  medtrace undo '(01)04012345000016(21)2NVSZP7AV2HT'",
)
@click.argument("item")
@click.option("--gtin", help="The GTIN of an ITEM given as a bare serial.")
@click.option("--ref", help="The entry to undo.")
@node_options
def undo_command(item: str, gtin: str | None, ref: str | None, target: Target) -> None:
    (uri,) = subjects([item], None, gtin)
    if "/21/" not in uri:
        raise WorkError(f"expected a pack to undo, found {uri}")
    api = target.connect()
    try:
        last = ref or _pack(api, uri).get("changed_by")
        if not isinstance(last, str):
            raise WorkError(f"{uri}: the node shows no status change to undo")
        submit(target, "undo", [uri], refs=[last], said="undid the last step of {}", api=api)
    finally:
        api.close()


def _confirm(what: str, yes: bool) -> None:
    if yes:
        return
    if not sys.stdin.isatty():
        raise WorkError(f"expected --yes to {what} without a terminal: it cannot be undone")
    if not click.confirm(f"{what[0].upper()}{what[1:]}? It cannot be undone", err=True):
        raise WorkError(f"not confirmed: did not {what}")


_YES = click.option("--yes", is_flag=True, help="Do not ask: it cannot be undone.")


@click.command(
    "recall",
    short_help="Recall a lot (irreversible): every pack of it is then REJECT.",
    help="Recall a lot of a product (a manufacturer: its own GTINs; a regulator: any). From "
    "then on every pack of the lot scans REJECT (recalled) and only a return moves it. Asks "
    "first unless --yes.\n\n\b\nExample:\n  medtrace recall --gtin 04012345000016 --lot L2607",
)
@click.option("--gtin", required=True, help="The product's GTIN.")
@click.option("--lot", required=True, help="The lot, as printed.")
@_YES
@node_options
def recall_command(gtin: str, lot: str, yes: bool, target: Target) -> None:
    uri = lot_subject(gtin, lot)
    _confirm(f"recall lot {lot} of GTIN {gtin}", yes)
    submit(target, "recall", [uri], said="recalled {}")


@click.command(
    "withdraw",
    short_help="Withdraw a product (irreversible): every pack of it is then REJECT.",
    help="Withdraw a product from the market, every lot of it (a manufacturer: its own GTINs; a "
    "regulator: any). Asks first unless --yes.\n\n\b\nExample:\n"
    "  medtrace withdraw --gtin 04012345000016",
)
@click.option("--gtin", required=True, help="The product's GTIN.")
@_YES
@node_options
def withdraw_command(gtin: str, yes: bool, target: Target) -> None:
    try:
        uri = product_uri(gtin)
    except Exception as exc:  # noqa: BLE001 (an IdentifierError: one line)
        raise WorkError(f"--gtin: {exc}") from None
    _confirm(f"withdraw every pack of GTIN {gtin}", yes)
    submit(target, "withdraw", [uri], said="withdrew {}")


@click.command(
    "pull",
    short_help="Pull from every peer of the node now (instead of at its next interval).",
    help="Have the node pull new entries from every peer now, e.g. to see a shipment just "
    "sent to you. Prints what was added.\n\n\b\nExample:\n  medtrace pull --json",
)
@node_options
def pull_command(target: Target) -> None:
    api = target.connect()
    try:
        answer = pull(api)
    finally:
        api.close()
    if target.as_json:
        print_json(answer)
        return
    alerts = answer.get("alerts") or []
    done(
        f"pulled {answer.get('added', 0)} new entries "
        f"({answer.get('duplicates', 0)} already held, {answer.get('rejected', 0)} rejected"
        + (f", alerts: {', '.join(map(str, alerts))}" if alerts else "")
        + ")"
    )


COMMANDS = {
    "receive": lambda: receive_command,
    "undo": lambda: undo_command,
    "recall": lambda: recall_command,
    "withdraw": lambda: withdraw_command,
    "pull": lambda: pull_command,
}
