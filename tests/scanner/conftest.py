"""Fixtures for scanner tests: one consortium story with a pack for every verdict, stored in a
node data directory; the published test data; label images."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from ledger.identifiers import container_uri, lot_uri, product_uri
from ledger.kinds import Kind
from scanner.reading import ScanData
from tests.api.conftest import (  # noqa: F401 (the API tests' nodes, for the web scan's tests)
    _no_ambient_passphrase,
    consortium_dir,
    make_node,
    template_nodes,
)
from tests.node.world import sscc
from tests.scanner.server import Node, open_node, serve
from tests.scanner.world import EXPIRY, GTIN, LOT, ScanWorld, pack, scan_world

TESTDATA = Path(__file__).resolve().parents[2].parent / "shared" / "testdata"

RECALLED_LOT = "L2"
#: serial → what happens to it in the story
OK, OK2 = "OK0001", "OK0002"
DISPENSED, CLONED, STOLEN, LOCKED, DETAINED = "DISP01", "CLONE1", "STOL01", "LOCK01", "QUAR01"
CUSTODY, RECALLED, IN_TRANSIT, UNKNOWN = "CUST01", "REC001", "TRAN01", "NEVER1"
#: packs of a lot commissioned for the label round trip
ROUND_TRIP_LOT = "RT-1"
ROUND_TRIP = [f"RT{n:04d}X{n * 7919 % 1000:03d}" for n in range(1, 13)]
CASE = 1


def shared_data(*parts: str) -> Path:
    """A published test data path; the test is skipped when the data is not there."""
    path = TESTDATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"published test data not available: {path} (see ../shared/testdata/README.md)")
    return path


def tell_story(world: ScanWorld) -> None:
    """Every case of docs/architecture.md §4 on its own pack."""
    delivered = [OK, OK2, DISPENSED, CLONED, STOLEN, LOCKED, DETAINED]
    world.register_product()
    world.commission([*delivered, CUSTODY])
    world.commission([RECALLED], lot=RECALLED_LOT)
    world.commission(ROUND_TRIP, lot=ROUND_TRIP_LOT)
    world.deliver(delivered, CASE)
    world.deliver([RECALLED], 2)
    world.deliver(ROUND_TRIP, 3)
    # the distributor ships a pack it never received: a custody violation
    stray = world.write("dist/wh", Kind.SHIP, subjects=[pack(CUSTODY)], body={"destination": "ph"})
    world.write("ph/a", Kind.RECEIVE, subjects=[pack(CUSTODY)], refs=[stray.id])
    # a pack still on its way to the pharmacy
    world.commission([IN_TRANSIT])
    box = container_uri(sscc(4))
    world.write("acme/line1", Kind.PACK, subjects=[box, pack(IN_TRANSIT)])
    ship = world.write("acme/line1", Kind.SHIP, subjects=[box], body={"destination": "dist"})
    world.write("dist/wh", Kind.RECEIVE, subjects=[box], refs=[ship.id])
    world.write("dist/wh", Kind.SHIP, subjects=[box], body={"destination": "ph"})
    # what happens at and after the counter
    world.write("ph/a", Kind.DISPENSE, subjects=[pack(DISPENSED)])
    world.write("ph/a", Kind.DISPENSE, subjects=[pack(CLONED)])
    world.write("ph/b", Kind.DISPENSE, subjects=[pack(CLONED)])  # an offline second counter
    world.write("acme/line1", Kind.STOLEN, subjects=[pack(STOLEN)])
    world.write("ph/a", Kind.LOCK, subjects=[pack(LOCKED)])
    world.write("border/post", Kind.INSPECT, subjects=[pack(DETAINED)], body={"decision": "detain"})
    world.write("reg/main", Kind.RECALL, subjects=[lot_uri(GTIN, RECALLED_LOT)])


def scanned(serial: str, lot: str | None = LOT, expiry: str | None = EXPIRY) -> ScanData:
    return ScanData(GTIN, serial, lot, expiry, "text", f"(01){GTIN}(21){serial}", None)


@dataclass
class Story:
    world: ScanWorld
    data: Path  # a node data directory holding the whole story


@pytest.fixture(scope="session")
def story(tmp_path_factory: pytest.TempPathFactory) -> Story:
    world = scan_world()
    tell_story(world)
    data = world.store(tmp_path_factory.mktemp("scanner") / "ph")
    return Story(world, data)


@pytest.fixture
def fresh_story(tmp_path: Path) -> Story:
    """The same story in a data directory of its own (for tests that write to it)."""
    world = scan_world()
    tell_story(world)
    return Story(world, world.store(tmp_path / "ph"))


@pytest.fixture
def withdrawn_story(tmp_path: Path) -> Story:
    world = scan_world()
    world.register_product()
    world.commission([OK])
    world.deliver([OK], CASE)
    world.write("reg/main", Kind.WITHDRAW, subjects=[product_uri(GTIN)])
    return Story(world, world.store(tmp_path / "ph"))


@pytest.fixture
def node(story: Story) -> Iterator[Node]:
    """The story's node, honest, over HTTP."""
    honest = open_node(story.world, story.data)
    with serve(honest) as running:
        yield running
    honest.store.close()
