"""Timestamps in payloads: UTC, millisecond precision, one fixed textual form.

A fixed form makes lexical order equal time order, so entries sort without parsing.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from ledger.errors import MalformedEntry

#: ASCII digits only: a time spelt in full-width or other digits would be a second text for one
#: instant, and would sort after every ASCII one whatever its time.
_TS = re.compile(r"\A[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z\Z")


def format_ts(moment: datetime) -> str:
    """``2026-11-22T10:15:00.123Z`` for an aware datetime."""
    if moment.tzinfo is None:
        raise ValueError("expected an aware datetime, found a naive one")
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def parse_ts(text: str) -> datetime:
    if not _TS.match(text):
        raise MalformedEntry(f"expected a timestamp like 2026-11-22T10:15:00.123Z, found {text!r}")
    try:
        return datetime.fromisoformat(text)
    except ValueError as exc:
        raise MalformedEntry(f"expected a real calendar time, found {text!r}") from exc


def now_ts() -> str:
    return format_ts(datetime.now(UTC))
