"""Fixtures for the key tooling: a consortium directory with one manufacturer and one pharmacy."""

from __future__ import annotations

from pathlib import Path

import pytest

from keys.consortium import Consortium
from keys.keystore import PASSPHRASE_ENV

PASSPHRASE = "tr0ub4dor&3-medtrace-tests"
ACME_GLN = "4012345000009"
APO_GLN = "4098765000003"


@pytest.fixture(autouse=True)
def _no_ambient_passphrase(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests choose their passphrase source; the developer's environment must not leak in."""
    monkeypatch.delenv(PASSPHRASE_ENV, raising=False)


@pytest.fixture
def pw() -> str:
    """The passphrase of the ``consortium`` fixture's keys."""
    return PASSPHRASE


@pytest.fixture
def consortium_dir(tmp_path: Path) -> Path:
    return tmp_path / "consortium"


@pytest.fixture
def consortium(consortium_dir: Path) -> Consortium:
    """v1 genesis (2-of-3), v2 acme (manufacturer, feeds line-1 and wh), v3 apo (pharmacy)."""
    c = Consortium.create(consortium_dir, "Test pilot", passphrase=PASSPHRASE)
    c.add_organisation(
        "acme",
        name="Acme Pharma",
        role="manufacturer",
        gln=ACME_GLN,
        company_prefixes=["4012345"],
        feeds=["line-1", "wh"],
        passphrase=PASSPHRASE,
    )
    c.add_organisation(
        "apo", name="Apotheke Nord", role="pharmacy", gln=APO_GLN, passphrase=PASSPHRASE
    )
    return c
