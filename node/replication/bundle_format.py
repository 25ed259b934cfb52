"""The bundle and heads file formats, and reading them: streamed, bounded, checked.

A bundle (``medtrace sync export``) is gzip'd JSON::

    {"type": "medtrace/bundle", "v": 1, "created": "2026-11-22T10:15:00.123Z",
     "digest": "<the exporter's digest over its heads>",
     "memberships": [SignedMembership wire, …],
     "entries": [SignedEntry wire, …],
     "forks": [[SignedEntry wire, SignedEntry wire], …]}

``forks`` (optional) is the evidence of every fork the exporter holds: both signed entries.

``checkpoints`` and ``checkpoint_evidence`` (optional, since issue 14) carry what a scanner
needs to trust the entries (ADR 0024), in the shape a node serves them to its peers
(``GET /api/v1/replication/checkpoints``)::

     "checkpoints": ["<tlog-checkpoint note with its cosignature lines>", …],
     "checkpoint_evidence": [{"feed": …, "size": …, "reason": …, "notes": [note, …]}, …]

Like ``forks`` before them they are optional members of version 1: a bundle without them reads
as before, and a reader that predates them skips them (members it does not know are ignored),
so a post that has not been upgraded still imports the entries of a newer exporter.

Reading is streamed and bounded: past ``MAX_DECOMPRESSED`` bytes (512 MiB) of JSON the bundle is
refused, whatever its compressed size (a gzip bomb). An entry that cannot be read is recorded
and reading goes on; a file cut short (a truncated copy) yields the complete entries before the
cut. Nothing read here is trusted yet: ``node.replication.bundles.import_bundle`` verifies it.

A *heads file* (``medtrace sync heads``) is what a post sends back so the next bundle holds
only what it lacks (``export --since``)::

    {"type": "medtrace/heads", "v": 1, "created": …, "digest": …,
     "feeds": {"acme/line-1": {"size": 12, "head": "<id>", "frozen_at": null}, …}}
"""

from __future__ import annotations

import codecs
import gzip
import io
import json
import re
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ledger.entry import ENTRY_ID, FEED_ID, SignedEntry
from ledger.errors import LedgerError
from ledger.membership import SignedMembership
from ledger.strictjson import refuse_constant, unique_members
from node.store import FeedHead

BUNDLE_TYPE = "medtrace/bundle"
HEADS_TYPE = "medtrace/heads"
VERSION = 1
#: A checkpoint note holds a checkpoint and at most 100 signature lines: a few KiB.
MAX_NOTE = 16 * 1024
MAX_DECOMPRESSED = 512 * 1024 * 1024
#: One JSON value (an entry, a membership version) may not exceed this.
MAX_ELEMENT = 64 * 1024 * 1024
MAX_HEADS_FILE = 64 * 1024 * 1024
_CHUNK = 1024 * 1024
_WS = " \t\n\r"
_WS_RUN = re.compile(r"[ \t\n\r]*")


class BundleError(Exception):
    """The file is not a bundle (or heads file) that can be read at all."""


class BundleTooLarge(BundleError):
    """The bundle decompresses to more than the limit (a gzip bomb, or simply too much)."""


# -- heads files -------------------------------------------------------------------------------


def read_heads(path: Path) -> dict[str, FeedHead]:
    """A heads file: ``medtrace sync heads``, ``medtrace ledger heads --json``, or the answer of
    ``GET /api/v1/feeds`` (all carry ``{"feeds": {feed: {"size", "head"}}}``)."""
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_HEADS_FILE + 1)
    except OSError as exc:
        raise BundleError(f"{path}: cannot read the heads file: {exc.strerror}") from None
    if len(data) > MAX_HEADS_FILE:
        raise BundleError(f"{path}: expected a heads file under {MAX_HEADS_FILE} bytes")
    try:
        obj = json.loads(data.decode("utf-8"), parse_constant=refuse_constant)
    except (ValueError, RecursionError) as exc:
        raise BundleError(f"{path}: expected a JSON heads file, found an error: {exc}") from None
    feeds = obj.get("feeds") if isinstance(obj, dict) else None
    if not isinstance(feeds, dict) or obj.get("type", HEADS_TYPE) != HEADS_TYPE:
        raise BundleError(f'{path}: expected a heads file {{"type": "{HEADS_TYPE}", "feeds": …}}')
    heads: dict[str, FeedHead] = {}
    for feed, info in feeds.items():
        size = info.get("size") if isinstance(info, dict) else None
        head = info.get("head") if isinstance(info, dict) else None
        if (
            not FEED_ID.match(feed)
            or type(size) is not int
            or size < 0
            or (head is not None and not (isinstance(head, str) and ENTRY_ID.match(head)))
            or (head is None) != (size == 0)
        ):
            raise BundleError(f"{path}: feed {feed[:80]!r}: expected {{size, head}} of a feed")
        heads[feed] = FeedHead(feed, size, head, None)
    return heads


