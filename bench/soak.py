"""``medtrace soak`` (``python -m bench.soak``): the demo network under a steady verify + write
load for a few minutes, with 0 errors and flat memory required.

The five demo nodes run as real processes (``node.localnet.processes``). Several verification
clients query pack states and provenance at a fixed rate, each with its own verifier token; a
writer moves batches of packs from the manufacturer through the distributor and customs to the
pharmacy, where some are dispensed, and waits for replication between the steps. Every answer
is recorded: any non-2xx (but the deliberately malformed requests' expected 400) or connection
error is a failure. Every few seconds the resident memory of each node's process tree (master
and workers, from /proc) is sampled.

*Flat* memory: after a warm-up (the first minute, or a quarter of a shorter run), a node's
memory may grow by at most ``max(10 % of its warm size, 8 MB)``, comparing medians of a window
at each end. Why these: a leak proportional to traffic, the thing a soak is for, grows without
bound and crosses 10 % within minutes at this load; but a node's caches legitimately grow with
its ledger up to fixed sizes (SQLite keeps a page cache of up to 2 MiB per connection and a
worker holds one per thread), which at ~120 MB per node can be close to 10 % and is bounded
by a few MB, hence the floor. The least-squares slope is reported beside it.

At the end the load stops, the nodes converge, and every node's digest must be the same.
Exit status: 0 when all holds, 1 otherwise.
"""

from __future__ import annotations

import json
import math
import secrets
import shutil
import threading
import time
from collections import Counter
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from bench.loadgen import percentile
from bench.soak_load import (
    Answer,
    Chain,
    Endpoint,
    Http,
    Pool,
    Recorder,
    VerifyClient,
    Writer,
)
from bench.soak_memory import Sample, Trend, sample_tree, trend
from node.config import load_config
from node.localnet.network import NODE_FEEDS, create_consortium
from node.localnet.processes import ProcessNetwork, build_process_network
from node.replication.protocol import FEEDS_PATH, SYNC_PATH
from node.store import Store
from node.tokens import Tokens

MARKER = "soak.json"
#: Verification clients take turns over these nodes (those where packs are checked).
VERIFY_AT = ("pharmacy", "customs", "distributor", "manufacturer")
GROWTH_FRACTION = 0.10
GROWTH_FLOOR_MB = 8.0


@dataclass(frozen=True)
class Settings:
    duration_s: float
    clients: int = 4
    rate: float = 5.0  # verifications per second per client
    batch: int = 20  # packs per write cycle
    write_period_s: float = 3.0
    sample_s: float = 5.0
    growth_fraction: float = GROWTH_FRACTION
    growth_floor_mb: float = GROWTH_FLOOR_MB

    @property
    def warmup_s(self) -> float:
        return min(60.0, self.duration_s / 4)

    @property
    def bucket_s(self) -> float:
        """Latency is reported per minute; a run shorter than two minutes, per quarter."""
        return 60.0 if self.duration_s >= 120 else max(1.0, self.duration_s / 4)


