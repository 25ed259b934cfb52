"""The EPCIS 2.0 SimpleEventQuery over ledger entries, and the query document it answers with.

``Record`` is one event as the query interface sees it (made from an entry by
``ledger.epcis.render``); ``Query.parse`` reads the REST bindings' query parameters
(``eventType``, ``GE_eventTime``/``LT_eventTime``, ``EQ_bizStep``, ``EQ_disposition``,
``EQ_bizLocation``, ``MATCH_epc``, ``MATCH_anyEPC``, ``EQ_eventID``, ``EQ_action``, ``perPage``,
``nextPageToken``); ``Query.page`` filters and pages records in ledger order;
``query_document`` writes an ``EPCISQueryDocument``.

Values compare the way the event hash does: identifiers as canonical Digital Link (an EPC URN and
its Digital Link match each other; an id pattern ``urn:epc:idpat:sgtin:….*`` matches every
serial of the GTIN), CBV values as Web Vocabulary URIs (bare word, URI or URN alike), times as
instants.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ledger.digits import ascii_int
from ledger.epcis.normalise import canonical, parse
from ledger.epcis.render import OUTPUT_CONTEXT, EntryEvent
from ledger.epcis.validate.events import EVENT_TYPES
from ledger.epcis.validate.formats import is_date_time
from ledger.epcis.values import canonical_time
from ledger.epcis.vocab import MT_PREFIX, STANDARD_PREFIXES, Vocab, expand
from ledger.errors import EpcisError

PER_PAGE_DEFAULT = 100
PER_PAGE_MAX = 1000
QUERY_NAME = "SimpleEventQuery"

_MATCH_EPC = ("epcList", "childEPCs")
_MATCH_ANY = ("epcList", "childEPCs", "inputEPCList", "outputEPCList", "parentID")


class QueryError(EpcisError):
    """A query parameter EPCIS does not accept (the bindings' QueryParameterException)."""

    def __init__(self, parameter: str, message: str) -> None:
        super().__init__(f"{parameter}: {message}")
        self.parameter = parameter
        self.message = message


def _id(value: object) -> str:
    text = str(value)
    return canonical(text) or text


def _ids(event: Mapping[str, Any], keys: Sequence[str]) -> frozenset[str]:
    found: set[str] = set()
    for key in keys:
        value = event.get(key)
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, str):
                found.add(_id(item))
    return frozenset(found)


@dataclass(frozen=True)
class Record:
    """One event with what the filters compare, in ledger order (``order``)."""

    order: tuple[str, str, int]
    source: EntryEvent
    event_type: str
    event_time: str
    event_id: str | None
    action: str | None
    biz_step: str | None
    disposition: str | None
    biz_location: str | None
    epcs: frozenset[str]
    any_epcs: frozenset[str]

    @property
    def hash(self) -> str:
        return self.source.hash

    @classmethod
    def of(cls, source: EntryEvent) -> Record:
        event = source.event
        payload = source.entry.payload

        def text(key: str) -> str | None:
            value = event.get(key)
            return value if isinstance(value, str) else None

        step, disposition = text("bizStep"), text("disposition")
        location = event.get("bizLocation")
        location_id = location.get("id") if isinstance(location, Mapping) else None
        return cls(
            order=(payload.ts, payload.feed, payload.seq),
            source=source,
            event_type=text("type") or "",
            event_time=canonical_time(text("eventTime") or ""),
            event_id=text("eventID"),
            action=text("action"),
            biz_step=expand(step, Vocab.BIZ_STEP) if step else None,
            disposition=expand(disposition, Vocab.DISPOSITION) if disposition else None,
            biz_location=_id(location_id) if isinstance(location_id, str) else None,
            epcs=_ids(event, _MATCH_EPC),
            any_epcs=_ids(event, _MATCH_ANY),
        )

    def shown(self) -> dict[str, Any]:
        """The event as a query answers it: as captured, with the repository's ``recordTime``
        and, for an event captured without one, its hash as ``eventID`` (neither is hashed)."""
        event = dict(self.source.event)
        event.setdefault("eventID", self.source.hash)
        event.setdefault("recordTime", self.source.entry.payload.ts)
        return event


@dataclass(frozen=True)
class _Epc:
    exact: str
    prefix: str | None  # a class-level pattern: every instance under this DL prefix


def _epc_pattern(value: str) -> _Epc:
    key = parse(value)
    if key is not None and value.startswith("urn:epc:idpat:"):
        return _Epc(key.dl, key.dl + "/")
    return _Epc(_id(value), None)


