"""Replication requests signed with the calling node's feed key: RFC 9421 HTTP Message Signatures.

A node proves which organisation it belongs to by signing each request it sends to a peer with
its feed key (Ed25519), the key the membership lists for its feed (ADR 0015). The server checks
the signature in the application, so it does not matter which HTTP server terminates TLS, or
whether one does::

    GET /api/v1/feeds/acme/line-1/entries?from=0&limit=500 HTTP/1.1
    Authorization: Bearer mt_…
    Signature-Input: medtrace=("@method" "@path" "@query" "authorization");created=1767225600;\
keyid="dist/wh-1";alg="ed25519";tag="medtrace-peer"
    Signature: medtrace=:<64 bytes, base64>:

What a server accepts (``check_signature``), in this order, else ``SignatureRefused`` with what
was expected and what was found:

* one signature tagged ``medtrace-peer``, covering ``@method``, ``@path``, ``@query`` and the
  ``authorization`` header (which binds it to the bearer token, and the token to the node that
  issued it), with ``created`` within ``MAX_SKEW_S`` (300 s) of the server's clock either way;
* ``keyid`` is a feed listed in the server's current membership, of the organisation the peer
  token names, and the feed has a current key (none when the feed was revoked; after a rotation
  only the new key counts);
* the signature verifies with that key.

Nothing else is needed against replay: a signature is good for one method, path, query and
token for five minutes, and a replayed GET returns what the original did. The body is not
covered: the only replication request with one, the push hint, names a peer to pull from soon.

The same machinery signs a node's requests to **another consortium's** ledger (ADR 0028,
addendum): tag ``medtrace-foreign`` instead, and one more covered field, ``Medtrace-Consortium``,
naming the signer's genesis (feed ids are unique within a consortium only); the verifier passes
``org=None`` (any organisation of that consortium's membership) and the tag and fields to expect
(``api/foreign_auth.py``).
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature as BadCryptoSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from http_message_signatures import (
    HTTPMessageSignaturesException,
    HTTPMessageSigner,
    HTTPMessageVerifier,
    HTTPSignatureKeyResolver,
    InvalidSignature,
    MappingKeyResolver,
    algorithms,
)
from requests import PreparedRequest
from requests.auth import AuthBase

from ledger.errors import LedgerError
from ledger.membership import Membership
from ledger.membership.keys import load_public_key

#: The label of our signature in the Signature-Input and Signature dictionaries.
LABEL = "medtrace"
#: The application tag every replication signature carries (signed), so a signature made for
#: another purpose with the same key is never taken for one of ours.
TAG = "medtrace-peer"
#: What a signature must cover: the request line and the bearer token.
COVERED = ("@method", "@path", "@query", "authorization")
#: How far ``created`` may be from the server's clock, either way.
MAX_SKEW_S = 300
SIGNATURE_HEADERS = ("Signature-Input", "Signature")


class SignatureRefused(Exception):
    """The request's signature does not show a current feed key of the expected organisation."""


class KeyNotHeld(SignatureRefused):
    """The keyid is not a feed with a current key in the membership checked against, or the
    signature does not verify with that key: a newer membership might say otherwise."""


class RequestSigner(AuthBase):
    """Signs every request of a ``requests`` session with ``feed``'s key (``session.auth``):
    ``tag`` the application tag, ``fields`` header fields set on each request and covered too."""

    def __init__(
        self,
        feed: str,
        key: Ed25519PrivateKey,
        *,
        tag: str = TAG,
        fields: tuple[tuple[str, str], ...] = (),
    ) -> None:
        self.feed = feed
        self.tag = tag
        self.fields = fields
        self.covered = COVERED + tuple(name.lower() for name, _ in fields)
        self._signer = HTTPMessageSigner(
            signature_algorithm=algorithms.ED25519,
            key_resolver=MappingKeyResolver(public_keys={}, private_keys={feed: key}),
        )

    def __repr__(self) -> str:
        return f"RequestSigner({self.feed!r})"  # never the key

    def __call__(self, request: PreparedRequest) -> PreparedRequest:
        for name, value in self.fields:
            request.headers[name] = value
        self._signer.sign(
            request,
            key_id=self.feed,
            created=dt.datetime.now(dt.UTC),
            label=LABEL,
            tag=self.tag,
            covered_component_ids=self.covered,
        )
        return request


@dataclass(frozen=True)
class SignedRequest:
    """A request as the verifier reads it: ``url`` is absolute (any host: it is not covered),
    its path and query as they came on the wire; ``fields`` the header lines, in order."""

    method: str
    url: str
    fields: tuple[tuple[str, str], ...]

    @property
    def headers(self) -> SignedRequest:
        return self  # the library reads ``message.headers.items()``

    def items(self) -> tuple[tuple[str, str], ...]:
        return self.fields


