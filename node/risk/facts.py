"""The facts the risk indicators judge a declaration on, read from this node's store (issue 16).

A declaration's packages are read like a whole-consignment check (``Store.consignment``: every
pack under its containers, with its lot, custodian and commissioning entry); its goods' products
with their reference price where this node registered them; the consortium's members; and the
earlier declarations of the same customs organisation with their decisions and outcomes
(``Store.earlier_declarations``). The indicators themselves are pure (``node.risk.indicators``).
"""

from __future__ import annotations

import dataclasses
import threading
import time
from bisect import bisect_left
from collections.abc import Callable, Iterable, Mapping, Sequence
from decimal import Decimal
from itertools import chain
from typing import Any
from urllib.parse import unquote

from ledger.identifiers import container_uri, pack_uri
from ledger.lifecycle.declarations import MARKS
from ledger.membership import Membership
from ledger.sealed import SEALED
from node.risk.indicators import (
    FLAGGING,
    Facts,
    Finding,
    Member,
    PackFact,
    PastDeclaration,
    ProductFact,
    Settings,
    address_key,
    days_before,
    evaluate,
    gs1_country,
    party_key,
)
from node.risk.lanes import Assessment, Learned, RiskConfig, assessed
from node.store import Store, StoredRecord

#: Earlier declarations read for R8 and R9 (the newest; a window of days needs far fewer).
HISTORY_LIMIT = 5_000


def packages(about: tuple[str, ...]) -> tuple[list[str], list[tuple[str, str]]]:
    """The SSCCs and the (gtin, serial) packs a declaration names."""
    containers: list[str] = []
    packs: list[tuple[str, str]] = []
    for uri in about:
        tail = uri.split("/00/", 1)
        if len(tail) == 2 and "/" not in tail[1]:
            containers.append(tail[1])
        elif "/01/" in uri and "/21/" in uri:
            gtin, serial = uri.split("/01/", 1)[1].split("/21/", 1)
            packs.append((gtin, unquote(serial)))
    return containers, packs


def _stated(commercial: Mapping[str, Any] | None) -> dict[str, tuple[str | None, str | None]]:
    """The lot and expiry the declaration states per pack (its sealed ``marks``), as read."""
    marks = (commercial or {}).get(MARKS) or {}
    return {uri: (m.get("lot"), m.get("expiry")) for uri, m in marks.items()}


def members(
    membership: Membership, countries: Mapping[str, str] | None = None
) -> dict[str, Member]:
    """The members, each in the country ``countries`` names, else its GLN's GS1 prefix."""
    countries = countries or {}
    return {
        org.id: Member(
            org.id,
            org.name,
            org.gln,
            org.company_prefixes,
            countries.get(org.id) or gs1_country(org.gln),
        )
        for org in membership.organisations.values()
    }


def product_fact(record: StoredRecord) -> ProductFact:
    product = record.data
    price: tuple[Decimal, str] | None = None
    if record.opened is not None and "referencePrice" in record.opened:
        raw = record.opened["referencePrice"]
        price = (Decimal(str(raw["amount"])), str(raw["currency"]))
    return ProductFact(
        record.key,
        record.entry_id,
        str(product.get("hsCode", "")),
        str(product.get("atc", "")),
        Decimal(str(product.get("netMassKg", "0"))),
        price,
    )


def _pack(p: Any) -> PackFact:  # a ``node.store.consignment.ConsignedPack``
    s = p.state
    return PackFact(
        s.uri, s.gtin, s.serial, s.lot, s.expiry, s.status.value, s.custodian, p.commissioner,
        s.commissioned, s.destination,
    )  # fmt: skip


