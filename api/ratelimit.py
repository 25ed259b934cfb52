"""Token buckets per bearer token, and the serial-harvesting guard.

A node counts in its database (``SharedRateLimiter``, ``SharedHarvestGuard`` over
``Store.counters()``, node/store/counters.py; ADR 0021): every worker process and every server
of the node takes from the same bucket and counts the same probes, so a node allows a token
its rate once, however many servers serve it. ``RateLimiter`` and ``HarvestGuard`` count in one
process's memory (unit tests, and the arithmetic the shared ones follow).

A verify endpoint open to anyone is a serial oracle: a counterfeiter could test which serials
exist. Queries therefore need a token, and each token gets ``rate`` queries per minute with
bursts up to ``rate``; past that the API answers 429 with ``Retry-After``. A write answers the
same question (422 for a serial that does not exist, 409 for one that does), so writes have a
bucket per token too, a generous one (``WRITE_RATE_PER_MINUTE``). A token that keeps asking
about packs that do not exist, by query or by write, is throttled as well, and raises an alert
(``HarvestGuard``, ADR 0012).
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from node.store import PackReading, TakeRequest

#: Writes per minute per token and node, in bursts of as many: far above what a
#: production line or a pharmacy writes (a commissioning of 100,000 packs is one request), far
#: below the ~250 per second a script probing serials by writes managed (issue 13, finding 5).
WRITE_RATE_PER_MINUTE = 1200


@dataclass
class _Bucket:
    tokens: float
    stamp: float


class RateLimiter:
    def __init__(
        self,
        per_minute: int,
        *,
        burst: int | None = None,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 10_000,
    ) -> None:
        self.per_minute = max(per_minute, 1)
        self.rate = self.per_minute / 60.0  # tokens per second
        self.capacity = float(burst if burst is not None else max(per_minute, 1))
        self.clock = clock
        self.max_keys = max_keys
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()

    def take(self, key: str) -> float:
        """Take one token for ``key``: 0.0 if allowed, else the seconds until one is free."""
        now = self.clock()
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is None:
                if len(self._buckets) >= self.max_keys:
                    self._prune(now)
                bucket = self._buckets[key] = _Bucket(self.capacity, now)
            bucket.tokens = min(self.capacity, bucket.tokens + (now - bucket.stamp) * self.rate)
            bucket.stamp = now
            if bucket.tokens >= 1.0:
                bucket.tokens -= 1.0
                return 0.0
            return (1.0 - bucket.tokens) / self.rate

    def _prune(self, now: float) -> None:
        """Forget buckets that have refilled completely: they hold no information."""
        full = [
            key
            for key, b in self._buckets.items()
            if b.tokens + (now - b.stamp) * self.rate >= self.capacity
        ]
        for key in full:
            del self._buckets[key]
        if len(self._buckets) >= self.max_keys:  # still full: drop the oldest
            oldest = sorted(self._buckets, key=lambda k: self._buckets[k].stamp)
            for key in oldest[: len(oldest) // 2]:
                del self._buckets[key]


def retry_after_header(seconds: float) -> str:
    return str(max(1, math.ceil(seconds)))


@dataclass(frozen=True)
class Harvest:
    """A token crossed the unknown-serial threshold: what the alert reports."""

    key: str
    count: int  # unknown lookups inside the window
    window_s: float
    sample: tuple[str, ...]  # the most recent probed keys (pack or container URIs)


@dataclass
class _Probes:
    stamps: deque[float]
    keys: deque[str]
    alerted: float | None = None  # when this key last raised an alert


class HarvestGuard:
    """Serial harvesting: too many verifications of packs that do not exist, per token.

    The token bucket above bounds how fast a token may ask; this bounds how many *unknown*
    serials it may try. A pharmacist verifies packs in hand, which exist (a misread code is a
    scan error, refused before any lookup); a counterfeiter testing guessed serials mostly finds
    none. Past ``max_unknown`` unknown lookups within ``window_s`` the token is refused until the
    oldest of them leaves the window, and ``unknown`` reports it once per window (one alert per
    burst, not one per request). Counts live in each worker process, like the buckets.
    """

    def __init__(
        self,
        max_unknown: int,
        window_s: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sample: int = 10,
        max_keys: int = 10_000,
    ) -> None:
        self.max_unknown = max(max_unknown, 0)
        self.window_s = max(window_s, 1.0)
        self.clock = clock
        self.sample = sample
        self.max_keys = max_keys
        self._probes: dict[str, _Probes] = {}
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.max_unknown > 0

    def wait(self, key: str) -> float:
        """0.0 if ``key`` may verify now, else the seconds until it may."""
        if not self.enabled:
            return 0.0
        now = self.clock()
        with self._lock:
            probes = self._probes.get(key)
            if probes is None:
                return 0.0
            self._expire(probes, now)
            if len(probes.stamps) < self.max_unknown:
                return 0.0
            return max(probes.stamps[0] + self.window_s - now, 0.001)

    def unknown(self, key: str, probed: str) -> Harvest | None:
        """Record a lookup of an unknown ``probed`` key; a ``Harvest`` when this crosses the
        threshold for the first time in a window."""
        if not self.enabled:
            return None
        now = self.clock()
        with self._lock:
            probes = self._probes.get(key)
            if probes is None:
                if len(self._probes) >= self.max_keys:
                    self._prune(now)
                probes = self._probes[key] = _Probes(
                    deque(maxlen=self.max_unknown), deque(maxlen=self.sample)
                )
            self._expire(probes, now)
            probes.stamps.append(now)
            probes.keys.append(probed[:200])
            if len(probes.stamps) < self.max_unknown:
                return None
            if probes.alerted is not None and now - probes.alerted < self.window_s:
                return None
            probes.alerted = now
            return Harvest(key, len(probes.stamps), self.window_s, tuple(probes.keys))

    def _expire(self, probes: _Probes, now: float) -> None:
        while probes.stamps and probes.stamps[0] <= now - self.window_s:
            probes.stamps.popleft()

    def _prune(self, now: float) -> None:
        """Forget keys with no lookup in the window, then (still full) the oldest half."""
        for key in [
            k
            for k, p in self._probes.items()
            if not p.stamps or p.stamps[-1] <= now - self.window_s
        ]:
            del self._probes[key]
        if len(self._probes) >= self.max_keys:
            oldest = sorted(self._probes, key=lambda k: self._probes[k].stamps[-1])
            for key in oldest[: len(oldest) // 2]:
                del self._probes[key]


# -- shared by every server of the node (ADR 0021) ----------------------------------------------


class _Taken(Protocol):
    @property
    def wait(self) -> float: ...
    @property
    def harvest_until(self) -> float: ...


class _Probed(Protocol):
    @property
    def count(self) -> int: ...
    @property
    def until(self) -> float: ...
    @property
    def alert(self) -> bool: ...
    @property
    def sample(self) -> tuple[str, ...]: ...


class CounterStore(Protocol):
    """``node.store.counters.Counters`` as the guards use it (``Store.counters()``)."""

    def take(
        self, subject: str, bucket: str, *, per_minute: int, burst: int, now: float
    ) -> _Taken: ...
    def harvest_until(self, subject: str) -> float: ...
    def probe(
        self,
        subject: str,
        probed: str,
        *,
        now: float,
        max_unknown: int,
        window_s: float,
        sample: int,
    ) -> _Probed: ...
    def close(self) -> None: ...


class _JustRead(threading.local):
    """The harvest throttle the bucket's statement returned on this thread, for the guard's
    check that follows it in the same request (``api/dispatch.py``: take, then check): one
    round trip per guarded request instead of two."""

    subject: str | None = None
    until: float = 0.0


class PackTaker(Protocol):
    """``node.store.Store`` as ``SharedRateLimiter.take_reading`` uses it."""

    def counters(self) -> Any: ...
    def read_pack(self, gtin: str, serial: str) -> PackReading | None: ...
    def read_pack_taking(
        self, take: TakeRequest, gtin: str, serial: str
    ) -> tuple[_Taken, PackReading | None]: ...


class SharedRateLimiter:
    """``RateLimiter`` counted in the node's database: one bucket per token for every server."""

    def __init__(
        self,
        counters: CounterStore,
        bucket: str,
        per_minute: int,
        *,
        burst: int | None = None,
        clock: Callable[[], float] = time.time,
        seen: _JustRead | None = None,
    ) -> None:
        self.counters = counters
        self.bucket = bucket
        self.per_minute = max(per_minute, 1)
        self.burst = burst if burst is not None else self.per_minute
        self.clock = clock
        self.seen = seen if seen is not None else _JustRead()

    def take(self, key: str) -> float:
        """Take one request for ``key``: 0.0 if allowed, else the seconds until one is free."""
        taken = self.counters.take(
            key, self.bucket, per_minute=self.per_minute, burst=self.burst, now=self.clock()
        )
        self.seen.subject, self.seen.until = key, taken.harvest_until
        return taken.wait

    def take_reading(
        self, key: str, store: PackTaker, gtin: str, serial: str
    ) -> tuple[float, PackReading | None]:
        """``take``, and if it allows the request the pack ``(gtin, serial)`` as
        ``store.read_pack`` reads it (``None``: unknown, or refused): one round trip where the
        store can do both at once (PostgreSQL, ``Store.read_pack_taking``)."""
        if store.counters() is not self.counters:  # counted elsewhere: take, then read
            wait = self.take(key)
            return wait, (store.read_pack(gtin, serial) if wait <= 0 else None)
        request = TakeRequest(key, self.bucket, self.per_minute, self.burst, self.clock())
        taken, reading = store.read_pack_taking(request, gtin, serial)
        self.seen.subject, self.seen.until = key, taken.harvest_until
        return taken.wait, reading


