"""``medtrace scan --node`` reports its failed verdicts to the node (ADR 0022), against a real
node process: a REJECT decided on the client raises the node's alert; ``--no-report`` and a
RELEASE send nothing."""

from __future__ import annotations

import requests

from tests.customs.conftest import GTIN
from tests.customs.test_cli import Site, sites  # noqa: F401 (fixture)


def _alerts(site: Site) -> list[dict[str, object]]:
    answer = requests.get(
        f"{site.url}/api/v1/alerts?code=check_rejected",
        headers={"Authorization": f"Bearer {site.token}"},
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    found: list[dict[str, object]] = answer.json()["alerts"]
    return found


def test_cli_scan_reports_a_failed_verdict(sites: dict[str, Site]) -> None:  # noqa: F811
    acme = sites["acme"]
    made = requests.post(
        f"{acme.url}/api/v1/commission",
        json={"gtin": GTIN, "lot": "L9", "expiry": "2030-12-31", "serials": ["R1", "R2", "R3"]},
        headers={"Authorization": f"Bearer {acme.token}"},
        timeout=10,
    )
    assert made.status_code == 201, made.text
    before = len(_alerts(acme))
    quiet = acme.run("scan", f"(01){GTIN}(17)301231(10)BAD(21)R2", "--no-report", "--json")
    assert quiet.returncode == 2, (quiet.stdout, quiet.stderr)
    assert len(_alerts(acme)) == before
    scanned = acme.run("scan", f"(01){GTIN}(17)301231(10)BAD(21)R1", "--json")
    assert scanned.returncode == 2, (scanned.stdout, scanned.stderr)
    assert "warning" not in scanned.stderr
    found = _alerts(acme)
    assert len(found) == before + 1
    assert found[-1]["subject"] == f"https://id.gs1.org/01/{GTIN}/21/R1"
    assert "lot_mismatch" in str(found[-1]["message"])