def gather(
    store: Store,
    membership: Membership,
    record: StoredRecord,
    *,
    observed: Mapping[str, tuple[str | None, str | None]] | None = None,
    history: History | None = None,
    settings: Settings | None = None,
) -> Facts:
    """The facts of declaration ``record`` at this node; ``observed`` maps a pack's URI to the
    (lot, expiry) read off it, when a scan read them."""
    settings = settings or Settings()
    containers, loose = packages(record.about)
    commercial = record.opened
    goods_gtins = [
        str(g["gtin"]).zfill(14) for g in (commercial or {}).get("goods", []) if g.get("gtin")
    ]
    with store.consignment() as reads:
        held = reads.containers(container_uri(s) for s in containers)
        counts = reads.pack_counts(held)
        found = list(chain.from_iterable(reads.packs(counts, loose)))
        products = reads.products(dict.fromkeys([*(p.state.gtin for p in found), *goods_gtins]))
    seen = {(p.state.gtin, p.state.serial) for p in found}
    unknown = [container_uri(s) for s in containers if container_uri(s) not in held]
    unknown += [pack_uri(g, s) for g, s in loose if (g, s) not in seen]
    packs = [_pack(p) for p in found]
    observed = {**_stated(commercial), **(observed or {})}
    if observed:
        packs = [
            PackFact(**{**p.__dict__, "observed_lot": observed[p.uri][0],
                        "observed_expiry": observed[p.uri][1]})
            if p.uri in observed else p
            for p in packs
        ]  # fmt: skip
    if history is None:
        history = cached_history(store, record.feed.split("/", 1)[0])
    order = history.order_of(record.entry_id) or store.record_order(record.entry_id)
    if order is None:
        order = (record.ts, record.feed, 0)
    public: dict[str, Any] = {k: v for k, v in record.data.items() if k != SEALED}
    return Facts(
        reference=str(record.data["reference"]),
        entry=record.entry_id,
        ts=record.ts,
        order=order,
        declaration=public,
        commercial=commercial,
        packs=tuple(packs),
        unknown=tuple(unknown),
        products={gtin: product_fact(r) for gtin, r in products.items()},
        members=members(membership, settings.countries),
        history=history.relevant(commercial, order, settings.window_days),
    )


def past(earlier: Iterable[Any]) -> list[PastDeclaration]:
    """``node.store.risk_reads.EarlierDeclaration`` as the indicators see them."""
    return [
        PastDeclaration(
            d.reference,
            d.entry_id,
            d.ts,
            d.order,
            bool(d.data.get("lowValue")),
            d.opened,
            tuple(v for v in d.verdicts if v[1] in FLAGGING),
            dict(zip((v[0] for v in d.verdicts), d.verdict_orders, strict=False)),
        )
        for d in earlier
    ]


class History:
    """Earlier declarations indexed by party (consignor, consignee, delivery address), so that a
    declaration's facts carry only the past that R8 and R9 can use: every flagged one, the
    low-value ones within the window, and the first one (the party is not new). It grows:
    ``add`` newer declarations, ``flag`` one with a decision or outcome recorded since."""

    def __init__(self, declarations: Iterable[PastDeclaration]) -> None:
        #: per party key: the first declaration, then the flagged ones and the low-value ones
        #: (consignee keys only), each list in the total order
        self._first: dict[str, PastDeclaration] = {}
        self._flagged: dict[str, dict[str, PastDeclaration]] = {}
        self._low: dict[str, list[PastDeclaration]] = {}
        self._low_orders: dict[str, list[tuple[str, str, int]]] = {}
        self._order: dict[str, tuple[str, str, int]] = {}
        self._by_reference: dict[str, list[PastDeclaration]] = {}
        self.verdicts: set[str] = set()  # the decide/outcome entries already applied
        self.watermark: tuple[str, str, int] = ("", "", -1)
        self.read_at = time.monotonic()
        self.add(declarations)

    def __len__(self) -> int:
        return len(self._order)

    def add(self, declarations: Iterable[PastDeclaration]) -> None:
        for d in sorted(declarations, key=lambda d: d.order):
            self._order[d.entry] = d.order
            self.watermark = max(self.watermark, d.order)
            self.verdicts.update(entry for entry, _ in d.flags)
            self._by_reference.setdefault(d.reference, []).append(d)
            if d.commercial is None:
                continue
            for key in _keys(d.commercial):
                self._first.setdefault(key, d)
                if d.flags:
                    self._flagged.setdefault(key, {})[d.entry] = d
                if d.low_value and key.startswith("consignee"):
                    low, orders = (
                        self._low.setdefault(key, []),
                        self._low_orders.setdefault(key, []),
                    )
                    at = bisect_left(orders, d.order)
                    low.insert(at, d)
                    orders.insert(at, d.order)

    def flag(self, reference: str, entry: str, what: str, order: tuple[str, str, int]) -> None:
        """A decision or outcome about an earlier declaration, recorded since it was read."""
        self.watermark = max(self.watermark, order)
        if entry in self.verdicts or what not in FLAGGING:
            return
        self.verdicts.add(entry)
        for i, d in enumerate(self._by_reference.get(reference, [])):
            flagged = dataclasses.replace(
                d, flags=(*d.flags, (entry, what)), flag_orders={**d.flag_orders, entry: order}
            )
            self._by_reference[reference][i] = flagged
            for key in _keys(d.commercial or {}):
                self._flagged.setdefault(key, {})[d.entry] = flagged

    def order_of(self, entry: str) -> tuple[str, str, int] | None:
        return self._order.get(entry)

    def relevant(
        self, commercial: Mapping[str, Any] | None, before: tuple[str, str, int], window_days: int
    ) -> tuple[PastDeclaration, ...]:
        if commercial is None:
            return ()
        since = (days_before(before[0], window_days), "", -1)
        chosen: dict[str, PastDeclaration] = {}
        for key in _keys(commercial):
            for d in self._flagged.get(key, {}).values():  # first: they carry the flags
                if d.order < before:
                    chosen.setdefault(d.entry, d)
            first = self._first.get(key)
            if first is not None and first.order < before:
                chosen.setdefault(first.entry, first)
            low, orders = self._low.get(key, []), self._low_orders.get(key, [])
            for d in low[bisect_left(orders, since) : bisect_left(orders, before)]:
                chosen.setdefault(d.entry, d)
        return tuple(sorted(chosen.values(), key=lambda d: d.order))


