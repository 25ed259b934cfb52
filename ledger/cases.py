"""Cases between authorities (issue 17, ADR 0029, docs/spec/cases.md): an alert or a seizure
as one signed file that another consortium's authority verifies offline.

A case file is one JSON object, written as RFC 8785 canonical bytes. Every member but
``signature`` is the *content*; the exporting authority's node signs
``CASE_DOMAIN || canonical(content)`` with its feed's Ed25519 key, and the case's id is the
SHA-256 of ``canonical(content)``: the same file always has the same id (what makes importing
it twice change nothing).

``verify_case(doc, genesis, now)`` checks, with nothing but the exporting consortium's genesis
id, in this order (each failure a ``CaseRefused`` with a ``CaseCode``): the members and their
forms; the genesis; the membership chain from it; that the exporter is a feed of a customs or
regulator organisation; every entry (id, disclosed leaves, signature under the key its
position names, no sidecar); that every entry is included in a checkpoint meeting the
exporting consortium's witness policy at ``exported_at``; every alert (its id from its
fields, its evidence in the file, a failed check's alert re-derived from the check); every
opened declaration against the seal its ``declare`` entry signs; every photo against its
SHA-256; and last the outer signature over the content. Nothing here reads a clock or a file.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from ledger.alerts import Alert, Code
from ledger.canonical import canonical_bytes
from ledger.entry import SignedEntry
from ledger.errors import LedgerError
from ledger.feed import verify_entry
from ledger.feedlog import InclusionProof
from ledger.kinds import Kind, Role
from ledger.lifecycle.checks import VERDICTS, alerts_of
from ledger.membership import Membership, MembershipChain, SignedMembership
from ledger.sealed import Opening, check_opening
from ledger.timefmt import parse_ts
from ledger.witness import verify_witnessed_checkpoint, witness_verifiers

FORMAT = "medtrace-case/1"
CASE_DOMAIN = b"medtrace/case/v1\x00"
#: Who may sign a case: the authorities.
AUTHORITIES = frozenset({Role.CUSTOMS, Role.REGULATOR})
MEMBERS = frozenset(
    {
        "format",
        "genesis",
        "consortium",
        "exported_at",
        "exporter",
        "subject",
        "alerts",
        "entries",
        "memberships",
        "checkpoints",
        "declarations",
        "photos",
        "signature",
    }
)
MAX_PHOTOS = 4
MAX_PHOTO_BYTES = 1024 * 1024
PHOTO_TYPES = ("image/jpeg", "image/png", "image/webp")
_NAME = re.compile(r"\A[A-Za-z0-9][A-Za-z0-9._-]{0,99}\Z")
_HEX64 = re.compile(r"\A[0-9a-f]{64}\Z")
_ALERT_FIELDS = {"id", "code", "level", "subject", "message", "evidence"}


class CaseCode(StrEnum):
    """Why a case file is refused (``CaseRefused.code``)."""

    #: Not a case file: not a JSON object, unknown format, missing or unknown members.
    MALFORMED = "malformed"
    #: Of another consortium than the genesis the reader pinned.
    OTHER_CONSORTIUM = "other_consortium"
    #: The importing node's membership pins no foreign root with the case's genesis.
    UNTRUSTED_CONSORTIUM = "untrusted_consortium"
    #: The membership versions do not chain from the genesis under their thresholds.
    MEMBERSHIP = "membership_invalid"
    #: The signer is not a feed of a customs or regulator organisation.
    NOT_AUTHORITY = "not_authority"
    #: An entry's bytes, id, disclosed leaves or signature do not verify, or it carries a sidecar.
    ENTRY = "entry_invalid"
    #: An entry in no checkpoint meeting the witness policy at the export, or a checkpoint that
    #: does not verify.
    NOT_WITNESSED = "not_witnessed"
    #: An alert whose id, evidence or words its entries do not give.
    ALERT = "alert_invalid"
    #: A declaration's opened fields that do not make the seal its entry signs.
    OPENING = "opening_invalid"
    #: A photo whose bytes do not have its SHA-256, or out of bounds.
    PHOTO = "photo_invalid"
    #: The case's alert is not among its alerts, or its declaration's entry is missing.
    SUBJECT = "subject_invalid"
    #: The outer signature does not verify over the content.
    SIGNATURE = "signature_invalid"


class CaseRefused(LedgerError):
    """The case file does not prove what it says; ``code`` says which check failed."""

    def __init__(self, code: CaseCode, message: str) -> None:
        super().__init__(f"{code.value}: {message}")
        self.code = code


@dataclass(frozen=True)
class VerifiedCase:
    """What a verified case file holds, checked."""

    id: str
    genesis: str
    consortium: str
    exported_at: str
    exporter_feed: str
    exporter_org: str
    exporter_role: Role
    subject: dict[str, str]
    alerts: list[Alert]
    entries: list[SignedEntry]
    declarations: list[dict[str, Any]]  # {"reference", "entry", "fields"}
    photos: list[dict[str, Any]]  # {"name", "mediaType", "sha256", "bytes"}
    membership: Membership
    not_witnessed_feeds: list[str]  # feeds the policy can never witness (no checkpoint needed)


# -- writing ---------------------------------------------------------------------------------


def content_bytes(doc: Mapping[str, Any]) -> bytes:
    """The canonical bytes of the content (every member but ``signature``)."""
    return canonical_bytes({k: v for k, v in doc.items() if k != "signature"})


def case_id(doc: Mapping[str, Any]) -> str:
    return hashlib.sha256(content_bytes(doc)).hexdigest()


def signing_bytes(doc: Mapping[str, Any]) -> bytes:
    return CASE_DOMAIN + content_bytes(doc)


def alert_json(alert: Alert) -> dict[str, Any]:
    """An alert as a case carries it."""
    return {
        "id": alert.id,
        "code": alert.code.value,
        "level": alert.level.value,
        "subject": alert.subject,
        "message": alert.message,
        "evidence": list(alert.evidence),
    }


def photo_json(name: str, media_type: str, data: bytes) -> dict[str, Any]:
    """A photo as a case carries it (checked as ``verify_case`` checks it)."""
    item = {
        "name": name,
        "mediaType": media_type,
        "sha256": hashlib.sha256(data).hexdigest(),
        "data": base64.b64encode(data).decode("ascii"),
    }
    _photo(0, item)
    return item


def encode_case(doc: Mapping[str, Any]) -> bytes:
    """The file's bytes: the whole document, RFC 8785 canonical."""
    return canonical_bytes(dict(doc))


