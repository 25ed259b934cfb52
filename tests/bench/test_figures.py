"""The production figures' plumbing: server CPU from /proc, and their keys flat in the JSON."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys

import pytest

from bench.cpu import group_cpu_s, tree_cpu_s
from bench.runner import Results

BUSY = "import time\nend = time.process_time() + 0.3\nwhile time.process_time() < end: pass"


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="reads /proc (Linux)")
def test_a_process_groups_cpu_time_counts_its_busy_child() -> None:
    before = tree_cpu_s(os.getpid())
    child = subprocess.Popen([sys.executable, "-c", BUSY], start_new_session=True)
    try:
        child.wait(timeout=30)
    finally:
        child.kill()
    # reaped: its time is in our cutime (our own while waiting is near 0), its group is empty
    assert tree_cpu_s(os.getpid()) - before >= 0.25
    assert group_cpu_s(child.pid) == 0.0


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="reads /proc (Linux)")
def test_a_running_group_is_measured_while_it_works() -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", BUSY + "\ntime.sleep(5)"], start_new_session=True
    )
    try:
        deadline = 50
        while group_cpu_s(child.pid) < 0.25 and deadline:
            subprocess.run(["sleep", "0.1"], check=True)
            deadline -= 1
        assert group_cpu_s(child.pid) >= 0.25
    finally:
        child.kill()
        child.wait()


def test_production_figures_are_flat_keys_of_the_json() -> None:
    numbers = {
        f.name: (0.5 if f.type == "float" else 1)
        for f in dataclasses.fields(Results)
        if f.name not in ("machine", "production")
    }
    results = Results(
        **numbers,  # type: ignore[arg-type]
        machine="test",
        production={"tls_http_rps": 3000.12345, "pg_packs_in_db": 200_000},
    )
    shown = results.to_json()
    assert "production" not in shown
    assert shown["tls_http_rps"] == 3000.123
    assert shown["pg_packs_in_db"] == 200_000
    assert all(isinstance(v, int | float) for k, v in shown.items() if k != "machine")