#: Each process keeps the history of each customs organisation it scored for, and catches up
#: with what was stored since (a few rows) instead of reading the newest 5,000 declarations per
#: request; it reads them again when it grows past 4 times HISTORY_LIMIT or is 10 minutes old.
_HISTORIES: dict[tuple[str, str], History] = {}
_HISTORIES_LOCK = threading.Lock()
HISTORY_REREAD_S = 600.0


def cached_history(store: Store, org: str) -> History:
    """``org``'s history at this store, caught up with every declaration and decision since."""
    key = (str(store.url), org)
    with _HISTORIES_LOCK:
        history = _HISTORIES.get(key)
        stale = history is not None and (
            len(history) > 4 * HISTORY_LIMIT
            or time.monotonic() - history.read_at > HISTORY_REREAD_S
        )
        if history is None or stale:
            history = History(past(store.earlier_declarations(org, None, HISTORY_LIMIT)))
            _HISTORIES[key] = history
        mark = history.watermark
        history.add(past(store.earlier_declarations(org, None, 10**9, after=mark)))
        for reference, entry, what, order in store.verdicts_after(org, mark):
            history.flag(reference, entry, what, order)
        return history


def _keys(commercial: Mapping[str, Any]) -> list[str]:
    consignee = commercial.get("consignee")
    keys = [
        f"consignor {party_key(commercial.get('consignor'))}",
        f"consignee {party_key(consignee)}",
        f"consignee {address_key(consignee)}",
    ]
    return list(dict.fromkeys(k for k in keys if not k.endswith(" None")))


class Scorer:
    """Scores declarations of this node: one at a time (the history read for each), or many in
    a row over one ``History`` read once (``preload``; the evaluation and the benchmark).
    ``learned`` (``node.risk.declared.learned_score``) adds the learned score of a declaration,
    given its record and the rules' findings."""

    def __init__(
        self,
        store: Store,
        membership: Membership,
        config: RiskConfig,
        learned: Callable[[StoredRecord, Sequence[Finding]], Learned] | None = None,
    ) -> None:
        self.store = store
        self.membership = membership
        self.config = config
        self.learned = learned
        self.history: History | None = None

    def preload(self, org: str, limit: int = HISTORY_LIMIT) -> None:
        """Read ``org``'s newest ``limit`` declarations once for the declarations to score."""
        earlier = self.store.earlier_declarations(org, None, limit=limit)
        self.history = History(past(earlier))

    def facts(self, record: StoredRecord) -> Facts:
        return gather(
            self.store,
            self.membership,
            record,
            history=self.history,
            settings=self.config.settings,
        )

    def score(self, record: StoredRecord) -> Assessment:
        """The score, lane and reasons of a declaration held at this node."""
        facts = self.facts(record)
        findings = evaluate(facts, self.config.settings, self.config.weights)
        learned = self.learned(record, findings) if self.learned is not None else None
        return assessed(facts.reference, findings, self.config, learned)
