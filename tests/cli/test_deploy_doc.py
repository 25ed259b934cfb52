"""Every `medtrace` command docs/deploy.md shows exists, with every option it shows (issue 18):
each is looked up in the real CLI's --help."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from click.testing import CliRunner

from medtrace.cli.main import cli

DEPLOY = Path(__file__).resolve().parents[2] / "docs" / "deploy.md"
_STOP = re.compile(r"\s(?:\||>|&&|;|#|2>)|\)|`|$")


def commands() -> list[str]:
    """Each `medtrace …` command line of the page: code blocks (continuations joined) and
    inline code."""
    text = DEPLOY.read_text(encoding="utf-8")
    found: list[tuple[str, str]] = []
    for block in re.findall(r"```sh\n(.*?)```", text, re.DOTALL):
        joined = re.sub(r"\\\n\s*", " ", block)
        for line in joined.splitlines():
            found += re.findall(r"(?:^|[\s/(\"])medtrace (node|keys|ledger|sync) ([^\n]*)", line)
    found += re.findall(r"`medtrace (node|keys|ledger|sync) ([^`]*)`", re.sub(r"\n\s*", " ", text))
    lines = []
    for group, rest in found:
        cut = _STOP.search(rest)
        lines.append(f"{group} {rest[: cut.start() if cut else len(rest)]}".strip())
    return sorted(set(lines))


def test_the_page_shows_commands() -> None:
    assert len(commands()) > 20


@pytest.mark.parametrize("line", commands())
def test_every_command_and_option_of_the_deploy_page_exists(line: str) -> None:
    words = shlex.split(line.replace("…", "x"))
    path = [w for w in words[:3] if not w.startswith("-")]
    path = path[: next((i for i, w in enumerate(path) if "/" in w or "." in w), len(path))]
    result = CliRunner().invoke(cli, [*path, "--help"])
    assert result.exit_code == 0, (line, result.output)
    for option in (w.split("=", 1)[0] for w in words if w.startswith("--")):
        assert re.search(rf"(^|\s){re.escape(option)}\b", result.output), (line, option)