# -- reading -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class CheckpointEvidence:
    """A checkpoint fork as the exporter recorded it: the notes that prove it (one note alone:
    the exporter's entries contradict it). Verified by the importer, never trusted."""

    feed: str
    size: int
    reason: str
    notes: tuple[bytes, ...]


@dataclass
class Bundle:
    created: str | None = None
    digest: str | None = None
    memberships: list[SignedMembership] = field(default_factory=list)
    entries: list[SignedEntry] = field(default_factory=list)
    #: the exporter's forks: two signed entries at one position each (not verified yet)
    forks: list[tuple[SignedEntry, SignedEntry]] = field(default_factory=list)
    #: checkpoint notes with their cosignatures (not verified yet)
    checkpoints: list[bytes] = field(default_factory=list)
    #: the exporter's checkpoint forks: each one's notes (not verified yet)
    checkpoint_evidence: list[CheckpointEvidence] = field(default_factory=list)
    #: (position in the bundle, claimed id or "", reason): entries that could not be read
    malformed: list[tuple[int, str, str]] = field(default_factory=list)
    #: why the file ended early, if it did (the complete entries before the cut are kept)
    truncated: str | None = None


def read_bundle(path: Path, *, max_bytes: int = MAX_DECOMPRESSED) -> Bundle:
    """Read a bundle file (gzip'd, or plain JSON), streamed and bounded to ``max_bytes``."""
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise BundleError(f"{path}: cannot read the bundle: {exc.strerror}") from None
    with handle:
        magic = handle.read(2)
        handle.seek(0)
        stream: io.BufferedIOBase = handle
        if magic == b"\x1f\x8b":
            stream = gzip.GzipFile(fileobj=handle)
        try:
            return _parse(_Text(stream, max_bytes), path)
        finally:
            stream.close()


class _Cut(Exception):
    """The data ended (or stopped being readable) before the value being read was complete."""