#: Parameters whose values are words: several may come comma-separated or repeated. Identifiers
#: (EPCs, locations, event ids) may contain commas, so several of them come as repeated
#: parameters only.
_WORD_LISTS = frozenset({"eventType", "EQ_bizStep", "EQ_disposition", "EQ_action"})


def _list(name: str, values: Sequence[str]) -> list[str]:
    if name in _WORD_LISTS:
        return [v for value in values for v in value.split(",") if v]
    return [v for v in values if v]


@dataclass(frozen=True)
class Query:
    event_types: frozenset[str] | None = None
    ge_time: str | None = None
    lt_time: str | None = None
    biz_steps: frozenset[str] | None = None
    dispositions: frozenset[str] | None = None
    biz_locations: frozenset[str] | None = None
    actions: frozenset[str] | None = None
    event_ids: frozenset[str] | None = None
    match_epc: tuple[_Epc, ...] | None = None
    match_any: tuple[_Epc, ...] | None = None
    per_page: int = PER_PAGE_DEFAULT
    after: tuple[str, str, int] | None = None
    fingerprint: str = field(default="", compare=False)

    PARAMETERS = frozenset(
        {
            "eventType",
            "GE_eventTime",
            "LT_eventTime",
            "EQ_bizStep",
            "EQ_disposition",
            "EQ_bizLocation",
            "EQ_action",
            "EQ_eventID",
            "MATCH_epc",
            "MATCH_anyEPC",
            "perPage",
            "nextPageToken",
        }
    )

    @classmethod
    def parse(cls, params: Mapping[str, Sequence[str]]) -> Query:
        unknown = sorted(set(params) - cls.PARAMETERS)
        if unknown:
            raise QueryError(
                unknown[0],
                f"expected one of {', '.join(sorted(cls.PARAMETERS))}, found {unknown[0]!r}",
            )
        values = {name: _list(name, items) for name, items in params.items()}

        def one(name: str) -> str | None:
            found = values.get(name) or []
            if len(found) > 1:
                raise QueryError(name, f"expected one value, found {len(found)}")
            return found[0] if found else None

        def time(name: str) -> str | None:
            value = one(name)
            if value is None:
                return None
            if not is_date_time(value):
                raise QueryError(name, f"expected an RFC 3339 date-time, found {value!r}")
            return canonical_time(value)

        def terms(name: str, vocab: Vocab) -> frozenset[str] | None:
            found = values.get(name)
            return frozenset(expand(v, vocab) for v in found) if found else None

        types = values.get("eventType")
        for value in types or []:
            if value not in EVENT_TYPES and ":" not in value:
                raise QueryError("eventType", f"expected an event type, found {value!r}")
        actions = values.get("EQ_action")
        for value in actions or []:
            if value not in ("OBSERVE", "ADD", "DELETE"):
                raise QueryError("EQ_action", f"expected OBSERVE, ADD or DELETE, found {value!r}")
        per_page_text = one("perPage")
        per_page = PER_PAGE_DEFAULT
        if per_page_text is not None:
            number = ascii_int(per_page_text)
            if number is None or not 1 <= number <= PER_PAGE_MAX:
                raise QueryError(
                    "perPage",
                    f"expected an integer from 1 to {PER_PAGE_MAX} (digits 0-9), "
                    f"found {per_page_text[:40]!r}",
                )
            per_page = number
        filters = {k: v for k, v in sorted(values.items()) if k not in ("perPage", "nextPageToken")}
        fingerprint = hashlib.sha256(json.dumps(filters).encode()).hexdigest()[:16]
        token = one("nextPageToken")
        after = _read_token(token, fingerprint) if token is not None else None
        locations = values.get("EQ_bizLocation")
        return cls(
            event_types=frozenset(types) if types else None,
            ge_time=time("GE_eventTime"),
            lt_time=time("LT_eventTime"),
            biz_steps=terms("EQ_bizStep", Vocab.BIZ_STEP),
            dispositions=terms("EQ_disposition", Vocab.DISPOSITION),
            biz_locations=frozenset(_id(v) for v in locations) if locations else None,
            actions=frozenset(actions) if actions else None,
            event_ids=frozenset(values["EQ_eventID"]) if values.get("EQ_eventID") else None,
            match_epc=tuple(_epc_pattern(v) for v in values["MATCH_epc"])
            if values.get("MATCH_epc")
            else None,
            match_any=tuple(_epc_pattern(v) for v in values["MATCH_anyEPC"])
            if values.get("MATCH_anyEPC")
            else None,
            per_page=per_page,
            after=after,
            fingerprint=fingerprint,
        )

    def matches(self, record: Record) -> bool:
        if self.event_types is not None and record.event_type not in self.event_types:
            return False
        if self.ge_time is not None and not record.event_time >= self.ge_time:
            return False
        if self.lt_time is not None and not record.event_time < self.lt_time:
            return False
        if self.biz_steps is not None and record.biz_step not in self.biz_steps:
            return False
        if self.dispositions is not None and record.disposition not in self.dispositions:
            return False
        if self.biz_locations is not None and record.biz_location not in self.biz_locations:
            return False
        if self.actions is not None and record.action not in self.actions:
            return False
        if self.event_ids is not None and not ({record.event_id, record.hash} & self.event_ids):
            return False
        if self.match_epc is not None and not _any(self.match_epc, record.epcs):
            return False
        return self.match_any is None or _any(self.match_any, record.any_epcs)

    def page(self, records: Iterable[Record]) -> tuple[list[Record], str | None]:
        """The records of this page in ledger order, and the token of the next page (or None)."""
        found: list[Record] = []
        for record in records:
            if self.after is not None and record.order <= self.after:
                continue
            if not self.matches(record):
                continue
            if len(found) == self.per_page:
                return found, _write_token(found[-1].order, self.fingerprint)
            found.append(record)
        return found, None