class SharedHarvestGuard:
    """``HarvestGuard`` counted in the node's database: every server counts the same probes,
    refuses a token past the threshold, and one of them raises the alert once per window."""

    def __init__(
        self,
        counters: CounterStore,
        max_unknown: int,
        window_s: float,
        *,
        clock: Callable[[], float] = time.time,
        sample: int = 10,
        seen: _JustRead | None = None,
    ) -> None:
        self.counters = counters
        self.max_unknown = max(max_unknown, 0)
        self.window_s = max(window_s, 1.0)
        self.clock = clock
        self.sample = sample
        self.seen = seen if seen is not None else _JustRead()

    @property
    def enabled(self) -> bool:
        return self.max_unknown > 0

    def wait(self, key: str) -> float:
        """0.0 if ``key`` may verify now, else the seconds until it may."""
        if not self.enabled:
            return 0.0
        if self.seen.subject == key:  # read by this request's take, a moment ago
            until = self.seen.until
            self.seen.subject = None
        else:
            until = self.counters.harvest_until(key)
        return max(until - self.clock(), 0.0)

    def unknown(self, key: str, probed: str) -> Harvest | None:
        """Record a lookup of an unknown ``probed`` key; a ``Harvest`` when this crosses the
        threshold for the first time in a window (for one server of the node only)."""
        if not self.enabled:
            return None
        found = self.counters.probe(
            key,
            probed,
            now=self.clock(),
            max_unknown=self.max_unknown,
            window_s=self.window_s,
            sample=self.sample,
        )
        if not found.alert:
            return None
        return Harvest(key, found.count, self.window_s, found.sample)


def shared_guards(
    counters: CounterStore,
    *,
    query_per_minute: int,
    write_per_minute: int,
    max_unknown: int,
    window_s: float,
) -> tuple[SharedRateLimiter, SharedRateLimiter, SharedHarvestGuard]:
    """The query bucket, the write bucket and the harvesting guard of one node, on one set of
    counters (and one per-thread note of what the last take read)."""
    seen = _JustRead()
    return (
        SharedRateLimiter(counters, "query", query_per_minute, seen=seen),
        SharedRateLimiter(counters, "write", write_per_minute, seen=seen),
        SharedHarvestGuard(counters, max_unknown, window_s, seen=seen),
    )