# -- verification ----------------------------------------------------------------------------


def _shape(doc: Any) -> None:
    if not isinstance(doc, dict):
        raise CaseRefused(CaseCode.MALFORMED, f"expected a JSON object, found {type(doc).__name__}")
    if doc.get("format") != FORMAT:
        raise CaseRefused(
            CaseCode.MALFORMED,
            f"expected a case file of format {FORMAT!r}, found {str(doc.get('format'))[:40]!r}",
        )
    if set(doc) != MEMBERS:
        raise CaseRefused(
            CaseCode.MALFORMED,
            f"expected exactly the members {sorted(MEMBERS)}, found missing "
            f"{sorted(MEMBERS - set(doc))} and unknown {sorted(set(doc) - MEMBERS)[:5]}",
        )
    for name in ("alerts", "entries", "memberships", "checkpoints", "declarations", "photos"):
        if not isinstance(doc[name], list):
            raise CaseRefused(CaseCode.MALFORMED, f"expected {name} as a list")
    for name in ("exporter", "subject"):
        if not isinstance(doc[name], dict):
            raise CaseRefused(CaseCode.MALFORMED, f"expected {name} as an object")
    subject = doc["subject"]
    if not (
        len(subject) == 1
        and set(subject) <= {"alert", "declaration"}
        and all(isinstance(v, str) for v in subject.values())
    ):
        raise CaseRefused(
            CaseCode.MALFORMED, "expected subject as {'alert': id} or {'declaration': ref}"
        )
    exporter = doc["exporter"]
    position = exporter.get("position")
    if set(exporter) != {"feed", "position"} or type(position) is not int or position < 0:
        raise CaseRefused(CaseCode.MALFORMED, "expected exporter as {'feed', 'position'}")
    try:
        parse_ts(str(doc["exported_at"]))
    except LedgerError as exc:
        raise CaseRefused(CaseCode.MALFORMED, f"exported_at: {exc}") from None


