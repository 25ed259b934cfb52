"""The demo's second country: a consignment leaves country A, country B's customs verify its
packs against A's ledger, find a clone, and send the case to A's regulator (issue 17;
docs/spec/cross-border.md, docs/spec/cases.md).

After A's story, A's manufacturer ships a case of an export lot to an importer in B (CH). B's
customs node verifies packs of it at the border as any pack (``POST /api/v1/scan``): the GTIN
is under the prefix B's membership pins for A (DE), so the node asks A's customs node with the
verifier token A issued to it and verifies the answer itself from A's pinned genesis. A pack of
the consignment is RELEASE, the verdict naming A's ledger; a pack printed with the serial
dispensed twice in A (the story's clone) is REJECT, which B's node signs as a failed check.
B's customs export that check's case as one signed file, verified offline against B's genesis,
and A's regulator node imports it (verified against B's root pinned in A's membership) as a
``foreign_case`` alert; importing the same file again changes nothing.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ledger.action import Action
from ledger.cases import verify_case
from ledger.identifiers import container_uri, pack_uri
from ledger.kinds import Kind
from medtrace.demo.scenario import (
    CASE_AGAIN_STEP,
    CASE_EXPORT_STEP,
    CASE_IMPORT_STEP,
    EXPIRY,
    EXPORT_STEP,
    FOREIGN_CLONE_STEP,
    FOREIGN_RELEASE_STEP,
    GTIN,
    Step,
    Story,
    sscc,
)
from node.localnet.country_b import ASKING_B, COUNTRY_B, IMPORTER
from node.localnet.http_actor import HttpNode, NodeCallFailed
from scanner.verdict import Scanned

EXPORT_LOT = "E2611"
EXPORT_PACKS = 12
EXPORT_CASE = 800_001
#: The case file B's customs export, in the demo's output folder.
CASE_FILE = "clone.case.json"
#: How long B's node may wait for A's checkpoints, and B's export for B's witnesses.
WITNESS_WAIT_S = 60.0
#: Reasons of a HOLD that only say the entries are not witnessed yet: asked again.
NOT_YET = {"no_cosigned_checkpoint", "too_few_cosignatures"}
REGULATOR = "regulator"


@dataclass
class Abroad:
    """What the story needs of country B: its nodes, and how to make them pull now."""

    nodes: Mapping[str, HttpNode]
    converge: Callable[[], int]
    genesis: str
    #: The demo's output folder: the case file goes there.
    out: Path


def play_abroad(story: Story, abroad: Abroad) -> Iterator[str]:
    """Country B's part, after A's story; yields each phase's name as it starts."""
    yield "export"
    maker = story.actors["manufacturer"]
    batch = maker.commission(GTIN, EXPORT_LOT, EXPIRY, EXPORT_PACKS)
    case = container_uri(sscc(EXPORT_CASE))
    maker.submit(Action(Kind.PACK, [case, *(pack_uri(GTIN, s) for s in batch.serials)]))
    maker.submit(Action(Kind.SHIP, [case], body={"destination": IMPORTER.org}))
    story.record(
        Step(
            EXPORT_STEP,
            "manufacturer",
            note=f"{EXPORT_PACKS} packs of lot {EXPORT_LOT} in case (00){sscc(EXPORT_CASE)}, "
            f"shipped to {IMPORTER.org} ({IMPORTER.name}, {COUNTRY_B})",
        )
    )
    story.converge()

    yield f"border of {COUNTRY_B}"
    customs = abroad.nodes[ASKING_B]
    authentic = Scanned(GTIN, batch.serials[0], EXPORT_LOT, EXPIRY)
    _scan_abroad(story, customs, FOREIGN_RELEASE_STEP, authentic)
    assert story.cloned is not None, "the story's clone comes first"
    _scan_abroad(story, customs, FOREIGN_CLONE_STEP, story.cloned)

    yield "case between countries"
    clone = pack_uri(story.cloned.gtin, story.cloned.serial)
    raw = _export_case(customs, clone, abroad)
    story.record(_exported_step(raw, clone, abroad))
    regulator = story.actors[REGULATOR]
    if not isinstance(regulator, HttpNode):
        raise RuntimeError("the case's import needs A's regulator node over HTTP")
    first = _import_case(regulator, raw, clone)
    story.record(Step(CASE_IMPORT_STEP, REGULATOR, clone, **first))
    again = _import_case(regulator, raw, clone)
    story.record(Step(CASE_AGAIN_STEP, REGULATOR, clone, **again))


def element_string(scanned: Scanned) -> str:
    """What the pack's DataMatrix holds, as a scanner sends it."""
    assert scanned.expiry is not None
    expiry = scanned.expiry[2:4] + scanned.expiry[5:7] + scanned.expiry[8:10]
    return f"(01){scanned.gtin}(17){expiry}(10){scanned.lot}(21){scanned.serial}"


