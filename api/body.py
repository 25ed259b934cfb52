"""Reading a request body within a size limit, whatever its framing.

A body with ``Content-Length`` over the limit is refused before a byte is read (werkzeug does
that against the app's ``MAX_CONTENT_LENGTH``, and ``read_body`` against its own limit). A
chunked body has no length to check: werkzeug wraps it in a stream that stops at the app's limit
and then reports the end of the body, so the first 8 MiB of a larger body would reach the JSON
parser as if they were all of it, and the client would get 400 for a body that is merely too
large. ``read_body`` reads such a body itself, one byte past the limit, and answers 413.
"""

from __future__ import annotations

from flask import request

from api.problems import Problem

#: The largest request body the node reads (413 beyond); the scan upload has its own limit.
MAX_BODY_BYTES = 8 * 1024 * 1024
_CHUNK = 64 * 1024


def too_large(limit: int, found: str, headers: dict[str, str] | None = None) -> Problem:
    return Problem(
        "body-too-large",
        f"expected a body of at most {limit} bytes, found {found}",
        headers=dict(headers or {}),
    )


def read_body(limit: int = MAX_BODY_BYTES, headers: dict[str, str] | None = None) -> bytes:
    """The request body; 413 (with ``headers``) when it is longer than ``limit`` bytes."""
    declared = request.content_length
    if declared is not None:
        if declared > limit:
            raise too_large(limit, f"Content-Length: {declared}", headers)
        return request.get_data(cache=False)
    # No length: a chunked body. The server ends the stream at the body's end (it says so with
    # wsgi.input_terminated), so the raw stream can be read up to one byte past the limit.
    # Without that promise werkzeug's stream is empty, and so is the body.
    raw = (
        request.environ.get("wsgi.input") if request.environ.get("wsgi.input_terminated") else None
    )
    stream = raw if raw is not None else request.stream
    chunks: list[bytes] = []
    size = 0
    while size <= limit:
        chunk = stream.read(min(_CHUNK, limit + 1 - size))
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    if size > limit:
        raise too_large(limit, "a longer chunked body", headers)
    return b"".join(chunks)


__all__ = ["MAX_BODY_BYTES", "read_body", "too_large"]
