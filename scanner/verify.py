"""Verifying a scanned pack against the ledger, online or offline, trusting no node.

Online, the scanner asks one node for the pack's provenance (the signed entries of the pack, of
every container it was in, of its lot and product) and the membership versions. Offline, it
reads the same from a node's data directory on this machine or from a sync bundle. Either way
it checks everything itself:

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
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import requests
from sqlalchemy import func, select

from ledger.alerts import Alert
from ledger.entry import SignedEntry
from ledger.errors import ForkDetected, LedgerError
from ledger.feed import check_fork, verify_link
from ledger.identifiers import container_uri, lot_uri, pack_uri, parse_subject, product_uri
from ledger.kinds import Kind
from ledger.lifecycle import fold
from ledger.membership import Membership, MembershipChain, SignedMembership
from ledger.state import MemoryState
from ledger.status import UNDOABLE
from ledger.timefmt import parse_ts
from node.https import ca_session
from scanner.read import ScanData
from scanner.verdict import Decision, Reason, Scanned, Verdict, decide

DEFAULT_MAX_AGE = timedelta(hours=24)
TIMEOUT_S = 10.0
_RANK = {Decision.RELEASE: 0, Decision.HOLD: 1, Decision.REJECT: 2}


class VerifyError(Exception):
    """The verification could not be asked at all (bad data directory, bad token, no pin)."""


@dataclass(frozen=True)
class Freshness:
    """How current the data behind a verdict is."""

    source: str  # "node" | "store" | "bundle"
    as_of: str | None  # newest entry's ts (store), the bundle's creation time, the answer time
    age_s: float | None = None
    max_age_s: float | None = None
    stale: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "as_of": self.as_of,
            "age_s": None if self.age_s is None else round(self.age_s, 1),
            "max_age_s": self.max_age_s,
            "stale": self.stale,
        }


@dataclass
class Outcome:
    """A verdict on one scanned pack, with where its data came from."""

    scan: ScanData
    verdict: Verdict
    source: str  # "online" | "offline"
    freshness: Freshness
    where: str = ""  # the node URL or the data path

    @property
    def decision(self) -> Decision:
        return self.verdict.decision

    def to_json(self) -> dict[str, Any]:
        v = self.verdict
        state = v.state
        return {
            "verdict": v.decision.value,
            "pack": v.pack,
            "gtin": self.scan.gtin,
            "serial": self.scan.serial,
            "lot": self.scan.lot,
            "expiry": self.scan.expiry,
            "reasons": [{"code": r.code, "message": r.message} for r in v.reasons],
            "timeline": timeline_json(v.timeline),
            "alerts": [alert_json(a) for a in v.alerts],
            "freshness": self.freshness.to_json(),
            "source": self.source,
            "ledger": None
            if state is None
            else {
                "lot": state.lot,
                "expiry": state.expiry,
                "status": state.status.value,
                "custodian": state.custodian,
                "destination": state.destination,
                "container": state.container,
                "commissioned": state.commissioned,
            },
            "scan": self.scan.to_json(),
            "where": self.where,
        }


def timeline_json(entries: Sequence[SignedEntry]) -> list[dict[str, Any]]:
    rows = []
    for entry in entries:
        p = entry.payload
        row: dict[str, Any] = {"ts": p.ts, "feed": p.feed, "kind": p.kind.value, "entry": entry.id}
        detail = _detail(entry)
        if detail:
            row["detail"] = detail
        rows.append(row)
    return rows


def _detail(entry: SignedEntry) -> str:
    p = entry.payload
    body = p.body
    if p.kind is Kind.COMMISSION:
        raw = body.get("ilmd")
        ilmd: Mapping[str, Any] = raw if isinstance(raw, dict) else {}
        count = len(body["serials"]) if isinstance(body.get("serials"), list) else 0
        return (
            f"lot {ilmd.get('lotNumber')}, expiry {ilmd.get('itemExpirationDate')}, {count} packs"
        )
    if p.kind in (Kind.SHIP, Kind.RETURN):
        return f"to {body.get('destination')}" + _via(p.subjects)
    if p.kind is Kind.INSPECT:
        return f"{body.get('decision')}" + _via(p.subjects)
    if p.kind in (Kind.PACK, Kind.UNPACK) and p.subjects:
        return f"{'into' if p.kind is Kind.PACK else 'out of'} {_short(p.subjects[0])}"
    if p.kind in (Kind.RECALL, Kind.WITHDRAW) and p.subjects:
        return _short(p.subjects[0])
    return _via(p.subjects).strip()


def _via(subjects: Sequence[str]) -> str:
    containers = [s for s in subjects if "/00/" in s]
    return f" (with {_short(containers[0])})" if containers else ""


def _short(uri: str) -> str:
    subject = parse_subject(uri) if uri.startswith("https://id.gs1.org/") else None
    if subject is not None and subject.sscc:
        return f"SSCC {subject.sscc}"
    if subject is not None and subject.lot:
        return f"lot {subject.lot}"
    return uri


def alert_json(alert: Alert) -> dict[str, Any]:
    return {
        "code": alert.code.value,
        "level": alert.level.value,
        "subject": alert.subject,
        "message": alert.message,
        "evidence": [e for e in alert.evidence if e],
    }


# -- the checks ---------------------------------------------------------------------------------


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
    entries: list[SignedEntry] = []
    problems: list[Reason] = []
    for position, wire in enumerate(wires):
        try:
            if not isinstance(wire, Mapping):
                raise TypeError(f"expected an entry object, found {type(wire).__name__}")
            entries.append(SignedEntry.from_wire(wire))
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


def _combine(verdict: Verdict, extra: Sequence[Reason], *, reject: bool) -> Verdict:
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
    return Verdict(
        decision, verdict.pack, [*extra, *reasons], verdict.state, verdict.timeline, verdict.alerts
    )


def check(
    scan: ScanData,
    entry_wires: Iterable[Any] | Sequence[SignedEntry],
    memberships: Sequence[SignedMembership],
    *,
    pin: str,
    today: str,
    in_transit_ok: bool = False,
    custodian: str | None = None,
) -> Verdict:
    """Everything above, on provenance as some source delivered it."""
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
        return _combine(verdict, broken, reject=True)
    if any(r.code == "forged" for r in verdict.reasons):
        return verdict
    verdict = _combine(verdict, consistency(entries, membership), reject=False)
    if custodian and verdict.decision is Decision.RELEASE and verdict.state is not None:
        state = verdict.state
        held_by = state.custodian.split("/", 1)[0]
        arriving = in_transit_ok and state.destination == custodian
        if held_by != custodian and not arriving:
            where = f"held by {held_by}" + (
                f", in transit to {state.destination}" if state.destination else ""
            )
            verdict = _combine(
                verdict,
                [
                    Reason(
                        "not_in_custody",
                        f"the ledger has the pack {where}, not with {custodian}: its path to "
                        "you is not on record",
                    )
                ],
                reject=False,
            )
    if scan.recovered and verdict.decision is Decision.REJECT:
        codes = {r.code for r in verdict.reasons}
        if codes <= {"lot_mismatch", "expiry_mismatch"}:
            verdict = Verdict(
                Decision.HOLD,
                verdict.pack,
                [
                    Reason(
                        "uncertain_scan",
                        "the scan lost its group separators and was read back by assumption, "
                        "and the lot or expiry then differs: scan again with separators before "
                        "treating the pack as falsified",
                    ),
                    *verdict.reasons,
                ],
                verdict.state,
                verdict.timeline,
                verdict.alerts,
            )
    return verdict


def _today() -> str:
    return datetime.now(UTC).date().isoformat()


def worst(decisions: Iterable[Decision]) -> Decision:
    return max(decisions, key=lambda d: _RANK[d], default=Decision.RELEASE)


# -- online -------------------------------------------------------------------------------------


@dataclass
class NodeClient:
    """The node's HTTP API, as a scanner uses it (verifier token; operator token for actions)."""

    url: str
    token: str
    timeout: float = TIMEOUT_S
    session: requests.Session = field(default_factory=requests.Session)

    def get(self, path: str) -> requests.Response:
        try:
            return self.session.get(
                self.url.rstrip("/") + path,
                headers={"Authorization": f"Bearer {self.token}"},
                timeout=self.timeout,
            )
        except requests.exceptions.SSLError:
            raise NodeUnreachable(
                f"{self.url}: its TLS certificate is not trusted here (pass --ca with the "
                "consortium's CA certificate, e.g. DATA/tls-ca.crt of a node)"
            ) from None
        except requests.RequestException as exc:
            raise NodeUnreachable(f"{self.url}: {type(exc).__name__}") from None

    def provenance(self, gtin: str, serial: str) -> dict[str, Any]:
        response = self.get(f"/api/v1/packs/{gtin}/{quote(serial, safe='')}/provenance")
        return self._json(response, "provenance")

    def container(self, sscc: str) -> dict[str, Any]:
        return self._json(self.get(f"/api/v1/containers/{sscc}"), "container")

    def _json(self, response: requests.Response, what: str) -> dict[str, Any]:
        if response.status_code in (401, 403):
            raise VerifyError(
                f"{self.url} refused the token ({response.status_code}): "
                f"{_problem_detail(response)}"
            )
        if response.status_code == 404 and what == "container":
            raise VerifyError(f"{self.url}: {_problem_detail(response)}")
        if response.status_code == 429:
            raise NodeUnreachable(
                f"{self.url} is rate-limiting this token (retry after "
                f"{response.headers.get('Retry-After', '?')} s)"
            )
        if response.status_code >= 400:
            raise NodeUnreachable(
                f"{self.url} answered {response.status_code}: {_problem_detail(response)}"
            )
        try:
            value = response.json()
        except ValueError:
            raise NodeUnreachable(f"{self.url} answered something that is not JSON") from None
        if not isinstance(value, dict):
            raise NodeUnreachable(f"{self.url} answered JSON that is not an object")
        return value


