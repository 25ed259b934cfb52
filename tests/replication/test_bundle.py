"""Bundles: a post with no link catches up by file, and what a bundle cannot do to it."""

from __future__ import annotations

import gzip
import json
import zlib
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from ledger.entry import SignedEntry
from ledger.feed import FeedWriter
from ledger.kinds import Kind
from medtrace.cli.main import cli
from node.config import NodeConfig, save_config
from node.replication.bundle_format import (
    MAX_DECOMPRESSED,
    BundleError,
    BundleTooLarge,
    read_bundle,
    read_heads,
)
from node.replication.bundles import export_bundle, import_bundle, write_heads
from node.store import Store
from tests.node.test_store_order import history, snapshot_store
from tests.node.world import key, make_world
from tests.replication.support import ingest_all, open_node, signed_genesis


@pytest.fixture
def node(tmp_path: Path) -> Store:
    """A connected node holding the whole test history."""
    entries, _ = history()
    store = open_node(tmp_path / "node.db", make_world())
    ingest_all(store, entries, make_world())
    return store


def bundle_json(path: Path) -> dict[str, Any]:
    with gzip.open(path, "rt") as handle:
        obj: dict[str, Any] = json.load(handle)
    return obj


def write_bundle(path: Path, obj: dict[str, Any]) -> None:
    with gzip.open(path, "wt") as handle:
        json.dump(obj, handle)


def test_a_post_that_syncs_only_by_bundle_reaches_the_same_digest(
    node: Store, tmp_path: Path
) -> None:
    """A fresh post store (nothing but the pinned genesis id) imports a full bundle, then
    sends its heads back; the next bundle holds only what it lacks."""
    out = tmp_path / "full.mtb"
    summary = export_bundle(node, out)
    assert summary.entries == node.count("entries")
    obj = bundle_json(out)
    assert obj["type"] == "medtrace/bundle"
    assert obj["v"] == 1
    assert obj["digest"] == node.digest()
    genesis = signed_genesis(make_world())
    with Store(tmp_path / "post.db") as post:
        result = import_bundle(post, out, genesis_id=genesis.id)
        assert result.report.added == summary.entries
        assert result.rejected == 0
        assert result.truncated is None
        assert result.memberships_adopted == []  # the genesis itself was pinned, not adopted
        assert post.digest() == node.digest()
        assert post.heads() == node.heads()
        assert snapshot_store(post) == snapshot_store(node)
        assert sorted(a.id for a in post.alerts()) == sorted(a.id for a in node.alerts())
        assert post.meta("genesis_id") == genesis.id

        # the connected side moves on; the post's heads make the next bundle small
        w = make_world()
        last = node.head("reg/main")
        assert last is not None
        more = FeedWriter("reg/main", key(16), last).append(
            Kind.LOCK, ts="2026-11-22T12:00:00.000Z", subjects=[]
        )
        ingest_all(node, [more], w)
        heads_file = tmp_path / "post-heads.json"
        write_heads(post, heads_file, "post")
        assert read_heads(heads_file) == {
            f: dataclass_without_frozen(h) for f, h in post.heads().items()
        }
        delta = tmp_path / "delta.mtb"
        assert export_bundle(node, delta, since=read_heads(heads_file)).entries == 1
        again = import_bundle(post, delta)
        assert (again.report.added, again.report.duplicates) == (1, 0)
        assert post.digest() == node.digest()
        # importing the same bundle twice changes nothing
        assert import_bundle(post, delta).report.duplicates == 1
        assert post.digest() == node.digest()


def dataclass_without_frozen(head: Any) -> Any:
    return replace(head, frozen_at=None)


def test_a_post_head_that_differs_is_answered_with_our_entry_as_evidence(
    node: Store, tmp_path: Path
) -> None:
    """The post holds another pharmacy entry at ph/b #0 (the pharmacy equivocated): the
    export starts at that position, so the import finds the fork."""
    w = make_world()
    genuine = node.entries("ph/b", 0, 1)[0]
    other = FeedWriter("ph/b", key(15)).append(
        Kind.DISPENSE, ts=genuine.payload.ts, subjects=[genuine.payload.subjects[0] + "X"]
    )
    full = tmp_path / "full.mtb"
    export_bundle(node, full)
    with open_node(tmp_path / "post.db", w) as post:
        bundle = read_bundle(full)
        ingest_all(post, [e for e in bundle.entries if e.payload.feed != "ph/b"] + [other], w)
        heads = tmp_path / "heads.json"
        write_heads(post, heads)
        delta = tmp_path / "delta.mtb"
        export_bundle(node, delta, since=read_heads(heads))
        assert [e["id"] for e in bundle_json(delta)["entries"]] == [genuine.id]
        result = import_bundle(post, delta)
        assert len(result.report.forks) == 1
        assert post.heads()["ph/b"].frozen_at == 0


