"""What the JSON-LD ``@context`` of an EPCIS document or event says: the prefixes it defines
inline, the standard EPCIS 2.0 context it refers to, the extension fields it declares not hashed,
and the hash context made of them.

Remote contexts are never fetched (no network at run time): only what is written inline, and the
standard context medtrace knows, count.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ledger.epcis.vocab import EPCIS_CONTEXTS, STANDARD_PREFIXES


@dataclass(frozen=True)
class HashContext:
    """What a document contributes to its events' hashes: its JSON-LD prefixes (for extension
    names and CURIE values) and the extension fields it declares not hashed (``ignoreFields``)."""

    prefixes: Mapping[str, str] = field(default_factory=dict)
    ignore: frozenset[str] = frozenset()

    def expand_name(self, key: str) -> str:
        prefix, sep, local = key.partition(":")
        if sep and prefix in self.prefixes:
            return "{" + self.prefixes[prefix] + "}" + local
        return key

    def expand_value(self, value: str) -> str:
        prefix, sep, local = value.partition(":")
        if sep and prefix in self.prefixes:
            return self.prefixes[prefix] + local
        return value

    def within(self, event: Mapping[str, Any]) -> HashContext:
        """This context with an event's own ``@context`` applied (JSON-LD scoping: a prefix
        defined there wins, one set to ``null`` there is undefined)."""
        own = context_prefixes(event.get("@context"))
        if not own:
            return self
        merged = {**self.prefixes, **own}
        return HashContext({k: v for k, v in merged.items() if v is not None}, self.ignore)


def context_prefixes(context: object) -> dict[str, str | None]:
    """Prefix definitions written inline in a JSON-LD ``@context``, ``None`` for one set to
    ``null`` (remote contexts are not fetched: no network at run time)."""
    found: dict[str, str | None] = {}
    items = context if isinstance(context, list) else [context]
    for item in items:
        if not isinstance(item, dict):
            continue
        for key, value in item.items():
            if key.startswith("@"):
                continue
            iri = value.get("@id") if isinstance(value, dict) else value
            if iri is None:
                found[key] = None
            elif isinstance(iri, str) and ":" in iri:
                found[key] = iri
    return found


def prefixes_of(context: object) -> dict[str, str]:
    """The prefixes a JSON-LD ``@context`` defines inline (see ``context_prefixes``)."""
    return {k: v for k, v in context_prefixes(context).items() if v is not None}


def standard_prefixes(context: object) -> dict[str, str]:
    """The prefixes of the standard EPCIS 2.0 context, when ``context`` refers to it: ``gs1:``,
    ``cbv:``, ``cbvmda:`` … mean what that context says (JSON-LD semantics), defined inline or
    not."""
    items = context if isinstance(context, list) else [context]
    if any(isinstance(item, str) and item in EPCIS_CONTEXTS for item in items):
        return dict(STANDARD_PREFIXES)
    return {}


def _is_ignore_fields(key: str) -> bool:
    return re.search(r"(?:^|[:/#}])ignoreFields\Z", key) is not None


def ignore_fields(document: Mapping[str, Any]) -> list[str]:
    """The extension fields a document declares not hashed (``<prefix>:ignoreFields``, at the
    document or query-results level), as written (CURIEs)."""
    found: list[str] = []
    holders: list[Mapping[str, Any]] = [document]
    body = document.get("epcisBody")
    if isinstance(body, Mapping) and isinstance(body.get("queryResults"), Mapping):
        holders.append(body["queryResults"])
    for holder in holders:
        for key, value in holder.items():
            if _is_ignore_fields(key) and isinstance(value, list):
                found.extend(v for v in value if isinstance(v, str) and v not in found)
    return found


def document_context(document: Mapping[str, Any]) -> HashContext:
    """The hash context of an EPCIS document (EPCISDocument or EPCISQueryDocument)."""
    context = document.get("@context")
    base = HashContext(standard_prefixes(context) | prefixes_of(context))
    ignore = frozenset(base.expand_name(name) for name in ignore_fields(document))
    return HashContext(base.prefixes, ignore)


__all__ = [
    "HashContext",
    "context_prefixes",
    "document_context",
    "ignore_fields",
    "prefixes_of",
    "standard_prefixes",
]