def node_session(ca: Path | None = None) -> requests.Session:
    """A session for a node's API: over https it trusts ``ca`` (the consortium's TLS CA) only,
    when given; else the system's CAs (a node behind a public certificate)."""
    return ca_session(ca)


class NodeUnreachable(Exception):
    """The node could not be asked (network, server error, rate limit): HOLD, not REJECT."""


def _problem_detail(response: requests.Response) -> str:
    try:
        value = response.json()
    except ValueError:
        return response.reason or "no detail"
    if isinstance(value, dict):
        return str(value.get("detail") or value.get("title") or response.reason)
    return response.reason or "no detail"


def _memberships(raw: Any) -> tuple[list[SignedMembership], Reason | None]:
    versions: list[SignedMembership] = []
    if not isinstance(raw, list):
        return [], Reason("no_membership", "the ledger's answer holds no membership list")
    for wire in raw:
        try:
            if not isinstance(wire, Mapping):
                raise TypeError("expected an object")
            versions.append(SignedMembership.from_wire(wire))
        except (LedgerError, TypeError, ValueError) as exc:
            return versions, Reason(
                "forged_membership", f"a membership version is malformed: {exc}"
            )
    return versions, None


def verify_online(
    scan: ScanData,
    node_url: str,
    token: str,
    *,
    membership_pin: str,
    today: str | None = None,
    in_transit_ok: bool = False,
    custodian: str | None = None,
    timeout: float = TIMEOUT_S,
    client: NodeClient | None = None,
) -> Outcome:
    """Ask ``node_url`` for the pack's provenance and verify it from ``membership_pin``."""
    client = client or NodeClient(node_url, token, timeout)
    uri = pack_uri(scan.gtin, scan.serial)
    asked = datetime.now(UTC)
    freshness = Freshness("node", asked.isoformat(timespec="seconds").replace("+00:00", "Z"), 0.0)
    try:
        answer = client.provenance(scan.gtin, scan.serial)
    except NodeUnreachable as exc:
        verdict = Verdict(
            Decision.HOLD,
            uri,
            [
                Reason(
                    "ledger_unreachable",
                    f"the ledger could not be asked ({exc}): verify offline, or hold the pack",
                )
            ],
        )
        return Outcome(scan, verdict, "online", Freshness("node", None), node_url)
    versions, problem = _memberships(answer.get("memberships"))
    if problem is not None:
        verdict = Verdict(Decision.REJECT, uri, [problem])
        return Outcome(scan, verdict, "online", freshness, node_url)
    entries = answer.get("entries")
    if not isinstance(entries, list):
        verdict = Verdict(
            Decision.HOLD, uri, [Reason("bad_answer", "the ledger's answer holds no entry list")]
        )
        return Outcome(scan, verdict, "online", freshness, node_url)
    verdict = check(
        scan,
        entries,
        versions,
        pin=membership_pin,
        today=today or _today(),
        in_transit_ok=in_transit_ok,
        custodian=custodian,
    )
    return Outcome(scan, verdict, "online", freshness, node_url)


