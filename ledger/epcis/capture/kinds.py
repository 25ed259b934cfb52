"""The lifecycle kind an in-scope event stands for, from its type, business step, disposition
and action; ``None`` when it is an observation only."""

from __future__ import annotations

from ledger.epcis.capture.reader import EventReader
from ledger.epcis.vocab import Vocab, expand
from ledger.kinds import BIZ_STEP, Kind
from ledger.status import DISPOSITION, Status

_OBJECT_STEPS: dict[str, Kind] = {
    expand(step, Vocab.BIZ_STEP): kind
    for kind, step in BIZ_STEP.items()
    if step is not None
    and kind not in (Kind.PACK, Kind.UNPACK, Kind.RETURN, Kind.INSPECT, Kind.UNDO, Kind.EVENT)
}
_RETURNED = expand("returned", Vocab.DISPOSITION)
FREE_SAMPLE = expand(DISPOSITION[Status.FREE_SAMPLE], Vocab.DISPOSITION)
_STOLEN = expand(DISPOSITION[Status.STOLEN], Vocab.DISPOSITION)
_RECALLED = expand(DISPOSITION[Status.RECALLED], Vocab.DISPOSITION)
_WITHDRAWN = expand(DISPOSITION[Status.WITHDRAWN], Vocab.DISPOSITION)
_UNDOING = expand(str(BIZ_STEP[Kind.UNDO]), Vocab.BIZ_STEP)
_INSPECTING = expand("inspecting", Vocab.BIZ_STEP)


def kind_of(reader: EventReader) -> Kind | None:
    """The lifecycle kind an in-scope event stands for; ``None``: an observation only."""
    event_type = reader.text("type")
    step = reader.term("bizStep", Vocab.BIZ_STEP)
    disposition = reader.term("disposition", Vocab.DISPOSITION)
    action = reader.text("action")
    if event_type == "AggregationEvent":
        if step == expand("packing", Vocab.BIZ_STEP) and action == "ADD":
            return Kind.PACK
        if step == expand("unpacking", Vocab.BIZ_STEP) and action == "DELETE":
            return Kind.UNPACK
        return None
    if event_type != "ObjectEvent":
        return None
    if step == _UNDOING:
        raise reader.refuse(
            "an undo names the entry it reverts: write it with POST /api/v1/actions/undo",
            "bizStep",
        )
    if step == _INSPECTING:
        return Kind.INSPECT if reader.ext("decision") is not None else None
    if step is not None and step in _OBJECT_STEPS:
        kind = _OBJECT_STEPS[step]
        if kind is Kind.SHIP and disposition == _RETURNED:
            return Kind.RETURN
        if kind is Kind.COMMISSION and action != "ADD":
            raise reader.refuse("expected action ADD on a commissioning event", "action")
        return kind
    if disposition == _STOLEN:
        return Kind.STOLEN
    if disposition == _RECALLED:
        return Kind.RECALL
    if disposition == _WITHDRAWN:
        return Kind.WITHDRAW
    return None
