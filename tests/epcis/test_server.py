"""A real `medtrace node run` process: GS1 examples captured over HTTP and queried back."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
import requests

from ledger.epcis import jsontext
from ledger.epcis.hash import document_hashes
from tests.api.conftest import init_node
from tests.api.test_server import create_token, free_port, start
from tests.epcis.conftest import GS1_EPCIS, load, need
from tests.epcis.documents import stored_hashes

EXAMPLES = (
    "Example_9.6.1-ObjectEvent.jsonld",
    "WithSensorData/SensorDataExample10.jsonld",
    "WithFullCombinationOfFields/transformation_event_all_possible_fields.jsonld",
)


def test_a_served_node_captures_over_http_and_answers_with_the_same_hashes(
    epcis_consortium: Path, tmp_path: Path
) -> None:
    paths = [need(GS1_EPCIS / "JSON" / name) for name in EXAMPLES]
    data = init_node(epcis_consortium, tmp_path / "maker", "maker/line-1", workers=2, threads=2)
    operator = create_token(data, "operator", "capture-robot")
    auditor = create_token(data, "auditor", "auditor-1")
    running = start(data, free_port(), tmp_path)
    try:
        expected: list[str] = []
        for path in paths:
            response = requests.post(
                f"{running.url}/epcis/capture",
                data=path.read_bytes(),
                headers={
                    "Authorization": f"Bearer {operator}",
                    "Content-Type": "application/ld+json",
                },
                timeout=30,
            )
            assert response.status_code == 202, response.text
            job = requests.get(
                running.url + response.headers["Location"],
                headers={"Authorization": f"Bearer {auditor}"},
                timeout=30,
            ).json()
            assert job["success"] is True
            expected += stored_hashes(document_hashes(load(path)), job)
        answer = requests.get(
            f"{running.url}/epcis/events",
            headers={"Authorization": f"Bearer {operator}"},  # whole lists: the captured hashes
            timeout=30,
        )
        assert answer.status_code == 200
        assert answer.headers["GS1-EPCIS-Version"] == "2.0.0"
        assert sorted(document_hashes(jsontext.loads(answer.content))) == sorted(expected)
        options = requests.options(f"{running.url}/epcis/capture", timeout=30)
        assert options.headers["GS1-EPCIS-Capture-Limit"]
    finally:
        assert running.stop(signal.SIGTERM) in (0, -signal.SIGTERM)


pytestmark = pytest.mark.filterwarnings("ignore::ResourceWarning")