def test_a_forged_entry_is_refused_with_the_rest_of_its_feed_and_the_rest_kept(
    node: Store, tmp_path: Path
) -> None:
    out = tmp_path / "b.mtb"
    export_bundle(node, out)
    obj = bundle_json(out)
    acme = [i for i, e in enumerate(obj["entries"]) if _feed(e) == "acme/line1"]
    forged_at = acme[1]
    entry = SignedEntry.from_wire(obj["entries"][forged_at])
    forged = FeedWriter("acme/line1", key(99), node.entries("acme/line1", 0, 1)[0]).append(
        entry.payload.kind,
        ts=entry.payload.ts,
        subjects=entry.payload.subjects,
        body=entry.payload.body,
    )
    obj["entries"][forged_at] = forged.to_wire()
    write_bundle(out, obj)
    with open_node(tmp_path / "post.db", make_world()) as post:
        result = import_bundle(post, out)
        reasons = dict(result.report.rejected)
        assert "signature" in reasons[forged.id]
        assert post.heads()["acme/line1"].size == 1  # the entry before the forgery
        refused = {e["id"] for i, e in enumerate(obj["entries"]) if i in acme[1:]}
        assert refused <= set(reasons)
        for feed, head in node.heads().items():  # every other feed complete
            if feed != "acme/line1":
                assert post.heads()[feed] == head


