"""A foreign root's pack scanned with ``medtrace scan --node``: the node's own verification of
it (docs/spec/cross-border.md, "Scanning with medtrace scan"; ADR 0028).

A node answers ``/provenance`` from its own store, which holds nothing of another consortium.
When the node's membership (verified from the scanner's pin) routes the GTIN to a foreign root,
the scanner asks the node to verify the pack (``POST /api/v1/scan``): the node asks the foreign
ledger with the token that consortium issued to it and verifies the answer from the foreign
genesis (``scanner.cross_border``); the scanner shows that verdict and which country's ledger
answered.
"""

from __future__ import annotations

import requests

from ledger.identifiers import pack_uri
from scanner.outcome import Freshness, Outcome
from scanner.reading import ScanData
from scanner.sources.online import NodeClient
from scanner.verdict import Decision, Reason, Verdict

#: What a node's scan answer carries about a foreign root's ledger (``api/cross_border.py``).
FOREIGN_FIELDS = ("ledger_country", "answered_by", "checkpoint_age_s", "asked_at")


def verified_by_node(client: NodeClient, scan: ScanData, *, in_transit_ok: bool) -> Outcome:
    """``medtrace scan --node`` for a pack of a foreign root of the node's membership: the node
    asks the foreign ledger and verifies its answer (``POST /api/v1/scan``); this is its
    verdict, with which country's ledger answered. The foreign entries are not sent on, so
    this verdict is the node's word, not re-verified here (no proof file can be exported)."""
    uri = pack_uri(scan.gtin, scan.serial)
    context = "border" if in_transit_ok else "counter"
    try:
        response = client.session.post(
            client.url.rstrip("/") + "/api/v1/scan",
            json={"text": scan.raw, "context": context},
            headers={"Authorization": f"Bearer {client.token}"},
            timeout=client.timeout,
        )
        answer = response.json()
        verdict = Verdict(
            Decision(answer["verdict"]),
            uri,
            [Reason(str(r["code"]), str(r["message"])) for r in answer["reasons"]],
            warnings=[Reason(str(r["code"]), str(r["message"])) for r in answer["warnings"]],
        )
        foreign = {k: answer[k] for k in FOREIGN_FIELDS if k in answer}
    except (requests.RequestException, ValueError, KeyError, TypeError) as exc:
        verdict = Verdict(
            Decision.HOLD,
            uri,
            [
                Reason(
                    "ledger_unreachable",
                    f"the pack is of another consortium, and {client.url} could not verify it "
                    f"({type(exc).__name__}): verify it with a proof file from that ledger",
                )
            ],
        )
        foreign = {}
    asked = Freshness("node", foreign.get("asked_at"), None)
    return Outcome(scan, verdict, "online", asked, client.url, foreign=foreign or None)


__all__ = ["FOREIGN_FIELDS", "verified_by_node"]
