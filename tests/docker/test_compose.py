"""The docker setup is checked without a Docker engine: the compose file must be valid and
every image build step must refer to files that exist."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker" / "compose.yaml"
DOCKERFILE = ROOT / "docker" / "Dockerfile"


def test_compose_file_is_valid() -> None:
    tool = shutil.which("docker-compose")
    if tool is None:
        pytest.skip("docker-compose is not installed (make test installs Debian's docker-compose)")
    result = subprocess.run(
        [tool, "-f", str(COMPOSE), "config"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    for service in (
        "setup",
        "postgres",
        "manufacturer",
        "distributor",
        "customs",
        "pharmacy",
        "regulator",
    ):
        assert re.search(rf"^  {service}:$", result.stdout, re.MULTILINE), service


def test_dockerfile_copies_only_what_exists() -> None:
    for line in DOCKERFILE.read_text().splitlines():
        if line.startswith("COPY "):
            *sources, _target = line.split()[1:]
            for source in sources:
                assert (ROOT / source).exists(), f"{line}: {source} is missing"


def test_the_regulator_node_uses_postgresql() -> None:
    text = COMPOSE.read_text()
    assert "postgres:" in text
    assert re.search(r"regulator:\n(?:.*\n)*?\s+postgres:\n\s+condition: service_healthy", text)


def test_the_installed_package_carries_the_web_pages(tmp_path: Path) -> None:
    """The image installs medtrace non-editable: templates and static files must be in the wheel.

    Built from a copy of the sources, so the build leaves nothing in the working tree."""
    source = tmp_path / "src"
    shutil.copytree(
        ROOT,
        source,
        ignore=shutil.ignore_patterns(
            ".venv", ".git", "demo-out", "build", "*.egg-info", "__pycache__", ".*_cache"
        ),
    )
    wheels = tmp_path / "wheels"
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheels), str(source)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    (wheel,) = wheels.glob("medtrace-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for page in (ROOT / "api" / "templates").iterdir():
        assert f"api/templates/{page.name}" in names
    for asset in (ROOT / "api" / "static").iterdir():
        assert f"api/static/{asset.name}" in names


def test_the_docker_network_runs_tls_by_default() -> None:
    """Setup lays the nodes out with TLS (no --no-tls), and the health check speaks HTTPS,
    trusting the CA that setup writes into the shared volume."""
    from keys.tls import ca_paths  # noqa: PLC0415 (the one test here that needs medtrace)

    setup = re.search(r"^  setup:\n(?:    .*\n)+", COMPOSE.read_text(), re.MULTILINE)
    assert setup is not None
    assert '"--setup-only", "--docker"' in setup.group(0)
    assert "--no-tls" not in setup.group(0)
    health = next(
        line for line in DOCKERFILE.read_text().splitlines() if "healthz" in line and "CMD" in line
    )
    assert "https" in health
    assert f"'{ca_paths(Path('/data/consortium'))[1]}'" in health
