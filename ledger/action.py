"""What a site asks its node to record: one entry's kind, subjects, refs and body, before the
node gives it a position, a timestamp and a signature."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ledger.kinds import Kind


@dataclass(frozen=True)
class Action:
    kind: Kind
    subjects: Sequence[str] = ()
    refs: Sequence[str] = ()
    body: Mapping[str, Any] = field(default_factory=dict)
