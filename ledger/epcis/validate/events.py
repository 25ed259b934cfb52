"""One EPCIS event: the members every event has, the members and required ones of each event
type, and the rules the schema states as ``anyOf`` (an ObjectEvent names EPCs, quantities or
sensor data …)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ledger.epcis.validate.checker import Checker, child
from ledger.epcis.validate.formats import OFFSET
from ledger.epcis.validate.members import member
from ledger.epcis.vocab import Vocab

EVENT_TYPES = (
    "ObjectEvent",
    "AggregationEvent",
    "TransactionEvent",
    "TransformationEvent",
    "AssociationEvent",
)

_COMMON = frozenset(
    {
        "@context",
        "type",
        "eventTime",
        "recordTime",
        "eventTimeZoneOffset",
        "eventID",
        "certificationInfo",
        "errorDeclaration",
    }
)


def validate_event(value: Any, *, strict: bool = True, path: str = "$") -> None:
    """Raise ``EpcisInvalid`` for the first problem of one event."""
    event(Checker(strict), value, path)


def event(c: Checker, value: Any, path: str) -> None:
    checked = c.obj(value, path)
    c.required(checked, path, "type")
    kind = c.string(checked["type"], child(path, "type"))
    spec = _EVENTS.get(kind)
    if spec is None:
        c.uri(kind, child(path, "type"))
    _common(c, checked, path)
    if spec is None:
        return
    c.required(checked, path, *spec.required)
    c.names(checked, path, _COMMON | spec.members)
    for key, item in checked.items():
        if key in spec.members:
            member(c, key, item, child(path, key), kind)
    spec.rule(c, checked, path)


def _common(c: Checker, event: Mapping[str, Any], path: str) -> None:
    c.required(event, path, "eventTime", "eventTimeZoneOffset")
    for key in ("@context", "eventTime", "recordTime", "eventTimeZoneOffset", "eventID"):
        if key not in event:
            continue
        p = child(path, key)
        if key == "@context":
            c.context(event[key], p)
        elif key == "eventTimeZoneOffset":
            c.pattern(event[key], p, OFFSET, "a time zone offset from -13:59 to +14:00 like +01:00")
        elif key == "eventID":
            c.uri(event[key], p)
        else:
            c.time(event[key], p)
    if "certificationInfo" in event:
        p = child(path, "certificationInfo")
        value = event["certificationInfo"]
        if isinstance(value, list):
            for index, item in enumerate(value):
                c.uri(item, child(p, index))
        else:
            c.uri(value, p)
    if "errorDeclaration" in event:
        _error_declaration(c, event["errorDeclaration"], child(path, "errorDeclaration"))


def _error_declaration(c: Checker, value: Any, path: str) -> None:
    declaration = c.obj(value, path)
    c.required(declaration, path, "declarationTime")
    c.names(declaration, path, frozenset({"declarationTime", "reason", "correctiveEventIDs"}))
    c.time(declaration["declarationTime"], child(path, "declarationTime"))
    if "reason" in declaration:
        c.cbv(declaration["reason"], child(path, "reason"), Vocab.ERROR_REASON)
    if "correctiveEventIDs" in declaration:
        p = child(path, "correctiveEventIDs")
        for index, item in enumerate(c.arr(declaration["correctiveEventIDs"], p)):
            c.uri(item, child(p, index))


# -- the anyOf rules of each event type ------------------------------------------------------------


def _nonempty(event: Mapping[str, Any], key: str) -> bool:
    value = event.get(key)
    return isinstance(value, list) and len(value) > 0


def _object_rule(c: Checker, event: Mapping[str, Any], path: str) -> None:
    has_sensors = _nonempty(event, "sensorElementList") and "readPoint" in event
    if "epcList" not in event and not _nonempty(event, "quantityList") and not has_sensors:
        c.fail(
            child(path, "epcList"),
            "expected epcList, a non-empty quantityList, or sensorElementList with a readPoint",
        )
    if "ilmd" in event and event.get("action") != "ADD":
        c.fail(child(path, "ilmd"), "expected ilmd only on an ObjectEvent with action ADD")


def _children_rule(c: Checker, event: Mapping[str, Any], path: str) -> None:
    listed = _nonempty(event, "childEPCs") or _nonempty(event, "childQuantityList")
    _listed_unless_delete(
        c,
        event,
        child(path, "childEPCs"),
        listed,
        "expected non-empty childEPCs or childQuantityList (unless action is DELETE)",
    )


def _transaction_rule(c: Checker, event: Mapping[str, Any], path: str) -> None:
    listed = "epcList" in event or _nonempty(event, "quantityList")
    _listed_unless_delete(
        c,
        event,
        child(path, "epcList"),
        listed,
        "expected epcList or a non-empty quantityList (unless action is DELETE)",
    )


def _listed_unless_delete(
    c: Checker, event: Mapping[str, Any], path: str, listed: bool, expected: str
) -> None:
    """An event names what it is about, except one that only deletes an association."""
    if not listed and event.get("action") != "DELETE":
        c.fail(path, expected)


def _transformation_rule(c: Checker, event: Mapping[str, Any], path: str) -> None:
    inputs = _nonempty(event, "inputEPCList") or _nonempty(event, "inputQuantityList")
    outputs = _nonempty(event, "outputEPCList") or _nonempty(event, "outputQuantityList")
    if inputs and outputs:
        return
    if (inputs or outputs) and "transformationID" in event:
        return
    c.fail(
        child(path, "inputEPCList"),
        "expected inputs and outputs, or a transformationID with inputs or outputs",
    )


@dataclass(frozen=True)
class _EventSpec:
    required: tuple[str, ...]
    members: frozenset[str]
    rule: Callable[[Checker, Mapping[str, Any], str], None]


_WHY_WHERE = {
    "action",
    "bizStep",
    "disposition",
    "readPoint",
    "bizLocation",
    "bizTransactionList",
    "sourceList",
    "destinationList",
    "sensorElementList",
}
_EVENTS: dict[str, _EventSpec] = {
    "ObjectEvent": _EventSpec(
        ("type", "action"),
        frozenset(_WHY_WHERE | {"epcList", "quantityList", "persistentDisposition", "ilmd"}),
        _object_rule,
    ),
    "AggregationEvent": _EventSpec(
        ("type", "action"),
        frozenset(_WHY_WHERE | {"parentID", "childEPCs", "childQuantityList"}),
        _children_rule,
    ),
    "AssociationEvent": _EventSpec(
        ("type", "action", "parentID"),
        frozenset(_WHY_WHERE | {"parentID", "childEPCs", "childQuantityList"}),
        _children_rule,
    ),
    "TransactionEvent": _EventSpec(
        ("type", "bizTransactionList", "action"),
        frozenset(_WHY_WHERE | {"parentID", "epcList", "quantityList"}),
        _transaction_rule,
    ),
    "TransformationEvent": _EventSpec(
        ("type",),
        frozenset(
            (_WHY_WHERE - {"action"})
            | {
                "inputEPCList",
                "inputQuantityList",
                "outputEPCList",
                "outputQuantityList",
                "transformationID",
                "persistentDisposition",
                "ilmd",
            }
        ),
        _transformation_rule,
    ),
}

assert set(_EVENTS) == set(EVENT_TYPES), "every event type needs its members and rule"

__all__ = ["EVENT_TYPES", "validate_event"]