def _membership(doc: dict[str, Any], genesis: str) -> Membership:
    try:
        versions = sorted(
            (SignedMembership.from_wire(w) for w in doc["memberships"]),
            key=lambda s: s.membership.version,
        )
        if not versions:
            raise CaseRefused(CaseCode.MEMBERSHIP, "expected the membership versions, found none")
        chain = MembershipChain(versions[0], genesis)
        chain.extend_all(versions[1:])
    except CaseRefused:
        raise
    except (LedgerError, TypeError, AttributeError) as exc:
        raise CaseRefused(CaseCode.MEMBERSHIP, str(exc)) from None
    if doc["consortium"] != chain.current.consortium:
        raise CaseRefused(
            CaseCode.MEMBERSHIP,
            f"expected consortium {chain.current.consortium!r}, found {str(doc['consortium'])[:60]!r}",
        )
    return chain.current


def _exporter(doc: dict[str, Any], membership: Membership) -> tuple[str, Role, Ed25519PublicKey]:
    feed, position = str(doc["exporter"]["feed"]), doc["exporter"]["position"]
    try:
        spec = membership.feed(feed)
        key = spec.key_at(position)
    except LedgerError as exc:
        raise CaseRefused(CaseCode.NOT_AUTHORITY, f"exporter {feed[:65]}: {exc}") from None
    role = membership.organisations[spec.org].role
    if role not in AUTHORITIES:
        raise CaseRefused(
            CaseCode.NOT_AUTHORITY,
            f"expected a case signed by a customs or regulator node, found one of {spec.org} "
            f"({role.value})",
        )
    return spec.org, role, key


def _entries(doc: dict[str, Any], membership: Membership) -> list[SignedEntry]:
    entries: list[SignedEntry] = []
    for n, wire in enumerate(doc["entries"]):
        if not isinstance(wire, dict) or "sidecar" in wire:
            raise CaseRefused(
                CaseCode.ENTRY, f"entries[{n}]: expected an entry with disclosed leaves, no sidecar"
            )
        try:
            entry = SignedEntry.from_wire(wire)
            verify_entry(entry, membership)
        except (LedgerError, TypeError, ValueError) as exc:
            raise CaseRefused(CaseCode.ENTRY, f"entries[{n}]: {exc}") from None
        entries.append(entry)
    if len({e.id for e in entries}) != len(entries):
        raise CaseRefused(CaseCode.ENTRY, "expected each entry once")
    return entries


def _checkpoints(
    doc: dict[str, Any], entries: list[SignedEntry], membership: Membership, genesis: str
) -> list[str]:
    """Every entry included in a witnessed checkpoint at ``exported_at``; the feeds excused."""
    at = int(parse_ts(str(doc["exported_at"])).timestamp())
    by_id = {e.id: e for e in entries}
    covered: set[str] = set()
    for n, item in enumerate(doc["checkpoints"]):
        if not (
            isinstance(item, dict)
            and isinstance(item.get("note"), str)
            and isinstance(item.get("proofs"), list)
        ):
            raise CaseRefused(
                CaseCode.NOT_WITNESSED, f"checkpoints[{n}]: expected {{feed, note, proofs}}"
            )
        included = []
        for proof in item["proofs"]:
            entry = by_id.get(str(proof.get("entry"))) if isinstance(proof, dict) else None
            if entry is None:
                raise CaseRefused(
                    CaseCode.NOT_WITNESSED, f"checkpoints[{n}]: a proof of an entry not in the case"
                )
            try:
                included.append((entry, InclusionProof.from_json(proof)))
            except LedgerError as exc:
                raise CaseRefused(CaseCode.NOT_WITNESSED, f"checkpoints[{n}]: {exc}") from None
        try:
            verify_witnessed_checkpoint(membership, genesis, item["note"].encode(), at, included)
        except LedgerError as exc:
            raise CaseRefused(CaseCode.NOT_WITNESSED, f"checkpoints[{n}]: {exc}") from None
        covered.update(e.id for e, _ in included)
    quorum = membership.witnesses().quorum
    excused = sorted(
        {
            e.payload.feed
            for e in entries
            if len(set(witness_verifiers(membership, genesis, e.payload.feed).values())) < quorum
        }
    )
    missing = [e for e in entries if e.id not in covered and e.payload.feed not in excused]
    if missing:
        p = missing[0].payload
        raise CaseRefused(
            CaseCode.NOT_WITNESSED,
            f"expected every entry in a checkpoint meeting the witness policy, found "
            f"{len(missing)} in none ({p.feed} #{p.seq}, {missing[0].id[:16]}…)",
        )
    return excused


