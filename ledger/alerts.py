"""Alerts: a rule broken by a signed fact, with the entries that prove it."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from enum import StrEnum


class Level(StrEnum):
    WARNING = "warning"
    CRITICAL = "critical"


class Code(StrEnum):
    UNKNOWN_PACK = "unknown_pack"
    LOT_MISMATCH = "lot_mismatch"
    EXPIRY_MISMATCH = "expiry_mismatch"
    ALREADY_INACTIVE = "already_inactive"
    SUSPECTED_CLONE = "suspected_clone"
    DUPLICATE_COMMISSION = "duplicate_commission"
    CUSTODY_VIOLATION = "custody_violation"
    RECALLED = "recalled"
    WITHDRAWN = "withdrawn"
    STOLEN = "stolen"
    EXPIRED = "expired"
    UNDO_NOT_ALLOWED = "undo_not_allowed"
    FORK = "fork"
    UNAUTHORISED_KIND = "unauthorised_kind"
    FOREIGN_GTIN = "foreign_gtin"
    MALFORMED = "malformed"
    UNKNOWN_CONTAINER = "unknown_container"
    #: A commission dated after the expiry it gives its packs.
    DATED_AFTER_EXPIRY = "dated_after_expiry"
    #: Node-local (ADR 0012): a token verified too many serials that do not exist.
    SERIAL_HARVESTING = "serial_harvesting"
    #: Node-local: an entry arrived dated further ahead of this node's clock than
    #: ``ledger.clock.FUTURE_TOLERANCE``.
    FUTURE_DATED = "future_dated"
    #: Two checkpoints of one feed, both signed by its key, at one size with different roots,
    #: or not consistent, or one the entries contradict (a split view; docs/spec/proofs.md).
    CHECKPOINT_FORK = "checkpoint_fork"
    #: A v2 entry came without the packs its commitment signs, or with packs that do not make
    #: the signed root (ledger/openings.py): refused and kept as evidence, like a forgery.
    SIDECAR_INVALID = "sidecar_invalid"
    #: A node verified a pack or a consignment and answered REJECT (a ``check`` entry, ADR 0022).
    CHECK_REJECTED = "check_rejected"
    #: A node answered HOLD on evidence about the pack (not a scan or network error; ADR 0022).
    CHECK_HELD = "check_held"
    #: A customs decision about a consignment already seized (ADR 0022): seizure is final.
    DECISION_AFTER_SEIZURE = "decision_after_seizure"
    #: A case another consortium's authority sent, verified against its pinned foreign root and
    #: imported (ADR 0029, docs/spec/cases.md): kept by the importing node only.
    FOREIGN_CASE = "foreign_case"


LEVEL: dict[Code, Level] = {
    Code.UNKNOWN_PACK: Level.CRITICAL,
    Code.LOT_MISMATCH: Level.CRITICAL,
    Code.EXPIRY_MISMATCH: Level.CRITICAL,
    Code.ALREADY_INACTIVE: Level.WARNING,
    Code.SUSPECTED_CLONE: Level.CRITICAL,
    Code.DUPLICATE_COMMISSION: Level.CRITICAL,
    Code.CUSTODY_VIOLATION: Level.CRITICAL,
    Code.RECALLED: Level.CRITICAL,
    Code.WITHDRAWN: Level.CRITICAL,
    Code.STOLEN: Level.CRITICAL,
    Code.EXPIRED: Level.WARNING,
    Code.UNDO_NOT_ALLOWED: Level.WARNING,
    Code.FORK: Level.CRITICAL,
    Code.UNAUTHORISED_KIND: Level.CRITICAL,
    Code.FOREIGN_GTIN: Level.CRITICAL,
    Code.MALFORMED: Level.WARNING,
    Code.UNKNOWN_CONTAINER: Level.WARNING,
    Code.DATED_AFTER_EXPIRY: Level.CRITICAL,
    Code.SERIAL_HARVESTING: Level.CRITICAL,
    Code.FUTURE_DATED: Level.WARNING,
    Code.CHECKPOINT_FORK: Level.CRITICAL,
    Code.SIDECAR_INVALID: Level.CRITICAL,
    Code.CHECK_REJECTED: Level.CRITICAL,
    Code.CHECK_HELD: Level.WARNING,
    Code.DECISION_AFTER_SEIZURE: Level.WARNING,
    Code.FOREIGN_CASE: Level.CRITICAL,
}

#: Raised by a node about what it saw (the requests it served, the time an entry arrived), not
#: by the ledger's rules: kept in that node's database only, never replicated, never rebuilt
#: from the ledger (ADR 0012). Another node, or the same one at another time, may not see them.
NODE_LOCAL: frozenset[Code] = frozenset({Code.SERIAL_HARVESTING, Code.FUTURE_DATED})


@dataclass(frozen=True, slots=True)
class Alert:
    code: Code
    subject: str
    message: str
    evidence: tuple[str, ...]  # entry ids, the triggering entry last

    @property
    def level(self) -> Level:
        return LEVEL[self.code]

    @property
    def id(self) -> str:
        """Stable across nodes and rebuilds: the same facts raise the same alert once."""
        text = "\n".join([self.code.value, self.subject, *self.evidence])
        return hashlib.sha256(text.encode()).hexdigest()
