"""A bundle of another consortium is refused in one line naming both consortia and their
genesis ids, exit 1, nothing stored (issue 18; it used to say only "rejected 128"). Two real
consortia (`medtrace keys`), real node data directories (`medtrace node init`), the installed
`medtrace sync` commands."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ledger.epcis.normalise import check_digit
from node.config import load_config
from node.store import Store
from tests.cli.test_plain_messages import medtrace, refused
from tests.nodes_setup import PASSPHRASE, Member, init_templates, make_consortium, node_factory

PREFIX = "7001234"
GTIN = "0" + PREFIX + "00001" + check_digit("0" + PREFIX + "00001")
MEMBERS = {
    "acme": Member("manufacturer", ("line-1",), (PREFIX,)),
    "apo": Member("pharmacy", ("counter",)),
}


def _genesis(data: Path) -> str:
    return load_config(data).genesis_id


def _state(data: Path) -> tuple[str, int, int]:
    with Store(load_config(data).database_url(data)) as store:
        return store.digest(), store.count("entries"), len(store.memberships())


def _export(data: Path, tmp_path: Path) -> Path:
    """``medtrace sync export`` of ``data``'s node into a bundle file; its path."""
    out = tmp_path / "north.mtb"
    exported = medtrace("sync", "export", "--data", str(data), "--out", str(out), cwd=tmp_path)
    assert exported.returncode == 0, exported.stderr
    return out


@pytest.fixture
def two_consortia(tmp_path: Path) -> tuple[Path, Path]:
    """North's manufacturer node holding 3 commissioned packs, and South's, holding none."""
    datas = []
    for name in ("North", "South"):
        directory = tmp_path / name.lower()
        make_consortium(directory / "consortium", name, MEMBERS, PASSPHRASE)
        templates = init_templates(directory / "consortium", directory / "nodes", MEMBERS)
        with node_factory(templates, directory / "copies", default_org="acme") as make:
            node = make("acme")
            if name == "North":
                node.ctx.service.commission(GTIN, "L1", "2031-12-31", serials=["A", "B", "C"])
            datas.append(node.data)
    return datas[0], datas[1]


def test_a_bundle_of_another_consortium_is_refused_naming_both(
    two_consortia: tuple[Path, Path], tmp_path: Path
) -> None:
    north, south = two_consortia
    out = _export(north, tmp_path)
    before = _state(south)

    line = refused(
        medtrace("sync", "import", "--data", str(south), str(out), cwd=tmp_path),
        "this bundle belongs to consortium 'North'",
    )
    assert f"(genesis {_genesis(north)[:16]}…)" in line
    assert f"this node to consortium 'South' (genesis {_genesis(south)[:16]}…)" in line
    assert "nothing was imported" in line
    assert "rejected" not in line
    assert _state(south) == before

    as_json = medtrace("sync", "import", "--data", str(south), str(out), "--json", cwd=tmp_path)
    assert as_json.returncode == 1
    answer = json.loads(as_json.stdout)
    assert answer["ok"] is False
    assert "belongs to consortium 'North'" in answer["message"]
    assert _state(south) == before


def test_a_bundle_of_another_consortium_is_refused_by_a_bare_store_too(
    two_consortia: tuple[Path, Path], tmp_path: Path
) -> None:
    """A new store pinned to South's genesis: refused, and the file it would have created is
    not left behind."""
    north, south = two_consortia
    out = _export(north, tmp_path)
    fresh = tmp_path / "post.db"
    result = medtrace(
        "sync", "import", "--db", str(fresh), "--genesis", _genesis(south), str(out), cwd=tmp_path
    )
    refused(result, "this bundle belongs to consortium 'North'")
    assert not fresh.exists()


def test_a_bundle_of_the_same_consortium_is_still_taken(
    two_consortia: tuple[Path, Path], tmp_path: Path
) -> None:
    north, _ = two_consortia
    out = _export(north, tmp_path)
    fresh = tmp_path / "post.db"
    result = medtrace(
        "sync", "import", "--db", str(fresh), "--genesis", _genesis(north), str(out), "--json",
        cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["added"] == _state(north)[1] > 0