def _any(patterns: Sequence[_Epc], epcs: frozenset[str]) -> bool:
    for pattern in patterns:
        if pattern.exact in epcs:
            return True
        if pattern.prefix is not None and any(e.startswith(pattern.prefix) for e in epcs):
            return True
    return False


def _write_token(order: tuple[str, str, int], fingerprint: str) -> str:
    raw = json.dumps([*order, fingerprint], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _read_token(token: str, fingerprint: str) -> tuple[str, str, int]:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        ts, feed, seq, seen = json.loads(raw)
    except (binascii.Error, ValueError, TypeError):
        raise QueryError("nextPageToken", "expected a token from a previous page") from None
    if seen != fingerprint or not isinstance(ts, str) or not isinstance(feed, str):
        raise QueryError(
            "nextPageToken", "expected the token with the same query parameters it came from"
        )
    if not isinstance(seq, int):
        raise QueryError("nextPageToken", "expected a token from a previous page")
    return ts, feed, seq


def query_document(records: Sequence[Record], creation_date: str) -> dict[str, Any]:
    """An EPCISQueryDocument of ``records``. Each event is read with the JSON-LD prefixes it
    was captured with: where the document's own context would read a prefix differently, the
    event carries an ``@context`` of its own (a JSON-LD scoped context), so every event comes
    back with the hash it was captured with."""
    shared: dict[str, str] = {MT_PREFIX: str(OUTPUT_CONTEXT[1][MT_PREFIX])}
    for record in records:
        for prefix, iri in record.source.captured_prefixes.items():
            shared.setdefault(prefix, iri)
    effective = {**STANDARD_PREFIXES, **shared}
    events: list[dict[str, Any]] = []
    ignore: list[str] = []
    for record in records:
        event = record.shown()
        wanted = record.source.prefixes
        overrides: dict[str, str | None] = {
            p: iri for p, iri in wanted.items() if effective.get(p) != iri
        }
        overrides.update({p: None for p in effective if p not in wanted})
        remote = record.source.remote_contexts
        if overrides or remote:
            own = event.pop("@context", None)
            own_items = own if isinstance(own, list) else ([] if own is None else [own])
            context = [*remote, *([overrides] if overrides else []), *own_items]
            event = {"@context": context, **event}
        events.append(event)
        ignore.extend(i for i in record.source.ignore if i not in ignore)
    results: dict[str, Any] = {"queryName": QUERY_NAME}
    if ignore:
        results[f"{MT_PREFIX}:ignoreFields"] = ignore
    results["resultsBody"] = {"eventList": events}
    return {
        "@context": [OUTPUT_CONTEXT[0], shared],
        "type": "EPCISQueryDocument",
        "schemaVersion": "2.0",
        "creationDate": creation_date,
        "epcisBody": {"queryResults": results},
    }


__all__ = [
    "PER_PAGE_DEFAULT",
    "PER_PAGE_MAX",
    "Query",
    "QueryError",
    "Record",
    "query_document",
]
