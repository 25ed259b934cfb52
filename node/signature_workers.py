"""Ed25519 checks in helper processes: no GIL shared with the thread that ingests.

``cryptography`` releases the GIL while it verifies, but a thread that checks one signature
after another must take the GIL back between two checks, and while another thread runs Python
(a node ingesting a page) it waits up to the interpreter's switch interval (5 ms) each time:
threads verified a catch-up's signatures mostly while the ingesting thread waited for them.
A helper process has a GIL of its own. It is handed only what Ed25519 needs (the raw public
key, the signature, the signed message) and answers one byte per check: valid or not. It
decides nothing: the caller picks each key (``Membership.authorise``) and, for a check the
helper calls invalid, verifies the entry again itself, which raises the error it always did
(``node.signatures.CheckedAhead``). A helper that fails is given up for the life of the
process and its checks run in place: slower, the same verdicts.

Run as ``python -m node.signature_workers``: the helper, which imports nothing of medtrace.
Frames on its stdin: a 4-byte big-endian count, then per check a 32-byte key, a 64-byte
signature, a 4-byte length and the message; on its stdout: one byte per check, 1 valid, 0 not.
It ends at the end of its stdin (its parent closed it, or died).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import struct
import subprocess
import sys
import threading
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import IO

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

#: One check as sent: raw public key, signature, signed message.
Check = tuple[bytes, bytes, bytes]

_COUNT = struct.Struct(">I")
_KEY, _SIGNATURE = 32, 64
#: The directory ``node`` is in.
_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _read(stream: IO[bytes], size: int) -> bytes | None:
    data = stream.read(size)
    if data is None or len(data) != size:
        return None
    return data


def serve(source: IO[bytes], sink: IO[bytes]) -> None:
    """The helper's loop: answer each frame on ``source`` on ``sink`` until its end."""
    keys: dict[bytes, Ed25519PublicKey] = {}
    while (head := _read(source, 4)) is not None:
        (count,) = _COUNT.unpack(head)
        verdicts = bytearray(count)
        for index in range(count):
            fixed = _read(source, _KEY + _SIGNATURE + 4)
            if fixed is None:
                return
            raw, signature = fixed[:_KEY], fixed[_KEY : _KEY + _SIGNATURE]
            message = _read(source, _COUNT.unpack_from(fixed, _KEY + _SIGNATURE)[0])
            if message is None:
                return
            key = keys.get(raw)
            if key is None:
                if len(keys) > 1024:
                    keys.clear()
                key = keys[raw] = Ed25519PublicKey.from_public_bytes(raw)
            try:
                key.verify(signature, message)
            except InvalidSignature:
                continue
            verdicts[index] = 1
        sink.write(verdicts)
        sink.flush()


def frame(checks: Sequence[Check]) -> bytes:
    """The frame that asks for ``checks``."""
    parts = [_COUNT.pack(len(checks))]
    pack = _COUNT.pack
    for raw, signature, message in checks:
        if len(raw) != _KEY or len(signature) != _SIGNATURE:
            raise ValueError("expected a 32-byte key and a 64-byte signature")
        parts += (raw, signature, pack(len(message)), message)
    return b"".join(parts)


class HelperFailed(Exception):
    """A helper process did not answer as the protocol says (it died, or was never started)."""


class _Helper:
    """One helper process and the thread that talks to it (one frame at a time)."""

    def __init__(self) -> None:
        env = dict(os.environ)  # this very ``node`` package, whatever the caller's path
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [_ROOT, env.get("PYTHONPATH")]))
        self._process = subprocess.Popen(
            [sys.executable, "-m", "node.signature_workers"],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            close_fds=True,
        )
        self._io = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ed25519-helper")

    def submit(self, checks: Sequence[Check]) -> Future[bytes]:
        return self._io.submit(self._ask, frame(checks), len(checks))

    def _ask(self, request: bytes, count: int) -> bytes:
        stdin, stdout = self._process.stdin, self._process.stdout
        if stdin is None or stdout is None:
            raise HelperFailed("expected a helper with pipes")
        try:
            stdin.write(request)
            stdin.flush()
            answer = _read(stdout, count)
        except (OSError, ValueError) as exc:
            raise HelperFailed(f"helper process: {exc}") from None
        if answer is None:
            raise HelperFailed(f"helper process ended (status {self._process.poll()})")
        return answer

    def close(self) -> None:
        self._io.shutdown(wait=False, cancel_futures=True)
        for stream in (self._process.stdin, self._process.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
        try:
            self._process.wait(timeout=2)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()


class Helpers:
    """The process's helpers, started on first use, one per core; a frame goes to each in
    turn. ``failed`` once any of them failed: from then on the caller checks in place."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.failed = False
        self._helpers: list[_Helper] = []
        self._next = 0
        self._lock = threading.Lock()

    def _started(self) -> list[_Helper]:
        if not self._helpers and not self.failed:
            try:
                self._helpers = [_Helper() for _ in range(self.count)]
            except OSError:
                self.failed = True
        return self._helpers

    def start(self) -> None:
        """Start the helpers now (their start-up overlaps the caller's next work)."""
        with self._lock:
            self._started()

    def submit(self, checks: Sequence[Check]) -> Future[bytes]:
        with self._lock:
            helpers = self._started()
            if not helpers:
                raise HelperFailed("expected helper processes, none could be started")
            helper = helpers[self._next % len(helpers)]
            self._next += 1
        return helper.submit(checks)

    def close(self) -> None:
        with self._lock:
            helpers, self._helpers = self._helpers, []
        for helper in helpers:
            helper.close()


#: This process's helpers by process id: a forked child starts its own, never its parent's.
_shared: dict[int, Helpers] = {}
_shared_lock = threading.Lock()


def shared() -> Helpers:
    """This process's helpers, one per core (started on their first frame)."""
    with _shared_lock:
        helpers = _shared.get(os.getpid())
        if helpers is None:
            _shared.clear()
            helpers = _shared[os.getpid()] = Helpers(os.cpu_count() or 1)
        return helpers


def _close_shared() -> None:
    helpers = _shared.get(os.getpid())
    if helpers is not None:
        helpers.close()


atexit.register(_close_shared)


if __name__ == "__main__":
    serve(sys.stdin.buffer, sys.stdout.buffer)
