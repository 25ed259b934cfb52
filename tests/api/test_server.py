"""Real processes: `medtrace node run` on a loopback port, driven over HTTP, under each server."""

from __future__ import annotations

import contextlib
import json
import os
import pty
import select
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
import requests
from click.testing import CliRunner

from api.body import MAX_BODY_BYTES
from api.epcis import FILE_SIZE_LIMIT
from keys.keystore import PASSPHRASE_ENV
from medtrace.app import app_context, close_app
from medtrace.cli.node import node_group
from medtrace.serve.granian import worker_loader
from node.config import PeerConfig, load_config, save_config
from node.unlock import PASSPHRASE_FD_ENV, passphrase_handover, resolve_node_passphrase
from tests.api.conftest import GTIN, PASSPHRASE, init_node, pack

MEDTRACE = str(Path(sys.executable).with_name("medtrace"))
START_TIMEOUT_S = 30.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def create_token(data: Path, role: str, user: str) -> str:
    result = CliRunner().invoke(
        node_group, ["token", "create", "--data", str(data), "--user", user, "--role", role]
    )
    assert result.exit_code == 0, result.output
    return result.stdout.strip()


@dataclass
class Running:
    data: Path
    url: str
    process: subprocess.Popen[bytes]
    stderr_path: Path

    def stop(self, sig: int = signal.SIGTERM) -> int:
        if sig == signal.SIGKILL:  # the workers too: a killed master leaves them running
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=40)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        return int(self.process.returncode)

    def log_lines(self) -> list[str]:
        return [line for line in self.stderr_path.read_text().splitlines() if line.strip()]


def start(data: Path, port: int, tmp_path: Path, *args: str) -> Running:
    stderr_path = tmp_path / f"{data.name}-{port}.stderr"
    env = {**os.environ, PASSPHRASE_ENV: PASSPHRASE, "PYTHONUNBUFFERED": "1"}
    with stderr_path.open("wb") as err:
        process = subprocess.Popen(
            [MEDTRACE, "node", "run", "--data", str(data), "--port", str(port), *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=err,
            env=env,
            start_new_session=True,  # its own process group: stop() can reach every worker
        )
    running = Running(data, f"http://127.0.0.1:{port}", process, stderr_path)
    deadline = time.monotonic() + START_TIMEOUT_S
    try:
        while True:
            if process.poll() is not None:
                raise AssertionError(f"node exited early: {stderr_path.read_text()[-2000:]}")
            try:
                with requests.get(f"{running.url}/healthz", timeout=1) as response:
                    if response.status_code == 200:
                        return running
            except requests.RequestException:  # not up yet, or slow under load
                pass
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"node did not answer /healthz: {stderr_path.read_text()[-2000:]}"
                )
            time.sleep(0.1)
    except BaseException:
        running.stop(signal.SIGKILL)  # never leave a node behind
        raise


@pytest.fixture
def acme_data(consortium_dir: Path, tmp_path: Path) -> Path:
    return init_node(consortium_dir, tmp_path / "acme", "acme/line-1", workers=2, threads=4)


#: How each server announces itself in the log (its own lines, as JSON).
STARTED = {"granian": "Starting granian", "gunicorn": "Starting gunicorn"}


