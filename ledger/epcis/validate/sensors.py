"""Sensor data of an event: ``sensorElementList`` with its metadata and reports."""

from __future__ import annotations

from typing import Any

from ledger.epcis.validate.checker import Checker, child
from ledger.epcis.validate.formats import HEX
from ledger.epcis.vocab import Vocab


def _split(text: str) -> frozenset[str]:
    return frozenset(text.split())


_METADATA = _split(
    "time deviceID deviceMetadata rawData startTime endTime dataProcessingMethod bizRules"
)
_REPORT_NUMBERS = _split("value minValue maxValue meanValue sDev percRank percValue")
_REPORT = _split("""type exception deviceID deviceMetadata rawData dataProcessingMethod bizRules time
    microorganism chemicalSubstance coordinateReferenceSystem value component stringValue
    booleanValue hexBinaryValue uriValue minValue maxValue meanValue sDev percRank percValue
    uom""")


def sensor_element(c: Checker, value: Any, path: str) -> None:
    element = c.obj(value, path)
    c.required(element, path, "sensorReport")
    c.names(element, path, frozenset({"sensorMetadata", "sensorReport"}))
    if "sensorMetadata" in element:
        mp = child(path, "sensorMetadata")
        metadata = c.obj(element["sensorMetadata"], mp)
        c.names(metadata, mp, _METADATA)
        for key, item in metadata.items():
            if key in ("time", "startTime", "endTime"):
                c.time(item, child(mp, key))
            elif key in _METADATA:
                c.uri(item, child(mp, key))
    rp = child(path, "sensorReport")
    for index, item in enumerate(c.arr(element["sensorReport"], rp, min_items=1)):
        _sensor_report(c, item, child(rp, index))


def _sensor_report(c: Checker, value: Any, path: str) -> None:
    report = c.obj(value, path)
    c.required(report, path, "type")
    c.names(report, path, _REPORT)
    for key, item in report.items():
        p = child(path, key)
        if key == "type":
            c.gs1_voc(item, p, Vocab.MEASUREMENT_TYPE)
        elif key == "exception":
            c.gs1_voc(item, p, Vocab.SENSOR_ALERT_TYPE)
        elif key == "component":
            c.cbv(item, p, Vocab.COMPONENT)
        elif key == "time":
            c.time(item, p)
        elif key in _REPORT_NUMBERS:
            c.number(item, p)
        elif key in ("stringValue", "uom"):
            c.string(item, p)
        elif key == "booleanValue":
            c.boolean(item, p)
        elif key == "hexBinaryValue":
            c.pattern(item, p, HEX, "hexadecimal digits")
        elif key in _REPORT:
            c.uri(item, p)