def _alerts(doc: dict[str, Any], entries: list[SignedEntry]) -> list[Alert]:
    by_id = {e.id: e for e in entries}
    alerts: list[Alert] = []
    for n, raw in enumerate(doc["alerts"]):
        where = f"alerts[{n}]"
        if not (isinstance(raw, dict) and set(raw) == _ALERT_FIELDS):
            raise CaseRefused(CaseCode.ALERT, f"{where}: expected {sorted(_ALERT_FIELDS)}")
        evidence = raw["evidence"]
        if not (isinstance(evidence, list) and all(isinstance(e, str) for e in evidence)):
            raise CaseRefused(CaseCode.ALERT, f"{where}: expected evidence as a list of entry ids")
        try:
            code = Code(raw["code"])
            alert = Alert(code, str(raw["subject"]), str(raw["message"]), tuple(raw["evidence"]))
        except (ValueError, TypeError):
            raise CaseRefused(
                CaseCode.ALERT, f"{where}: expected a known code and evidence ids"
            ) from None
        if raw["id"] != alert.id or raw["level"] != alert.level.value:
            raise CaseRefused(
                CaseCode.ALERT, f"{where}: its id or level is not the one its fields give"
            )
        if not alert.evidence or any(e not in by_id for e in alert.evidence):
            raise CaseRefused(CaseCode.ALERT, f"{where}: expected its evidence entries in the case")
        trigger = by_id[alert.evidence[-1]]
        if code in VERDICTS.values():
            try:
                derived = alerts_of(trigger)
            except LedgerError as exc:
                raise CaseRefused(CaseCode.ALERT, f"{where}: {exc}") from None
            if alert not in derived:
                raise CaseRefused(CaseCode.ALERT, f"{where}: not the alert its check entry raises")
        alerts.append(alert)
    return alerts


def _declarations(doc: dict[str, Any], entries: list[SignedEntry]) -> list[dict[str, Any]]:
    by_id = {e.id: e for e in entries}
    opened: list[dict[str, Any]] = []
    for n, raw in enumerate(doc["declarations"]):
        where = f"declarations[{n}]"
        if not (isinstance(raw, dict) and set(raw) == {"entry", "fields", "salt"}):
            raise CaseRefused(CaseCode.OPENING, f"{where}: expected {{entry, fields, salt}}")
        entry = by_id.get(str(raw["entry"]))
        if entry is None or entry.payload.kind is not Kind.DECLARE:
            raise CaseRefused(
                CaseCode.OPENING, f"{where}: expected the id of a declare entry in the case"
            )
        try:
            opening = Opening.from_json(raw)
            check_opening(Kind.DECLARE.value, entry.payload.body, opening)
        except LedgerError as exc:
            raise CaseRefused(CaseCode.OPENING, f"{where}: {exc}") from None
        opened.append(
            {"reference": _reference(entry), "entry": entry.id, "fields": dict(opening.fields)}
        )
    return opened


