"""``medtrace ledger verify`` passes on an honest store and names what was tampered with."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from ledger import membership as ms
from ledger.errors import LedgerError
from node.store import Store
from node.verify import verify_store
from tests.node.test_store_order import history
from tests.node.world import key, make_world

MEDTRACE = [sys.executable, "-c", "from medtrace.cli.main import main; main()"]


@pytest.fixture(scope="module")
def honest_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("verify") / "node.db"
    membership = make_world().membership
    signed = ms.sign_membership(membership, {"gov-1": key(1)})
    entries, _ = history()
    with Store(path) as store:
        store.save_membership(signed)
        store.set_meta("genesis_id", signed.id)
        report = store.ingest(entries, membership)
        assert report.added == len(entries)
        assert not report.rejected
    return path


def run_verify(db: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*MEDTRACE, "ledger", "verify", "--db", str(db)],
        capture_output=True,
        text=True,
        check=False,
    )


def tamper(db: Path, tmp_path: Path, sql: str, *params: object) -> Path:
    """A copy of ``db`` changed behind the node's back: triggers dropped first."""
    copy = tmp_path / "tampered.db"
    shutil.copy(db, copy)
    with sqlite3.connect(copy) as conn:
        conn.execute("DROP TRIGGER entries_no_update")
        conn.execute("DROP TRIGGER entries_no_delete")
        conn.execute(sql, params)
    return copy


def flip(data: bytes, index: int) -> bytes:
    return data[:index] + bytes([data[index] ^ 0x01]) + data[index + 1 :]


def test_verify_passes_on_an_honest_store(honest_db: Path) -> None:
    result = run_verify(honest_db)
    assert result.returncode == 0, result.stderr
    assert "OK" in result.stdout


def test_the_store_refuses_to_change_a_stored_entry(honest_db: Path) -> None:
    with (
        sqlite3.connect(honest_db) as conn,
        pytest.raises(sqlite3.DatabaseError, match="append-only"),
    ):
        conn.execute("UPDATE entries SET payload = x'00' WHERE id = 1")


def _payload_of(db: Path, entry_pk: int) -> bytes:
    with sqlite3.connect(db) as conn:
        return bytes(
            conn.execute("SELECT payload FROM entries WHERE id = ?", (entry_pk,)).fetchone()[0]
        )


def _signature_of(db: Path, entry_pk: int) -> bytes:
    with sqlite3.connect(db) as conn:
        return bytes(
            conn.execute("SELECT signature FROM entries WHERE id = ?", (entry_pk,)).fetchone()[0]
        )


TAMPERING: dict[str, Callable[[Path, Path], Path]] = {
    "flipped-payload-byte": lambda db, tmp: tamper(
        db, tmp, "UPDATE entries SET payload = ? WHERE id = 3", flip(_payload_of(db, 3), 40)
    ),
    "flipped-signature-byte": lambda db, tmp: tamper(
        db, tmp, "UPDATE entries SET signature = ? WHERE id = 4", flip(_signature_of(db, 4), 10)
    ),
    "signature-stored-as-text": lambda db, tmp: tamper(
        db,
        tmp,
        "UPDATE entries SET signature = substr(signature, 1, 10) || x'ff' || substr(signature, 12) WHERE id = 4",
    ),
    "last-entry-deleted": lambda db, tmp: tamper(
        db, tmp, "DELETE FROM entries WHERE id = (SELECT max(id) FROM entries)"
    ),
    "pack-state-edited": lambda db, tmp: tamper(
        db, tmp, "UPDATE packs SET status = 'active' WHERE status = 'dispensed'"
    ),
    "entry-moved-to-another-feed": lambda db, tmp: tamper(
        db,
        tmp,
        "UPDATE entries SET feed = (SELECT feed FROM entries WHERE id = 1), seq = 9999 WHERE id = 6",
    ),
}


@pytest.mark.parametrize("how", TAMPERING, ids=list(TAMPERING))
def test_verify_fails_on_a_tampered_store(honest_db: Path, tmp_path: Path, how: str) -> None:
    result = run_verify(TAMPERING[how](honest_db, tmp_path))
    assert result.returncode == 1
    assert "error:" in result.stderr
    assert "Traceback" not in result.stderr


def test_every_single_byte_change_of_a_payload_is_caught(honest_db: Path, tmp_path: Path) -> None:
    membership = make_world().membership
    original = _payload_of(honest_db, 5)
    copy = tmp_path / "copy.db"
    shutil.copy(honest_db, copy)
    with Store(copy) as store:  # opening re-creates the triggers: drop them after
        with sqlite3.connect(copy) as conn:
            conn.execute("DROP TRIGGER entries_no_update")
        for index in range(len(original)):
            with sqlite3.connect(copy) as conn:
                conn.execute(
                    "UPDATE entries SET payload = ? WHERE id = 5", (flip(original, index),)
                )
            with pytest.raises(LedgerError):
                verify_store(store, membership)
        with sqlite3.connect(copy) as conn:
            conn.execute("UPDATE entries SET payload = ? WHERE id = 5", (original,))
        verify_store(store, membership)  # restored: holds again


def _tamper_two(db: Path, tmp_path: Path, signature_of: int, payload_of: int) -> Path:
    """Entry ``signature_of`` gets a flipped signature bit, ``payload_of`` a flipped payload bit
    (both of feed acme/line1: pk n is seq n - 1)."""
    copy = tamper(
        db,
        tmp_path,
        "UPDATE entries SET signature = ? WHERE id = ?",
        flip(_signature_of(db, signature_of), 10),
        signature_of,
    )
    with sqlite3.connect(copy) as conn:
        conn.execute(
            "UPDATE entries SET payload = ? WHERE id = ?",
            (flip(_payload_of(db, payload_of), 40), payload_of),
        )
    return copy


@pytest.mark.parametrize(
    ("signature_of", "payload_of", "expected"),
    [
        (2, 4, r"feed acme/line1 #1 .*valid Ed25519 signature"),
        (4, 2, r"feed acme/line1 #1 .*SHA-256 of the stored payload"),
    ],
    ids=["forged-signature-first", "changed-payload-first"],
)
def test_verify_reports_the_first_of_two_tampered_entries(
    honest_db: Path, tmp_path: Path, signature_of: int, payload_of: int, expected: str
) -> None:
    """Signatures are checked on threads, behind the parsing: the report is still the first
    broken entry in feed and seq order."""
    copy = _tamper_two(honest_db, tmp_path, signature_of, payload_of)
    with Store(copy) as store, pytest.raises(LedgerError, match=expected):
        verify_store(store, make_world().membership)


def test_a_forged_signature_is_reported_before_an_edited_projection(
    honest_db: Path, tmp_path: Path
) -> None:
    """The fold is compared while signatures are still being checked on threads."""
    copy = tamper(
        honest_db,
        tmp_path,
        "UPDATE entries SET signature = ? WHERE id = 4",
        flip(_signature_of(honest_db, 4), 10),
    )
    with sqlite3.connect(copy) as conn:
        conn.execute("UPDATE packs SET status = 'active' WHERE status = 'dispensed'")
    with Store(copy) as store, pytest.raises(LedgerError, match=r"acme/line1 #3 .*Ed25519"):
        verify_store(store, make_world().membership)