class _Text:
    """Decompressed UTF-8 text, read on demand into a sliding buffer, counted against a limit."""

    def __init__(self, raw: io.BufferedIOBase, limit: int) -> None:
        self.raw = raw
        self.limit = limit
        self.total = 0
        self.buf = ""
        self.pos = 0
        self.eof = False
        self.problem: str | None = None  # why the data ended early, if it did
        self._decoder = codecs.getincrementaldecoder("utf-8")()

    def more(self, at_least: int = _CHUNK) -> bool:
        """Read more into the buffer (dropping what was consumed); ``False`` at the end."""
        if self.eof:
            return False
        try:
            # read1: one read of the source at most, so the data before a cut (a truncated
            # gzip raises EOFError on the read after it) is returned before the error.
            data = self.raw.read1(max(at_least, _CHUNK))
        except (EOFError, OSError, zlib.error) as exc:
            data, self.problem = b"", f"the compressed data is cut or damaged ({exc})"
        if not data:
            self.eof = True
            try:
                tail = self._decoder.decode(b"", final=True)
            except UnicodeDecodeError:
                tail, self.problem = "", "the text ends inside a UTF-8 character"
            self.buf = self.buf[self.pos :] + tail
            self.pos = 0
            return bool(tail)
        self.total += len(data)
        if self.total > self.limit:
            raise BundleTooLarge(
                f"expected a bundle of at most {self.limit} bytes of JSON, found more "
                "(refused without reading further)"
            )
        try:
            text = self._decoder.decode(data)
        except UnicodeDecodeError as exc:
            raise BundleError(f"expected UTF-8 JSON, found an invalid byte: {exc}") from None
        self.buf = self.buf[self.pos :] + text
        self.pos = 0
        return True

    def skip_ws(self) -> None:
        while True:
            if self.pos < len(self.buf) and self.buf[self.pos] not in _WS:
                return
            run = _WS_RUN.match(self.buf, self.pos)
            self.pos = run.end() if run is not None else self.pos
            if self.pos < len(self.buf) or not self.more():
                return

    def peek(self) -> str:
        """The next non-blank character; ``_Cut`` at the end of the data."""
        self.skip_ws()
        if self.pos >= len(self.buf):
            raise _Cut
        return self.buf[self.pos]

    def expect(self, chars: str) -> str:
        char = self.peek()
        if char not in chars:
            raise BundleError(
                f"expected one of {chars!r} at byte {self.total - len(self.buf) + self.pos} "
                f"of the JSON, found {char!r}"
            )
        self.pos += 1
        return char

    def value(self, decoder: json.JSONDecoder) -> Any:
        """One JSON value, however many reads it takes (up to ``MAX_ELEMENT``)."""
        self.skip_ws()
        while True:
            if self.pos >= len(self.buf) and not self.more():
                raise _Cut
            try:
                obj, end = decoder.raw_decode(self.buf, self.pos)
            except json.JSONDecodeError as exc:
                # The data ends inside the value (it may go on in the next read), or the JSON
                # is wrong right here: only the first is worth reading further for.
                incomplete = exc.pos >= len(self.buf) or exc.msg.startswith("Unterminated string")
                if not incomplete:
                    raise BundleError(
                        f"expected JSON, found an error at byte "
                        f"{self.total - len(self.buf) + exc.pos}: {exc.msg}"
                    ) from None
                if self.eof:
                    raise _Cut from None
                if len(self.buf) - self.pos > MAX_ELEMENT:
                    raise BundleError(
                        f"expected each entry under {MAX_ELEMENT} bytes, found a larger one"
                    ) from None
                self.more(len(self.buf) - self.pos)
                continue
            except RecursionError:
                raise BundleError("expected JSON, found nesting too deep to read") from None
            if end < len(self.buf) or self.eof:
                self.pos = end
                return obj
            self.more(len(self.buf) - self.pos)  # a number may go on in the next read


def _parse(text: _Text, path: Path) -> Bundle:
    decoder = json.JSONDecoder(parse_constant=refuse_constant, object_pairs_hook=unique_members)
    bundle = Bundle()
    header: dict[str, Any] = {}
    try:
        try:
            text.expect("{")
        except _Cut:
            found = text.problem or "an empty file"
            raise BundleError(f"{path}: expected a medtrace bundle, found {found}") from None
        if text.peek() == "}":
            text.pos += 1
        else:
            while True:
                key = text.value(decoder)
                if not isinstance(key, str):
                    raise BundleError(f"{path}: expected an object key, found {key!r:.40}")
                text.expect(":")
                if key in ("memberships", "entries"):
                    _array(text, decoder, bundle, key)
                elif key == "forks":
                    _forks(text.value(decoder), bundle)
                elif key == "checkpoints":
                    _checkpoints(text.value(decoder), bundle)
                elif key == "checkpoint_evidence":
                    _checkpoint_evidence(text.value(decoder), bundle)
                else:
                    header[key] = text.value(decoder)
                    _check_header(header, path)
                if text.expect(",}") == "}":
                    break
    except _Cut:
        bundle.truncated = text.problem or "the file ends before the bundle is complete"
    except ValueError as exc:  # a duplicate key or NaN inside a value
        raise BundleError(f"{path}: expected plain JSON, found an error: {exc}") from None
    if header.get("type") != BUNDLE_TYPE or header.get("v") != VERSION:
        raise BundleError(
            f'{path}: expected a medtrace bundle {{"type": "{BUNDLE_TYPE}", "v": {VERSION}, …}}'
            + (" (the file is cut before its header)" if bundle.truncated else "")
        )
    if bundle.truncated is None:
        text.skip_ws()
        if text.pos < len(text.buf):
            raise BundleError(f"{path}: expected nothing after the bundle object")
        bundle.truncated = text.problem
    created, digest = header.get("created"), header.get("digest")
    bundle.created = created if isinstance(created, str) else None
    bundle.digest = digest if isinstance(digest, str) else None
    return bundle


