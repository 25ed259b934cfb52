"""The goods an in-scope event names, as ledger subjects: the packs and containers of most
steps, the children of a packing, the lot or product of a recall or withdrawal."""

from __future__ import annotations

from ledger.epcis.capture.reader import EventReader
from ledger.epcis.normalise import ledger_subject, subject_type
from ledger.identifiers import SubjectType
from ledger.kinds import Kind


def _packs_or_containers(reader: EventReader, kind: Kind, field: str, expected: str) -> list[str]:
    """The ledger subjects of the EPC list ``field``; anything but a pack or container refused."""
    subjects = []
    for index, uri in enumerate(reader.ids(field)):
        subject = ledger_subject(uri)
        if subject is None or subject_type(subject) not in (
            SubjectType.PACK,
            SubjectType.CONTAINER,
        ):
            raise reader.refuse(f"{kind.value}: {expected}, found {uri!r}", f"{field}[{index}]")
        subjects.append(subject)
    return subjects


def goods(reader: EventReader, kind: Kind) -> list[str]:
    """The packs and containers an in-scope step names (its epcList), as ledger subjects."""
    if reader.classes("quantityList"):
        raise reader.refuse(
            f"{kind.value}: expected serialised packs or containers in epcList, found a "
            "quantityList (class-level quantities are not tracked here)",
            "quantityList",
        )
    subjects = _packs_or_containers(
        reader, kind, "epcList", "expected packs (SGTIN) or containers (SSCC)"
    )
    if not subjects:
        raise reader.refuse(f"{kind.value}: expected at least one pack or container", "epcList")
    return list(dict.fromkeys(subjects))


def children(reader: EventReader, kind: Kind) -> list[str]:
    """A packing or unpacking: the container (parentID) first, then what goes in or out."""
    parent = ledger_subject(reader.event.get("parentID"))
    if parent is None or subject_type(parent) is not SubjectType.CONTAINER:
        raise reader.refuse(f"{kind.value}: expected parentID to be an SSCC", "parentID")
    if reader.classes("childQuantityList"):
        raise reader.refuse(
            f"{kind.value}: expected childEPCs, found a childQuantityList", "childQuantityList"
        )
    named = _packs_or_containers(
        reader, kind, "childEPCs", "expected packs or containers as children"
    )
    return [parent, *dict.fromkeys(named)]


def class_subject(reader: EventReader, kind: Kind) -> list[str]:
    """A recall names one lot, a withdrawal one product, in its quantityList."""
    classes = reader.classes("quantityList")
    expected = SubjectType.LOT if kind is Kind.RECALL else SubjectType.PRODUCT
    subjects = [ledger_subject(c) for c in classes]
    if len(subjects) != 1 or subjects[0] is None or subject_type(subjects[0]) is not expected:
        what = "one lot (LGTIN)" if kind is Kind.RECALL else "one product (GTIN class)"
        raise reader.refuse(f"{kind.value}: expected quantityList naming {what}", "quantityList")
    return [subjects[0]]
