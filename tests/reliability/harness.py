"""The crash harness: a workload of real HTTP writes against node processes, SIGKILLs at
random moments drawn from a seeded RNG, and the checks after every kill and at the end.

Workload (client threads in the test process):

* commissioners: ``POST /api/v1/commission`` of ``batch`` serials the client chose, signed in
  entries of ``chunk`` serials, all in one transaction (the unit a kill must not split);
* an aggregator-shipper at the manufacturer: 1 case of ``case_size`` acknowledged packs at a
  time, a pallet of ``cases_per_pallet`` cases, the pallet shipped to the distributor;
* a receiver at the distributor: receives each shipped pallet once replication brought the
  ship entry; meanwhile the distributor ingests every commissioning page from its peer.

After each kill, before the restart, the victim's database is opened directly (what the node
will find): every entry it acknowledged is there, every commissioning request it began is
all there or absent, and (every ``verify_every`` kills) ``verify_store`` passes. At the end the
nodes converge to one digest, no feed is frozen at a fork, and every store verifies and holds
every entry any node acknowledged.
"""

from __future__ import annotations

import itertools
import queue
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import requests
from sqlalchemy import select

from ledger.alerts import Code
from ledger.entry import SignedEntry
from ledger.identifiers import container_uri, pack_uri
from medtrace.demo.scenario import GTIN, sscc
from node.store import Store
from node.store.models import ENTRIES
from node.verify import verify_store
from tests.reliability.network import CrashNode, Network

EXPIRY = "2030-12-31"
MANUFACTURER = "manufacturer"
DISTRIBUTOR = "distributor"
#: Answers a client may get while the node is fine but the write is not possible yet: a
#: receive before replication brought its ship entry.
NOT_YET = frozenset({409, 422})
#: Refusals of a receive tolerated after the receiver holds the ship entry (a retry races the
#: ingest that brought it); more is a fault.
RECEIVE_STRIKES = 3


@dataclass(frozen=True)
class Plan:
    seed: int
    kills: int
    delay_s: tuple[float, float] = (0.3, 2.0)  # after the victim answers again
    batch: int = 1_000  # serials per commissioning request
    chunk: int = 100  # serials per signed entry
    commissioners: int = 1
    pace_s: float = 0.0  # a commissioner's pause between requests (bounds the data volume)
    case_size: int = 50
    cases_per_pallet: int = 4
    verify_every: int = 1  # verify_store on the victim after every n-th kill
    victims: tuple[tuple[str, float], ...] = ((MANUFACTURER, 0.6), (DISTRIBUTOR, 0.4))
    #: Take the victims in turn instead of by weight (a short run then kills each of them).
    alternate: bool = False

    def replay(self) -> str:
        return f"seed {self.seed} (replay: MEDTRACE_CRASH_SEED={self.seed})"


@dataclass
class Batch:
    """One commissioning request: its serials are all stored or none."""

    node: str
    lot: str
    serials: list[str]
    epoch: int  # the node's kill epoch when the request was sent
    acked: bool = False
    settled: bool = False


@dataclass
class Report:
    seed: int
    kills: int = 0
    kills_by_victim: Counter[str] = field(default_factory=Counter)
    #: kills that cut at least one write request in flight (sent, never answered)
    kills_mid_write: int = 0
    #: kills of a node that was behind its peer's feed (replication pending or in progress)
    kills_mid_replication: int = 0
    cut_requests: Counter[str] = field(default_factory=Counter)
    cut_batches_committed: int = 0
    cut_batches_absent: int = 0
    acked: Counter[str] = field(default_factory=Counter)
    verifies: int = 0
    restart_s: list[float] = field(default_factory=list)
    entries: int = 0
    packs: int = 0
    duration_s: float = 0.0

    def summary(self) -> dict[str, Any]:
        return {
            "seed": self.seed,
            "kills": self.kills,
            "kills_by_victim": dict(self.kills_by_victim),
            "kills_mid_write": self.kills_mid_write,
            "kills_mid_replication": self.kills_mid_replication,
            "cut_requests": dict(self.cut_requests),
            "cut_batches_committed": self.cut_batches_committed,
            "cut_batches_absent": self.cut_batches_absent,
            "acked_writes": dict(self.acked),
            "verify_store_runs": self.verifies,
            "restart_s_max": round(max(self.restart_s, default=0.0), 2),
            "restart_s_mean": round(sum(self.restart_s) / max(1, len(self.restart_s)), 2),
            "entries": self.entries,
            "packs": self.packs,
            "duration_s": round(self.duration_s, 1),
        }


class CrashFailure(AssertionError):
    """What the harness found; the message names the seed to replay it."""