class _Refusal(InvalidSignature):
    """Raised from inside the library's verification (it passes its own exception type on)."""


class _KeyRefusal(_Refusal):
    """A refusal about the key (``KeyNotHeld``)."""


class _MembershipKeys(HTTPSignatureKeyResolver):
    """The current key of the feed a ``keyid`` names, if that feed belongs to ``org`` (``None``:
    any organisation of the membership)."""

    def __init__(self, membership: Membership, org: str | None) -> None:
        self.membership = membership
        self.org = org

    def resolve_public_key(self, key_id: str) -> Ed25519PublicKey:
        version = self.membership.version
        try:
            spec = self.membership.feed(key_id)
        except LedgerError:
            whose = "any organisation" if self.org is None else f"organisation {self.org!r}"
            raise _KeyRefusal(
                f"expected keyid to be a feed of {whose} listed in membership "
                f"v{version}, found {key_id[:80]!r}, which it does not list"
            ) from None
        if self.org is not None and spec.org != self.org:
            raise _Refusal(
                f"expected a signature by a feed of organisation {self.org!r} (the peer "
                f"token's), found one by feed {key_id!r} of organisation {spec.org!r}"
            )
        current = spec.open_key
        if current is None:
            raise _KeyRefusal(
                f"expected a signature by a current key of feed {key_id!r}, found that "
                f"membership v{version} lists none (the feed's keys are revoked)"
            )
        return load_public_key(current.public)


class _Verifier(HTTPMessageVerifier):
    def __init__(self, keys: _MembershipKeys, now: float) -> None:
        super().__init__(signature_algorithm=algorithms.ED25519, key_resolver=keys)
        self.now = now

    def validate_created_and_expires(self, sig_input: Any, max_age: Any = None) -> None:
        """``created`` within ``MAX_SKEW_S`` of our clock either way; ``expires`` not past."""
        created = sig_input.params.get("created")
        if type(created) is not int:
            raise _Refusal("expected a 'created' timestamp (integer seconds), found none")
        drift = created - self.now
        if abs(drift) > MAX_SKEW_S:
            when = "later" if drift > 0 else "earlier"
            raise _Refusal(
                f"expected a signature created within {MAX_SKEW_S} s of this node's clock, "
                f"found one created {abs(drift):.0f} s {when}"
            )
        expires = sig_input.params.get("expires")
        if expires is not None and (type(expires) is not int or expires < self.now):
            raise _Refusal(f"expected a signature that has not expired, found expires={expires}")


def check_signature(
    request: SignedRequest,
    membership: Membership,
    org: str | None,
    *,
    now: float | None = None,
    tag: str = TAG,
    covered: tuple[str, ...] = COVERED,
    whose: str | None = None,
) -> str:
    """The feed of ``org`` (``None``: of any organisation) whose current key signed ``request``;
    ``SignatureRefused`` otherwise (``KeyNotHeld`` when about the key). ``whose`` names the
    signer expected in the messages (default: the organisation, with a peer token)."""
    if whose is None:
        whose = f"organisation {org!r}"
    expected = f"an RFC 9421 signature (tag {tag!r}) by the current key of a feed of {whose}"
    present = {name.lower() for name, _ in request.fields}
    if not all(name.lower() in present for name in SIGNATURE_HEADERS):
        with_token = " with a peer token" if tag == TAG else ""
        raise SignatureRefused(f"expected {expected}{with_token}, found none")
    verifier = _Verifier(_MembershipKeys(membership, org), time.time() if now is None else now)
    try:
        results = verifier.verify(request, max_age=None, expect_tag=tag, require_components=covered)
    except _KeyRefusal as exc:
        raise KeyNotHeld(str(exc)) from None
    except _Refusal as exc:
        raise SignatureRefused(str(exc)) from None
    except InvalidSignature as exc:
        if isinstance(exc.__cause__, BadCryptoSignature):
            raise KeyNotHeld(
                f"expected {expected}, found one that does not verify with the current key of "
                "its keyid's feed (made over another request, or with another key)"
            ) from None
        raise SignatureRefused(f"expected {expected}, found: {_first_line(exc)}") from None
    except HTTPMessageSignaturesException as exc:
        raise SignatureRefused(f"expected {expected}, found: {_first_line(exc)}") from None
    if len(results) != 1:
        raise SignatureRefused(f"expected one signature tagged {tag!r}, found {len(results)}")
    return str(results[0].parameters["keyid"])


def _first_line(exc: Exception) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]


__all__ = [
    "COVERED",
    "LABEL",
    "MAX_SKEW_S",
    "TAG",
    "KeyNotHeld",
    "RequestSigner",
    "SignatureRefused",
    "SignedRequest",
    "check_signature",
]