def _photo(n: int, raw: Any) -> dict[str, Any]:
    where = f"photos[{n}]"
    if not (isinstance(raw, dict) and set(raw) == {"name", "mediaType", "sha256", "data"}):
        raise CaseRefused(CaseCode.PHOTO, f"{where}: expected {{name, mediaType, sha256, data}}")
    if not (isinstance(raw["name"], str) and _NAME.match(raw["name"])):
        raise CaseRefused(
            CaseCode.PHOTO, f"{where}: expected a file name of 1 to 100 of A-Z a-z 0-9 . _ -"
        )
    if raw["mediaType"] not in PHOTO_TYPES:
        raise CaseRefused(
            CaseCode.PHOTO, f"{where}: expected a mediaType of {', '.join(PHOTO_TYPES)}"
        )
    try:
        data = base64.b64decode(str(raw["data"]), validate=True)
    except binascii.Error:
        raise CaseRefused(CaseCode.PHOTO, f"{where}: expected the bytes as base64") from None
    if len(data) > MAX_PHOTO_BYTES:
        raise CaseRefused(CaseCode.PHOTO, f"{where}: expected at most {MAX_PHOTO_BYTES} bytes")
    digest = hashlib.sha256(data).hexdigest()
    if (
        not (isinstance(raw["sha256"], str) and _HEX64.match(raw["sha256"]))
        or digest != raw["sha256"]
    ):
        raise CaseRefused(
            CaseCode.PHOTO,
            f"{where}: expected bytes with SHA-256 {str(raw['sha256'])[:64]}, found {digest}",
        )
    return {"name": raw["name"], "mediaType": raw["mediaType"], "sha256": digest, "bytes": data}


def _reference(entry: SignedEntry) -> str | None:
    declaration = entry.payload.body.get("declaration")
    reference = declaration.get("reference") if isinstance(declaration, dict) else None
    return reference if isinstance(reference, str) else None


def _subject(doc: dict[str, Any], alerts: Sequence[Alert], entries: Sequence[SignedEntry]) -> None:
    subject = doc["subject"]
    if "alert" in subject:
        if subject["alert"] not in {a.id for a in alerts}:
            raise CaseRefused(CaseCode.SUBJECT, "expected the case's alert among its alerts")
        return
    if not any(
        e.payload.kind is Kind.DECLARE and _reference(e) == subject["declaration"] for e in entries
    ):
        raise CaseRefused(CaseCode.SUBJECT, "expected the declaration's declare entry in the case")


def verify_case(doc: Any, genesis: str) -> VerifiedCase:
    """Every check of a case file from the exporting consortium's ``genesis`` alone (the
    checkpoints judged as of ``exported_at``); ``CaseRefused`` names the first that fails."""
    _shape(doc)
    if doc["genesis"] != genesis:
        raise CaseRefused(
            CaseCode.OTHER_CONSORTIUM,
            f"the case is of the consortium {str(doc['genesis'])[:16]}…, expected {genesis[:16]}…",
        )
    membership = _membership(doc, genesis)
    org, role, key = _exporter(doc, membership)
    entries = _entries(doc, membership)
    excused = _checkpoints(doc, entries, membership, genesis)
    alerts = _alerts(doc, entries)
    opened = _declarations(doc, entries)
    if len(doc["photos"]) > MAX_PHOTOS:
        raise CaseRefused(CaseCode.PHOTO, f"expected at most {MAX_PHOTOS} photos")
    photos = [_photo(n, raw) for n, raw in enumerate(doc["photos"])]
    _subject(doc, alerts, entries)
    try:
        signature = base64.b64decode(str(doc["signature"]), validate=True)
        key.verify(signature, signing_bytes(doc))
    except (binascii.Error, InvalidSignature):
        raise CaseRefused(
            CaseCode.SIGNATURE,
            f"expected a valid Ed25519 signature by {doc['exporter']['feed']} over the content, "
            "found one that does not verify: the file was changed after it was signed",
        ) from None
    except LedgerError as exc:  # canonical_bytes: a float in the content
        raise CaseRefused(CaseCode.MALFORMED, str(exc)) from None
    return VerifiedCase(
        case_id(doc),
        genesis,
        membership.consortium,
        str(doc["exported_at"]),
        str(doc["exporter"]["feed"]),
        org,
        role,
        dict(doc["subject"]),
        alerts,
        entries,
        opened,
        photos,
        membership,
        excused,
    )


__all__ = [
    "AUTHORITIES",
    "CASE_DOMAIN",
    "FORMAT",
    "CaseCode",
    "CaseRefused",
    "VerifiedCase",
    "alert_json",
    "case_id",
    "content_bytes",
    "encode_case",
    "photo_json",
    "signing_bytes",
    "verify_case",
]
