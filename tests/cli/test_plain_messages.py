"""A refusal says what was expected and what was found in words, never a Python exception class
(issue 18): "ConsortiumError: expected a organisation id …" became "error: expected an
organisation id …". Driven through the installed `medtrace` command, in processes of its own."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

MEDTRACE = str(Path(sys.executable).with_name("medtrace"))
PASSPHRASE = "correct horse battery staple (plain messages)"
#: A Python class name as a message would show it: ConsortiumError, KeyError, NodeConfig.__init__
CLASS_NAME = re.compile(r"\b[A-Z]\w*(Error|Exception|Invalid|Refused)\b|__init__|Traceback")


def medtrace(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MEDTRACE_PASSPHRASE": PASSPHRASE, "NO_COLOR": "1", "COLUMNS": "200"}
    env.pop("MEDTRACE_DEBUG", None)
    return subprocess.run(
        [MEDTRACE, *args],
        check=False,
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def refused(result: subprocess.CompletedProcess[str], words: str) -> str:
    """The one error line of a refused command, checked for words and class names."""
    assert result.returncode == 1, (result.stdout, result.stderr)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: "), lines
    assert words in lines[0], lines[0]
    assert CLASS_NAME.search(result.stderr + result.stdout) is None, lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def consortium(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("plain")
    made = medtrace("keys", "create", "--dir", "c", "--name", "North", cwd=root)
    assert made.returncode == 0, made.stderr
    return root


def test_a_bad_organisation_id_is_refused_in_words(consortium: Path) -> None:
    result = medtrace(
        "keys", "add-org", "--dir", "c", "--id", "Acme_X", "--name", "Acme",
        "--role", "manufacturer", "--gln", "4012345000009", "--prefix", "4012345",
        "--feed", "line-1", cwd=consortium,
    )  # fmt: skip
    line = refused(result, "expected an organisation id of 1 to 32 lower-case letters")
    assert "found 'Acme_X'" in line


def test_an_unknown_organisation_is_refused_in_words(consortium: Path) -> None:
    result = medtrace(
        "keys", "add-feed", "--dir", "c", "--org", "nobody", "--site", "x", cwd=consortium
    )
    refused(result, "found 'nobody'")


@pytest.mark.parametrize(
    ("config", "words"),
    [
        ({"name": "x", "feed": "acme/line-1"}, "with genesis_id, found one without"),
        ([1], "expected a node configuration object, found a list"),
        (
            {"name": "x", "feed": "acme/line-1", "genesis_id": "ab", "colour": "red"},
            "with only known settings, found colour",
        ),
        (
            {"name": "x", "feed": "acme/line-1", "genesis_id": "ab", "peers": [{"name": "y"}]},
            "peers[0] to be a peer object with url, token",
        ),
    ],
)
def test_a_broken_node_configuration_is_refused_in_words(
    tmp_path: Path, config: object, words: str
) -> None:
    data = tmp_path / "node"
    data.mkdir()
    (data / "node.json").write_text(json.dumps(config))
    refused(medtrace("node", "token", "list", "--data", str(data), cwd=tmp_path), words)


def test_a_bundle_that_is_no_bundle_is_refused_in_words(tmp_path: Path) -> None:
    (tmp_path / "b.mtb").write_bytes(b"x")
    result = medtrace(
        "sync", "import", "--db", "n.db", "--genesis", "ab" * 32, "b.mtb", cwd=tmp_path
    )
    refused(result, "b.mtb: expected")
    assert not (tmp_path / "n.db").exists()