def test_a_cut_entry_is_refused_with_the_rest_of_its_feed(node: Store, tmp_path: Path) -> None:
    """One entry's payload is cut short (not valid base64 of a payload any more)."""
    out = tmp_path / "b.mtb"
    export_bundle(node, out)
    obj = bundle_json(out)
    dist = [i for i, e in enumerate(obj["entries"]) if _feed(e) == "dist/wh"]
    cut = obj["entries"][dist[1]]
    cut["payload"] = cut["payload"][: len(cut["payload"]) // 2]
    write_bundle(out, obj)
    with open_node(tmp_path / "post.db", make_world()) as post:
        result = import_bundle(post, out)
        assert result.malformed
        assert result.malformed[0][1] == cut["id"]
        assert post.heads()["dist/wh"].size == 1
        assert post.heads()["acme/line1"] == node.heads()["acme/line1"]
        assert result.rejected == len(dist) - 1


def test_a_truncated_file_keeps_the_complete_entries_before_the_cut(
    node: Store, tmp_path: Path
) -> None:
    out = tmp_path / "b.mtb"
    export_bundle(node, out)
    data = out.read_bytes()
    short = tmp_path / "short.mtb"
    short.write_bytes(data[: len(data) * 2 // 3])
    bundle = read_bundle(short)
    assert bundle.truncated is not None
    assert 0 < len(bundle.entries) < node.count("entries")
    with open_node(tmp_path / "post.db", make_world()) as post:
        result = import_bundle(post, short)
        assert result.truncated is not None
        assert result.report.added > 0
        for feed, head in post.heads().items():  # what was kept is a prefix of each feed
            assert node.entries(feed, head.size - 1, 1)[0].id == head.head
        # the whole file later: the post catches up completely
        import_bundle(post, out)
        assert post.digest() == node.digest()


def test_a_gzip_bomb_is_refused_without_reading_it_all(tmp_path: Path) -> None:
    """A valid bundle header followed by 520 MiB of blanks, in under a megabyte of gzip."""
    bomb = tmp_path / "bomb.mtb"
    member = gzip.compress(b" " * (1024 * 1024), compresslevel=9)
    with bomb.open("wb") as handle:
        handle.write(gzip.compress(b'{"type": "medtrace/bundle", "v": 1, "entries": ['))
        for _ in range(520):
            handle.write(member)
    assert bomb.stat().st_size < 2 * 1024 * 1024
    with pytest.raises(BundleTooLarge, match=f"at most {MAX_DECOMPRESSED} bytes"):
        read_bundle(bomb)
    with open_node(tmp_path / "post.db", make_world()) as post:
        before = post.digest()
        with pytest.raises(BundleTooLarge, match="at most 8388608 bytes"):
            import_bundle(post, bomb, max_bytes=8 * 1024 * 1024)
        assert post.digest() == before


def test_a_small_limit_is_enforced_on_plain_json_too(node: Store, tmp_path: Path) -> None:
    out = tmp_path / "b.mtb"
    export_bundle(node, out)
    plain = tmp_path / "plain.json"
    plain.write_bytes(gzip.decompress(out.read_bytes()))
    assert len(read_bundle(plain).entries) == node.count("entries")
    with pytest.raises(BundleTooLarge):
        read_bundle(plain, max_bytes=1000)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty file"),
        (b"hello", "expected one of '{'"),
        (b'{"type": "something/else", "v": 1, "entries": []}', "expected type"),
        (b'{"type": "medtrace/bundle", "v": 2, "entries": []}', "bundle version"),
        (b'{"type": "medtrace/bundle", "v": 1, "entries": [] } trailing', "nothing after"),
        (b'{"type": "medtrace/bundle", "v": 1, "entries": [{"a": 1, "a": 2}]}', "twice"),
        (b'{"type": "medtrace/bundle", "v": 1, "entries": [NaN]}', "constant"),
        (b'{"v": 1, "entries": []}', "expected a medtrace bundle"),
        (b'{"type": "medtrace/bundle", "v": 1, "memberships": [{"x": 1}]}', "membership"),
        (b"\x1f\x8b\x08\x00garbage-after-a-gzip-magic", "expected a medtrace bundle"),
    ],
    ids=[
        "empty",
        "not-json",
        "other-type",
        "other-version",
        "trailing-data",
        "duplicate-keys",
        "nan",
        "no-type",
        "malformed-membership",
        "damaged-gzip",
    ],
)
def test_what_is_not_a_bundle_is_refused(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "x.mtb"
    path.write_bytes(content)
    with pytest.raises(BundleError, match=message):
        read_bundle(path)


def test_a_deflate_stream_damaged_in_the_middle_is_cut_there(node: Store, tmp_path: Path) -> None:
    out = tmp_path / "b.mtb"
    export_bundle(node, out)
    raw = bytearray(out.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    damaged = tmp_path / "damaged.mtb"
    damaged.write_bytes(bytes(raw))
    try:
        bundle = read_bundle(damaged)
    except BundleError:
        return  # the damage made the JSON unreadable where it landed: refused
    except zlib.error:  # pragma: no cover - must never escape
        pytest.fail("a zlib error escaped")
    assert bundle.truncated is not None or len(bundle.entries) <= node.count("entries")


# -- the command line ------------------------------------------------------------------------


def run(*args: str) -> Any:
    return CliRunner().invoke(cli, ["sync", *args])


def test_sync_commands_on_a_node_data_directory_and_a_bare_store(
    node: Store, tmp_path: Path
) -> None:
    """``--data`` opens a node's data directory (node.json names the store and the pinned
    genesis); ``--db`` a store alone."""
    genesis = signed_genesis(make_world())
    data = tmp_path / "connected"
    data.mkdir()
    save_config(
        data,
        NodeConfig(name="dist", feed="dist/wh", genesis_id=genesis.id, database=node.url),
    )
    out = tmp_path / "to-post.mtb"
    result = run("export", "--data", str(data), "--out", str(out), "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["entries"] == node.count("entries")

    post_db = tmp_path / "post.db"
    result = run("import", "--db", str(post_db), "--genesis", genesis.id, str(out), "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["ok"] is True
    assert summary["added"] == node.count("entries")
    assert summary["same_as_bundle"] is True

    heads = tmp_path / "heads.json"
    assert run("heads", "--db", str(post_db), "--out", str(heads)).exit_code == 0
    delta = tmp_path / "delta.mtb"
    result = run("export", "--db", node.url, "--out", str(delta), "--since", str(heads))
    assert result.exit_code == 0, result.output
    assert bundle_json(delta)["entries"] == []

    result = run("import", "--db", str(post_db), str(out))  # the table form, all duplicates
    assert result.exit_code == 0, result.output
    assert "duplicates" in result.stdout


def test_sync_import_exits_2_when_something_was_refused_and_1_when_unusable(
    node: Store, tmp_path: Path
) -> None:
    out = tmp_path / "b.mtb"
    export_bundle(node, out)
    obj = bundle_json(out)
    obj["entries"][0]["signature"] = obj["entries"][1]["signature"]
    write_bundle(out, obj)
    genesis = signed_genesis(make_world()).id
    post = tmp_path / "post.db"
    result = run("import", "--db", str(post), "--genesis", genesis, str(out), "--json")
    assert result.exit_code == 2, result.output
    assert json.loads(result.stdout)["ok"] is False

    garbage = tmp_path / "garbage.mtb"
    garbage.write_bytes(b"not a bundle")
    result = run("import", "--db", str(post), str(garbage), "--json")
    assert result.exit_code == 1
    assert json.loads(result.stdout)["error"] == "BundleError"
    result = run("import", "--db", str(tmp_path / "empty.db"), str(out))
    assert result.exit_code == 1  # no pinned genesis anywhere
    assert "--genesis" in result.output


def _feed(wire: dict[str, str]) -> str:
    return SignedEntry.from_wire(wire).payload.feed
