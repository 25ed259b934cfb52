"""``medtrace demo`` end to end, as ``make demo`` runs it, and the ledger it leaves behind."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import requests
from click.testing import CliRunner
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
)

from keys.keystore import WrongPassphrase, open_private_key
from medtrace.cli.main import cli
from node.config import load_config
from node.https import ca_session
from node.localnet.running import running_nodes
from node.process import NodeProcess
from node.store import Store
from node.tokens import Tokens
from tests.conftest import MEDTRACE, run_demo


def report(out: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((out / "report.json").read_text())
    return loaded


def test_the_report_shows_every_expected_verdict(demo: Path) -> None:
    steps = {(s["name"], s["verdict"]) for s in report(demo)["steps"]}
    assert ("customs scan at the border", "RELEASE") in steps
    assert ("verify at the counter", "RELEASE") in steps
    assert ("scan of the cloned serial", "REJECT") in steps
    assert ("recalled lot scanned", "REJECT") in steps
    assert ("printed lot differs from commissioning", "REJECT") in steps
    assert ("never commissioned", "HOLD") in steps


def test_the_border_proof_file_is_exported_and_verifies_offline(demo: Path) -> None:
    """make demo shows a proof file exported at the border and verified offline (issue 14)."""
    steps = {s["name"]: s for s in report(demo)["steps"]}
    step = steps["proof exported at the border, verified offline"]
    assert step["verdict"] == "RELEASE"
    assert "border.proof.json" in step["note"]
    proof = json.loads((demo / "border.proof.json").read_text())
    assert proof["checkpoints"], "expected the feeds' cosigned checkpoints in the file"
    result = CliRunner().invoke(
        cli, ["proof", "verify", str(demo / "border.proof.json"), "--genesis", proof["genesis"]]
    )
    assert result.exit_code == 0, result.output
    assert "cosigned by" in result.stdout
    # a checkpoint whose size was changed no longer carries its feed's signature
    proof["checkpoints"][0]["note"] = proof["checkpoints"][0]["note"].replace("\n", "\n9", 1)
    tampered = demo / "tampered.proof.json"
    tampered.write_text(json.dumps(proof))
    refused = CliRunner().invoke(
        cli, ["proof", "verify", str(tampered), "--genesis", proof["genesis"]]
    )
    assert refused.exit_code == 5, refused.output
    assert "proof_file_tampered: checkpoint of" in refused.stderr


def test_the_clone_raises_an_alert_and_the_mismatches_name_their_reason(demo: Path) -> None:
    by_name = {s["name"]: s for s in report(demo)["steps"]}
    assert "suspected_clone" in by_name["scan of the cloned serial"]["alerts"]
    assert "lot_mismatch" in by_name["printed lot differs from commissioning"]["reasons"]
    assert "recalled" in by_name["recalled lot scanned"]["reasons"]
    assert by_name["dispense of a recalled pack"]["reasons"] == ["recalled"]
    assert by_name["never commissioned"]["reasons"] == ["unknown_pack"]


def test_all_five_nodes_converge_to_one_digest_over_tls(demo: Path) -> None:
    nodes = report(demo)["nodes"]
    assert set(nodes) == {"manufacturer", "distributor", "customs", "pharmacy", "regulator"}
    assert len({n["digest"] for n in nodes.values()}) == 1
    assert all(n["url"].startswith("https://") for n in nodes.values())
    for name in nodes:
        config = json.loads((demo / "nodes" / name / "node.json").read_text())
        assert config["tls"] is True
        assert all(p["url"].startswith("https://") for p in config["peers"])
    for node in nodes.values():
        assert (demo / node["data"] / "node.db").is_file()


def test_ledger_verify_passes_on_the_demo_and_fails_after_one_byte_changes(
    demo: Path, tmp_path: Path
) -> None:
    db = demo / "nodes" / "pharmacy" / "node.db"
    ok = subprocess.run(
        [*MEDTRACE, "ledger", "verify", "--db", str(db), "--json"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout.splitlines()[-1])["ok"] is True
    copy = tmp_path / "node.db"
    shutil.copy(db, copy)
    with sqlite3.connect(copy) as conn:
        conn.execute("DROP TRIGGER entries_no_update")
        payload = bytes(conn.execute("SELECT payload FROM entries WHERE id = 7").fetchone()[0])
        changed = (
            payload.replace(b'"ship"', b'"shiq"') if b'"ship"' in payload else payload[:-2] + b"0}"
        )
        conn.execute("UPDATE entries SET payload = ? WHERE id = 7", (changed,))
    bad = subprocess.run(
        [*MEDTRACE, "ledger", "verify", "--db", str(copy), "--json"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert bad.returncode == 1
    verdict = json.loads(bad.stdout.splitlines()[-1])
    assert verdict["ok"] is False
    assert "#" in verdict["message"]  # names the feed position of the broken entry


def _key_files(demo: Path) -> list[Path]:
    """Every private key of a demo: the consortium's (governance, feeds, the TLS CA) and each
    node's feed and TLS keys, of both countries."""
    return sorted(
        [
            *(demo / "consortium").rglob("*.key"),
            *(demo / "nodes").glob("*/*.key"),
            *(demo / "abroad" / "consortium").rglob("*.key"),
            *(demo / "abroad" / "nodes").glob("*/*.key"),
        ]
    )


