"""What one pack's proof costs (issue 14): the bytes a verifier is sent about one pack of a
large batch, and the time a scanner takes to check them.

A store is commissioned with one batch (``commission_once``, kept), a pack is drawn, and its
provenance is read both ways: the node's view (entries with sidecars, what peers receive) and
the verifier's (``Store.pack_provenance``: the disclosed leaf only). The verifier's answer is
then checked as a scanner checks it: every entry parsed from its wire form (each disclosure
against the signed root), its signature verified, and folded into the pack's state.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path
from time import perf_counter

from bench.commission import commission_once
from bench.consortium import GTIN, membership
from bench.files import remove_sqlite
from bench.loadgen import percentile
from ledger.entry import SignedEntry
from ledger.feed import verify_entry
from ledger.identifiers import pack_uri
from ledger.lifecycle import fold
from ledger.state import MemoryState
from node.store import Store


@dataclass(frozen=True)
class ProofFigures:
    batch: int
    chunk: int
    node_view_bytes: int  # one pack's provenance with sidecars (between nodes)
    verifier_bytes: int  # one pack's provenance with its disclosure (to a verifier)
    verify_p50_ms: float
    verify_p95_ms: float
    bytes_per_pack: float


def measure(path: Path, batch: int, *, chunk: int, samples: int = 200) -> ProofFigures:
    """Commission ``batch`` packs in entries of ``chunk``; measure ``samples`` packs' proofs."""
    run = commission_once(path, batch, chunk=chunk, keep=True)
    members = membership()
    store = Store(path)
    try:
        serials = [p.serial for p in store.pack_rows()]
        chosen = random.Random(14).sample(serials, min(samples, len(serials)))
        node_bytes = len(_wire(store.provenance(pack_uri(GTIN, chosen[0]))))
        verifier_bytes, times = 0, []
        for serial in chosen:
            answer = _wire(store.pack_provenance(pack_uri(GTIN, serial)).entries)
            verifier_bytes = max(verifier_bytes, len(answer))
            start = perf_counter()
            entries = [SignedEntry.from_wire(w) for w in json.loads(answer)]
            for entry in entries:
                verify_entry(entry, members)
            state = MemoryState()
            fold(entries, members, state)
            times.append(perf_counter() - start)
            if set(state.packs) != {pack_uri(GTIN, serial)}:
                raise RuntimeError(f"expected one pack opened, found {len(state.packs)}")
    finally:
        store.close()
        remove_sqlite(path)
    return ProofFigures(
        batch,
        chunk,
        node_bytes,
        verifier_bytes,
        percentile(sorted(times), 0.50) * 1000,
        percentile(sorted(times), 0.95) * 1000,
        run.db_bytes / batch,
    )


def _wire(entries: list[SignedEntry]) -> str:
    return json.dumps([e.to_wire() for e in entries], separators=(",", ":"))
