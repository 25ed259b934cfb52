"""Checking a pack's provenance against the pinned membership, trusting no node.

A source (``scanner.sources.online``: one node; ``scanner.sources.offline``: a node's data
directory on this machine or a sync bundle) delivers the pack's provenance (the signed entries
of the pack, of every container it was in, of its lot and product) and the membership
versions. These pure checks then decide, on nothing but that data and the pinned genesis id:

1. the membership chain, from the genesis id the scanner pins (not the one the node names);
2. every entry: well-formed bytes whose id matches, a key the membership lists for that feed
   position, a kind the feed may write, a valid signature (``scanner.verdict.decide``);
3. what the entries say about each other: two entries at one feed position (a fork), links
   between consecutive entries of a feed, time never running backwards within a feed, and
   references that must be present (a receive names the ship it completes, an undo the step
   it reverts);
4. the pack's state folded from those entries (``decide``): status, recall, withdrawal, expiry,
   custody alerts, and the printed lot and expiry against the commissioning entry.

A node that forges, alters or cuts entries therefore never gets a RELEASE: forged and altered
entries fail their signature or id (REJECT), and a cut history shows as a missing reference, a
custody path with a hole, or an unknown pack (HOLD). What a client cannot see from one node's
answer is an entry left out *at the end* of the history (a dispense, a recall issued after the
last entry shown): see docs/spec/scanner.md, "What verification cannot see".
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from ledger.clock import dated_ahead
from ledger.entry import SignedEntry
from ledger.errors import LedgerError
from ledger.feed import ForkDetected, check_fork, verify_link
from ledger.identifiers import pack_uri
from ledger.kinds import Kind, Role
from ledger.membership import Membership, MembershipChain, SignedMembership
from ledger.openings import OpeningInvalid
from ledger.status import UNDOABLE
from scanner.reading import ScanData
from scanner.verdict import Decision, Reason, Scanned, Verdict, decide

NOT_IN_CUSTODY = "not_in_custody"
WITHHELD = "legacy_entries_withheld"


class VerifyError(Exception):
    """The verification could not be asked at all (bad data directory, bad token, no pin)."""


def membership_of(
    versions: Sequence[SignedMembership], pin: str
) -> tuple[Membership | None, Reason | None, bool]:
    """The current membership from ``pin``; else the reason and whether it means REJECT."""
    if not versions:
        return (
            None,
            Reason("no_membership", "the ledger sent no membership to check against"),
            False,
        )
    genesis = min(versions, key=lambda v: v.membership.version)
    if genesis.id != pin:
        return (
            None,
            Reason(
                "wrong_consortium",
                f"the ledger's genesis membership is {genesis.id[:16]}…, the scanner pins "
                f"{pin[:16]}…: a different consortium, or a wrong --genesis",
            ),
            False,
        )
    try:
        chain = MembershipChain(genesis, pin)
        chain.extend_all(v for v in versions if v is not genesis)
    except LedgerError as exc:
        return (
            None,
            Reason("forged_membership", f"a membership version does not verify: {exc}"),
            True,
        )
    return chain.current, None, False


def decode_entries(wires: Iterable[Any]) -> tuple[list[SignedEntry], list[Reason]]:
    """The entries of ``wires``, each checked (id, and the disclosed leaves against the root it
    signs); a leaf whose path does not lead to the signed root is ``forged``."""
    entries: list[SignedEntry] = []
    problems: list[Reason] = []
    for position, wire in enumerate(wires):
        try:
            if not isinstance(wire, Mapping):
                raise TypeError(f"expected an entry object, found {type(wire).__name__}")
            entries.append(SignedEntry.from_wire(wire))
        except OpeningInvalid as exc:
            problems.append(
                Reason(
                    "forged",
                    f"entry {position} the ledger sent discloses a pack that is not in the "
                    f"commitment it signs: {exc}",
                )
            )
        except (LedgerError, TypeError, ValueError) as exc:
            problems.append(
                Reason("altered", f"entry {position} the ledger sent is not a signed entry: {exc}")
            )
    return entries, problems


def consistency(entries: Sequence[SignedEntry], membership: Membership) -> list[Reason]:
    """What the (already signature-checked) entries say about each other."""
    reasons: list[Reason] = []
    by_position: dict[tuple[str, int], SignedEntry] = {}
    by_id = {e.id: e for e in entries}
    for entry in by_id.values():
        key = (entry.payload.feed, entry.payload.seq)
        held = by_position.get(key)
        if held is None:
            by_position[key] = entry
            continue
        try:
            check_fork(held, entry, membership)
        except ForkDetected as fork:
            reasons.append(Reason("fork", f"the site signed two histories: {fork}"))
        except LedgerError:
            pass  # a forged twin: decide() rejects it
    feeds: dict[str, list[SignedEntry]] = {}
    for (feed, _), entry in sorted(by_position.items()):
        feeds.setdefault(feed, []).append(entry)
    for feed, chain in feeds.items():
        for before, after in itertools.pairwise(chain):
            if after.payload.seq == before.payload.seq + 1:
                try:
                    verify_link(before, after, feed)
                except LedgerError as exc:
                    reasons.append(Reason("broken_chain", f"feed {feed}: {exc}"))
            elif after.payload.ts < before.payload.ts:
                reasons.append(
                    Reason(
                        "broken_chain",
                        f"feed {feed}: #{after.payload.seq} is dated {after.payload.ts}, before "
                        f"#{before.payload.seq} at {before.payload.ts}",
                    )
                )
    reasons.extend(_missing_refs(list(by_id.values()), by_id))
    return reasons


def _missing_refs(entries: Sequence[SignedEntry], by_id: Mapping[str, SignedEntry]) -> list[Reason]:
    """A receive completes a ship of the same goods, an undo reverts a step of the pack: both
    must be in the provenance, or the node left part of the history out."""
    reasons = []
    for entry in entries:
        p = entry.payload
        if p.kind is Kind.RECEIVE and p.refs:
            moved = [by_id[r] for r in p.refs if r in by_id]
            if not any(set(m.payload.subjects) & set(p.subjects) for m in moved):
                reasons.append(
                    Reason(
                        "incomplete_provenance",
                        f"the receive by {p.feed} ({entry.id[:12]}…) completes a shipment the "
                        "ledger did not send: the history is cut",
                    )
                )
        elif p.kind is Kind.UNDO and p.refs and p.refs[0] not in by_id:
            reasons.append(
                Reason(
                    "incomplete_provenance",
                    f"the undo by {p.feed} ({entry.id[:12]}…) reverts a step the ledger did not "
                    "send: the history is cut",
                )
            )
    return reasons


def hold_withheld(verdict: Verdict, withheld: Sequence[str]) -> Verdict:
    """HOLD ``legacy_entries_withheld`` when the node left entries out because their signed
    bytes list other packs (v1 entries): the history is not whole, so no RELEASE."""
    if not withheld:
        return verdict
    shown = ", ".join(f"{i[:12]}…" for i in withheld[:3]) + (" …" if len(withheld) > 3 else "")
    reason = Reason(
        WITHHELD,
        f"the ledger withheld {len(withheld)} entr{'y' if len(withheld) == 1 else 'ies'} of "
        f"this pack's history ({shown}) because they list other packs (the format before "
        "per-pack commitments): the history shown is not whole; verify offline against a "
        "replica, or hold the pack",
    )
    return combine(verdict, [reason], reject=False)


def combine(verdict: Verdict, extra: Sequence[Reason], *, reject: bool) -> Verdict:
    if not extra:
        return verdict
    decision = verdict.decision
    if reject:
        decision = Decision.REJECT
    elif decision is Decision.RELEASE:
        decision = Decision.HOLD
    reasons = [
        r
        for r in verdict.reasons
        if not (decision is not Decision.RELEASE and r.code == "authentic")
    ]
    return replace(verdict, decision=decision, reasons=[*extra, *reasons])


def check(
    scan: ScanData,
    entry_wires: Iterable[Any] | Sequence[SignedEntry],
    memberships: Sequence[SignedMembership],
    *,
    pin: str,
    today: str,
    in_transit_ok: bool = False,
    custodian: str | None = None,
    withheld: Sequence[str] = (),
) -> Verdict:
    """Everything above, on provenance as some source delivered it; with ``custodian``, a
    RELEASE also needs the pack with that organisation (``expect_custody``); ``withheld``
    (entries the source left out, ``hold_withheld``) makes it a HOLD."""
    uri = pack_uri(scan.gtin, scan.serial)
    scanned = Scanned(scan.gtin, scan.serial, scan.lot, scan.expiry)
    membership, problem, forged = membership_of(memberships, pin)
    if membership is None:
        assert problem is not None
        decision = Decision.REJECT if forged else Decision.HOLD
        return Verdict(decision, uri, [problem])
    wires = list(entry_wires)
    if all(isinstance(w, SignedEntry) for w in wires):
        entries: list[SignedEntry] = list(wires)
        broken: list[Reason] = []
    else:
        entries, broken = decode_entries(wires)
    verdict = decide(scanned, entries, membership, today=today, in_transit_ok=in_transit_ok)
    if broken:
        return combine(verdict, broken, reject=True)
    if any(r.code == "forged" for r in verdict.reasons):
        return verdict
    verdict = combine(verdict, consistency(entries, membership), reject=False)
    if ahead := dated_ahead(entries):  # a time that cannot be true yet (ledger/clock.py)
        first = ahead[0].payload
        verdict = combine(
            verdict,
            [
                Reason(
                    "future_dated",
                    f"the history holds an entry dated {first.ts} ({first.feed} #{first.seq}), "
                    "more than 10 minutes after this scanner's clock: its signer's clock or its "
                    "signer is wrong, so the pack is not released until someone has looked",
                )
            ],
            reject=False,
        )
    if custodian:
        verdict = expect_custody(verdict, custodian, in_transit_ok=in_transit_ok)
    verdict = hold_withheld(verdict, withheld)
    if scan.recovered and verdict.decision is Decision.REJECT:
        verdict = _uncertain_scan(verdict)
    return verdict


def counter_custodian(
    membership: Membership, org: str | None, *, in_transit_ok: bool = False
) -> str | None:
    """The organisation a scan at ``org``'s node expects to hold the pack: ``org`` itself when
    it is a pharmacy and the scan is not a customs one (``in_transit_ok``). A counter supplies
    packs, and may supply only what it holds: the ledger will refuse it the dispense of any
    other. Customs check packs in transit that they never hold; other roles verify without
    supplying."""
    if org is None or in_transit_ok:
        return None
    organisation = membership.organisations.get(org)
    if organisation is None or organisation.role is not Role.PHARMACY:
        return None
    return org


def expect_custody(verdict: Verdict, custodian: str, *, in_transit_ok: bool = False) -> Verdict:
    """A RELEASE also needs the ledger to show the pack with ``custodian`` (or, at customs, on
    its way there): otherwise its path to the one scanning is not on record. The reason names
    no other organisation: who holds a pack is not the business of whoever scans it."""
    state = verdict.state
    if verdict.decision is not Decision.RELEASE or state is None:
        return verdict
    held_by = state.custodian.split("/", 1)[0]
    if held_by == custodian or (in_transit_ok and state.destination == custodian):
        return verdict
    where = (
        "on its way to another organisation"
        if state.destination and state.destination != custodian
        else "held by another organisation"
    )
    return combine(
        verdict,
        [
            Reason(
                NOT_IN_CUSTODY,
                f"the ledger has the pack {where}, not with {custodian}: if it was delivered "
                "to you, record its receipt first; otherwise quarantine it and report it",
            )
        ],
        reject=False,
    )


def decide_at(
    scanned: Scanned,
    provenance: Sequence[SignedEntry],
    membership: Membership,
    *,
    org: str,
    today: str,
    in_transit_ok: bool = False,
) -> Verdict:
    """``decide()`` for a scan made at a node of ``org`` on its own store (the web scan): at a
    pharmacy's counter a RELEASE also needs the pack in the pharmacy's custody."""
    verdict = decide(scanned, provenance, membership, today=today, in_transit_ok=in_transit_ok)
    custodian = counter_custodian(membership, org, in_transit_ok=in_transit_ok)
    if custodian is None:
        return verdict
    return expect_custody(verdict, custodian, in_transit_ok=in_transit_ok)


def custodian_shown(verdict: Verdict) -> str | None:
    """The custodian an answer names: none when the pack is with another organisation than the
    one scanning (``not_in_custody``)."""
    if verdict.state is None or any(r.code == NOT_IN_CUSTODY for r in verdict.reasons):
        return None
    return verdict.state.custodian


def _uncertain_scan(verdict: Verdict) -> Verdict:
    """A lot or expiry mismatch on a scan whose separators were put back by assumption may be
    the assumption's fault, not a falsification: HOLD instead of REJECT."""
    codes = {r.code for r in verdict.reasons}
    if not codes <= {"lot_mismatch", "expiry_mismatch"}:
        return verdict
    return replace(
        verdict,
        decision=Decision.HOLD,
        reasons=[
            Reason(
                "uncertain_scan",
                "the scan lost its group separators and was read back by assumption, "
                "and the lot or expiry then differs: scan again with separators before "
                "treating the pack as falsified",
            ),
            *verdict.reasons,
        ],
    )


def today_iso() -> str:
    return datetime.now(UTC).date().isoformat()


def undo_target(verdict: Verdict) -> str | None:
    """The entry an undo must name: the pack's last decommissioning, if it can be undone."""
    state = verdict.state
    if state is None or state.status not in UNDOABLE or state.changed_by is None:
        return None
    return state.changed_by
