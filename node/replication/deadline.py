"""One request to a peer within a wall-clock deadline that the peer cannot stretch.

A socket timeout bounds each read, not the answer: a peer that sends one byte every second never
lets a read time out, and a deadline checked between large reads is not checked at all while
one of them fills. So the exchange (connecting, sending, reading the headers and every byte of
the body) runs in a worker thread, and the caller waits for it until the deadline and no longer:

* ``READ_TIMEOUT_S`` (10 s) bounds connecting and each read from the socket: a peer that falls
  silent fails within it;
* ``REQUEST_DEADLINE_S`` (60 s) bounds the whole exchange, however the bytes arrive: at the
  deadline the caller gets ``DeadlineExceeded`` and goes on; the worker, told so, stops at its
  next read (the body is read one socket read at a time, each checked) and drops the connection;
* while an abandoned worker is still stuck (a peer trickling its headers), the next request to
  that peer fails at once with ``PeerBusy`` instead of starting another one: a hostile peer costs
  one thread and one connection, however long it keeps trickling.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

#: Seconds to connect, and for each read from the socket.
READ_TIMEOUT_S = 10.0
#: Seconds for one whole request: connecting, sending, the answer's headers and body.
REQUEST_DEADLINE_S = 60.0

T = TypeVar("T")


class DeadlineExceeded(Exception):
    """The exchange did not end within its deadline; the caller no longer waits for it."""


class PeerBusy(Exception):
    """The exchange before this one was given up at its deadline and is still stuck."""


class Aborted(Exception):
    """The exchange was given up because its owner is closing."""


@dataclass
class Exchange:
    """What the worker of one request shares with its caller."""

    #: set when the caller gave up (deadline, abort): the worker stops at its next read
    given_up: threading.Event = field(default_factory=threading.Event)
    #: set when the worker ended, or when the caller must stop waiting (abort)
    ended: threading.Event = field(default_factory=threading.Event)


class Deadlines:
    """Runs one exchange at a time with a peer, each in a worker thread, within a deadline."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._lock = threading.Lock()
        self._worker: threading.Thread | None = None
        self._current: Exchange | None = None

    def run(self, work: Callable[[Exchange], T], deadline_s: float) -> T:
        """``work(exchange)`` in a worker thread; its result or exception, or
        ``DeadlineExceeded`` after ``deadline_s`` seconds, ``PeerBusy`` if the exchange given up
        before is still stuck, ``Aborted`` if ``abort`` was called meanwhile."""
        exchange = Exchange()
        results: list[T] = []
        errors: list[BaseException] = []

        def target() -> None:
            try:
                results.append(work(exchange))
            except BaseException as exc:  # noqa: BLE001 (handed to the caller, raised there)
                errors.append(exc)
            finally:
                exchange.ended.set()

        with self._lock:
            if self._worker is not None and self._worker.is_alive():
                raise PeerBusy
            self._current = exchange
            self._worker = threading.Thread(
                target=target, name=f"medtrace-peer-{self._name}", daemon=True
            )
            self._worker.start()
        finished = exchange.ended.wait(deadline_s)
        if errors:
            raise errors[0]
        if results:
            return results[0]
        exchange.given_up.set()
        if finished:
            raise Aborted
        raise DeadlineExceeded

    def abort(self) -> None:
        """Stop waiting for the exchange in progress, if any (the owner is closing)."""
        with self._lock:
            exchange = self._current
        if exchange is not None:
            exchange.given_up.set()
            exchange.ended.set()


__all__ = [
    "READ_TIMEOUT_S",
    "REQUEST_DEADLINE_S",
    "Aborted",
    "DeadlineExceeded",
    "Deadlines",
    "Exchange",
    "PeerBusy",
]
