"""Entry kinds (business steps), who may write them, and their CBV 2.0 names.

Where CBV 2.0 has a term it is used; where it has none the term lives in the medtrace
extension vocabulary (prefix ``mt:``), published with the node (see docs/spec/vocabulary.md).
"""

from __future__ import annotations

from enum import StrEnum


class Kind(StrEnum):
    COMMISSION = "commission"
    PACK = "pack"
    UNPACK = "unpack"
    SHIP = "ship"
    RECEIVE = "receive"
    INSPECT = "inspect"
    DISPENSE = "dispense"
    UNDO = "undo"
    DESTROY = "destroy"
    STOLEN = "stolen"
    EXPORT = "export"
    SAMPLE = "sample"
    LOCK = "lock"
    UNLOCK = "unlock"
    RECALL = "recall"
    WITHDRAW = "withdraw"
    RETURN = "return"
    #: An EPCIS event recorded as a signed fact, with no lifecycle effect (ADR 0009): what
    #: EPCIS capture writes for an event the lifecycle does not model.
    EVENT = "event"
    #: Product master data of one GTIN, signed by its owner (ADR 0020): not a step of any pack.
    PRODUCT = "product"
    #: An import declaration lodged at a customs post (ADR 0020): names its packages.
    DECLARE = "declare"
    #: A failed verification (REJECT, or HOLD on evidence) a node reports (ADR 0022): raises an
    #: alert about each pack or container it names on every node.
    CHECK = "check"
    #: A customs decision about a declared consignment: release, hold, detain, seize (ADR 0022).
    DECIDE = "decide"
    #: What a customs inspection of a declared consignment found (ADR 0022).
    OUTCOME = "outcome"


class Role(StrEnum):
    MANUFACTURER = "manufacturer"
    DISTRIBUTOR = "distributor"
    CUSTOMS = "customs"
    PHARMACY = "pharmacy"
    REGULATOR = "regulator"


K = Kind
#: What each role may write unless the membership narrows it for a feed. Every role may record
#: EPCIS events (``event``): they change no state, so they need no business role.
ROLE_KINDS: dict[Role, frozenset[Kind]] = {
    Role.MANUFACTURER: frozenset(
        {
            K.COMMISSION,
            K.PACK,
            K.UNPACK,
            K.SHIP,
            K.RECEIVE,
            K.DESTROY,
            K.STOLEN,
            K.EXPORT,
            K.SAMPLE,
            K.LOCK,
            K.UNLOCK,
            K.RECALL,
            K.WITHDRAW,
            K.UNDO,
            K.RETURN,
            K.EVENT,
        }
    ),
    Role.DISTRIBUTOR: frozenset(
        {
            K.PACK,
            K.UNPACK,
            K.SHIP,
            K.RECEIVE,
            K.DESTROY,
            K.STOLEN,
            K.EXPORT,
            K.LOCK,
            K.UNLOCK,
            K.UNDO,
            K.RETURN,
            K.EVENT,
        }
    ),
    Role.CUSTOMS: frozenset({K.INSPECT, K.DESTROY, K.EVENT}),
    Role.PHARMACY: frozenset(
        {
            K.RECEIVE,
            K.DISPENSE,
            K.UNDO,
            K.DESTROY,
            K.STOLEN,
            K.SAMPLE,
            K.LOCK,
            K.UNLOCK,
            K.RETURN,
            K.EVENT,
        }
    ),
    Role.REGULATOR: frozenset({K.RECALL, K.WITHDRAW, K.LOCK, K.UNLOCK, K.EVENT}),
}

#: CBV 2.0 bizStep for each kind (``None``: CBV has no step; the disposition says it all).
BIZ_STEP: dict[Kind, str | None] = {
    K.COMMISSION: "commissioning",
    K.PACK: "packing",
    K.UNPACK: "unpacking",
    K.SHIP: "shipping",
    K.RECEIVE: "receiving",
    K.INSPECT: "inspecting",
    K.DISPENSE: "dispensing",
    K.UNDO: "mt:undoing",
    K.DESTROY: "destroying",
    K.STOLEN: None,
    K.EXPORT: "mt:exporting",
    K.SAMPLE: "sampling",
    K.LOCK: "holding",
    K.UNLOCK: "mt:releasing",
    K.RECALL: None,
    K.WITHDRAW: None,
    K.RETURN: "shipping",  # with disposition `returned`: CBV 2.0 has no returning step
    K.EVENT: None,  # an EPCIS event keeps its own bizStep
    K.PRODUCT: None,  # GS1 master data, not an EPCIS event: rendered as none (ADR 0020)
    K.DECLARE: None,  # a customs declaration, not an EPCIS event: rendered as none (ADR 0020)
    K.CHECK: None,  # a verification's failed verdict, not an EPCIS event (ADR 0022)
    K.DECIDE: None,  # a customs decision record; the packs' hold is an ``inspect`` (ADR 0022)
    K.OUTCOME: None,  # an inspection's finding, not an EPCIS event (ADR 0022)
}

#: Records (ADR 0020): kinds an organisation of a role may write on any of its feeds without the
#: membership listing them per feed. They are master data and declarations, not steps of a pack,
#: so the feeds' ``kinds`` (which narrow the lifecycle steps) do not name them, and memberships
#: signed before they existed need no new version. ``Membership.authorise`` checks them by the
#: organisation's role; a ``product`` also by the GTIN's company prefix.
#: Every role reports its failed checks (``check``, ADR 0022); customs decides about and
#: inspects the consignments it took declarations of (``decide``, ``outcome``).
RECORD_KINDS: dict[Role, frozenset[Kind]] = {
    Role.MANUFACTURER: frozenset({K.PRODUCT, K.CHECK}),
    Role.DISTRIBUTOR: frozenset({K.CHECK}),
    Role.CUSTOMS: frozenset({K.DECLARE, K.CHECK, K.DECIDE, K.OUTCOME}),
    Role.PHARMACY: frozenset({K.CHECK}),
    Role.REGULATOR: frozenset({K.CHECK}),
}