# -- offline ------------------------------------------------------------------------------------


@dataclass
class LocalData:
    """A node's store or a bundle on this machine: provenance, memberships, freshness."""

    path: Path
    kind: str  # "store" | "bundle"
    pin: str | None
    as_of: str | None
    memberships: list[SignedMembership]
    _store: Any = None
    _entries: list[SignedEntry] = field(default_factory=list)
    notes: list[Reason] = field(default_factory=list)

    def provenance(self, uri: str) -> list[SignedEntry]:
        if self._store is not None:
            found: list[SignedEntry] = self._store.provenance(uri)
            return found
        return select_provenance(self._entries, uri)

    def close(self) -> None:
        if self._store is not None:
            self._store.close()

    def __enter__(self) -> LocalData:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def container_packs(self, sscc: str, membership: Membership) -> list[str]:
        uri = container_uri(sscc)
        if self._store is not None:
            from node.store.view import DbStateView, Ids  # noqa: PLC0415

            with self._store.reader.connect() as conn:
                view = DbStateView(conn, Ids(conn))
                return _packs_inside(uri, view.get_container)
        state = MemoryState()
        fold([e for e in self._entries if e.payload.kind in _CONTAINER_KINDS], membership, state)
        return _packs_inside(uri, state.containers.get)


_CONTAINER_KINDS = frozenset({Kind.COMMISSION, Kind.PACK, Kind.UNPACK})


