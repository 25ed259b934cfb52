"""The demo's story: one batch from the packaging line to the patient, and what goes wrong.

A manufacturer commissions a batch, aggregates it into cases and a pallet and ships it to a
distributor, who ships it across a border; customs inspects and releases it; a pharmacy
receives it, verifies packs and dispenses them. Then the cases the system exists for: a cloned
serial dispensed at a second pharmacy counter, a recalled lot scanned, a pack whose printed lot
differs from its commissioning, and a pack that was never commissioned. Afterwards a second
country's customs verify packs of this one against its ledger (``medtrace.demo.abroad``); the
names of those steps and what they must show are here, with every other expectation.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ledger.action import Action
from ledger.errors import RuleViolation
from ledger.identifiers import container_uri, lot_uri, pack_uri, with_check_digit
from ledger.kinds import Kind
from ledger.membership import Membership
from medtrace.demo.border_proof import border_proof
from medtrace.demo.customs import (
    Consignment,
    decide_declaration,
    declare,
    declare_parcels,
    failed_check_alerts,
    register_product,
    report_failed_scan,
    verify_consignment,
)
from node.localnet.actors import Actor
from node.localnet.country_b import COUNTRY_A, COUNTRY_B
from node.localnet.network import COMPANY_PREFIX
from scanner.labels import PackLabel, write_label
from scanner.reading import read_image
from scanner.verdict import Decision, Scanned, Verdict, decide

GTIN = "09506000134352"
LOT = "A2611"
RECALLED_LOT = "B2611"
EXPIRY = "2028-10-31"
PACKS = 10_000
#: The step where customs export the pack's proof file and verify it offline.
PROOF_STEP = "proof exported at the border, verified offline"
CASE_SIZE = 100
CONSIGNMENT_STEP = "consignment verified at the border (every pack)"
RECHECK_STEP = "pallet re-checked after the recall and the clone"
REGULATOR_STEP = "regulator's alerts for every failed check"
PARCEL_CLONE_STEP = "parcel with a dispensed pack's serial scored"
# Country B's steps (medtrace.demo.abroad), A being DE and B CH (node.localnet.country_b).
EXPORT_STEP = f"export case shipped to {COUNTRY_B}"
FOREIGN_RELEASE_STEP = f"{COUNTRY_A} pack scanned at the {COUNTRY_B} border"
FOREIGN_CLONE_STEP = f"cloned {COUNTRY_A} serial scanned at the {COUNTRY_B} border"
CASE_EXPORT_STEP = f"case exported at the {COUNTRY_B} border, verified offline"
CASE_IMPORT_STEP = f"{COUNTRY_B} case imported at the {COUNTRY_A} regulator"
CASE_AGAIN_STEP = "same case imported again"


def sscc(serial: int, prefix: str = COMPANY_PREFIX) -> str:
    """An SSCC under ``prefix`` with extension digit 0 and its check digit."""
    body = "0" + prefix + f"{serial:0{16 - len(prefix)}d}"
    return with_check_digit(body)


@dataclass
class Step:
    name: str
    actor: str
    pack: str | None = None
    label: str | None = None
    verdict: str | None = None
    reasons: list[str] = field(default_factory=list)
    alerts: list[str] = field(default_factory=list)
    note: str = ""
    #: The product the verdict names (its registered name), when the step verified a pack.
    product: str | None = None
    #: What else the step showed: which foreign ledger answered a scan, a case's id.
    details: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "actor": self.actor,
            "pack": self.pack,
            "label": self.label,
            "verdict": self.verdict,
            "reasons": self.reasons,
            "alerts": self.alerts,
            "note": self.note,
            "product": self.product,
            "details": self.details,
        }


@dataclass
class Story:
    actors: Mapping[str, Actor]
    membership: Membership
    converge: Callable[[], int]
    on_step: Callable[[Step], None] = lambda step: None
    steps: list[Step] = field(default_factory=list)
    #: Where each scan step writes the label of the pack it scans (a DataMatrix PNG with the
    #: printed lot and expiry); the scan then reads that image. ``None``: scan the data as is.
    labels: Path | None = None
    #: The consortium's genesis id, pinned out of band: with it (and ``labels``, whose parent
    #: folder receives the file) customs export a proof file and verify it offline.
    genesis: str | None = None
    #: After the story: each failed scan's pack → the failed-check alerts the regulator holds.
    regulator_alerts: dict[str, list[str]] = field(default_factory=dict)
    #: The cloned pack as printed (dispensed at two counters), once the story has made it.
    cloned: Scanned | None = None

    def record(self, step: Step) -> Step:
        self.steps.append(step)
        self.on_step(step)
        return step

    def scan(
        self, name: str, actor: str, scanned: Scanned, *, in_transit_ok: bool = False
    ) -> Verdict:
        node = self.actors[actor]
        label, scanned = self.read_label(scanned)
        uri = pack_uri(scanned.gtin, scanned.serial)
        verdict = decide(
            scanned,
            node.provenance(uri),
            self.membership,
            today=datetime.now(UTC).date().isoformat(),
            in_transit_ok=in_transit_ok,
        )
        reported = report_failed_scan(
            node, scanned, verdict, "border" if in_transit_ok else "counter"
        )
        alerts = sorted(
            {a.code.value for a in node.alerts() if a.subject == uri}
            | {a.code.value for a in verdict.alerts}
        )
        product = verdict.product.data.get("name") if verdict.product is not None else None
        self.record(
            Step(
                name,
                actor,
                uri,
                label=label,
                verdict=verdict.decision.value,
                reasons=[r.code for r in verdict.reasons],
                alerts=alerts,
                note="failed check reported to the node" if reported else "",
                product=None if product is None else str(product),
            )
        )
        return verdict

    def consignment(self, name: str, actor: str, body: dict[str, Any]) -> Consignment:
        """``actor`` (customs) checks every pack of a declaration or a container on its node."""
        checked = verify_consignment(self.actors[actor], body)
        self.record(
            Step(
                name,
                actor,
                verdict=checked.verdict,
                reasons=sorted(checked.reasons),
                note=checked.note(),
                product=", ".join(checked.products) or None,
            )
        )
        return checked

    def read_label(self, printed: Scanned) -> tuple[str | None, Scanned]:
        """Print the pack's label as it is on the pack, then read it back like a scanner: the
        label's path (relative to the output folder) and what was read. Without ``labels``:
        ``None`` and the data as is."""
        if self.labels is None:
            return None, printed
        assert printed.lot is not None
        assert printed.expiry is not None
        path = write_label(
            PackLabel(printed.gtin, printed.lot, printed.expiry, printed.serial),
            self.labels,
            prefix=f"{len(self.steps):02d}-",
        )
        (scan,) = read_image(path.read_bytes())
        read = Scanned(scan.gtin, scan.serial, scan.lot, scan.expiry)
        return str(path.relative_to(self.labels.parent)), read

    def act(
        self,
        name: str,
        actor: str,
        kind: Kind,
        *,
        subjects: Sequence[str],
        pack: str | None = None,
        **fields: Any,
    ) -> Step:
        try:
            self.actors[actor].submit(Action(kind, subjects, **fields))
            step = Step(name, actor, pack, note=f"{kind.value} {len(subjects)} subject(s)")
        except RuleViolation as refused:
            step = Step(name, actor, pack, reasons=[refused.code], note=f"refused: {refused}")
        return self.record(step)

    def dispense(self, name: str, actor: str, scanned: Scanned) -> Step:
        """``actor`` dispenses the scanned pack (the step names the pack for the report)."""
        uri = scanned_uri(scanned)
        return self.act(name, actor, Kind.DISPENSE, subjects=[uri], pack=uri)


def play(story: Story) -> Iterator[str]:
    """Run the story; yields the name of each phase as it starts (for a progress display)."""
    a = story.actors
    yield "commission"
    batch = a["manufacturer"].commission(GTIN, LOT, EXPIRY, PACKS)
    recall_batch = a["manufacturer"].commission(GTIN, RECALLED_LOT, EXPIRY, CASE_SIZE)
    story.record(
        Step(
            "commission",
            "manufacturer",
            note=f"{PACKS:,} packs of lot {LOT}, {CASE_SIZE} of lot {RECALLED_LOT}",
        )
    )
    name = register_product(a["manufacturer"], GTIN)
    story.record(Step("register the product", "manufacturer", note=f"GTIN {GTIN}", product=name))
    packs = [pack_uri(GTIN, s) for s in batch.serials]
    recall_packs = [pack_uri(GTIN, s) for s in recall_batch.serials]

    yield "aggregate"
    cases = [container_uri(sscc(n + 1)) for n in range(PACKS // CASE_SIZE + 1)]
    pallet = container_uri(sscc(900_000))
    contents = [packs[i : i + CASE_SIZE] for i in range(0, PACKS, CASE_SIZE)] + [recall_packs]
    for case, inside in zip(cases, contents, strict=True):
        a["manufacturer"].submit(Action(Kind.PACK, [case, *inside]))
    a["manufacturer"].submit(Action(Kind.PACK, [pallet, *cases]))
    story.record(
        Step("aggregate", "manufacturer", note=f"{len(cases)} cases of {CASE_SIZE} on one pallet")
    )

    yield "ship to distributor"
    ship = a["manufacturer"].submit(
        Action(Kind.SHIP, [pallet], body={"destination": "distributor"})
    )
    story.record(Step("ship to distributor", "manufacturer", note="pallet"))
    story.converge()
    story.act(
        "receive at distributor", "distributor", Kind.RECEIVE, subjects=[pallet], refs=[ship.id]
    )

    yield "ship across the border"
    cross = a["distributor"].submit(Action(Kind.SHIP, [pallet], body={"destination": "pharmacy"}))
    story.record(Step("ship across the border", "distributor", note="pallet to the pharmacy"))
    story.converge()

    yield "customs"
    lane = declare(a["customs"], sscc=sscc(900_000), gtin=GTIN, quantity=PACKS + CASE_SIZE)
    reference = lane.reference
    story.record(Step("import declaration lodged", "customs", note=lane.note()))
    cleared = story.consignment(
        CONSIGNMENT_STEP, "customs", {"declaration": reference, "context": "border"}
    )
    sample = Scanned(GTIN, batch.serials[0], LOT, EXPIRY)
    story.scan("customs scan at the border", "customs", sample, in_transit_ok=True)
    if story.genesis is not None and story.labels is not None:
        decision, note = border_proof(a["customs"], sample, story.genesis, story.labels.parent)
        story.record(
            Step(PROOF_STEP, "customs", scanned_uri(sample), verdict=decision.value, note=note)
        )
    decided = decide_declaration(
        a["customs"],
        reference,
        "release" if cleared.verdict == Decision.RELEASE.value else "hold",
        "every pack checked; documents in order",
    )
    story.record(Step("customs decision", "customs", note=f"{reference}: {decided}"))
    story.converge()

    yield "pharmacy"
    story.act("receive at pharmacy", "pharmacy", Kind.RECEIVE, subjects=[pallet], refs=[cross.id])
    story.converge()
    a["pharmacy-branch"].sync()  # the branch counter syncs, then goes offline
    for serial in batch.serials[:3]:
        scanned = Scanned(GTIN, serial, LOT, EXPIRY)
        verdict = story.scan("verify at the counter", "pharmacy", scanned)
        if verdict.decision is Decision.RELEASE:
            story.dispense("dispense", "pharmacy", scanned)
    story.converge()

    yield "clone"
    cloned = story.cloned = Scanned(GTIN, batch.serials[0], LOT, EXPIRY)
    story.dispense(
        "cloned serial dispensed at a second counter (offline)", "pharmacy-branch", cloned
    )
    a["pharmacy-branch"].sync()
    story.converge()
    story.scan("scan of the cloned serial", "pharmacy", cloned)

    yield "parcels"
    # The pharmacy's web shop posts single packs across the border; one parcel holds a pack
    # whose serial was already dispensed (the clone's): customs' risk lanes should stop it.
    lanes = declare_parcels(
        a["customs"], gtin=GTIN, serials=[*batch.serials[20:23], batch.serials[0]]
    )
    for n, parcel in enumerate(lanes, start=1):
        name = PARCEL_CLONE_STEP if n == len(lanes) else "low-value parcel scored"
        story.record(
            Step(name, "customs", reasons=[parcel.lane, *parcel.codes], note=parcel.note())
        )

    yield "recall"
    story.act("recall lot", "regulator", Kind.RECALL, subjects=[lot_uri(GTIN, RECALLED_LOT)])
    story.converge()
    recalled = Scanned(GTIN, recall_batch.serials[0], RECALLED_LOT, EXPIRY)
    story.scan("recalled lot scanned", "pharmacy", recalled)
    story.dispense("dispense of a recalled pack", "pharmacy", recalled)

    yield "falsified"
    story.scan(
        "printed lot differs from commissioning",
        "pharmacy",
        Scanned(GTIN, batch.serials[10], "A2612", EXPIRY),
    )
    story.scan(
        "never commissioned",
        "pharmacy",
        Scanned(GTIN, "F" + secrets.token_hex(5).upper(), LOT, EXPIRY),
    )
    story.scan("regular pack still fine", "pharmacy", Scanned(GTIN, batch.serials[11], LOT, EXPIRY))
    story.converge()
    story.consignment(
        RECHECK_STEP, "customs", {"text": f"(00){sscc(900_000)}", "context": "border"}
    )

    yield "regulator"
    story.converge()
    seen = failed_check_alerts(a["regulator"])
    failed = [s for s in story.steps if s.pack and s.verdict in ("REJECT", "HOLD")]
    story.regulator_alerts = {s.pack: sorted(seen.get(s.pack, ())) for s in failed if s.pack}
    story.record(
        Step(
            REGULATOR_STEP,
            "regulator",
            alerts=sorted({c for codes in seen.values() for c in codes}),
            note=f"failed-check alerts about {len(seen)} pack(s), "
            f"{sum(1 for s in failed if seen.get(s.pack or ''))} of the {len(failed)} failed scans",
        )
    )


def scanned_uri(scanned: Scanned) -> str:
    return pack_uri(scanned.gtin, scanned.serial)


#: What each scan step must end with; the demo exits non-zero when one does not.
EXPECTED: dict[str, tuple[str | None, set[str]]] = {
    CONSIGNMENT_STEP: ("RELEASE", set()),
    RECHECK_STEP: ("REJECT", set()),
    "customs scan at the border": ("RELEASE", set()),
    PROOF_STEP: ("RELEASE", set()),
    "verify at the counter": ("RELEASE", set()),
    "scan of the cloned serial": ("REJECT", {"suspected_clone"}),
    "recalled lot scanned": ("REJECT", set()),
    "printed lot differs from commissioning": ("REJECT", set()),
    "never commissioned": ("HOLD", set()),
    "regular pack still fine": ("RELEASE", set()),
    FOREIGN_RELEASE_STEP: ("RELEASE", set()),
    FOREIGN_CLONE_STEP: ("REJECT", set()),
}
#: What each step of country B must show besides its verdict: step -> (reasons it includes,
#: alerts it includes, details it has).
EXPECTED_ABROAD: dict[str, tuple[set[str], set[str], dict[str, Any]]] = {
    EXPORT_STEP: (set(), set(), {}),
    FOREIGN_RELEASE_STEP: ({"authentic"}, set(), {"ledger_country": COUNTRY_A}),
    FOREIGN_CLONE_STEP: ({"already_dispensed"}, set(), {"ledger_country": COUNTRY_A}),
    CASE_EXPORT_STEP: ({"check_rejected"}, set(), {"verified": True}),
    CASE_IMPORT_STEP: (
        {"imported"},
        {"foreign_case"},
        {"status": 201, "foreign_case_alerts": 1, "country": COUNTRY_B},
    ),
    CASE_AGAIN_STEP: (
        {"already_held"},
        {"foreign_case"},
        {"status": 200, "foreign_case_alerts": 1, "alreadyHeld": True},
    ),
}


def unexpected(
    steps: Sequence[Step],
    regulator_alerts: Mapping[str, list[str]],
    *,
    ledger_a: str | None = None,
) -> list[str]:
    """Scan steps whose verdict or alerts are not what the story expects, and failed scans the
    regulator's node holds no alert about. With ``ledger_a`` (this consortium's genesis id)
    also country B's steps (``medtrace.demo.abroad``): each must be there, show what
    ``EXPECTED_ABROAD`` says, the pack B released must have been answered by this ledger and
    the case imported twice must be one case."""
    wrong = [] if ledger_a is None else _unexpected_abroad(steps, ledger_a)
    wrong += [
        f"the regulator holds no failed-check alert about {pack}"
        for pack, codes in regulator_alerts.items()
        if not codes
    ]
    for step in steps:
        if step.name == PARCEL_CLONE_STEP and step.reasons[:1] != ["red"]:
            wrong.append(f"{step.name}: expected the red lane, found {step.reasons}")
        if step.name == RECHECK_STEP and not {"recalled", "already_dispensed"} <= set(step.reasons):
            wrong.append(
                f"{step.name}: expected recalled and dispensed packs counted, found {step.reasons}"
            )
    for step in steps:
        if step.name in EXPECTED:
            verdict, alerts = EXPECTED[step.name]
            if step.verdict != verdict or not alerts <= set(step.alerts):
                wrong.append(
                    f"{step.name}: expected {verdict} with {sorted(alerts)}, found {step.verdict} with {step.alerts}"
                )
    return wrong


def _unexpected_abroad(steps: Sequence[Step], ledger_a: str) -> list[str]:
    by_name = {s.name: s for s in steps}
    wrong = []
    for name, (reasons, alerts, details) in EXPECTED_ABROAD.items():
        step = by_name.get(name)
        if step is None:
            wrong.append(f"{name}: expected this step, found none")
            continue
        shown = {k: step.details.get(k) for k in details}
        if not (reasons <= set(step.reasons) and alerts <= set(step.alerts) and shown == details):
            wrong.append(
                f"{name}: expected reasons {sorted(reasons)}, alerts {sorted(alerts)} and "
                f"{details}, found {step.reasons}, {step.alerts} and {shown}"
            )
    released = by_name.get(FOREIGN_RELEASE_STEP)
    answered = (released.details.get("answered_by") or {}) if released else {}
    if released and answered.get("genesis") != ledger_a:
        wrong.append(
            f"{FOREIGN_RELEASE_STEP}: expected the answer of this ledger ({ledger_a[:16]}…), "
            f"found {str(answered.get('genesis'))[:16]}…"
        )
    cases = {by_name[n].details.get("case") for n in EXPECTED_ABROAD if n in by_name} - {None}
    if len(cases) > 1:
        wrong.append(f"the case exported and imported twice: expected one id, found {len(cases)}")
    return wrong
