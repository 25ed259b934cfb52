"""The filters of ``GET /api/v1/alerts`` and the /alerts page beyond code and subject (issue 15,
ADR 0022): level, product, organisation, declaration and country. Applied after the role's
scope (``api/alert_scope.py``): a filter narrows what the caller may see, never widens it.

What each one matches (docs/spec/api.md):

- ``level``: the alert's level (``critical``, ``warning``);
- ``product``: a GTIN; alerts whose subject is that product, one of its lots or packs;
- ``organisation``: the organisation whose signed entry raised the alert (the last evidence
  entry: who checked, for a failed check; who wrote the entry that broke a rule otherwise);
- ``declaration``: a declaration reference; alerts raised by an entry naming it (a failed
  check against it, a decision about it) and alerts about a package it declares or a pack
  inside one (the ledger's aggregation);
- ``country``: an ISO 3166 alpha-2 code; alerts of a failed check made in that country
  (the check's ``country``), or tied to a declaration whose office of entry, country of
  origin or of dispatch it is.

A node-local alert (ADR 0012) has no entry behind it: it passes ``level`` and ``product`` only.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from api.call import Call
from api.context import NodeContext
from api.problems import Problem
from api.route import Param
from ledger.alerts import Alert, Level
from ledger.entry import SignedEntry
from ledger.errors import IdentifierError
from ledger.identifiers import SubjectType, gtin14, parse_subject
from ledger.kinds import Kind
from ledger.lifecycle.declarations import REFERENCE

_ORG = re.compile(r"\A[a-z0-9][a-z0-9-]{0,31}\Z")
_COUNTRY = re.compile(r"\A[A-Z]{2}\Z")
#: Kinds whose body names a declaration by reference.
_NAMING = frozenset({Kind.CHECK, Kind.DECIDE, Kind.OUTCOME})

FILTER_PARAMS: tuple[Param, ...] = (
    Param(
        "level",
        "query",
        {"type": "string", "enum": [lv.value for lv in Level]},
        "Only alerts of this level.",
    ),
    Param(
        "product",
        "query",
        {"type": "string", "pattern": "^[0-9]{8,14}$"},
        "Only alerts about this GTIN: the product, a lot or a pack of it.",
    ),
    Param(
        "organisation",
        "query",
        {"type": "string", "maxLength": 32},
        "Only alerts raised by an entry of this organisation (who checked, or who broke the rule).",
    ),
    Param(
        "declaration",
        "query",
        {"type": "string", "maxLength": 35},
        "Only alerts tied to this declaration reference: a failed check against it, a "
        "decision about it, a package it declares.",
    ),
    Param(
        "country",
        "query",
        {"type": "string", "pattern": "^[A-Z]{2}$"},
        "Only alerts of a check made in this country, or tied to a declaration with this "
        "office-of-entry, origin or dispatch country.",
    ),
)


@dataclass(frozen=True)
class AlertFilter:
    level: str | None = None
    gtin: str | None = None
    organisation: str | None = None
    declaration: str | None = None
    country: str | None = None

    @property
    def needs_entries(self) -> bool:
        return any((self.organisation, self.declaration, self.country))

    @property
    def empty(self) -> bool:
        return not (self.level or self.gtin or self.needs_entries)


def _bad(name: str, expected: str, found: str) -> Problem:
    return Problem(
        "invalid-request",
        f"{name}: expected {expected}, found {found[:40]!r}",
        extra={"parameter": name},
    )


def alert_filter(call: Call) -> AlertFilter:
    """The filters a request asks for (400 for a value that cannot match anything)."""
    gtin = call.opt_text("product")
    if gtin is not None:
        try:
            gtin = gtin14(gtin)
        except IdentifierError as exc:
            raise _bad("product", f"a GTIN ({exc})", gtin) from None
    organisation = call.opt_text("organisation")
    if organisation is not None and not _ORG.match(organisation):
        raise _bad("organisation", "an organisation id like 'acme'", organisation)
    declaration = call.opt_text("declaration")
    if declaration is not None and not REFERENCE.match(declaration):
        raise _bad("declaration", "a declaration reference of A-Z 0-9 / -", declaration)
    country = call.opt_text("country")
    if country is not None and not _COUNTRY.match(country):
        raise _bad("country", "an ISO 3166-1 alpha-2 code like 'DE'", country)
    return AlertFilter(call.opt_text("level"), gtin, organisation, declaration, country)


def _about_gtin(subject: str, gtin: str) -> bool:
    return f"/01/{gtin}/" in f"{subject}/"


class _Ties:
    """What the entries behind the alerts say: who wrote them, the declarations and countries
    they are tied to (each declaration read once)."""

    def __init__(self, ctx: NodeContext, alerts: Sequence[Alert]) -> None:
        self.ctx = ctx
        last = [a.evidence[-1] for a in alerts if a.evidence]
        self.entries: dict[str, SignedEntry] = {
            e.id: e for e in ctx.store.entries_by_id(dict.fromkeys(last))
        }
        self._declarations: dict[str, dict[str, Any] | None] = {}
        self._packages: dict[str, frozenset[str]] = {}

    def trigger(self, alert: Alert) -> SignedEntry | None:
        return self.entries.get(alert.evidence[-1]) if alert.evidence else None

    def declaration(self, reference: str) -> dict[str, Any] | None:
        if reference not in self._declarations:
            held = self.ctx.store.declaration(reference)
            self._declarations[reference] = dict(held.data) if held is not None else None
            self._packages[reference] = frozenset(held.about) if held is not None else frozenset()
        return self._declarations[reference]

    def named(self, alert: Alert) -> str | None:
        entry = self.trigger(alert)
        if entry is None or entry.payload.kind not in _NAMING:
            return None
        value = entry.payload.body.get("declaration")
        return value if isinstance(value, str) else None

    def declares(self, reference: str, subject: str) -> bool:
        """``subject`` is a declared package of ``reference``, or inside one."""
        self.declaration(reference)
        packages = self._packages[reference]
        if subject in packages:
            return True
        try:
            kind = parse_subject(subject).type
        except IdentifierError:
            return False
        if kind is SubjectType.PACK:
            pack = self.ctx.store.pack(subject)
            parent = pack.container if pack is not None else None
        elif kind is SubjectType.CONTAINER:
            container = self.ctx.store.container(subject)
            parent = container.parent if container is not None else None
        else:
            return False
        seen: set[str] = set()
        while parent is not None and parent not in seen:
            if parent in packages:
                return True
            seen.add(parent)
            held = self.ctx.store.container(parent)
            parent = held.parent if held is not None else None
        return False

    def countries(self, alert: Alert) -> set[str]:
        entry = self.trigger(alert)
        found: set[str] = set()
        if entry is not None and entry.payload.kind is Kind.CHECK:
            country = entry.payload.body.get("country")
            if isinstance(country, str):
                found.add(country)
        reference = self.named(alert)
        data = self.declaration(reference) if reference is not None else None
        if data is not None:
            found |= {
                str(data.get("officeOfEntry", ""))[:2],
                str(data.get("countryOfOrigin", "")),
                str(data.get("countryOfDispatch", "")),
            }
        return found


def filter_alerts(ctx: NodeContext, alerts: Sequence[Alert], wanted: AlertFilter) -> list[Alert]:
    """``alerts`` that pass every filter ``wanted`` names."""
    tests: list[Callable[[Alert], bool]] = []
    if wanted.level is not None:
        tests.append(lambda a: a.level.value == wanted.level)
    if wanted.gtin is not None:
        gtin = wanted.gtin
        tests.append(lambda a: _about_gtin(a.subject, gtin))
    found = [a for a in alerts if all(t(a) for t in tests)]
    if not wanted.needs_entries or not found:
        return found
    ties = _Ties(ctx, found)
    if wanted.organisation is not None:
        org = wanted.organisation
        found = [a for a in found if (e := ties.trigger(a)) is not None and e.payload.org == org]
    if wanted.declaration is not None:
        ref = wanted.declaration
        found = [a for a in found if ties.named(a) == ref or ties.declares(ref, a.subject)]
    if wanted.country is not None:
        country = wanted.country
        found = [a for a in found if country in ties.countries(a)]
    return found


def filter_local(alerts: Sequence[Any], wanted: AlertFilter) -> list[Any]:
    """Node-local alerts (``node.local_alerts.LocalAlert``) that pass the filters they can."""
    if wanted.needs_entries:
        return []
    return [
        a
        for a in alerts
        if (wanted.level is None or a.to_json()["level"] == wanted.level)
        and (wanted.gtin is None or _about_gtin(a.subject, wanted.gtin))
    ]
