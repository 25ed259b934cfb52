"""The soak's steady load: verification clients at a fixed rate, and a writer moving batches of
packs down the supply chain, each answer recorded with its latency and status.

Every verification client has its own verifier token (the rate limit is per token) and asks
one node about packs that every node already holds, so a 404 or a 429 is a real failure, not
a race with replication. One request in ``BAD_EVERY`` is deliberately malformed (a GTIN with a
letter) and must be answered 400: it is counted apart, as *expected*.
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import requests

from ledger.identifiers import pack_uri
from node.replication.protocol import FEEDS_PATH, FROM_PARAM, LIMIT_PARAM, entries_path

GTIN = "09506000134352"
EXPIRY = "2031-12-31"
BAD_EVERY = 50
REPLICATION_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class Answer:
    t: float  # seconds since the start of the load, when the request was sent
    what: str  # "verify", "provenance", "bad" (expected 400), "write", "poll" (replication)
    node: str
    latency_s: float
    status: int | None  # None: no answer (connection error, timeout)
    detail: str = ""

    @property
    def failed(self) -> bool:
        if self.status is None:
            return True
        if self.what == "bad":
            return self.status != 400
        return not 200 <= self.status < 300


@dataclass
class Recorder:
    start: float = field(default_factory=time.monotonic)
    answers: list[Answer] = field(default_factory=list)
    lags: list[float] = field(default_factory=list)  # replication: write to every node, s
    problems: list[str] = field(default_factory=list)  # what stopped the writer, if anything
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def now(self) -> float:
        return time.monotonic() - self.start

    def add(self, answer: Answer) -> None:
        with self._lock:
            self.answers.append(answer)

    def snapshot(self) -> list[Answer]:
        with self._lock:
            return list(self.answers)


@dataclass(frozen=True)
class Endpoint:
    name: str
    url: str
    token: str
    ca: str | None = None  # over TLS: the consortium CA, the only one trusted


class Http:
    """One keep-alive session; every call recorded, whatever its outcome."""

    def __init__(self, recorder: Recorder) -> None:
        self.recorder = recorder
        self.session = requests.Session()

    def _verify(self, node: Endpoint) -> str | bool:
        return node.ca if node.ca is not None else True

    def call(
        self, what: str, node: Endpoint, method: str, path: str, body: Any = None
    ) -> Any | None:
        began = self.recorder.now()
        clock = time.perf_counter()
        try:
            response = self.session.request(
                method,
                node.url + path,
                json=body,
                headers={"Authorization": f"Bearer {node.token}"},
                timeout=30,
                verify=self._verify(node),
            )
        except requests.RequestException as exc:
            self.recorder.add(
                Answer(
                    began, what, node.name, time.perf_counter() - clock, None, type(exc).__name__
                )
            )
            return None
        answer = Answer(
            began,
            what,
            node.name,
            time.perf_counter() - clock,
            response.status_code,
            "" if response.ok else f"{method} {path}: {response.text[:200]}",
        )
        self.recorder.add(answer)
        if answer.failed or what == "bad":
            return None
        return response.json()

    def close(self) -> None:
        self.session.close()


@dataclass
class Pool:
    """Serials every node holds: what verification clients may ask about."""

    serials: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def extend(self, serials: list[str]) -> None:
        with self._lock:
            self.serials.extend(serials)

    def pick(self, rng: random.Random) -> str:
        with self._lock:
            return rng.choice(self.serials)


class VerifyClient(threading.Thread):
    """``rate`` verifications per second on a fixed schedule (no catch-up bursts)."""

    def __init__(
        self,
        node: Endpoint,
        pool: Pool,
        recorder: Recorder,
        rate: float,
        stop: threading.Event,
        seed: int,
    ) -> None:
        super().__init__(daemon=True, name=f"verify-{node.name}-{seed}")
        self.node, self.pool, self.rate, self.stop_event = node, pool, rate, stop
        self.http = Http(recorder)
        self.rng = random.Random(seed)

    def run(self) -> None:
        period = 1.0 / self.rate
        next_at = time.monotonic()
        count = 0
        while not self.stop_event.is_set():
            count += 1
            serial = self.pool.pick(self.rng)
            if count % BAD_EVERY == 0:
                self.http.call("bad", self.node, "GET", f"/api/v1/packs/0950600013435X/{serial}")
            elif self.rng.random() < 0.1:
                self.http.call(
                    "provenance", self.node, "GET", f"/api/v1/packs/{GTIN}/{serial}/provenance"
                )
            else:
                self.http.call("verify", self.node, "GET", f"/api/v1/packs/{GTIN}/{serial}")
            next_at = max(next_at + period, time.monotonic())
            self.stop_event.wait(max(0.0, next_at - time.monotonic()))
        self.http.close()


@dataclass(frozen=True)
class Chain:
    """The writers (operator tokens) and every node, to wait for replication on."""

    manufacturer: Endpoint
    distributor: Endpoint
    customs: Endpoint
    pharmacy: Endpoint
    everyone: tuple[Endpoint, ...]
    feeds: dict[str, str]  # node name -> its feed


class Writer(threading.Thread):
    """Batches down the chain, one cycle after another, ``period_s`` apart: commission, ship
    to the distributor, receive, customs inspects, ship to the pharmacy, receive, dispense a
    few. Each step that needs the previous one at another node waits for replication to bring
    it (the push hint, else the timer); the batch joins the verification pool once every node
    holds it."""

    def __init__(
        self,
        chain: Chain,
        pool: Pool,
        recorder: Recorder,
        stop: threading.Event,
        *,
        batch: int,
        period_s: float,
    ) -> None:
        super().__init__(daemon=True, name="writer")
        self.chain, self.pool, self.recorder, self.stop_event = chain, pool, recorder, stop
        self.batch, self.period_s = batch, period_s
        self.http = Http(recorder)
        self.cycles = 0

    def run(self) -> None:
        try:
            while not self.stop_event.is_set():
                began = time.monotonic()
                if not self.cycle(f"SOAK{self.cycles}"):
                    self.recorder.problems.append(f"write cycle {self.cycles} did not complete")
                    break
                self.cycles += 1
                self.stop_event.wait(max(0.0, self.period_s - (time.monotonic() - began)))
        finally:
            self.http.close()

    def _write(self, node: Endpoint, kind: str, subjects: list[str], **extra: Any) -> str | None:
        answer = self.http.call(
            "write", node, "POST", f"/api/v1/actions/{kind}", {"subjects": subjects, **extra}
        )
        return None if answer is None else str(answer["entry"]["id"])

    def cycle(self, lot: str) -> bool:
        c = self.chain
        done = self.http.call(
            "write",
            c.manufacturer,
            "POST",
            "/api/v1/commission",
            {"gtin": GTIN, "lot": lot, "expiry": EXPIRY, "count": self.batch},
        )
        if done is None:
            return False
        serials: list[str] = done["serials"]
        uris = [pack_uri(GTIN, s) for s in serials]
        written_at = time.monotonic()
        ship = self._write(c.manufacturer, "ship", uris, body={"destination": "distributor"})
        if ship is None or not self.holds(c.distributor, c.manufacturer, ship):
            return False
        if not self.holds(c.customs, c.manufacturer, ship):
            return False
        if self._write(c.distributor, "receive", uris, refs=[ship]) is None:
            return False
        if self._write(c.customs, "inspect", uris, body={"decision": "release"}) is None:
            return False
        onward = self._write(c.distributor, "ship", uris, body={"destination": "pharmacy"})
        if onward is None or not self.holds(c.pharmacy, c.distributor, onward):
            return False
        if self._write(c.pharmacy, "receive", uris, refs=[onward]) is None:
            return False
        if self._write(c.pharmacy, "dispense", uris[: max(1, len(uris) // 4)]) is None:
            return False
        if not all(self.holds(node, c.manufacturer, ship) for node in c.everyone):
            return False
        self.recorder.lags.append(time.monotonic() - written_at)
        self.pool.extend(serials)
        return True

    def holds(self, node: Endpoint, writer: Endpoint, entry_id: str) -> bool:
        """Until ``node`` holds ``entry_id`` of ``writer``'s feed; False on timeout or error.
        A cycle under way when the soak stops is finished, not cut short."""
        feed = self.chain.feeds[writer.name]
        end = time.monotonic() + REPLICATION_TIMEOUT_S
        while time.monotonic() < end:
            heads = self.http.call("poll", node, "GET", FEEDS_PATH)
            if heads is None:
                return False
            head = heads["feeds"].get(feed)
            if head is not None:
                if head["head"] == entry_id:
                    return True
                # the writer's entries are the last few of its feed: look at the tail only
                start = max(0, head["size"] - 8)
                page = self.http.call(
                    "poll",
                    node,
                    "GET",
                    f"{entries_path(feed)}?{FROM_PARAM}={start}&{LIMIT_PARAM}=8",
                )
                if page is None:
                    return False
                if any(e["id"] == entry_id for e in page["entries"]):
                    return True
            time.sleep(0.1)
        return False
