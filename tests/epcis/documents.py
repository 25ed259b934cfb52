"""Small EPCIS documents for the tests: a valid one, and the same broken on purpose."""

from __future__ import annotations

import copy
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from ledger.epcis.vocab import EPCIS_CONTEXT

SGTIN = "urn:epc:id:sgtin:0614141.107346.2017"
SGLN = "urn:epc:id:sgln:0614141.07346.1234"
E0 = "$.epcisBody.eventList[0]"


def document(*events: dict[str, Any], context: list[Any] | None = None) -> dict[str, Any]:
    return {
        "@context": context
        if context is not None
        else [EPCIS_CONTEXT, {"example": "https://ns.example.com/epcis/"}],
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": "2026-03-02T08:00:00.000Z",
        "epcisBody": {"eventList": list(events)},
    }


def object_event(**fields: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "type": "ObjectEvent",
        "eventTime": "2026-03-02T09:00:00.000+01:00",
        "eventTimeZoneOffset": "+01:00",
        "epcList": [SGTIN],
        "action": "OBSERVE",
        "bizStep": "shipping",
        "disposition": "in_transit",
        "readPoint": {"id": SGLN},
    }
    event.update(fields)
    return event


def valid() -> dict[str, Any]:
    return document(object_event())


Mutation = Callable[[dict[str, Any]], None]


def _event(doc: dict[str, Any]) -> dict[str, Any]:
    event: dict[str, Any] = doc["epcisBody"]["eventList"][0]
    return event


def _set(**fields: Any) -> Mutation:
    def mutate(doc: dict[str, Any]) -> None:
        _event(doc).update(fields)

    return mutate


def _drop(name: str) -> Mutation:
    def mutate(doc: dict[str, Any]) -> None:
        del _event(doc)[name]

    return mutate


def _drop_root(name: str) -> Mutation:
    def mutate(doc: dict[str, Any]) -> None:
        del doc[name]

    return mutate


def _root(**fields: Any) -> Mutation:
    def mutate(doc: dict[str, Any]) -> None:
        doc.update(fields)

    return mutate


def _replace_event(event: dict[str, Any]) -> Mutation:
    def mutate(doc: dict[str, Any]) -> None:
        doc["epcisBody"]["eventList"][0] = event

    return mutate


