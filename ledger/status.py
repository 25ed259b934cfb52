"""Pack statuses (EU FMD and US DSCSA) and their CBV 2.0 dispositions.

A pack carries one *stored* status. Three more are *effective* only: recalled (its lot was
recalled), withdrawn (its product was withdrawn) and expired (past its expiry date); they come
from the lot, the product and the clock, and they override the stored status when shown.
"""

from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    ACTIVE = "active"
    IN_TRANSIT = "in_transit"
    DISPENSED = "dispensed"
    DESTROYED = "destroyed"
    STOLEN = "stolen"
    EXPORTED = "exported"
    SAMPLE = "sample"
    FREE_SAMPLE = "free_sample"
    LOCKED = "locked"
    QUARANTINED = "quarantined"
    # effective only
    RECALLED = "recalled"
    WITHDRAWN = "withdrawn"
    EXPIRED = "expired"


#: CBV 2.0 disposition for each status; ``mt:`` terms are medtrace's published extension.
DISPOSITION: dict[Status, str] = {
    Status.ACTIVE: "active",
    Status.IN_TRANSIT: "in_transit",
    Status.DISPENSED: "dispensed",
    Status.DESTROYED: "destroyed",
    Status.STOLEN: "stolen",
    Status.EXPORTED: "mt:exported",
    Status.SAMPLE: "mt:sample",
    Status.FREE_SAMPLE: "mt:free_sample",
    Status.LOCKED: "mt:locked",
    Status.QUARANTINED: "mt:quarantined",  # CBV 2.0 has no quarantine disposition
    Status.RECALLED: "recalled",
    Status.WITHDRAWN: "mt:withdrawn",
    Status.EXPIRED: "expired",
}

#: Packs in these statuses may move along the supply chain.
SUPPLY_STATUSES = frozenset({Status.ACTIVE})
#: Decommissioned statuses an undo may revert (FMD: within 10 days, same premises).
UNDOABLE = frozenset({Status.DISPENSED, Status.EXPORTED, Status.SAMPLE, Status.FREE_SAMPLE})
#: Statuses nothing brings back.
TERMINAL = frozenset({Status.DESTROYED, Status.STOLEN})
#: Shown as expired past the expiry date: such a pack is still in the supply chain, not yet used.
EXPIRES_IN_SUPPLY = frozenset({Status.ACTIVE, Status.IN_TRANSIT, Status.LOCKED, Status.QUARANTINED})
