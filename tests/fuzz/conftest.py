"""Fuzzing: hypothesis settings profiles, a count of the inputs each target ran, and the
fixtures of the API tests (a consortium, nodes, tokens of every role).

``MEDTRACE_FUZZ=ci`` (the default, in ``make test``) runs a bounded, derandomised number of
examples per target; ``MEDTRACE_FUZZ=deep`` runs many more, randomised (print the seed with
``--hypothesis-seed``/``--hypothesis-show-statistics`` to replay one).
"""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from tests.api.conftest import (  # noqa: F401 (fixtures, shared with the API tests)
    _no_ambient_passphrase,
    consortium_dir,
    make_node,
    template_nodes,
)

_SLOW_OK = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture]
settings.register_profile(
    "ci", max_examples=150, derandomize=True, deadline=None, suppress_health_check=_SLOW_OK
)
settings.register_profile(
    "deep", max_examples=5_000, derandomize=False, deadline=None, suppress_health_check=_SLOW_OK
)
PROFILE = os.environ.get("MEDTRACE_FUZZ", "ci")
#: Applied per test (not loaded globally: other suites keep hypothesis' defaults).
FUZZ = settings(settings.get_profile(PROFILE))
#: The API runs are costlier per input (74 operation and mode pairs): a tenth of the examples.
FUZZ_API = settings(FUZZ, max_examples=max(FUZZ.max_examples // 10, 10))

#: Inputs run per fuzz target in this session (written to MEDTRACE_FUZZ_REPORT if set).
INPUTS: Counter[str] = Counter()


def count(target: str, n: int = 1) -> None:
    INPUTS[target] += n


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not INPUTS:
        return
    terminalreporter.section(f"fuzz inputs (profile {PROFILE})")
    for target, n in sorted(INPUTS.items()):
        terminalreporter.write_line(f"{n:8d}  {target}")
    terminalreporter.write_line(f"{sum(INPUTS.values()):8d}  total")
    report = os.environ.get("MEDTRACE_FUZZ_REPORT")
    if report:
        Path(report).write_text(json.dumps({"profile": PROFILE, "inputs": dict(INPUTS)}, indent=2))
