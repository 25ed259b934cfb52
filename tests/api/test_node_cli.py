"""`medtrace node init | token | peer`: data directories, hashed tokens, one-line errors."""

from __future__ import annotations

import json
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from keys.keystore import PASSPHRASE_ENV
from medtrace.app import create_app
from medtrace.cli.node import node_group
from node.config import load_config
from node.store import Store
from node.tokens import TokenError, TokenRole, Tokens, token_hash
from node.unlock import AppError, resolve_node_passphrase
from tests.api.conftest import PASSPHRASE, init_node

ENV = {PASSPHRASE_ENV: PASSPHRASE}


def run(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(node_group, list(args), env=env if env is not None else ENV)
    return result.exit_code, result.stdout, result.stderr


def test_init_writes_config_key_and_membership(consortium_dir: Path, tmp_path: Path) -> None:
    data = tmp_path / "apo"
    token = "mt_" + "B" * 43
    init_node(
        consortium_dir,
        data,
        "apo/counter",
        "--port",
        "8123",
        "--peer",
        f"acme=http://127.0.0.1:8101={token}",
    )
    config = load_config(data)
    assert (config.name, config.feed, config.port) == ("apo", "apo/counter", 8123)
    assert [(p.name, p.url, p.token) for p in config.peers] == [
        ("acme", "http://127.0.0.1:8101", token)
    ]
    for name in ("feed.key", "node.json"):
        assert stat.S_IMODE((data / name).stat().st_mode) == 0o600
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    assert b"SEALED PRIVATE KEY" in (data / "feed.key").read_bytes()
    with Store(config.database_url(data)) as store:
        assert store.meta("genesis_id") == config.genesis_id
        assert store.membership_chain(config.genesis_id).current.version == 6


def test_init_refuses_a_used_directory_and_unknown_feeds(
    consortium_dir: Path, tmp_path: Path
) -> None:
    data = init_node(consortium_dir, tmp_path / "acme", "acme/line-1")
    code, _, err = run(
        "init", "--data", str(data), "--consortium", str(consortium_dir), "--feed", "acme/line-1"
    )
    assert code == 1
    assert "--force" in err
    assert len(err.strip().splitlines()) == 1
    code, _, _ = run(
        "init",
        "--data",
        str(data),
        "--consortium",
        str(consortium_dir),
        "--feed",
        "acme/line-1",
        "--force",
    )
    assert code == 0
    code, _, err = run(
        "init",
        "--data",
        str(tmp_path / "x"),
        "--consortium",
        str(consortium_dir),
        "--feed",
        "zz/top",
    )
    assert code == 1
    assert "expected a feed listed in membership" in err
    assert "UnknownFeed" not in err
    assert "Traceback" not in err
    code, _, err = run(
        "init",
        "--data",
        str(tmp_path / "y"),
        "--consortium",
        str(consortium_dir),
        "--feed",
        "acme/line-1",
        env={PASSPHRASE_ENV: "wrong"},
    )
    assert code == 1
    assert "passphrase" in err
    assert PASSPHRASE not in err
    assert not (tmp_path / "y").exists()


@pytest.mark.parametrize(
    "peer",
    [
        "acme",
        "acme=http://x",
        "ACME=http://h:1=mt_" + "A" * 43,
        "a=ftp://h=mt_" + "A" * 43,
        "a=http://h:1=secret",
    ],
)
def test_init_refuses_a_malformed_peer(consortium_dir: Path, tmp_path: Path, peer: str) -> None:
    code, _, err = run(
        "init",
        "--data",
        str(tmp_path / "n"),
        "--consortium",
        str(consortium_dir),
        "--feed",
        "acme/line-1",
        "--peer",
        peer,
    )
    assert code == 2
    assert "secret" not in err


def test_token_create_prints_only_the_token_and_stores_its_hash(
    consortium_dir: Path, tmp_path: Path
) -> None:
    data = init_node(consortium_dir, tmp_path / "acme", "acme/line-1")
    code, out, err = run("token", "create", "--data", str(data), "--user", "scanner-1")
    assert code == 0
    token = out.strip()
    assert out == token + "\n"
    assert token.startswith("mt_")
    assert len(token) == 46
    assert "verifier" in err  # the default role: least privilege
    raw = (data / "node.db").read_bytes()
    assert token.encode() not in raw
    assert token_hash(token).encode() in raw

    code, out, _ = run(
        "token",
        "create",
        "--data",
        str(data),
        "--user",
        "ops",
        "--role",
        "operator",
        "--expires-days",
        "7",
    )
    assert code == 0
    code, out, _ = run("token", "list", "--data", str(data), "--json")
    listed = json.loads(out)["tokens"]
    assert [(t["user"], t["role"], t["active"]) for t in listed] == [
        ("scanner-1", "verifier", True),
        ("ops", "operator", True),
    ]
    assert listed[1]["expires"] is not None
    assert token not in out
    code, out, _ = run("token", "list", "--data", str(data))
    assert code == 0
    assert "scanner-1" in out
    assert token not in out

    assert run("token", "revoke", "--data", str(data), "--id", "1")[0] == 0
    code, _, err = run("token", "revoke", "--data", str(data), "--id", "1")
    assert code == 1
    assert "found none" in err
    assert run("token", "revoke", "--data", str(data), "--user", "ops")[0] == 0
    code, out, _ = run("token", "list", "--data", str(data), "--json")
    assert [t["revoked"] for t in json.loads(out)["tokens"]] == [True, True]
    code, _, err = run("token", "create", "--data", str(data), "--user", "bad name!")
    assert code == 1
    assert "user name" in err


def test_token_commands_need_a_node(tmp_path: Path) -> None:
    code, _, err = run("token", "list", "--data", str(tmp_path / "none"))
    assert code == 1
    assert "node init" in err
    assert len(err.strip().splitlines()) == 1


def test_peer_add_replace_list_remove(consortium_dir: Path, tmp_path: Path) -> None:
    data = init_node(consortium_dir, tmp_path / "apo", "apo/counter")
    token = "mt_" + "C" * 43
    args = ["peer", "add", "--data", str(data), "--name", "acme", "--token", token]
    assert run(*args, "--url", "http://127.0.0.1:8101")[0] == 0
    code, out, _ = run(*args, "--url", "http://127.0.0.1:9101/")
    assert code == 0
    assert "replaced" in out
    assert [(p.name, p.url) for p in load_config(data).peers] == [("acme", "http://127.0.0.1:9101")]
    code, out, _ = run("peer", "list", "--data", str(data))
    assert "9101" in out
    assert token not in out
    assert run("peer", "remove", "--data", str(data), "--name", "acme")[0] == 0
    assert run("peer", "remove", "--data", str(data), "--name", "acme")[0] == 1
    assert load_config(data).peers == ()


def test_token_table_rules() -> None:
    with pytest.raises(TokenError):
        Tokens.__new__(Tokens).create("ok", "superuser")


def test_tokens_expire_and_are_checked_by_hash(consortium_dir: Path, tmp_path: Path) -> None:
    data = init_node(consortium_dir, tmp_path / "acme", "acme/line-1")
    with Store(load_config(data).database_url(data)) as store:
        tokens = Tokens(store)
        token, info = tokens.create("dev", TokenRole.PEER, datetime.now(UTC) + timedelta(days=1))
        found = tokens.authenticate(token)
        assert found is not None
        assert found.role is TokenRole.PEER
        assert found.id == info.id
        assert tokens.authenticate(token[:-1] + ("A" if token[-1] != "A" else "B")) is None
        assert tokens.authenticate("") is None
        old, _ = tokens.create("old", TokenRole.PEER, datetime.now(UTC) - timedelta(days=1))
        assert tokens.authenticate(old) is None
        with pytest.raises(TokenError):
            tokens.create("naive", TokenRole.PEER, datetime(2030, 1, 1))  # noqa: DTZ001


def test_the_passphrase_comes_from_argument_env_or_demo_file(
    consortium_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = init_node(consortium_dir, tmp_path / "acme", "acme/line-1", "--keep-passphrase")
    passphrase_file = data / "passphrase"
    assert stat.S_IMODE(passphrase_file.stat().st_mode) == 0o600
    assert resolve_node_passphrase(data) == PASSPHRASE
    monkeypatch.setenv(PASSPHRASE_ENV, "from-env")
    assert resolve_node_passphrase(data) == "from-env"
    assert resolve_node_passphrase(data, "given") == "given"
    monkeypatch.delenv(PASSPHRASE_ENV)
    passphrase_file.chmod(0o644)
    with pytest.raises(AppError, match="chmod 600"):
        resolve_node_passphrase(data)
    passphrase_file.unlink()
    with pytest.raises(AppError, match=PASSPHRASE_ENV):
        create_app(data)
    with pytest.raises(AppError, match="wrong passphrase"):
        create_app(data, passphrase="wrong")
