"""Shared fixtures. Ledger: the golden consortium (fixed keys, signed genesis membership).

Tests marked ``slow`` run only with ``--run-slow`` (or ``MEDTRACE_SLOW=1``): ``make test``
skips them, ``make crash`` runs the slow crash suite.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from keys.sealed import FAST_KDF_ENV
from ledger.membership import Membership, SignedMembership
from tests.vectors import golden

# Keys written by the suite (here and in the node processes it starts, which inherit this) are
# sealed with Argon2id at RFC 9106's floor instead of 64 MiB x 3 passes: the suite writes and reads
# thousands of keys. tests/keys/test_sealed.py checks the default parameters without it.
os.environ[FAST_KDF_ENV] = "1"

# pytest-xdist's workers (`make test`) start with COLUMNS=80 and LINES=24 of their own, which a
# suite run in one process does not have: rich would fold the CLI's tables at 80 columns there
# only (medtrace.cli.console.out() widens a pipe's table when COLUMNS is unset).
if "PYTEST_XDIST_WORKER" in os.environ:
    for _name in ("COLUMNS", "LINES"):
        os.environ.pop(_name, None)


@pytest.fixture(scope="session")
def golden_genesis() -> SignedMembership:
    """The golden consortium's genesis, signed by the governance threshold (2 of 3)."""
    return golden.signed_genesis()


@pytest.fixture(scope="session")
def golden_membership(golden_genesis: SignedMembership) -> Membership:
    return golden_genesis.membership


#: The ``medtrace`` command of this interpreter (tests/node/test_demo.py uses it too).
MEDTRACE = [sys.executable, "-c", "from medtrace.cli.main import main; main()"]


def run_demo(out: Path, *options: str, timeout: float) -> subprocess.CompletedProcess[str]:
    """``medtrace demo --out OUT [OPTIONS]`` as ``make demo`` runs it: no passphrase in the
    environment, so the demo makes its own."""
    env = {k: v for k, v in os.environ.items() if k != "MEDTRACE_PASSPHRASE"}
    return subprocess.run(
        [*MEDTRACE, "demo", *options, "--out", str(out)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=timeout,
    )


@pytest.fixture(scope="session")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One ``medtrace demo`` run for the session (minutes: two countries, seven node
    processes). tests/node/test_demo.py inspects it and tests/test_readme.py runs the README's
    commands against it; a test that changes it works on a copy."""
    out = tmp_path_factory.mktemp("demo") / "demo-out"
    result = run_demo(out, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return out


SLOW_ENV = "MEDTRACE_SLOW"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--run-slow",
        action="store_true",
        default=False,
        help=f"also run tests marked slow (or set {SLOW_ENV}=1)",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--run-slow") or os.environ.get(SLOW_ENV) == "1":
        return
    skip = pytest.mark.skip(
        reason=f"slow: not part of make test (run with --run-slow, {SLOW_ENV}=1 or make crash)"
    )
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)