def _scan_abroad(story: Story, node: HttpNode, name: str, printed: Scanned) -> dict[str, Any]:
    """B's customs officer scans the pack's label at B's node, which asks A's ledger; asked
    again while A's newest entries wait for their witnesses."""
    label, scanned = story.read_label(printed)
    body = {"text": element_string(scanned), "context": "border"}
    deadline = time.monotonic() + WITNESS_WAIT_S
    while True:
        answer: dict[str, Any] = node.call(
            "POST", "/api/v1/scan", token=node.verifier_token, body=body
        )
        codes = [str(r["code"]) for r in answer["reasons"]]
        if not (answer["verdict"] == "HOLD" and set(codes) <= NOT_YET):
            break
        if time.monotonic() > deadline:
            break
        story.converge()
        time.sleep(0.5)
    asked = answer.get("answered_by") or {}
    age = answer.get("checkpoint_age_s")
    product = (answer.get("product") or {}).get("name")
    story.record(
        Step(
            name,
            node.name,
            str(answer["pack"]),
            label=label,
            verdict=str(answer["verdict"]),
            reasons=codes,
            alerts=sorted({str(a["code"]) for a in answer.get("alerts", [])}),
            note=f"asked the ledger of {answer.get('ledger_country')}: "
            f"{asked.get('consortium')} at {asked.get('url')} (membership "
            f"v{asked.get('membership_version')}), checkpoint cosigned {age} s ago",
            product=None if product is None else str(product),
            details={
                "ledger_country": answer.get("ledger_country"),
                "answered_by": asked,
                "checkpoint_age_s": age,
            },
        )
    )
    return answer


def _export_case(node: HttpNode, pack: str, abroad: Abroad) -> bytes:
    """The case file about B's failed-check alert on ``pack``, exported by B's customs node
    once B's regulator has witnessed the check (409 ``case-not-ready`` until then)."""
    found = node.call("GET", f"/api/v1/alerts?code=check_rejected&subject={pack}")["alerts"]
    if not found:
        raise NodeCallFailed(f"{node.name}: no check_rejected alert about {pack}")
    deadline = time.monotonic() + WITNESS_WAIT_S
    while True:
        response = node.session.post(
            f"{node.url}/api/v1/cases/export",
            json={"alert": found[0]["id"]},
            headers={"Authorization": f"Bearer {node.operator_token}"},
            timeout=node.timeout,
        )
        if response.status_code != 409 or time.monotonic() > deadline:
            break
        abroad.converge()  # B's regulator pulls the check and cosigns its feed's checkpoint
        time.sleep(0.5)
    if response.status_code != 200:
        raise NodeCallFailed(
            f"{node.name}: case export → {response.status_code}: {response.text[:300]}"
        )
    raw = response.content
    (abroad.out / CASE_FILE).write_bytes(raw)
    return raw


def _exported_step(raw: bytes, pack: str, abroad: Abroad) -> Step:
    """The export, and the file verified offline against B's genesis alone."""
    case = verify_case(json.loads(raw), abroad.genesis)
    return Step(
        CASE_EXPORT_STEP,
        ASKING_B,
        pack,
        reasons=[a.code.value for a in case.alerts],
        note=f"{CASE_FILE}: case {case.id[:16]}… by {case.exporter_org} ({case.exporter_role.value}), "
        f"{len(case.alerts)} alert(s), {len(case.entries)} entries; verified offline against "
        f"{case.consortium}'s genesis alone ({len(raw):,} bytes)",
        details={"case": case.id, "file": CASE_FILE, "verified": True, "genesis": case.genesis},
    )


def _import_case(node: HttpNode, raw: bytes, pack: str) -> dict[str, Any]:
    """A's regulator node imports the file; the step's fields: what it answered and the
    ``foreign_case`` alerts it then holds about ``pack``."""
    response = node.session.post(
        f"{node.url}/api/v1/cases",
        data=raw,
        headers={
            "Authorization": f"Bearer {node.operator_token}",
            "Content-Type": "application/json",
        },
        timeout=node.timeout,
    )
    if response.status_code not in (200, 201):
        raise NodeCallFailed(
            f"{node.name}: case import → {response.status_code}: {response.text[:300]}"
        )
    answer = response.json()
    held = [
        a
        for a in node.call("GET", "/api/v1/alerts?code=foreign_case")["alerts"]
        if a["subject"] == pack
    ]
    message = held[0]["message"] if held else "no foreign_case alert"
    return {
        "reasons": ["already_held" if answer["alreadyHeld"] else "imported"],
        "alerts": [str(a["code"]) for a in held],
        "note": f"{response.status_code}: {message}",
        "details": {
            "case": answer["case"],
            "status": response.status_code,
            "alreadyHeld": answer["alreadyHeld"],
            "foreign_case_alerts": len(held),
            "country": held[0].get("foreign", {}).get("country") if held else None,
        },
    }
