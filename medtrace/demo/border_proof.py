"""The demo's proof at the border: customs verifies a pack online with its verifier token,
exports the pack's proof file (``medtrace scan … --export-proof``), and the file is then
verified offline with nothing but the genesis id (``medtrace proof verify``)."""

from __future__ import annotations

import json
from pathlib import Path

from node.localnet.actors import Actor
from node.localnet.http_actor import HttpNode
from scanner.proof_file import export_proof, verify_proof
from scanner.reading import ScanData
from scanner.sources.checkpoints import checkpoints_online
from scanner.sources.online import NodeClient, verify_online
from scanner.verdict import Decision, Scanned

PROOF_FILE = "border.proof.json"


def border_proof(actor: Actor, scanned: Scanned, genesis: str, out: Path) -> tuple[Decision, str]:
    """Export the proof of ``scanned`` from ``actor``'s node and verify the file offline;
    the verdict the file proves, and a line for the report."""
    if not isinstance(actor, HttpNode):
        return Decision.HOLD, "no node process to ask: the proof needs a node over HTTP"
    scan = ScanData(scanned.gtin, scanned.serial, scanned.lot, scanned.expiry, "text", "", None)
    client = NodeClient(actor.url, actor.verifier_token, session=actor.session)
    outcome = verify_online(
        scan,
        actor.url,
        actor.verifier_token,
        membership_pin=genesis,
        in_transit_ok=True,
        client=client,
    )
    basis = outcome.basis
    checkpoints = checkpoints_online(client, basis.entries) if basis is not None else []
    doc = export_proof(outcome, genesis=genesis, checkpoints=checkpoints, in_transit_ok=True)
    path = out / PROOF_FILE
    path.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
    report = verify_proof(json.loads(path.read_text(encoding="utf-8")), genesis)
    cosigned = len(report.checkpoints)
    return report.verdict.decision, (
        f"{PROOF_FILE}: {report.entries} entries with their disclosed paths, "
        f"{report.memberships} membership versions, {cosigned} cosigned checkpoint(s); "
        f"verified offline from the genesis alone ({path.stat().st_size:,} bytes)"
    )