#: name -> (mutation of ``valid()``, the JSON path the first problem is reported at)
BROKEN: dict[str, tuple[Mutation, str]] = {
    "missing_event_time": (_drop("eventTime"), f"{E0}.eventTime"),
    "missing_time_zone_offset": (_drop("eventTimeZoneOffset"), f"{E0}.eventTimeZoneOffset"),
    "missing_action": (_drop("action"), f"{E0}.action"),
    "missing_schema_version": (_drop_root("schemaVersion"), "$.schemaVersion"),
    "missing_context": (_drop_root("@context"), "$.@context"),
    "missing_event_list": (_root(epcisBody={}), "$.epcisBody.eventList"),
    "wrong_document_type": (_root(type="EPCISDoc"), "$.type"),
    "event_list_not_an_array": (_root(epcisBody={"eventList": {}}), "$.epcisBody.eventList"),
    "epc_list_not_an_array": (_set(epcList=SGTIN), f"{E0}.epcList"),
    "epc_not_a_uri": (_set(epcList=["not a uri"]), f"{E0}.epcList[0]"),
    "epc_twice": (_set(epcList=[SGTIN, SGTIN]), f"{E0}.epcList[1]"),
    "quantity_as_string": (
        _set(
            quantityList=[
                {"epcClass": "urn:epc:class:lgtin:4012345.012345.998877", "quantity": "12"}
            ]
        ),
        f"{E0}.quantityList[0].quantity",
    ),
    "quantity_element_member_unknown": (
        _set(
            quantityList=[
                {"epcClass": "urn:epc:class:lgtin:4012345.012345.998877", "qty": Decimal("1.5")}
            ]
        ),
        f"{E0}.quantityList[0].qty",
    ),
    "uom_lower_case": (
        _set(
            quantityList=[
                {
                    "epcClass": "urn:epc:class:lgtin:4012345.012345.998877",
                    "quantity": 2,
                    "uom": "kg",
                }
            ]
        ),
        f"{E0}.quantityList[0].uom",
    ),
    "unknown_biz_step": (_set(bizStep="teleporting"), f"{E0}.bizStep"),
    "biz_step_as_epcis_1_urn": (
        _set(bizStep="urn:epcglobal:cbv:bizstep:shipping"),
        f"{E0}.bizStep",
    ),
    "unknown_disposition": (_set(disposition="sold_out"), f"{E0}.disposition"),
    "biz_step_not_a_string": (_set(bizStep=7), f"{E0}.bizStep"),
    "bad_date": (_set(eventTime="2026-02-30T10:00:00.000+01:00"), f"{E0}.eventTime"),
    "time_without_zone": (_set(eventTime="2026-03-02T10:00:00"), f"{E0}.eventTime"),
    "date_only": (_set(eventTime="2026-03-02"), f"{E0}.eventTime"),
    "bad_creation_date": (_root(creationDate="yesterday"), "$.creationDate"),
    "offset_out_of_range": (_set(eventTimeZoneOffset="+25:00"), f"{E0}.eventTimeZoneOffset"),
    "unknown_action": (_set(action="MOVE"), f"{E0}.action"),
    "read_point_without_id": (_set(readPoint={}), f"{E0}.readPoint.id"),
    "ilmd_on_observe": (_set(ilmd={"example:grade": "A"}), f"{E0}.ilmd"),
    "extension_name_not_a_uri": (_set(myField="x"), f"{E0}.myField"),
    "document_member_not_a_uri": (_root(notes="x"), "$.notes"),
    "biz_transaction_without_value": (
        _set(bizTransactionList=[{"type": "po"}]),
        f"{E0}.bizTransactionList[0].bizTransaction",
    ),
    "unknown_biz_transaction_type": (
        _set(
            bizTransactionList=[
                {"type": "invoice", "bizTransaction": "urn:epcglobal:cbv:bt:0614141073467:1"}
            ]
        ),
        f"{E0}.bizTransactionList[0].type",
    ),
    "source_without_type": (
        _set(sourceList=[{"source": "urn:epc:id:pgln:0614141.00777"}]),
        f"{E0}.sourceList[0].type",
    ),
    "object_event_naming_nothing": (_drop("epcList"), f"{E0}.epcList"),
    "sensor_report_without_type": (
        _set(sensorElementList=[{"sensorReport": [{"value": Decimal("26.5"), "uom": "CEL"}]}]),
        f"{E0}.sensorElementList[0].sensorReport[0].type",
    ),
    "sensor_value_as_string": (
        _set(sensorElementList=[{"sensorReport": [{"type": "Temperature", "value": "26.5"}]}]),
        f"{E0}.sensorElementList[0].sensorReport[0].value",
    ),
    "boolean_value_as_string": (
        _set(
            sensorElementList=[{"sensorReport": [{"type": "Temperature", "booleanValue": "true"}]}]
        ),
        f"{E0}.sensorElementList[0].sensorReport[0].booleanValue",
    ),
    "hex_binary_not_hex": (
        _set(
            sensorElementList=[{"sensorReport": [{"type": "Temperature", "hexBinaryValue": "xyz"}]}]
        ),
        f"{E0}.sensorElementList[0].sensorReport[0].hexBinaryValue",
    ),
    "transaction_without_biz_transactions": (
        _replace_event(
            {k: v for k, v in object_event(type="TransactionEvent").items() if k != "disposition"}
        ),
        f"{E0}.bizTransactionList",
    ),
    "aggregation_adding_nothing": (
        _replace_event(
            {
                "type": "AggregationEvent",
                "eventTime": "2026-03-02T09:00:00.000+01:00",
                "eventTimeZoneOffset": "+01:00",
                "parentID": "urn:epc:id:sscc:0614141.1234567890",
                "action": "ADD",
                "bizStep": "packing",
            }
        ),
        f"{E0}.childEPCs",
    ),
    "transformation_without_outputs_or_id": (
        _replace_event(
            {
                "type": "TransformationEvent",
                "eventTime": "2026-03-02T09:00:00.000+01:00",
                "eventTimeZoneOffset": "+01:00",
                "inputEPCList": [SGTIN],
            }
        ),
        f"{E0}.inputEPCList",
    ),
    "error_declaration_without_time": (
        _set(errorDeclaration={"reason": "incorrect_data"}),
        f"{E0}.errorDeclaration.declarationTime",
    ),
}

#: Rules medtrace checks beyond GS1's schema (documented in docs/spec/epcis.md): the schema
#: accepts these documents, medtrace's validator (strict, as capture runs it) refuses them.
STRICTER: dict[str, tuple[Mutation, str]] = {
    "epc_urn_with_wrong_digits": (
        _set(epcList=["urn:epc:id:sgtin:0614141.10734.2017"]),
        f"{E0}.epcList[0]",
    ),
    "unknown_cbv_biz_step_uri": (
        _set(bizStep="https://ref.gs1.org/cbv/BizStep-teleporting"),
        f"{E0}.bizStep",
    ),
    "unknown_medtrace_disposition": (_set(disposition="mt:vanished"), f"{E0}.disposition"),
    "lone_surrogate": (_set(**{"example:note": "\ud800"}), f"{E0}['example:note']"),
}


def broken(name: str, table: dict[str, tuple[Mutation, str]] = BROKEN) -> dict[str, Any]:
    doc = copy.deepcopy(valid())
    table[name][0](doc)
    return doc


def stored_hashes(hashes: list[str], job: dict[str, Any]) -> list[str]:
    """Of a document's event ``hashes``, those its capture ``job`` stored: not the events it
    found already held (GS1's examples share some events)."""
    held = {h["path"] for h in job["alreadyHeld"]}
    return [h for i, h in enumerate(hashes) if f"$.epcisBody.eventList[{i}]" not in held]