def _check_header(header: Mapping[str, Any], path: Path) -> None:
    if "type" in header and header["type"] != BUNDLE_TYPE:
        raise BundleError(f"{path}: expected type {BUNDLE_TYPE!r}, found {header['type']!r:.60}")
    if "v" in header and header["v"] != VERSION:
        raise BundleError(f"{path}: expected bundle version {VERSION}, found {header['v']!r:.20}")


def _array(text: _Text, decoder: json.JSONDecoder, bundle: Bundle, key: str) -> None:
    text.expect("[")
    if text.peek() == "]":
        text.pos += 1
        return
    while True:
        _take(bundle, key, text.value(decoder))
        if text.expect(",]") == "]":
            return


def _forks(items: Any, bundle: Bundle) -> None:
    """``[[wire, wire], …]``; a pair that cannot be read is recorded as malformed (position -1)."""
    for index, item in enumerate(items if isinstance(items, list) else [items]):
        try:
            if not (isinstance(item, list) and len(item) == 2):
                raise TypeError(f"expected a pair of entries, found {type(item).__name__}")
            first, second = (SignedEntry.from_wire(wire) for wire in item)
        except (LedgerError, TypeError, AttributeError) as exc:
            bundle.malformed.append((-1, "", f"fork {index}: {exc}"))
            continue
        bundle.forks.append((first, second))


def _note(value: Any) -> bytes:
    if not isinstance(value, str) or not 0 < len(value) <= MAX_NOTE:
        raise TypeError(f"expected a checkpoint note of at most {MAX_NOTE} characters")
    return value.encode()


def _checkpoints(items: Any, bundle: Bundle) -> None:
    """``[note, …]``; a value that is not a note is recorded as malformed (position -1)."""
    for index, item in enumerate(items if isinstance(items, list) else [items]):
        try:
            bundle.checkpoints.append(_note(item))
        except TypeError as exc:
            bundle.malformed.append((-1, "", f"checkpoint {index}: {exc}"))


def _checkpoint_evidence(items: Any, bundle: Bundle) -> None:
    """``[{"feed", "size", "reason", "notes": [note, …]}, …]`` as a node serves its peers."""
    for index, item in enumerate(items if isinstance(items, list) else [items]):
        try:
            if not isinstance(item, dict) or not isinstance(item.get("notes"), list):
                raise TypeError('expected {"feed", "size", "reason", "notes": [note, …]}')
            feed, size, reason = item.get("feed"), item.get("size"), item.get("reason", "")
            if not isinstance(feed, str) or type(size) is not int or not isinstance(reason, str):
                raise TypeError("expected a feed name, a size and a reason")
            notes = tuple(_note(n) for n in item["notes"])
        except TypeError as exc:
            bundle.malformed.append((-1, "", f"checkpoint evidence {index}: {exc}"))
            continue
        bundle.checkpoint_evidence.append(CheckpointEvidence(feed, size, reason[:1000], notes))


def _take(bundle: Bundle, key: str, item: Any) -> None:
    if key == "memberships":
        try:
            if not isinstance(item, dict):
                raise TypeError("expected an object")
            bundle.memberships.append(SignedMembership.from_wire(item))
        except (LedgerError, ValueError, TypeError, KeyError, AttributeError) as exc:
            raise BundleError(f"membership version {len(bundle.memberships) + 1}: {exc}") from None
        return
    position = len(bundle.entries) + len(bundle.malformed)
    claimed = item.get("id") if isinstance(item, dict) else None
    try:
        if not isinstance(item, dict):
            raise TypeError(f"expected an entry object, found {type(item).__name__}")
        bundle.entries.append(SignedEntry.from_wire(item, check_opening=False))
    except (LedgerError, TypeError) as exc:
        bundle.malformed.append((position, claimed if isinstance(claimed, str) else "", str(exc)))