def test_the_demo_keeps_private_keys_encrypted_and_private(demo: Path) -> None:
    keys = _key_files(demo)
    assert demo / "consortium" / "tls" / "ca.key" in keys
    assert demo / "nodes" / "pharmacy" / "tls.key" in keys
    assert demo / "abroad" / "nodes" / "customs-ch" / "feed.key" in keys
    for path in keys:
        assert path.stat().st_mode & 0o077 == 0
        assert b"SEALED PRIVATE KEY" in path.read_bytes()


def test_demo_passphrase_in_every_node_directory(demo: Path) -> None:
    """A node's data directory holds no passphrase, and no two nodes share one: whoever takes a
    copy of one node's directory opens no key with what is in it, and no other node's keys."""
    nodes = sorted(p for p in (demo / "nodes").iterdir() if p.is_dir())
    assert [p.name for p in nodes] == [
        "customs",
        "distributor",
        "manufacturer",
        "pharmacy",
        "regulator",
    ]
    for data in nodes:
        assert not (data / "passphrase").exists()
    own = {data.name: _passphrase_of(demo, data / "feed.key") for data in nodes}
    assert len(set(own.values())) == len(own)
    assert _passphrase_of(demo, demo / "consortium" / "x.key") not in own.values()
    for path in (demo / "secrets").iterdir():
        assert path.stat().st_mode & 0o077 == 0
    first, second = nodes[0], nodes[1]
    with pytest.raises(WrongPassphrase):
        open_private_key((first / "feed.key").read_bytes(), own[second.name], source="feed.key")


def test_the_demo_stops_every_node_it_started(demo: Path) -> None:
    assert (demo / "abroad" / "nodes" / "customs-ch").is_dir()
    for nodes in (demo / "nodes", demo / "abroad" / "nodes"):
        running = subprocess.run(
            ["pgrep", "-f", str(nodes)], capture_output=True, text=True, check=False
        )
        assert running.stdout.strip() == ""
    assert running_nodes(demo) == []


def _passphrase_of(demo: Path, key_file: Path) -> str:
    """The consortium's passphrase for its keys, a node's own for the keys in its directory
    (country B's under demo/abroad, laid out as A's)."""
    country = demo / "abroad" if (demo / "abroad") in key_file.parents else demo
    owner = key_file.parent.name if key_file.parent.parent == country / "nodes" else "consortium"
    return (country / "secrets" / f"{owner}.passphrase").read_text().strip()


def _key_material(demo: Path) -> list[str]:
    """What would give a key away: a line of each sealed PEM, and each key decrypted (its
    unencrypted PKCS#8 PEM lines and DER in hex)."""
    found: list[str] = []
    for path in _key_files(demo):
        pem = path.read_bytes()
        found += [line.decode() for line in pem.splitlines()[1:-1] if len(line) >= 32]
        key = open_private_key(pem, _passphrase_of(demo, path), source=str(path))
        der = key.private_bytes(Encoding.DER, PrivateFormat.PKCS8, NoEncryption())
        clear = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
        found += [line.decode() for line in clear.splitlines()[1:-1] if len(line) >= 32]
        found.append(der.hex())
    return found


