"""What a verifier may see of the alerts: nothing that names a pack it did not ask about.

An alert's subject is a pack, a container, a lot, a product or a feed; its message may name
packs; its evidence entries are signed entries that, at a node, carry every pack of their
commitments. A verifier's token is a scanner's, and a list of alerts about other packs is a
list of valid serials. So, for a ``verifier`` token (issue 14):

- an alert is shown only when neither its subject nor its message names a pack other than the
  one the caller asked about (``subject``; no pack when it asked about none): alerts about a
  lot, a product or a feed stay visible, an alert about another pack is left out of ``alerts``
  and of ``count``;
- its evidence entries come with that pack's leaves only (``scanner.disclosure.disclose``),
  and an entry whose signed bytes list other packs (a v1 commissioning) is left out of
  ``entries`` (its id stays in ``evidence``: an id names nothing).

Operators see every alert as the node holds it. Auditors see every alert too (an alert names
the pack that failed a check: evidence of the failure, the auditor's business, not a list of
valid serials to copy), but its evidence entries as a verifier does: no sidecar, the leaves of
the pack asked about only (``?subject=``), no entry whose signed bytes list other packs, since
a commitment's sidecar is every pack of a batch (issue 14, ADR 0019).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from ledger.alerts import Alert
from ledger.entry import SignedEntry
from ledger.epcis.normalise import subject_type
from ledger.identifiers import SubjectType
from node.tokens import TokenInfo, TokenRole
from scanner.disclosure import disclose, names_other_packs

#: Who is shown alerts about the packs it asked about only.
SCOPED_ROLES = frozenset({TokenRole.VERIFIER})
#: Who is shown evidence entries with the asked pack's leaves only (never a sidecar).
SCOPED_EVIDENCE_ROLES = frozenset({TokenRole.VERIFIER, TokenRole.AUDITOR})
#: A pack's Digital Link or EPC URN anywhere in a text.
_PACK = re.compile(
    r"https?://[^\s\"'<>]*?/01/[0-9]{14}/21/[^\s\"'<>,;)]+|urn:epc:id:sgtin:[0-9A-Za-z.%\-_!*:;=&+,'()]+"
)


def scoped(token: TokenInfo | None) -> bool:
    return token is not None and token.role in SCOPED_ROLES


def _packs_named(alert: Alert) -> set[str]:
    return set(_PACK.findall(f"{alert.subject} {alert.message}"))


def scope_alerts(
    alerts: Sequence[Alert], token: TokenInfo | None, asked: str | None
) -> list[Alert]:
    """``alerts`` as ``token`` may see them, asked about ``asked`` (or about nothing)."""
    if not scoped(token):
        return list(alerts)
    allowed = {asked} if asked else set()
    return [a for a in alerts if _packs_named(a) <= allowed]


def scope_entries(
    entries: Iterable[SignedEntry], token: TokenInfo | None, asked: str | None
) -> list[SignedEntry]:
    """Evidence entries as ``token`` may see them: for a verifier or an auditor, the asked
    pack's leaves only, and no entry whose signed bytes list other packs."""
    if token is None or token.role not in SCOPED_EVIDENCE_ROLES:
        return list(entries)
    allowed = {asked} if asked else set()
    if scoped(token):
        return [disclose(e, allowed) for e in entries if not names_other_packs(e, allowed)]
    # An auditor sees every alert, so an entry about one pack (the alert's) is shown whole;
    # an entry listing several packs in its signed bytes is a list of serials and is not.
    shown = []
    for entry in entries:
        own = allowed | _one_pack(entry)
        if not names_other_packs(entry, own):
            shown.append(disclose(entry, own))
    return shown


def _one_pack(entry: SignedEntry) -> set[str]:
    """The pack ``entry`` is about when its subjects name exactly one (else none)."""
    packs = {s for s in entry.payload.subjects if subject_type(s) is SubjectType.PACK}
    return packs if len(packs) == 1 else set()


__all__ = ["SCOPED_EVIDENCE_ROLES", "SCOPED_ROLES", "scope_alerts", "scope_entries", "scoped"]