@dataclass
class Soaked:
    """What a run measured."""

    settings: Settings
    answers: list[Answer]
    lags: list[float]
    cycles: int
    memory: dict[str, list[Sample]]
    digests: dict[str, str]
    problems: list[str] = field(default_factory=list)

    def trends(self) -> dict[str, Trend]:
        s = self.settings
        return {
            name: trend(
                samples,
                s.warmup_s,
                fraction=s.growth_fraction,
                floor_mb=s.growth_floor_mb,
                window_s=max(s.sample_s * 3, s.duration_s / 10),
            )
            for name, samples in self.memory.items()
        }

    def failures(self) -> list[Answer]:
        return [a for a in self.answers if a.failed]

    def verdict(self) -> list[str]:
        """Why the soak failed; empty when it passed."""
        why = list(self.problems)
        failed = self.failures()
        if failed:
            why.append(f"{len(failed)} failed requests (non-2xx or no answer)")
        for name, t in self.trends().items():
            if not t.flat:
                why.append(
                    f"{name}: memory grew {t.growth_mb:.1f} MB after warm-up "
                    f"(bound {t.bound_mb:.1f} MB)"
                )
        if len(set(self.digests.values())) != 1:
            why.append(f"the nodes did not converge: {len(set(self.digests.values()))} digests")
        return why

    def buckets(self) -> list[dict[str, Any]]:
        width = self.settings.bucket_s
        count = max(1, math.ceil(self.settings.duration_s / width))
        rows = []
        for index in range(count):
            inside = [a for a in self.answers if index * width <= a.t < (index + 1) * width]
            reads = sorted(a.latency_s for a in inside if a.what in ("verify", "provenance"))
            writes = sorted(a.latency_s for a in inside if a.what == "write")
            rows.append(
                {
                    "from_s": round(index * width),
                    "verifications": len(reads),
                    "writes": len(writes),
                    "errors": sum(1 for a in inside if a.failed),
                    "verify_p50_ms": _ms(percentile(reads, 0.50)),
                    "verify_p95_ms": _ms(percentile(reads, 0.95)),
                    "write_p50_ms": _ms(percentile(writes, 0.50)),
                    "write_p95_ms": _ms(percentile(writes, 0.95)),
                }
            )
        return rows

    def to_json(self) -> dict[str, Any]:
        s = self.settings
        kinds = Counter(a.what for a in self.answers)
        lags = sorted(self.lags)
        why = self.verdict()
        return {
            "ok": not why,
            "problems": why,
            "duration_s": s.duration_s,
            "warmup_s": s.warmup_s,
            "clients": s.clients,
            "rate_per_client": s.rate,
            "requests": dict(sorted(kinds.items())),
            "errors": len(self.failures()),
            "error_samples": [
                {"t": round(a.t, 1), "node": a.node, "status": a.status, "detail": a.detail}
                for a in self.failures()[:20]
            ],
            "expected_4xx": sum(1 for a in self.answers if a.what == "bad" and a.status == 400),
            "write_cycles": self.cycles,
            "packs_written": self.cycles * s.batch,
            "replication_lag_s": {
                "p50": _round(percentile(lags, 0.50)),
                "p95": _round(percentile(lags, 0.95)),
                "max": _round(lags[-1] if lags else float("nan")),
            },
            "per_period": self.buckets(),
            "memory_bound": f"growth after warm-up <= max({s.growth_fraction:.0%} of warm size, "
            f"{s.growth_floor_mb:g} MB) per node",
            "memory": {name: t.to_json() for name, t in self.trends().items()},
            "digests": self.digests,
        }


def _ms(seconds: float) -> float | None:
    return None if math.isnan(seconds) else round(seconds * 1000, 1)


def _round(value: float) -> float | None:
    return None if math.isnan(value) else round(value, 2)


# -- the network -------------------------------------------------------------------------------


def _prepare(out: Path) -> None:
    if out.exists() and any(out.iterdir()):
        if not (out / MARKER).exists() and not (out / "consortium").exists():
            raise SoakRefused(f"{out} is not empty and holds no earlier soak; choose another --out")
        shutil.rmtree(out)
    out.mkdir(parents=True)
    out.chmod(0o700)


def _verifier_tokens(out: Path, clients: int) -> list[Endpoint]:
    """One verifier token per client, issued by the node it will ask (before it starts)."""
    tokens = json.loads((out / "tokens.json").read_text())
    endpoints = []
    for index in range(clients):
        name = VERIFY_AT[index % len(VERIFY_AT)]
        data = out / "nodes" / name
        with Store(load_config(data).database_url(data)) as store:
            token = Tokens(store).create(f"soak-client-{index}", "verifier")[0]
        endpoints.append(Endpoint(name, tokens[name]["url"], token, tokens[name].get("ca")))
    return endpoints


def _chain(out: Path) -> Chain:
    tokens = json.loads((out / "tokens.json").read_text())
    ops = {
        name: Endpoint(name, t["url"], t["operator"], t.get("ca"))
        for name, t in ((n, tokens[n]) for n in NODE_FEEDS)
    }
    return Chain(
        ops["manufacturer"],
        ops["distributor"],
        ops["customs"],
        ops["pharmacy"],
        tuple(ops.values()),
        dict(NODE_FEEDS),
    )


def _sample(network: ProcessNetwork, t: float, memory: dict[str, list[Sample]]) -> None:
    for name, process in network.processes.items():
        if process.process is not None:
            memory.setdefault(name, []).append(sample_tree(process.process.pid, t))


# -- the run -----------------------------------------------------------------------------------


