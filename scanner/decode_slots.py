"""How many images one process decodes at once.

Decoding a photo takes a CPU core and tens of megabytes for up to the decode budget. A node
worker serving uploads in several threads would otherwise take on as many decodes as photos
arrive, queueing their memory and slowing every verification it serves. Decodes beyond the
limit are refused at once (``DecodersBusy``), not queued: the web scan answers them 503 with
``Retry-After``.

The slots are per process and shared by all its threads: a node runs ``workers`` processes, so
a node decodes at most ``workers`` x ``MAX_CONCURRENT_DECODES`` photos at once.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from scanner.decode import BUDGET_S

#: Photos one process decodes at once. Two per worker keep a node with the default two workers
#: at four decodes (four cores at most, and at most about 440 MB of pixels, 110 MB per decode)
#: however many photos arrive, while two people scanning at the same moment at one worker both
#: get their answer. The decoders release the GIL, so a decode slows the worker's other
#: requests only by the CPU it takes.
MAX_CONCURRENT_DECODES = 2
#: When to try again: a decode that holds a slot ends within about the decode budget.
RETRY_AFTER_S = math.ceil(BUDGET_S)


class DecodersBusy(Exception):
    """Every decode slot of this process is taken."""

    def __init__(self, limit: int, retry_after_s: int) -> None:
        super().__init__(
            f"this node is decoding {limit} photos at once, its limit per worker; "
            f"send the photo again in {retry_after_s} s"
        )
        self.limit = limit
        self.retry_after_s = retry_after_s


class DecodeSlots:
    """At most ``limit`` decodes at once among the threads of this process."""

    def __init__(self, limit: int = MAX_CONCURRENT_DECODES) -> None:
        self.limit = limit
        self._free = threading.BoundedSemaphore(limit)

    @contextmanager
    def slot(self) -> Iterator[None]:
        """Hold one slot while the block decodes; ``DecodersBusy`` if none is free."""
        if not self._free.acquire(blocking=False):
            raise DecodersBusy(self.limit, RETRY_AFTER_S)
        try:
            yield
        finally:
            self._free.release()


#: This process's slots.
DECODE_SLOTS = DecodeSlots()
