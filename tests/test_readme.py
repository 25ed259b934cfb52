"""The README's commands, run as a reader runs them after ``make demo``.

Every ```sh block from "After the demo" on (the node run again, scans, EPCIS, then "Using it")
runs once, as written, in bash against a demo run into a temporary directory: ``demo-out`` is
that directory, ``.venv/bin/medtrace`` this interpreter's ``medtrace`` and
``../shared/testdata`` the published test data beside the checkout. Each command is a test of
its own that passes when it exits 0. A block is one bash process, so a command sees what the
ones before it set (``$NODE``, ``$TOKEN``); its background node is stopped with the whole
process group when the block ends.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from node.localnet.running import running_nodes

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
TESTDATA = ROOT.parent / "shared" / "testdata"
MEDTRACE_BIN = Path(sys.executable).parent / "medtrace"
FIRST_SECTION = "## After the demo"
BLOCK_TIMEOUT_S = 300
#: Commands a test cannot run as written (how the command starts -> why).
NOT_RUN = {
    ".venv/bin/medtrace bench --quick": "takes minutes and both cores; `make bench` runs it",
}
#: What a reader types at the passphrase prompt of `keys create` (stdin is no terminal here).
PROMPT_ANSWER = "readme-test-passphrase"


@dataclass(frozen=True)
class Command:
    block: int
    index: int
    text: str  # as the README writes it, continuation lines included

    @property
    def id(self) -> str:
        first = self.text.splitlines()[0].removeprefix(".venv/bin/")
        return f"block{self.block}-{self.index:02d}: {first[:60]}"

    def not_run_because(self) -> str | None:
        for start, why in NOT_RUN.items():
            if self.text.startswith(start):
                return why
        if "../shared/testdata" in self.text and not TESTDATA.is_dir():
            return f"needs the published test data in {TESTDATA}, which is absent"
        return None


def readme_blocks() -> list[str]:
    text = README.read_text(encoding="utf-8")
    assert FIRST_SECTION in text, f"expected a section {FIRST_SECTION!r} in README.md"
    after = text[text.index(FIRST_SECTION) :]
    return re.findall(r"^```sh\n(.*?)^```$", after, flags=re.MULTILINE | re.DOTALL)


def commands(block: int, source: str) -> list[Command]:
    """The block's commands: continuation lines joined, blank and comment lines left out."""
    found: list[Command] = []
    pending: list[str] = []
    for line in source.splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        pending.append(line)
        if not line.endswith("\\"):
            found.append(Command(block, len(found), "\n".join(pending)))
            pending = []
    assert not pending, f"README block {block} ends inside a continued command"
    return found


COMMANDS = [c for i, source in enumerate(readme_blocks()) for c in commands(i, source)]


def as_run_here(text: str, demo_out: Path) -> str:
    return (
        text.replace(".venv/bin/medtrace", str(MEDTRACE_BIN))
        .replace("../shared/testdata", str(TESTDATA))
        .replace("demo-out", str(demo_out))
    )


def script(block: list[Command], demo_out: Path, logs: Path) -> str:
    """One bash script for a block; each command's output to its own file, its exit status to
    ``logs/status``. The newline before ``}`` keeps a trailing comment from eating it."""
    lines = []
    for command in block:
        if command.not_run_because():
            continue
        lines += [
            "{",
            as_run_here(command.text, demo_out),
            f'}} >"{logs}/{command.index}.log" 2>&1',
            f'echo "{command.index} $?" >>"{logs}/status"',
        ]
    return "\n".join(lines) + "\n"


def stop_group(pgid: int, grace_s: float = 20.0) -> None:
    """SIGTERM to every process the block left (a node run in the background), SIGKILL to what
    still runs after ``grace_s``; returns when the group is empty."""
    for sig, wait_s in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 10.0)):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            try:
                os.killpg(pgid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.1)


@pytest.fixture(scope="module")
def results(
    demo: Path,  # tests/conftest.py: the session's one `medtrace demo` run
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[tuple[int, int], tuple[int, str]]:
    """(block, index) -> (exit status, output) of every command run."""
    assert MEDTRACE_BIN.is_file(), f"expected the medtrace command at {MEDTRACE_BIN}"
    work = tmp_path_factory.mktemp("readme")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEDTRACE_")}
    env["MEDTRACE_PASSPHRASE"] = PROMPT_ANSWER
    found: dict[tuple[int, int], tuple[int, str]] = {}
    for number in sorted({c.block for c in COMMANDS}):
        block = [c for c in COMMANDS if c.block == number]
        logs = work / f"block{number}"
        logs.mkdir()
        path = logs / "run.sh"
        path.write_text(script(block, demo, logs))
        process = subprocess.Popen(  # bash on the script written just above
            ["bash", str(path)], cwd=work, env=env, start_new_session=True
        )
        try:
            process.wait(timeout=BLOCK_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            pass
        finally:
            stop_group(process.pid)
            process.wait()
        status = logs / "status"
        for line in status.read_text().splitlines() if status.exists() else []:
            index, code = (int(part) for part in line.split())
            found[(number, index)] = (code, (logs / f"{index}.log").read_text(errors="replace"))
    return found


def test_the_readme_has_its_commands_after_the_demo() -> None:
    texts = [c.text for c in COMMANDS]
    assert any(" node run --data demo-out/nodes/pharmacy" in t for t in texts)
    assert any(t.startswith(".venv/bin/medtrace keys create") for t in texts)
    assert len(readme_blocks()) >= 2


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c.id)
def test_readme_command_succeeds(
    command: Command, results: dict[tuple[int, int], tuple[int, str]]
) -> None:
    why = command.not_run_because()
    if why:
        pytest.skip(why)
    assert (command.block, command.index) in results, (
        f"README block {command.block}: `{command.text}` did not run (its block timed out "
        f"after {BLOCK_TIMEOUT_S} s)"
    )
    code, output = results[(command.block, command.index)]
    assert code == 0, (
        f"README block {command.block}: expected `{command.text}` to exit 0, found {code}:\n"
        f"{output[-3000:]}"
    )


def test_the_readme_leaves_no_node_running(
    demo: Path,  # tests/conftest.py: the session's one `medtrace demo` run
    results: dict[tuple[int, int], tuple[int, str]],
) -> None:
    assert results
    assert running_nodes(demo) == []