def _packs_inside(uri: str, get: Any) -> list[str]:
    container = get(uri)
    if container is None:
        raise VerifyError(f"no container {uri} is known in this data")
    packs: list[str] = []
    todo, seen = [container], {uri}
    while todo:
        current = todo.pop()
        for child in sorted(current.children):
            if child in seen:
                continue
            seen.add(child)
            if "/00/" in child:
                inner = get(child)
                if inner is not None:
                    todo.append(inner)
            else:
                packs.append(child)
    return packs


def open_local(data: Path, *, pin: str | None = None) -> LocalData:
    """A node data directory (``node.json``), a SQLite store file, or a sync bundle file."""
    from node.bundle import BundleError, read_bundle  # noqa: PLC0415
    from node.config import ConfigError, load_config  # noqa: PLC0415
    from node.store import Store  # noqa: PLC0415

    if data.is_dir():
        try:
            config = load_config(data)
        except ConfigError as exc:
            raise VerifyError(str(exc)) from None
        url = config.database_url(data)
        if "://" not in url and not Path(url).is_file():
            raise VerifyError(f"{data}: no ledger database at {url}")
        return _from_store(data, Store(url), pin or config.genesis_id)
    if not data.is_file():
        raise VerifyError(f"{data}: no such data directory or bundle file")
    with data.open("rb") as handle:
        magic = handle.read(16)
    if magic.startswith(b"SQLite format 3"):
        store = Store(data)
        return _from_store(data, store, pin or store.meta("genesis_id"))
    try:
        bundle = read_bundle(data)
    except BundleError as exc:
        raise VerifyError(str(exc)) from None
    local = LocalData(
        data, "bundle", pin, bundle.created, bundle.memberships, _entries=bundle.entries
    )
    if bundle.truncated:
        local.notes.append(
            Reason(
                "incomplete_bundle",
                f"the bundle is cut ({bundle.truncated}): entries may be missing",
            )
        )
    return local


def _from_store(data: Path, store: Any, pin: str | None) -> LocalData:
    from node.store import models as m  # noqa: PLC0415

    with store.reader.connect() as conn:
        newest = conn.execute(select(func.max(m.ENTRIES.c.ts))).scalar()
    return LocalData(
        data,
        "store",
        pin,
        str(newest) if newest is not None else None,
        store.memberships(),
        _store=store,
    )