def test_node_logs_and_answers_hold_no_tokens_or_key_material(demo: Path) -> None:
    secrets = []
    for country in (demo, demo / "abroad"):
        tokens = json.loads((country / "tokens.json").read_text())
        secrets += [t for node in tokens.values() for t in node.values() if t.startswith("mt_")]
        secrets += [p.read_text().strip() for p in (country / "secrets").glob("*.passphrase")]
    # the verifier token A's customs node issued to B's, kept in B's node.json only
    secrets += [f["token"] for f in _config(demo / "abroad" / "nodes" / "customs-ch")["foreign"]]
    material = _key_material(demo)
    assert len(material) > len(_key_files(demo))
    logs = [*(demo / "nodes").glob("*/node.log"), *(demo / "abroad" / "nodes").glob("*/node.log")]
    assert len(logs) == 7
    for log in logs:
        text = log.read_text()
        assert "PRIVATE KEY" not in text
        for secret in [*secrets, *material]:
            assert secret not in text
        for line in text.splitlines():
            assert json.loads(line)["node"] == log.parent.name
    # the answers the demo got from the nodes, as its report keeps them
    answers = (demo / "report.json").read_text()
    assert "PRIVATE KEY" not in answers
    for secret in material:
        assert secret not in answers


@pytest.mark.postgres
def test_docker_setup_lays_out_five_nodes_with_a_postgresql_regulator(
    tmp_path: Path, postgres_url: str
) -> None:
    """What the compose file's setup service runs, against a real PostgreSQL server."""
    out = tmp_path / "data"
    env = {**os.environ, "MEDTRACE_PASSPHRASE": "docker-setup-test"}
    result = subprocess.run(
        [
            *MEDTRACE,
            "demo",
            "--setup-only",
            "--docker",
            "--out",
            str(out),
            "--regulator-database",
            postgres_url,
        ],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    configs = {
        p.parent.name: json.loads(p.read_text()) for p in (out / "nodes").glob("*/node.json")
    }
    assert set(configs) == {"manufacturer", "distributor", "customs", "pharmacy", "regulator"}
    assert configs["regulator"]["database"] == postgres_url
    assert all(c["database"] == "" for name, c in configs.items() if name != "regulator")
    assert {p["url"] for p in configs["pharmacy"]["peers"]} == {
        f"https://{name}:8100" for name in ("manufacturer", "distributor", "customs", "regulator")
    }
    assert all(c["host"] == "0.0.0.0" and c["port"] == 8100 for c in configs.values())
    assert all(c["tls"] is True for c in configs.values())
    assert all((out / "nodes" / name / "tls.key").is_file() for name in configs)


def _scan(*args: str) -> dict[str, Any]:
    result = subprocess.run(
        [*MEDTRACE, "scan", *args, "--json"],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode in (0, 1, 2), result.stderr[-2000:]
    value: dict[str, Any] = json.loads(result.stdout.splitlines()[-1])
    return value


def test_a_demo_label_scans_to_the_reported_verdict_online_and_offline(demo: Path) -> None:
    """The last scan of the story (a pack nothing happened to afterwards), read from the label
    image the demo printed: offline against the pharmacy's data directory, and online against
    the pharmacy node run again on that directory."""
    step = next(s for s in report(demo)["steps"] if s["name"] == "regular pack still fine")
    label = demo / step["label"]
    assert label.is_file()
    offline = _scan(str(label), "--offline", str(demo / "nodes" / "pharmacy"), "--max-age", "7d")
    assert offline["verdict"] == step["verdict"] == "RELEASE"
    data = demo / "nodes" / "pharmacy"
    config = json.loads((data / "node.json").read_text())
    tokens = json.loads((demo / "tokens.json").read_text())["pharmacy"]
    assert tokens["url"].startswith("https://")
    secret = demo / "secrets" / "pharmacy.passphrase"  # as the README runs it
    node = subprocess.Popen(
        [*MEDTRACE, "node", "run", "--data", str(data), "--passphrase-file", str(secret)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with ca_session(Path(tokens["ca"])) as http:
                    healthy = http.get(f"{tokens['url']}/healthz", timeout=2).ok
                if healthy:
                    break
            except requests.RequestException:
                pass
            assert time.monotonic() < deadline, "the pharmacy node did not start again"
            time.sleep(0.2)
        online = _scan(
            str(label),
            "--node",
            tokens["url"],
            "--token",
            tokens["verifier"],
            "--genesis",
            config["genesis_id"],
            "--ca",
            tokens["ca"],
        )
    finally:
        node.terminate()
        node.wait(timeout=30)
    assert online["verdict"] == offline["verdict"]
    assert online["pack"] == offline["pack"] == step["pack"]


def test_the_demo_refuses_to_replace_a_directory_a_node_still_runs_from(tmp_path: Path) -> None:
    """`make demo` again while a node of the earlier demo still serves from its directory: one
    line naming the node and how to stop it, exit 1, and every file left where it was."""
    out = tmp_path / "demo-out"
    setup = run_demo(out, "--setup-only", timeout=900)
    assert setup.returncode == 0, setup.stderr
    tokens = json.loads((out / "tokens.json").read_text())["pharmacy"]
    node = NodeProcess(
        "pharmacy",
        out / "nodes" / "pharmacy",
        tokens["url"],
        passphrase_file=out / "secrets" / "pharmacy.passphrase",
    )
    node.start()
    try:
        node.wait_healthy(time.monotonic() + 60)
        before = sorted(p.relative_to(out) for p in out.rglob("*"))
        again = run_demo(out, timeout=120)
        after = sorted(p.relative_to(out) for p in out.rglob("*"))
        assert node.process is not None
        pid = node.process.pid
        assert not node.exited
    finally:
        node.stop()
    assert again.returncode == 1, again.stdout + again.stderr
    assert len(again.stderr.strip().splitlines()) == 1, again.stderr
    assert "node pharmacy" in again.stderr
    assert f"kill {pid}" in again.stderr
    assert "nothing was removed" in again.stderr
    assert after == before
    assert running_nodes(out) == []


# -- the second country (issue 17, item 5): medtrace/demo/abroad.py, node/localnet/country_b.py

FOREIGN_RELEASE = "DE pack scanned at the CH border"
FOREIGN_CLONE = "cloned DE serial scanned at the CH border"


def _config(data: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((data / "node.json").read_text())
    return loaded


def _step(demo: Path, name: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = [s for s in report(demo)["steps"] if s["name"] == name]
    assert len(found) == 1, [s["name"] for s in report(demo)["steps"]]
    return found[0]


@contextmanager
def _node_again(demo: Path, name: str) -> Iterator[tuple[str, requests.Session, str]]:
    """Node ``name`` of country A run again on its data directory, as the README runs one: its
    URL, a session trusting its CA, and its operator token."""
    tokens = json.loads((demo / "tokens.json").read_text())[name]
    node = NodeProcess(
        name,
        demo / "nodes" / name,
        tokens["url"],
        passphrase_file=demo / "secrets" / f"{name}.passphrase",
    )
    node.start()
    try:
        node.wait_healthy(time.monotonic() + 120)  # a loaded machine: unlocking takes a while
        with ca_session(Path(tokens["ca"])) as http:
            yield tokens["url"], http, tokens["operator"]
    finally:
        node.stop()


def test_country_b_releases_a_pack_of_country_a_naming_a_ledger(demo: Path) -> None:
    """B's customs node asked A's node (A's customs, the endpoint B's governance pinned, with the
    verifier token A issued to B) and verified the answer from A's pinned genesis."""
    genesis_a = _config(demo / "nodes" / "customs")["genesis_id"]
    url_a = json.loads((demo / "tokens.json").read_text())["customs"]["url"]
    step = _step(demo, FOREIGN_RELEASE)
    assert (step["actor"], step["verdict"], step["reasons"]) == (
        "customs-ch",
        "RELEASE",
        ["authentic"],
    )
    assert step["product"] == "Paracetamol Demo"  # A's master data, verified abroad
    assert step["details"]["ledger_country"] == "DE"
    answered = step["details"]["answered_by"]
    assert (answered["genesis"], answered["url"]) == (genesis_a, url_a)
    assert step["details"]["checkpoint_age_s"] is not None  # rests on A's cosigned checkpoints
    # B's node is of another consortium, and follows A's membership from the genesis it pinned
    b_customs = demo / "abroad" / "nodes" / "customs-ch"
    assert _config(b_customs)["genesis_id"] != genesis_a
    assert (b_customs / "foreign" / f"{genesis_a}.json").is_file()
    pins = {(p["consortium"], p["country"]): p for p in report(demo)["abroad"]["pins"]}
    assert pins[("medtrace-demo-ch", "DE")]["genesis"] == genesis_a
    assert step["pack"].startswith("https://id.gs1.org/01/09506000134352/21/")


def test_a_answers_b_only_on_requests_signed_by_a_member_of_b(demo: Path) -> None:
    """The token A issued to B is bound to B's consortium, so A answered B's requests only after
    checking their signatures against B's membership, which A's node followed from B's pinned
    genesis (docs/spec/cross-border.md, "Signed requests between consortia")."""
    a_customs = demo / "nodes" / "customs"
    genesis_b = _config(demo / "abroad" / "nodes" / "customs-ch")["genesis_id"]
    with Store(load_config(a_customs).database_url(a_customs)) as store:
        bound = [t for t in Tokens(store).list() if t.consortium is not None]
    assert [t.consortium for t in bound] == [genesis_b]
    assert (a_customs / "foreign" / f"{genesis_b}.json").is_file()  # followed: it checked


def test_country_b_finds_the_clone_dispensed_in_country_a(demo: Path) -> None:
    """The serial dispensed at two counters in A, printed on a pack at B's border: REJECT,
    from A's ledger's evidence, and signed as a failed check on B's customs feed."""
    home = _step(demo, "scan of the cloned serial")
    step = _step(demo, FOREIGN_CLONE)
    assert step["pack"] == home["pack"]
    assert step["verdict"] == "REJECT"
    assert "already_dispensed" in step["reasons"]
    assert "suspected_clone" in step["reasons"]  # the two dispenses A's ledger holds
    assert step["details"]["ledger_country"] == "DE"
    exported = _step(demo, "case exported at the CH border, verified offline")
    assert exported["reasons"] == ["check_rejected"]  # the failed check B's node signed
    assert exported["pack"] == step["pack"]


def test_a_regulator_holds_the_case_country_b_sent_as_an_alert(demo: Path) -> None:
    """One signed file, verified offline against B's genesis; A's regulator node holds it as a
    foreign_case alert (read over its API), and importing it again changes nothing."""
    case_file = demo / "clone.case.json"
    genesis_b = report(demo)["abroad"]["genesis"]
    checked = CliRunner().invoke(
        cli, ["case", "verify", str(case_file), "--genesis", genesis_b, "--json"]
    )
    assert checked.exit_code == 0, checked.output
    case = json.loads(checked.stdout)
    assert case["exporter"] == {
        "organisation": "customs-ch",
        "feed": "customs-ch/post",
        "role": "customs",
    }
    clone = _step(demo, FOREIGN_CLONE)["pack"]
    assert [a["subject"] for a in case["alerts"]] == [clone]
    with _node_again(demo, "regulator") as (url, http, operator):
        auth = {"Authorization": f"Bearer {operator}"}
        held = http.get(f"{url}/api/v1/alerts?code=foreign_case", headers=auth, timeout=30)
        assert held.status_code == 200, held.text
        alerts = held.json()["alerts"]
        assert [(a["id"], a["code"], a["subject"]) for a in alerts] == [
            (case["case"], "foreign_case", clone)
        ]
        foreign = alerts[0]["foreign"]
        assert (foreign["genesis"], foreign["country"]) == (genesis_b, "CH")
        assert foreign["exporter"]["organisation"] == "customs-ch"
        again = http.post(
            f"{url}/api/v1/cases",
            data=case_file.read_bytes(),
            headers={**auth, "Content-Type": "application/json"},
            timeout=30,
        )
        assert again.status_code == 200, again.text
        assert again.json()["alreadyHeld"] is True
        after = http.get(f"{url}/api/v1/alerts?code=foreign_case", headers=auth, timeout=30)
        assert len(after.json()["alerts"]) == 1
    steps = [
        _step(demo, n) for n in ("CH case imported at the DE regulator", "same case imported again")
    ]
    assert [(s["reasons"], s["details"]["status"]) for s in steps] == [
        (["imported"], 201),
        (["already_held"], 200),
    ]
