"""A TCP proxy on loopback that delays every byte by a fixed time in each direction: a long link
between two countries' nodes, for the cross-border benchmark (bench/crossborder.py).

Each direction of a connection is a delay line: a chunk read at ``t`` is written at
``t + delay_s``, in order, without holding back the chunks behind it (a slow link, not a slow
one-at-a-time relay). With ``delay_s`` = 0.1 a request and its answer cost 200 ms more than on
loopback, and a new TCP connection 100 ms more before its first byte; TLS passes through
untouched (the proxy sees bytes only).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time

CHUNK = 64 * 1024


async def _line(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay_s: float) -> None:
    queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

    async def deliver() -> None:
        while True:
            due, data = await queue.get()
            wait = due - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            if not data:
                break
            writer.write(data)
            await writer.drain()

    sender = asyncio.create_task(deliver())
    try:
        while True:
            data = await reader.read(CHUNK)
            await queue.put((time.monotonic() + delay_s, data))
            if not data:
                break
        await sender
    except (ConnectionError, asyncio.CancelledError):
        sender.cancel()
    finally:
        with contextlib.suppress(Exception):
            writer.close()


class DelayProxy:
    """Listens on 127.0.0.1 (``port``) and forwards to ``host:target_port`` with ``delay_s``
    added each way; runs its own event loop on a daemon thread until ``close``."""

    def __init__(self, host: str, target_port: int, delay_s: float) -> None:
        self.host, self.target_port, self.delay_s = host, target_port, delay_s
        self.connections = 0
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._server: asyncio.Server | None = None
        self._thread = threading.Thread(target=self._run, name="delay-proxy", daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the delay proxy did not start")
        assert self._server is not None
        self.port: int = self._server.sockets[0].getsockname()[1]

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            up_reader, up_writer = await asyncio.open_connection(self.host, self.target_port)
        except OSError:
            writer.close()
            return
        await asyncio.gather(
            _line(reader, up_writer, self.delay_s),
            _line(up_reader, writer, self.delay_s),
            return_exceptions=True,
        )

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)

        async def serve() -> None:
            self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
            self._ready.set()

        self._loop.run_until_complete(serve())
        self._loop.run_forever()
        # stopped: cancel what is still running, let it finish, then close the loop
        pending = asyncio.all_tasks(self._loop)
        for task in pending:
            task.cancel()
        self._loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        self._loop.close()

    def close(self) -> None:
        def stop() -> None:
            if self._server is not None:
                self._server.close()
            self._loop.stop()

        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(stop)
            self._thread.join(5)

    def __enter__(self) -> DelayProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


__all__ = ["DelayProxy"]