class Recorder:
    """What the clients were told (thread-safe): acknowledged entries and begun batches."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.acked: dict[str, set[str]] = {}  # node -> entry ids answered 2xx
        self.batches: list[Batch] = []
        self.cut: dict[str, int] = {}  # node -> epoch of the last kill that cut a write
        self.failures: list[str] = []
        self.counter = itertools.count(1)

    def ack(self, node: str, entries: Iterable[str], what: str, report: Report) -> None:
        with self.lock:
            ids = list(entries)
            self.acked.setdefault(node, set()).update(ids)
            report.acked[what] += 1

    def fail(self, message: str) -> None:
        with self.lock:
            self.failures.append(message)

    def acked_ids(self, node: str | None = None) -> set[str]:
        with self.lock:
            if node is not None:
                return set(self.acked.get(node, ()))
            return set().union(*self.acked.values()) if self.acked else set()


class Cut(Exception):
    """The request was sent and no answer came: the node died under it."""


class Unsent(Exception):
    """The node was down (or the run stopping) and the request was not sent."""


class Harness:
    def __init__(self, network: Network, plan: Plan) -> None:
        self.net = network
        self.plan = plan
        self.rng = random.Random(plan.seed)
        self.rec = Recorder()
        self.report = Report(plan.seed)
        self.stop = threading.Event()
        self.packs: queue.Queue[list[str]] = queue.Queue()  # acknowledged batches' pack URIs
        self.ships: queue.Queue[tuple[SignedEntry, str]] = queue.Queue()  # (ship, pallet)
        self.sscc = itertools.count(plan.seed % 10_000 * 100_000 + 1)

    # -- client side -----------------------------------------------------------------------
    def write(
        self,
        node: CrashNode,
        path: str,
        body: Any,
        on_send: Callable[[int], None] | None = None,
    ) -> requests.Response:
        """POST ``body``; ``Cut`` if the node died under the request, ``Unsent`` if it was down.
        ``on_send`` gets the node's kill epoch just before the request goes out."""
        while not node.up.wait(0.2):
            if self.stop.is_set():
                raise Unsent
        epoch = node.epoch
        if on_send is not None:
            on_send(epoch)
        try:
            return node.request("POST", path, body, timeout=120)
        except requests.RequestException as exc:
            if node.epoch == epoch:
                if node.up.is_set():
                    self.rec.fail(f"{node.name} {path}: {type(exc).__name__} while it was up")
                raise Unsent from None
            with self.rec.lock:
                self.rec.cut[node.name] = node.epoch
                self.report.cut_requests[path.rsplit("/", 1)[-1]] += 1
            raise Cut from None

    def _refused(self, node: CrashNode, path: str, response: requests.Response) -> None:
        self.rec.fail(f"{node.name} {path}: {response.status_code} {response.text[:300]}")

    def commissioner(self) -> None:
        node = self.net.nodes[MANUFACTURER]
        path = "/api/v1/commission"
        while not self.stop.is_set():
            n = next(self.rec.counter)
            lot = f"C{self.plan.seed % 100_000}-{n}"
            serials = [f"B{n:05d}S{j:05d}" for j in range(self.plan.batch)]
            batch = Batch(node.name, lot, serials, epoch=-1)

            def sent(epoch: int, batch: Batch = batch) -> None:
                batch.epoch = epoch
                with self.rec.lock:
                    self.rec.batches.append(batch)

            body = {
                "gtin": GTIN,
                "lot": lot,
                "expiry": EXPIRY,
                "serials": serials,
                "chunk": self.plan.chunk,
            }
            try:
                response = self.write(node, path, body, on_send=sent)
            except (Cut, Unsent):
                continue
            if response.status_code != 201:
                self._refused(node, path, response)
                continue
            batch.acked = True
            self.rec.ack(node.name, response.json()["entries"], "commission", self.report)
            self.packs.put([pack_uri(GTIN, s) for s in serials])
            self.stop.wait(self.plan.pace_s)

    def aggregator(self) -> None:
        """Cases of acknowledged packs, pallets of cases, each pallet shipped."""
        node = self.net.nodes[MANUFACTURER]
        loose: list[str] = []
        cases: list[str] = []
        while not self.stop.is_set():
            if len(cases) >= self.plan.cases_per_pallet:
                pallet = container_uri(sscc(next(self.sscc)))
                packed = self._action(node, "pack", [pallet, *cases])
                cases = []
                if packed is None:
                    continue
                ship = self._action(node, "ship", [pallet], body={"destination": DISTRIBUTOR})
                if ship is not None:
                    self.ships.put((ship, pallet))
                continue
            if len(loose) < self.plan.case_size:
                try:
                    loose += self.packs.get(timeout=0.2)
                except queue.Empty:
                    continue
                continue
            case, loose = loose[: self.plan.case_size], loose[self.plan.case_size :]
            box = container_uri(sscc(next(self.sscc)))
            if self._action(node, "pack", [box, *case]) is not None:
                cases.append(box)

    def receiver(self) -> None:
        """Receive each shipped pallet once replication brought its ship entry: refused while
        the distributor lags (however long, the machine may be slow), a fault once it holds it."""
        node = self.net.nodes[DISTRIBUTOR]
        while not self.stop.is_set():
            try:
                ship, pallet = self.ships.get(timeout=0.2)
            except queue.Empty:
                continue
            strikes = 0
            while not self.stop.is_set():
                try:
                    self._action(node, "receive", [pallet], refs=[ship.id])
                except _NotYet as not_yet:
                    if self._holds(node, ship):
                        strikes += 1
                        if strikes >= RECEIVE_STRIKES:
                            self.rec.fail(
                                f"{node.name} refused to receive {pallet} although it holds "
                                f"its ship entry: {not_yet}"
                            )
                            break
                    time.sleep(0.3)
                    continue
                break

    def _holds(self, node: CrashNode, entry: SignedEntry) -> bool:
        try:
            feeds = node.heads()["feeds"]
        except (requests.RequestException, AssertionError):
            return False  # killed meanwhile: ask again after the restart
        held = feeds.get(entry.payload.feed, {}).get("size", 0)
        return int(held) > entry.payload.seq

    def _action(
        self,
        node: CrashNode,
        kind: str,
        subjects: list[str],
        refs: list[str] | None = None,
        body: dict[str, Any] | None = None,
    ) -> SignedEntry | None:
        """The acknowledged entry; ``None`` if cut or unsent (its subjects are dropped:
        whether the write landed is unknown, and both are fine)."""
        path = f"/api/v1/actions/{kind}"
        payload: dict[str, Any] = {"subjects": subjects}
        if refs:
            payload["refs"] = refs
        if body:
            payload["body"] = body
        try:
            response = self.write(node, path, payload)
        except (Cut, Unsent):
            return None
        if response.status_code == 201:
            entry = SignedEntry.from_wire(response.json()["entry"])
            self.rec.ack(node.name, [entry.id], kind, self.report)
            return entry
        if kind == "receive" and response.status_code in NOT_YET:
            raise _NotYet(response.text[:300])
        self._refused(node, path, response)
        return None

    # -- the run -----------------------------------------------------------------------------
    def run(self) -> Report:
        started = time.monotonic()
        workers: list[Callable[[], None]] = [self.commissioner] * self.plan.commissioners
        workers += [self.aggregator, self.receiver]
        threads = [
            threading.Thread(target=self._guard(w), name=f"crash-{i}", daemon=True)
            for i, w in enumerate(workers)
        ]
        for thread in threads:
            thread.start()
        try:
            for _ in range(self.plan.kills):
                self._kill_round()
                self._raise_failures()
        finally:
            self.stop.set()
            for thread in threads:
                thread.join(timeout=150)
        self._raise_failures()
        self.finish()
        self.report.duration_s = time.monotonic() - started
        return self.report

    def _guard(self, work: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            try:
                work()
            except Exception as exc:  # noqa: BLE001 - reported with the seed by the main thread
                self.rec.fail(f"client {work.__name__} crashed: {type(exc).__name__}: {exc}")

        return run

    def _pick_victim(self) -> CrashNode:
        names = [name for name, _ in self.plan.victims]
        if self.plan.alternate:
            return self.net.nodes[names[self.report.kills % len(names)]]
        weights = [weight for _, weight in self.plan.victims]
        return self.net.nodes[self.rng.choices(names, weights)[0]]

    def _kill_round(self) -> None:
        victim = self._pick_victim()
        time.sleep(self.rng.uniform(*self.plan.delay_s))
        victim.kill()
        self.report.kills += 1
        self.report.kills_by_victim[victim.name] += 1
        self.check_on_disk(victim)
        # Counted only when a client saw its request die unanswered (it has had the time of
        # the checks to notice), not when one merely may have been in flight.
        with self.rec.lock:
            if self.rec.cut.get(victim.name) == victim.epoch:
                self.report.kills_mid_write += 1
        try:
            self.report.restart_s.append(victim.start())
        except RuntimeError as exc:
            raise self._failure(f"{victim.name} did not restart after kill: {exc}") from None

    def check_on_disk(self, victim: CrashNode) -> None:
        """What the restarting node will find: acknowledged entries, whole batches, a valid chain."""
        with victim.store() as store:
            missing = self._missing(store, self.rec.acked_ids(victim.name))
            if missing:
                raise self._failure(
                    f"{victim.name} lost {len(missing)} acknowledged entries at kill "
                    f"{self.report.kills}, e.g. {sorted(missing)[:3]}"
                )
            with self.rec.lock:
                begun = [
                    b
                    for b in self.rec.batches
                    if b.node == victim.name and not b.settled and b.epoch < victim.epoch
                ]
            for batch in begun:
                held = self._held(store, batch)
                batch.settled = True
                if held == len(batch.serials):
                    if not batch.acked:
                        self.report.cut_batches_committed += 1
                    continue
                if held == 0 and not batch.acked:
                    self.report.cut_batches_absent += 1
                    continue
                raise self._failure(
                    f"{victim.name}: commissioning request of lot {batch.lot} "
                    f"({'acknowledged' if batch.acked else 'cut'}) holds {held} of "
                    f"{len(batch.serials)} packs after kill {self.report.kills} (half a batch)"
                )
            if self.plan.verify_every and self.report.kills % self.plan.verify_every == 0:
                self._verify(victim.name, store)
            self._no_fork(victim.name, store)
            lagging = self._lags_peer(victim, store)
        if lagging:
            self.report.kills_mid_replication += 1

    def _lags_peer(self, victim: CrashNode, store: Store) -> bool:
        ours = store.heads()
        for name, node in self.net.nodes.items():
            if name == victim.name or not node.up.is_set():
                continue
            try:
                theirs = node.heads()["feeds"]
            except (requests.RequestException, AssertionError):
                continue
            for feed, head in theirs.items():
                mine = ours.get(feed)
                if head["size"] > (mine.size if mine else 0):
                    return True
        return False

    def finish(self) -> None:
        """Converge, stop gracefully, and check every store against everything acknowledged."""
        try:
            self.net.converge()
        except AssertionError as exc:
            raise self._failure(str(exc)) from None
        self.net.stop()
        everything = self.rec.acked_ids()
        with self.rec.lock:
            batches = list(self.rec.batches)
        for name, node in self.net.nodes.items():
            with node.store() as store:
                missing = self._missing(store, everything)
                if missing:
                    raise self._failure(
                        f"{name} lacks {len(missing)} acknowledged entries after converging, "
                        f"e.g. {sorted(missing)[:3]}"
                    )
                for batch in batches:
                    held = self._held(store, batch)
                    if held not in (0, len(batch.serials)) or (batch.acked and held == 0):
                        raise self._failure(
                            f"{name}: lot {batch.lot} holds {held} of {len(batch.serials)} "
                            "packs at the end (half a batch, or an acknowledged batch lost)"
                        )
                self._verify(name, store)
                self._no_fork(name, store)
                self.report.entries = store.count("entries")
                self.report.packs = store.count("packs")

    # -- checks --------------------------------------------------------------------------------
    def _missing(self, store: Store, ids: set[str]) -> set[str]:
        wanted = sorted(ids)
        found: set[str] = set()
        with store.reader.connect() as conn:
            for start in range(0, len(wanted), 500):
                chunk = wanted[start : start + 500]
                found |= set(
                    conn.execute(
                        select(ENTRIES.c.entry_id).where(ENTRIES.c.entry_id.in_(chunk))
                    ).scalars()
                )
        return ids - found

    def _held(self, store: Store, batch: Batch) -> int:
        return len(store.existing_serials(GTIN, batch.serials))

    def _verify(self, name: str, store: Store) -> None:
        try:
            verify_store(store, self.net.membership)
        except Exception as exc:  # noqa: BLE001 - any error is the finding, named with the seed
            raise self._failure(
                f"verify_store failed on {name} after kill {self.report.kills}: "
                f"{type(exc).__name__}: {exc}"
            ) from None
        self.report.verifies += 1

    def _no_fork(self, name: str, store: Store) -> None:
        frozen = {h.feed: h.frozen_at for h in store.heads().values() if h.frozen_at is not None}
        forks = store.alerts(code=Code.FORK.value)
        if frozen or forks:
            raise self._failure(
                f"{name} holds a fork after kill {self.report.kills}: frozen {frozen}, "
                f"{[a.message for a in forks][:2]}"
            )

    def _raise_failures(self) -> None:
        with self.rec.lock:
            failures = list(self.rec.failures)
        if failures:
            raise self._failure("; ".join(failures[:5]))

    def _failure(self, message: str) -> CrashFailure:
        self.stop.set()
        logs = ", ".join(str(node.process.data / "node.log") for node in self.net.nodes.values())
        return CrashFailure(
            f"{message} [{self.plan.replay()}; {self.report.summary()}; logs: {logs}]"
        )


class _NotYet(Exception):
    """A receive refused because its ship entry has not replicated yet."""