def select_provenance(entries: Iterable[SignedEntry], uri: str) -> list[SignedEntry]:
    """What ``Store.provenance`` returns, from a list of entries (a bundle)."""
    subject = parse_subject(uri)
    gtin, serial = subject.gtin, subject.serial
    naming: dict[str, list[SignedEntry]] = {}
    chosen: dict[str, SignedEntry] = {}
    lots: set[str] = set()
    for entry in entries:
        p = entry.payload
        if p.kind is Kind.COMMISSION:
            serials = p.body.get("serials")
            ilmd = p.body.get("ilmd")
            if (
                p.body.get("gtin") == gtin
                and isinstance(serials, list)
                and serial in serials
                and isinstance(ilmd, dict)
            ):
                chosen[entry.id] = entry
                lots.add(str(ilmd.get("lotNumber")))
            continue
        for name in dict.fromkeys(p.subjects):
            naming.setdefault(name, []).append(entry)
    subjects = {uri}
    todo = [uri]
    while todo:
        current = todo.pop()
        for entry in naming.get(current, []):
            chosen[entry.id] = entry
            p = entry.payload
            if p.kind in (Kind.PACK, Kind.UNPACK) and p.subjects and current in p.subjects[1:]:
                parent = p.subjects[0]
                if parent not in subjects:
                    subjects.add(parent)
                    todo.append(parent)
    assert gtin is not None
    classes = {product_uri(gtin)}
    for lot in lots:
        try:
            classes.add(lot_uri(gtin, lot))
        except LedgerError:
            continue
    for name in classes:
        for entry in naming.get(name, []):
            chosen[entry.id] = entry
    return sorted(chosen.values(), key=lambda e: e.payload.order_key)


def _freshness(local: LocalData, max_age: timedelta, now: datetime) -> Freshness:
    if local.as_of is None:
        return Freshness(local.kind, None, None, max_age.total_seconds(), True)
    try:
        when = parse_ts(local.as_of)
    except LedgerError:
        return Freshness(local.kind, local.as_of, None, max_age.total_seconds(), True)
    age = (now - when).total_seconds()
    return Freshness(
        local.kind, local.as_of, age, max_age.total_seconds(), age > max_age.total_seconds()
    )


def verify_offline(
    scan: ScanData,
    data: Path | LocalData,
    *,
    max_age: timedelta = DEFAULT_MAX_AGE,
    membership_pin: str | None = None,
    today: str | None = None,
    now: datetime | None = None,
    in_transit_ok: bool = False,
    custodian: str | None = None,
) -> Outcome:
    """Verify against a node's data directory or a sync bundle on this machine.

    The answer states how fresh the data is: the newest entry's ts in a store, the creation
    time of a bundle. Data older than ``max_age`` turns a RELEASE into HOLD (``stale_data``):
    a recall or a dispense may have happened since.
    """
    local = data if isinstance(data, LocalData) else open_local(data, pin=membership_pin)
    try:
        pin = membership_pin or local.pin
        if not pin:
            raise VerifyError(
                f"{local.path}: the data names no pinned genesis membership: pass --genesis"
            )
        uri = pack_uri(scan.gtin, scan.serial)
        verdict = check(
            scan,
            local.provenance(uri),
            local.memberships,
            pin=pin,
            today=today or _today(),
            in_transit_ok=in_transit_ok,
            custodian=custodian,
        )
        verdict = _combine(verdict, local.notes, reject=False)
        freshness = _freshness(local, max_age, now or datetime.now(UTC))
        if freshness.stale:
            when = freshness.as_of or "an unknown time"
            verdict = _combine(
                verdict,
                [
                    Reason(
                        "stale_data",
                        f"the {local.kind} is from {when}, older than "
                        f"{_human(max_age)}: a recall or a dispense since then would not show; "
                        "sync, or verify online",
                    )
                ],
                reject=False,
            )
        return Outcome(scan, verdict, "offline", freshness, str(local.path))
    finally:
        if not isinstance(data, LocalData):
            local.close()


def _human(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds % 86400 == 0:
        days = seconds // 86400
        return f"{days} day{'s' if days != 1 else ''}"
    if seconds % 3600 == 0:
        hours = seconds // 3600
        return f"{hours} hour{'s' if hours != 1 else ''}"
    return f"{seconds} s"


def parse_age(text: str) -> timedelta:
    """``90s``, ``30m``, ``24h``, ``7d`` (or plain seconds)."""
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    text = text.strip().lower()
    number, unit = (text[:-1], text[-1]) if text and text[-1] in units else (text, "s")
    try:
        value = float(number)
    except ValueError:
        raise ValueError(f"expected an age like 90s, 30m, 24h or 7d, found {text!r}") from None
    if value < 0:
        raise ValueError(f"expected a non-negative age, found {text!r}")
    return timedelta(seconds=value * units[unit])


# -- undo target --------------------------------------------------------------------------------


def undo_target(verdict: Verdict) -> str | None:
    """The entry an undo must name: the pack's last decommissioning, if it can be undone."""
    state = verdict.state
    if state is None or state.status not in UNDOABLE or state.changed_by is None:
        return None
    return state.changed_by


def dumps(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False)