@pytest.fixture(params=sorted(STARTED))
def server(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def served(acme_data: Path, tmp_path: Path, server: str) -> Iterator[Running]:
    running = start(acme_data, free_port(), tmp_path, "--server", server)
    try:
        yield running
    finally:
        running.stop(signal.SIGKILL)


def _events(running: Running) -> list[str]:
    return [json.loads(line)["event"] for line in running.log_lines()]


def _wait_for_starts(running: Running, count: int) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while _events(running).count("node started") < count:
        assert time.monotonic() < deadline, running.log_lines()[-5:]
        time.sleep(0.1)


def test_a_served_node_commissions_ships_counts_and_logs_json(
    served: Running, acme_data: Path, server: str
) -> None:
    operator = create_token(acme_data, "operator", "line-operator")
    verifier = create_token(acme_data, "verifier", "scanner-1")
    with requests.Session() as http:
        http.headers["Authorization"] = f"Bearer {operator}"
        made = http.post(
            f"{served.url}/api/v1/commission",
            json={"gtin": GTIN, "lot": "L1", "expiry": "2030-12-31", "count": 4},
            timeout=10,
        )
        assert made.status_code == 201, made.text
        serials = made.json()["serials"]
        shipped = http.post(
            f"{served.url}/api/v1/actions/ship",
            json={"subjects": [pack(s) for s in serials[:2]], "body": {"destination": "dist"}},
            timeout=10,
        )
        assert shipped.status_code == 201, shipped.text
        again = http.post(
            f"{served.url}/api/v1/actions/ship",
            json={"subjects": [pack(serials[0])], "body": {"destination": "dist"}},
            timeout=10,
        )
        assert again.status_code == 409
        assert again.headers["Content-Type"] == "application/problem+json"
        assert again.json()["code"] == "already_inactive"
        broken = http.post(
            f"{served.url}/api/v1/commission",
            data=b"{not json",
            headers={"Content-Type": "application/json"},
            timeout=10,
        )
        assert broken.status_code == 400
        for _ in range(4):  # several requests, so both workers likely answer some
            state = requests.get(
                f"{served.url}/api/v1/packs/{GTIN}/{serials[0]}",
                headers={"Authorization": f"Bearer {verifier}"},
                timeout=10,
            )
            assert state.status_code == 200
            assert state.json()["status"] == "in_transit"
        assert requests.get(f"{served.url}/api/v1/feeds", timeout=10).status_code == 401

    health = requests.get(f"{served.url}/healthz", timeout=10).json()
    assert health["status"] == "ok"
    assert health["entries"] == 2
    assert health["feed"] == "acme/line-1"
    metrics = requests.get(f"{served.url}/metrics", timeout=10)
    assert metrics.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    text = metrics.text
    assert 'medtrace_entries{node="acme"} 2' in text
    assert 'medtrace_packs{node="acme"} 4' in text
    assert "# TYPE medtrace_http_request_duration_seconds histogram" in text
    for line in text.splitlines():
        assert line.startswith("#") or line.startswith("medtrace_"), line

    _wait_for_starts(served, 2)
    assert served.stop(signal.SIGTERM) == 0
    events = _events(served)
    assert any(e.startswith(STARTED[server]) for e in events), events
    assert events.count("node stopped") == 2, events  # each worker closed its store
    lines = served.log_lines()
    parsed = [json.loads(line) for line in lines]  # every line on stderr is one JSON object
    assert all({"ts", "level", "node", "event"} <= set(p) for p in parsed)
    requests_logged = [p for p in parsed if p["event"] == "request"]
    assert {(p["method"], p["status"]) for p in requests_logged} >= {
        ("POST", 201),
        ("POST", 409),
        ("POST", 400),
        ("GET", 401),
    }
    assert {p.get("user") for p in requests_logged} >= {"line-operator", "scanner-1"}
    everything = served.stderr_path.read_text()
    for secret in (operator, verifier, PASSPHRASE, "PRIVATE KEY", "-----BEGIN"):
        assert secret not in everything
    assert (acme_data / "feed.key").read_bytes()[:20] not in everything.encode()


def _chunked(*parts: bytes, size: int = 0, chunk: int = 256 * 1024) -> Iterator[bytes]:
    """``parts`` as a chunked body, the middle one repeated to ``size`` bytes in ``chunk``s."""
    head, middle, tail = parts
    yield head
    sent = 0
    while sent < size:
        piece = middle * min(chunk, size - sent)
        sent += len(piece)
        yield piece
    yield tail


def test_chunked_body_over_limit_gets_413(served: Running, acme_data: Path) -> None:
    """Without a Content-Length the server's stream stopped at the limit and the JSON parser
    got the first 8 MiB as if they were the body: 400 instead of 413 (issue 13, finding 10)."""
    operator = create_token(acme_data, "operator", "line-operator")
    auth = {"Authorization": f"Bearer {operator}", "Content-Type": "application/json"}
    with requests.Session() as http:
        over = http.post(
            f"{served.url}/api/v1/actions/lock",
            data=_chunked(b'{"subjects": ["', b"x", b'"]}', size=MAX_BODY_BYTES + 64 * 1024),
            headers=auth,
            timeout=60,
        )
        assert over.status_code == 413, over.text[:300]
        assert over.headers["Content-Type"] == "application/problem+json"
        assert over.json()["type"] == "urn:medtrace:problem:body-too-large"
    with requests.Session() as http:  # an EPCIS document over its own, smaller limit
        capture = http.post(
            f"{served.url}/epcis/capture",
            data=_chunked(b'{"a": "', b"x", b'"}', size=FILE_SIZE_LIMIT + 64 * 1024),
            headers={**auth, "Content-Type": "application/ld+json"},
            timeout=60,
        )
        assert capture.status_code == 413, capture.text[:300]
        assert capture.headers["GS1-EPCIS-Capture-File-Size-Limit"] == str(FILE_SIZE_LIMIT)
    with requests.Session() as http:  # a chunked body within the limit is read whole
        made = http.post(
            f"{served.url}/api/v1/commission",
            data=_chunked(
                b'{"gtin": "' + GTIN.encode() + b'", "lot": "L1", "expiry": "2030-12-31", ',
                b" ",
                b'"count": 2}',
                size=MAX_BODY_BYTES - 1024,
            ),
            headers=auth,
            timeout=60,
        )
        assert made.status_code == 201, made.text[:300]
        assert made.json()["count"] == 2


def test_sigint_stops_gracefully_too(served: Running) -> None:
    _wait_for_starts(served, 2)
    assert served.stop(signal.SIGINT) == 0
    assert any("Shutting down" in line for line in served.log_lines())
    assert _events(served).count("node stopped") == 2


def _children(pid: int) -> set[int]:
    """The processes whose parent is ``pid`` (the server's workers), from /proc."""
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:  # gone meanwhile
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.add(int(entry.name))
    return found


def test_a_killed_worker_is_replaced(served: Running) -> None:
    _wait_for_starts(served, 2)  # /healthz answers once the first worker is up
    workers = _children(served.process.pid)
    assert len(workers) == 2, workers
    os.kill(min(workers), signal.SIGKILL)
    _wait_for_starts(served, 3)
    now = _children(served.process.pid)
    assert len(now) == 2, (workers, now)
    assert min(workers) not in now, (workers, now)
    for _ in range(4):  # both workers answer
        assert requests.get(f"{served.url}/healthz", timeout=10).status_code == 200
    assert served.stop(signal.SIGTERM) == 0


def _run_once(
    data: Path, *args: str, passphrase: str = PASSPHRASE
) -> subprocess.CompletedProcess[bytes]:
    """`medtrace node run` that is expected to stop by itself (it fails to start)."""
    return subprocess.run(
        [MEDTRACE, "node", "run", "--data", str(data), *args],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        env={**os.environ, PASSPHRASE_ENV: passphrase},
        timeout=60,
        check=False,
    )


def test_busy_port_gives_one_line(acme_data: Path, server: str) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = _run_once(acme_data, "--port", str(port), "--server", server)
    assert result.returncode == 1
    assert result.stderr.decode().splitlines() == [
        f"error: port {port} on 127.0.0.1 is in use: stop what uses it or choose another with --port"
    ]


def _read_terminal(master: int, until: float) -> bytes:
    """What the node wrote to its terminal by ``until`` (a ``time.monotonic()`` value)."""
    out = b""
    while (left := until - time.monotonic()) > 0:
        ready, _, _ = select.select([master], [], [], left)
        if not ready:
            break
        try:
            chunk = os.read(master, 4096)
        except OSError:  # EIO: every copy of the terminal's other end is closed
            break
        if not chunk:
            break
        out += chunk
    return out


def _run_on_a_terminal(data: Path, *args: str) -> tuple[str, Running]:
    """`medtrace node run` with a pseudo-terminal as stdout and stderr, from start to SIGTERM:
    what the terminal showed, and the stopped node (its ``stderr_path``: DATA/node.log)."""
    port = free_port()
    master, terminal = pty.openpty()
    process = subprocess.Popen(
        [MEDTRACE, "node", "run", "--data", str(data), "--port", str(port), *args],
        stdin=subprocess.DEVNULL,
        stdout=terminal,
        stderr=terminal,
        env={**os.environ, PASSPHRASE_ENV: PASSPHRASE},
        start_new_session=True,
    )
    os.close(terminal)
    running = Running(data, f"http://127.0.0.1:{port}", process, data / "node.log")
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            assert process.poll() is None, _read_terminal(master, time.monotonic() + 1)
            with contextlib.suppress(requests.RequestException):
                if requests.get(f"{running.url}/healthz", timeout=1).status_code == 200:
                    break
            assert time.monotonic() < deadline, "node did not answer /healthz"
            time.sleep(0.1)
        assert running.stop(signal.SIGTERM) == 0
        return _read_terminal(master, time.monotonic() + 5).decode(), running
    finally:
        running.stop(signal.SIGKILL)
        os.close(master)


def test_node_run_floods_the_terminal(acme_data: Path) -> None:
    """On a terminal: a banner, and the JSON lines in DATA/node.log, not on the terminal."""
    shown, running = _run_on_a_terminal(acme_data)
    lines = [line for line in shown.splitlines() if line.strip()]
    assert not [line for line in lines if line.lstrip().startswith("{")], lines
    assert lines[0].startswith("medtrace node acme (feed acme/line-1) serving on http://127.0.0.1")
    for path in ("/scan", "/alerts", "/openapi.json", "/healthz"):
        assert f"  {running.url}{path}" in lines
    assert "node started" in _events(running)
    assert (acme_data / "node.log").stat().st_mode & 0o777 == 0o600


def test_log_stderr_keeps_the_json_lines_on_the_terminal(acme_data: Path) -> None:
    shown, _running = _run_on_a_terminal(acme_data, "--log-stderr")
    events = [json.loads(line)["event"] for line in shown.splitlines() if line.strip()]
    assert "node started" in events
    assert not (acme_data / "node.log").exists()


def test_a_wrong_passphrase_is_one_red_line(acme_data: Path) -> None:
    result = _run_once(acme_data, "--port", str(free_port()), passphrase="not the passphrase")
    assert result.returncode == 1
    assert result.stderr.decode().strip().count("\n") == 0
    assert b"wrong passphrase" in result.stderr
    assert b"Traceback" not in result.stderr


def _digest(running: Running) -> Any:
    with requests.get(f"{running.url}/healthz", timeout=5) as response:
        return response.json()["digest"]


def test_two_served_nodes_replicate_a_write(consortium_dir: Path, tmp_path: Path) -> None:
    """With the replicator in place, an append at one node reaches its peer quickly."""
    pytest.importorskip("node.replication.loop")
    pytest.importorskip("node.replication.http_peer")
    ports = {"acme": free_port(), "dist": free_port()}
    acme = init_node(consortium_dir, tmp_path / "acme", "acme/line-1", workers=2, threads=4)
    dist = init_node(consortium_dir, tmp_path / "dist", "dist/wh", workers=2, threads=4)
    for here, there in ((acme, dist), (dist, acme)):
        token = create_token(there, "peer", here.name)
        peer = PeerConfig(there.name, f"http://127.0.0.1:{ports[there.name]}", token)
        save_config(here, replace(load_config(here), peers=(peer,), replication_interval_s=1.0))
    nodes = [start(acme, ports["acme"], tmp_path), start(dist, ports["dist"], tmp_path)]
    try:
        operator = create_token(acme, "operator", "ops")
        made = requests.post(
            f"{nodes[0].url}/api/v1/commission",
            json={"gtin": GTIN, "lot": "L1", "expiry": "2030-12-31", "count": 3},
            headers={"Authorization": f"Bearer {operator}"},
            timeout=10,
        )
        assert made.status_code == 201
        deadline = time.monotonic() + 15
        while _digest(nodes[1]) != _digest(nodes[0]):
            assert time.monotonic() < deadline, "the peer did not catch up"
            time.sleep(0.1)
        # Counted while the nodes run: during shutdown a standby worker may rightly take over
        # from an owner that exited first.
        owners = [
            line
            for running in nodes
            for line in running.log_lines()
            if "replicator started" in line
        ]
        assert len(owners) == 2  # one replicator loop per node, not one per worker
    finally:
        for running in nodes:
            running.stop()


def test_passphrase_in_worker_environment(served: Running) -> None:
    """$MEDTRACE_PASSPHRASE given to `node run` is in no process of the running node: not in
    /proc/PID/environ of the master (what it was started with) nor of any worker. The node
    starts itself again without it and reads it from a pipe (node/unlock.py)."""
    _wait_for_starts(served, 2)
    master = served.process.pid
    processes = {master, *_children(master)}
    assert len(processes) == 3, processes  # the master and its two workers
    for pid in processes:
        environ = Path(f"/proc/{pid}/environ").read_bytes()
        assert PASSPHRASE.encode() not in environ, f"the passphrase is in {pid}'s environment"
        names = [line.split(b"=", 1)[0] for line in environ.split(b"\0")]
        assert PASSPHRASE_ENV.encode() not in names, f"${PASSPHRASE_ENV} is set in {pid}"
    assert requests.get(f"{served.url}/healthz", timeout=10).status_code == 200
    assert served.stop(signal.SIGTERM) == 0


def test_a_handed_over_passphrase_is_read_once_and_its_pipe_closed(
    acme_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    environ = passphrase_handover(PASSPHRASE, {PASSPHRASE_ENV: PASSPHRASE, "LANG": "C.UTF-8"})
    assert PASSPHRASE_ENV not in environ
    assert environ["LANG"] == "C.UTF-8"
    fd = int(environ[PASSPHRASE_FD_ENV])
    monkeypatch.delenv(PASSPHRASE_ENV, raising=False)
    monkeypatch.setenv(PASSPHRASE_FD_ENV, str(fd))
    assert resolve_node_passphrase(acme_data) == PASSPHRASE
    assert PASSPHRASE_FD_ENV not in os.environ
    with pytest.raises(OSError, match="Bad file descriptor"):
        os.fstat(fd)  # closed


def test_a_granian_worker_drops_the_passphrase_from_its_environment(
    acme_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """granian copies the environment into every request's environ; the passphrase stays out."""
    monkeypatch.setenv(PASSPHRASE_ENV, PASSPHRASE)
    app = worker_loader(acme_data, PASSPHRASE)("medtrace.app:create_app")
    try:
        assert PASSPHRASE_ENV not in os.environ
        assert app_context(app).feed == "acme/line-1"  # the app was built with it first
    finally:
        close_app(app)