class SoakRefused(Exception):
    """The soak cannot start as asked (its folder holds something else)."""


def soak(settings: Settings, out: Path, *, console: Console | None) -> Soaked:
    """Run the soak in ``out``; ``console`` shows its progress (``None``: quiet)."""
    _prepare(out)
    passphrase = secrets.token_urlsafe(24)
    with (
        console.status("creating the demo consortium and five nodes", spinner="dots")
        if console is not None
        else nullcontext()
    ):
        consortium = create_consortium(out / "consortium", passphrase)
        network = build_process_network(out, consortium, passphrase)
        clients = _verifier_tokens(out, settings.clients)
    try:
        with (
            console.status("starting five node processes") if console is not None else nullcontext()
        ):
            network.start()
        return _run(settings, network, _chain(out), clients, console=console)
    finally:
        network.stop()
        (out / MARKER).write_text("{}\n")


def _run(
    settings: Settings,
    network: ProcessNetwork,
    chain: Chain,
    clients: list[Endpoint],
    *,
    console: Console | None,
) -> Soaked:
    pool = Pool()
    stop = threading.Event()
    seed = Writer(chain, pool, Recorder(), stop, batch=settings.batch, period_s=0)
    try:
        if not seed.cycle("SOAK-SEED"):  # the first packs to verify
            raise RuntimeError("the first write cycle failed: " + _first_failure(seed.recorder))
    finally:
        seed.http.close()
    recorder = Recorder()
    writer = Writer(
        chain, pool, recorder, stop, batch=settings.batch, period_s=settings.write_period_s
    )
    verifiers = [
        VerifyClient(endpoint, pool, recorder, settings.rate, stop, seed=index)
        for index, endpoint in enumerate(clients)
    ]
    memory: dict[str, list[Sample]] = {}
    _sample(network, 0.0, memory)
    for thread in [writer, *verifiers]:
        thread.start()
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
        disable=console is None,
    )
    with progress:
        task = progress.add_task("soak", total=settings.duration_s)
        next_sample = settings.sample_s
        while (now := recorder.now()) < settings.duration_s:
            if now >= next_sample:
                _sample(network, now, memory)
                next_sample += settings.sample_s
            if network.failed():
                recorder.problems.append(f"node exited during the soak: {network.failed()}")
                break
            progress.update(task, completed=now, description=_status(recorder, memory, writer))
            time.sleep(min(0.5, max(0.0, settings.duration_s - now)))
        _sample(network, recorder.now(), memory)
    stop.set()
    for thread in [writer, *verifiers]:
        thread.join(timeout=60)
    digests = _converge(chain, recorder)
    return Soaked(
        settings,
        recorder.snapshot(),
        list(recorder.lags),
        writer.cycles,
        memory,
        digests,
        list(recorder.problems),
    )


def _converge(chain: Chain, recorder: Recorder, rounds: int = 8) -> dict[str, str]:
    """Every node pulls from its peers now, until a round adds nothing; every node's digest."""
    http = Http(recorder)
    try:
        for _ in range(rounds):
            added = 0
            for node in chain.everyone:
                report = http.call("poll", node, "POST", SYNC_PATH)
                added += int(report["added"]) if report else 0
            if added == 0:
                break
        digests = {}
        for node in chain.everyone:
            heads = http.call("poll", node, "GET", FEEDS_PATH)
            digests[node.name] = str(heads["digest"]) if heads else "unreachable"
        return digests
    finally:
        http.close()


def _first_failure(recorder: Recorder) -> str:
    failed = [a for a in recorder.snapshot() if a.failed]
    return f"{failed[0].node} {failed[0].status}: {failed[0].detail}" if failed else "timeout"


def _status(recorder: Recorder, memory: dict[str, list[Sample]], writer: Writer) -> str:
    answers = recorder.snapshot()
    errors = sum(1 for a in answers if a.failed)
    recent = sorted(a.latency_s for a in answers[-200:] if a.what == "verify")
    total = sum(samples[-1].rss for samples in memory.values()) / 1024 / 1024
    colour = "red" if errors else "green"
    return (
        f"{len(answers):>6} requests [{colour}]{errors} errors[/] "
        f"p95 {1000 * percentile(recent, 0.95):5.0f} ms  {writer.cycles} write cycles  "
        f"nodes {total:5.0f} MB"
    )
