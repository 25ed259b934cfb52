"""A loopback TCP proxy between two nodes that can be cut, made lossy or slow while it runs.

The replication tests only cut it (``cut``/``heal``). A partition in the field is rarely that
clean: a flaky border link drops connections half-way through a page and answers late. This
link forwards bytes both ways and, per connection, applies the mode it is in:

* ``up``: forwards as is;
* ``cut``: refuses new connections and resets those open (a stopped link);
* ``lossy``: drops a new connection with probability ``drop``, and resets a forwarded one
  after a random number of bytes with the same probability (a response cut mid-page);
  every chunk is held ``delay_s`` before it is passed on.

The mode can change at any time; a change to ``cut`` also resets the connections open.
"""

from __future__ import annotations

import contextlib
import random
import socket
import struct
import threading
import time
from dataclasses import dataclass

_CHUNK = 65536


@dataclass(frozen=True)
class Mode:
    name: str
    drop: float = 0.0
    delay_s: float = 0.0


UP = Mode("up")
CUT = Mode("cut")


def lossy(drop: float = 0.2, delay_s: float = 0.05) -> Mode:
    return Mode("lossy", drop, delay_s)


class FaultyLink:
    """Forwards ``127.0.0.1:port`` to ``127.0.0.1:target`` under the current ``mode``."""

    def __init__(self, target: int, *, seed: int = 0, mode: Mode = UP) -> None:
        self.target = target
        self.mode = mode
        self.dropped = 0  # connections refused, reset or cut short: what the link did
        self._rng = random.Random(seed)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.1)
        self.port: int = self._listener.getsockname()[1]
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._stopped = False
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def set(self, mode: Mode) -> None:
        self.mode = mode
        if mode.name == "cut":
            self._reset_open()

    def cut(self) -> None:
        """A partition: refuse new connections and reset those open."""
        self.set(CUT)

    def heal(self) -> None:
        self.set(UP)

    def _chance(self, p: float) -> bool:
        with self._lock:
            return self._rng.random() < p

    def _count_drop(self) -> None:
        with self._lock:
            self.dropped += 1

    def _accept(self) -> None:
        while not self._stopped:
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            mode = self.mode
            if mode.name == "cut" or (mode.drop and self._chance(mode.drop)):
                self._count_drop()
                _abort(client)
                client.close()
                continue
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target), timeout=5)
            except OSError:
                client.close()
                continue
            client.settimeout(None)
            upstream.settimeout(None)
            with self._lock:
                self._open |= {client, upstream}
                # where a lossy link will cut this connection's response short, if it does
                budget = self._rng.randrange(1, 4 * _CHUNK) if self._rng.random() < 0.5 else None
            for source, sink, limit in ((client, upstream, None), (upstream, client, budget)):
                threading.Thread(target=self._pump, args=(source, sink, limit), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, limit: int | None) -> None:
        sent = 0
        try:
            while data := source.recv(_CHUNK):
                mode = self.mode
                if mode.name == "cut":
                    break
                if mode.delay_s:
                    time.sleep(mode.delay_s)
                if mode.drop and limit is not None and sent + len(data) > limit:
                    if self._chance(mode.drop):
                        sink.sendall(data[: max(0, limit - sent)])
                        self._count_drop()
                        for s in (source, sink):
                            _abort(s)
                        return
                    limit = None
                sink.sendall(data)
                sent += len(data)
        except OSError:
            pass
        finally:
            for s in (source, sink):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
            with self._lock:
                self._open.discard(source)
                self._open.discard(sink)
            source.close()

    def _reset_open(self) -> None:
        with self._lock:
            for s in self._open:
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self.set(CUT)
        self._stopped = True
        self._thread.join(timeout=5)
        self._listener.close()


def _abort(sock: socket.socket) -> None:
    """Make the close a reset (SO_LINGER 0) and wake any thread blocked reading the socket."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.shutdown(socket.SHUT_RDWR)
