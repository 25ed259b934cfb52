"""Over real node processes (``medtrace node run``) replicating over HTTP: a REJECT scanned at
one node shows as an alert at the regulator's node (issue 15: every failed verification raises
an alert that reaches the regulator; ADR 0022)."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
import requests

from ledger.entry import SignedEntry
from ledger.identifiers import pack_uri
from ledger.kinds import Kind
from tests.replication.test_network import (  # noqa: F401 (fixtures)
    DEADLINE_S,
    GTIN,
    Network,
    network_factory,
    template,
)


def _alerts(net: Network, node: str, **params: str) -> list[dict[str, object]]:
    found: list[dict[str, object]] = net[node].call(
        "GET", "/api/v1/alerts?" + "&".join(f"{k}={v}" for k, v in params.items())
    )["alerts"]
    return found


def test_failed_verification_raises_alert(
    network_factory: Callable[..., Network],  # noqa: F811 (the fixture imported above)
) -> None:
    net = network_factory(interval_s=0.5)
    (serial,) = net["acme"].commission("LOT7", count=1)
    net.converged(["acme", "dist"])
    scanned = requests.post(
        f"{net['dist'].url}/api/v1/scan",
        json={"text": f"(01){GTIN}(17)311231(10)FAKE7(21){serial}"},
        headers={"Authorization": f"Bearer {net['dist'].operator}"},
        timeout=30,
    )
    assert scanned.status_code == 200, scanned.text
    assert scanned.json()["verdict"] == "REJECT", scanned.json()
    end = time.monotonic() + DEADLINE_S
    while time.monotonic() < end:
        found = _alerts(net, "reg", code="check_rejected")
        if found:
            break
        time.sleep(0.2)
    else:
        pytest.fail("the regulator's node never raised the failed check's alert")
    (alert,) = found
    assert alert["subject"] == pack_uri(GTIN, serial)
    assert alert["level"] == "critical"
    assert "lot_mismatch" in str(alert["message"])
    wires = alert["entries"]
    assert isinstance(wires, list)
    (wire,) = wires
    entry = SignedEntry.from_wire(wire)
    assert entry.payload.kind is Kind.CHECK
    assert entry.payload.feed == "dist/wh"
    assert entry.payload.subjects == (pack_uri(GTIN, serial),)
