"""The one error tree of the ledger.

Verification never returns False: it raises one of these, and the message says what was
expected and what was found. Callers catch ``LedgerError`` to handle any ledger failure.
An error only one module raises (``EpcisInvalid``, ``QueryError``, ``JsonTextError``,
``MappingRefused``, ``NotPlainJson``) is defined in that module, under a root from here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ledger.alerts import Code
    from ledger.kinds import Kind


class LedgerError(Exception):
    """Root of every error the ledger raises.

    ``subject`` is the pack, container, lot or product the error is about when it is about
    one, so a caller can point at what it wrote about it without reading the message.
    """

    def __init__(self, *args: object, subject: str | None = None) -> None:
        super().__init__(*args)
        self.subject = subject


class MalformedEntry(LedgerError):
    """The bytes are not a well-formed, canonical entry payload."""


class SignatureInvalid(LedgerError):
    """The signature does not verify under the key the membership names for that position."""


class ChainError(LedgerError):
    """The entry does not continue its feed's chain."""


class SequenceGap(ChainError):
    """The next entry does not carry the next sequence number."""


class PrevMismatch(ChainError):
    """The entry's ``prev`` is not the id of the entry before it."""


class WrongFeed(ChainError):
    """The entry belongs to another feed than the one being verified or extended."""


class TimeRegression(ChainError):
    """The entry's timestamp is earlier than an entry it builds on."""


class FeedFrozen(ChainError):
    """The feed is frozen at a fork point; nothing more is accepted from it."""


class MembershipError(LedgerError):
    """The membership does not allow what the entry or document claims."""


class UnknownFeed(MembershipError):
    """The feed is not listed in the membership."""


class KeyNotAuthorised(MembershipError):
    """No key of the feed is valid at that position (revoked, rotated away, or never listed)."""


class KindNotAllowed(MembershipError):
    """The feed may not write entries of this kind (``kind``, when the refusal names it)."""

    def __init__(self, message: str, kind: Kind | None = None) -> None:
        super().__init__(message)
        self.kind = kind


class GtinOutsidePrefixes(MembershipError):
    """A manufacturer commissioned a GTIN (``gtin``, as the entry wrote it) outside its GS1
    company prefixes."""

    def __init__(self, message: str, gtin: str | None = None) -> None:
        super().__init__(message)
        self.gtin = gtin


class ThresholdNotMet(MembershipError):
    """A membership version lacks the governance signatures its threshold requires."""


class MembershipChainError(MembershipError):
    """A membership version does not follow the one before it (version, consortium, previous)."""


class IdentifierError(LedgerError):
    """A GS1 identifier (GTIN, SSCC, serial, lot, Digital Link URI) is not valid."""


class RuleViolation(LedgerError):
    """An entry breaks a business rule of the pack lifecycle.

    ``code`` is the alert code the same rule raises for an entry replicated from a peer, so a
    local refusal and a remote alert speak the same language. ``subject`` is ``None`` only
    when the refusal was relayed (a remote node's answer names no subject).
    """

    def __init__(
        self,
        code: Code,
        message: str,
        evidence: tuple[str, ...] = (),
        *,
        subject: str | None = None,
    ) -> None:
        super().__init__(message, subject=subject)
        self.code = code
        self.evidence = evidence


class EpcisError(LedgerError):
    """An EPCIS document, event or query the ledger cannot take."""
