"""How docker/compose.yaml keeps its secrets (issue 18), read from the file itself: no password
in it, each node gets only its own passphrase (a compose secret), and no volume holding keys or
passphrases is shared by two nodes."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker" / "compose.yaml"
NODES = ("manufacturer", "distributor", "customs", "pharmacy", "regulator")


def compose() -> dict[str, Any]:
    yaml = pytest.importorskip("yaml", reason="PyYAML (arrives with the dev tools) reads compose")
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return loaded


def volumes_of(service: dict[str, Any]) -> set[str]:
    return {str(v).split(":", 1)[0] for v in service.get("volumes", [])}


def test_no_password_is_written_in_the_compose_file() -> None:
    text = COMPOSE.read_text()
    assert "POSTGRES_PASSWORD:" not in text
    assert not re.search(r"postgresql\+?\w*://[^@/\s]+:[^@/\s]+@", text)  # user:password@
    postgres = compose()["services"]["postgres"]
    assert postgres["environment"]["POSTGRES_PASSWORD_FILE"] == "/run/secrets/postgres_password"
    assert postgres["secrets"] == ["postgres_password"]


def test_each_node_gets_only_its_own_passphrase() -> None:
    doc = compose()
    for name in NODES:
        service = doc["services"][name]
        own = f"{name}_passphrase"
        assert own in service["secrets"], name
        assert not [s for s in service["secrets"] if s.endswith("_passphrase") and s != own]
        assert f"/run/secrets/{own}" in service["command"], name
        assert doc["secrets"][own]["file"] == f"./secrets/{name}.passphrase"


def test_no_two_nodes_share_a_volume_and_none_mounts_the_ceremony() -> None:
    services = compose()["services"]
    seen: dict[str, str] = {}
    for name in NODES:
        for volume in volumes_of(services[name]):
            assert volume not in seen, f"{name} and {seen.get(volume)} share {volume}"
            assert volume != "ceremony"
            assert not volume.startswith("."), f"{name} mounts a host path: {volume}"
            seen[volume] = name
    assert "ceremony" in volumes_of(services["setup"])


def test_the_setup_script_and_its_image_exist() -> None:
    setup = compose()["services"]["setup"]
    assert setup["profiles"] == ["setup"]  # `up` never re-runs the ceremony
    assert (ROOT / "docker" / "setup.sh").is_file()
    assert "COPY docker/setup.sh" in (ROOT / "docker" / "Dockerfile").read_text()
