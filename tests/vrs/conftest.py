"""One real manufacturer node process of a five-organisation consortium, with packs in every
state the verification-messaging tests ask about, and the tokens to ask with."""

from __future__ import annotations

import signal
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests

from ledger.identifiers import lot_uri
from tests.api.conftest import GTIN, MEMBERS, PASSPHRASE, pack
from tests.api.test_server import Running, create_token, free_port, start
from tests.nodes_setup import init_node, make_consortium
from tests.products import AMOXICILLIN_ACME

#: Low, so that the harvesting test reaches it quickly; each test asks with its own token.
HARVEST_MAX_UNKNOWN = 5
#: Low, so that the rate-limit test empties a token's bucket quickly (no other test asks more).
VERIFY_RATE_PER_MINUTE = 30
LOT = "L2611"
RECALLED_LOT = "R2611"
#: GS1 character set 82 has '/': a lot and a serial with one travel percent-encoded.
SLASHED_LOT = "B/7"
EXPIRY = "2030-12-31"  # exp=301231
PRODUCT = {"gtin": GTIN, **AMOXICILLIN_ACME}


@dataclass
class VrsNode:
    running: Running
    operator: str

    @property
    def base(self) -> str:
        return f"{self.running.url}/vrs/v1"

    def token(self, role: str = "verifier") -> str:
        """A fresh token: the harvesting guard counts per token."""
        return create_token(self.running.data, role, f"{role}-{uuid.uuid4().hex[:8]}")

    def post(self, path: str, body: Any) -> None:
        answer = requests.post(
            f"{self.running.url}/api/v1/{path}",
            json=body,
            headers={"Authorization": f"Bearer {self.operator}"},
            timeout=20,
        )
        assert answer.status_code == 201, answer.text


@pytest.fixture(scope="session")
def vrs_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VrsNode]:
    root = tmp_path_factory.mktemp("vrs")
    consortium = root / "consortium"
    make_consortium(consortium, "VRS tests", MEMBERS, PASSPHRASE)
    data = init_node(
        consortium,
        root / "acme",
        "acme/line-1",
        workers=1,
        threads=4,
        harvest_max_unknown=HARVEST_MAX_UNKNOWN,
        verify_rate_per_minute=VERIFY_RATE_PER_MINUTE,
    )
    operator = create_token(data, "operator", "ops")
    running = start(data, free_port(), root)
    try:
        node = VrsNode(running, operator)
        node.post("products", PRODUCT)
        node.post(
            "commission",
            {"gtin": GTIN, "lot": LOT, "expiry": EXPIRY, "serials": ["AUTH1", "AUTH2", "STOL1"]},
        )
        node.post(
            "commission",
            {"gtin": GTIN, "lot": RECALLED_LOT, "expiry": EXPIRY, "serials": ["RCL1"]},
        )
        node.post(
            "commission", {"gtin": GTIN, "lot": SLASHED_LOT, "expiry": EXPIRY, "serials": ["SL/1"]}
        )
        node.post("actions/recall", {"subjects": [lot_uri(GTIN, RECALLED_LOT)]})
        node.post("actions/stolen", {"subjects": [pack("STOL1")]})
        yield node
    finally:
        running.stop(signal.SIGKILL)
