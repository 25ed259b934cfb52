"""The node's HTTP API as the work commands use it: one request, one answer or one ``WorkError``
whose message is the line a person reads (an RFC 9457 problem, an unreachable node, http:// to
an HTTPS node, a certificate not trusted here).
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import requests

from ledger.errors import LedgerError
from ledger.membership import MembershipChain, SignedMembership
from scanner.sources.online import connection_problem, node_session

TIMEOUT_S = 120.0
#: A pack no one commissions: asked for its provenance only to learn the genesis id when the
#: token may not read /membership (a verifier's).
_NOBODY = ("00000000000000", "MEDTRACE-GENESIS-PROBE")


class WorkError(Exception):
    """A request that did not do what was asked: ``str()`` is the one line for a person."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        problem: str | None = None,
        code: str | None = None,
        down: bool = False,
    ) -> None:
        super().__init__(message)
        #: nothing answered (refused, unknown host, no answer in time): maybe later it will
        self.down = down
        self.status = status
        self.problem = problem
        self.code = code

    def to_json(self) -> dict[str, Any]:
        return {
            "error": {
                "message": str(self),
                "status": self.status,
                "type": self.problem,
                "code": self.code,
            }
        }


@dataclass(frozen=True)
class Consortium:
    """What a node says about its consortium, checked: the genesis hashes to its id and carries
    its governance threshold of signatures."""

    genesis: str
    name: str
    version: int
    governance: tuple[str, ...]
    organisations: Mapping[str, str]  # id -> role


def _session(ca: Path | None) -> requests.Session:
    try:
        return node_session(ca)
    except (OSError, ssl.SSLError, ValueError) as exc:
        raise WorkError(
            f"{ca}: expected a PEM CA certificate (the consortium's, e.g. DATA/tls-ca.crt), "
            f"found one that cannot be used ({getattr(exc, 'strerror', None) or 'not a PEM certificate'})"
        ) from None


@dataclass
class NodeApi:
    """A node's base URL and a bearer token (``ca``: trust only this CA for https)."""

    url: str
    token: str
    ca: Path | None = None
    session: requests.Session = field(init=False)

    def __post_init__(self) -> None:
        self.url = self.url.rstrip("/")
        self.session = _session(self.ca)

    def close(self) -> None:
        self.session.close()

    def call(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        what: str,
        ok: int | tuple[int, ...] = 200,
    ) -> dict[str, Any]:
        """The JSON object answered to ``method path``; ``what`` names the request in errors."""
        try:
            response = self.session.request(
                method,
                self.url + path,
                json=body,
                headers={"Authorization": f"Bearer {self.token}"},
                timeout=TIMEOUT_S,
            )
        except requests.exceptions.SSLError:
            raise WorkError(
                f"{self.url}: its TLS certificate is not trusted here (pass --ca with the "
                "consortium's CA certificate, e.g. DATA/tls-ca.crt of a node)"
            ) from None
        except requests.ConnectionError as exc:
            problem = connection_problem(self.url, exc)
            raise WorkError(problem, down="answers HTTPS" not in problem) from None
        except requests.Timeout:
            raise WorkError(
                f"{self.url} did not answer the {what} within {TIMEOUT_S:.0f} s", down=True
            ) from None
        except requests.RequestException:
            raise WorkError(
                f"{self.url}: the {what} could not be sent (the request failed)"
            ) from None
        if response.status_code not in ((ok,) if isinstance(ok, int) else ok):
            raise refusal(response, what, self.url)
        try:
            value = response.json()
        except ValueError:
            raise WorkError(f"{self.url} answered the {what} with something not JSON") from None
        if not isinstance(value, dict):
            raise WorkError(f"{self.url} answered the {what} with JSON that is not an object")
        return value

    def post(self, path: str, body: Any, what: str) -> dict[str, Any]:
        return self.call("POST", path, body=body, what=what, ok=201)

    def action(self, kind: str, body: dict[str, Any]) -> dict[str, Any]:
        return self.post(f"/api/v1/actions/{kind}", body, kind)

    def pack(self, gtin: str, serial: str) -> dict[str, Any]:
        path = f"/api/v1/packs/{gtin}/{quote(serial, safe='')}"
        return self.call("GET", path, what="pack query")

    def container(self, sscc: str) -> dict[str, Any]:
        return self.call("GET", f"/api/v1/containers/{sscc}", what="container query")

    def organisation(self) -> str:
        """The organisation the node signs for (its /healthz names its feed)."""
        answer = self.call("GET", "/healthz", what="health check")
        feed = answer.get("feed")
        if not isinstance(feed, str) or "/" not in feed:
            raise WorkError(f"{self.url}: its /healthz names no feed")
        return feed.split("/", 1)[0]

    def consortium(self, *, probe: bool = True) -> Consortium | None:
        """The node's pinned genesis and membership, verified from the genesis on.

        A token that may not read /membership (a verifier's) learns them from the provenance
        of a pack no one commissions, which counts towards the serial-harvesting guard once:
        only when ``probe`` (pinning); else None."""
        try:
            answer = self.call("GET", "/api/v1/membership", what="membership query")
        except WorkError as exc:
            if exc.status != 403:
                raise
            if not probe:
                return None
            gtin, serial = _NOBODY
            path = f"/api/v1/packs/{gtin}/{serial}/provenance"
            answer = self.call("GET", path, what="provenance query")
            answer = {"genesis": answer.get("genesis"), "versions": answer.get("memberships")}
        return checked_consortium(answer, self.url)


def checked_consortium(answer: Mapping[str, Any], url: str) -> Consortium:
    genesis, wires = answer.get("genesis"), answer.get("versions")
    if not isinstance(genesis, str) or not isinstance(wires, list) or not wires:
        raise WorkError(f"{url}: its answer names no genesis id and membership versions")
    try:
        versions = [SignedMembership.from_wire(w) for w in wires]
        first = min(versions, key=lambda v: v.membership.version)
        chain = MembershipChain(first, genesis)
        chain.extend_all(v for v in versions if v is not first)
    except (LedgerError, TypeError, ValueError, KeyError) as exc:
        raise WorkError(
            f"{url}: its membership does not verify from the genesis it names ({exc})"
        ) from None
    current = chain.current
    return Consortium(
        genesis,
        current.consortium,
        current.version,
        tuple(sorted(first.membership.governance)),
        {org.id: org.role.value for org in current.organisations.values()},
    )


def refusal(response: requests.Response, what: str, url: str) -> WorkError:
    """The one line for a refused request, from its RFC 9457 problem when it has one."""
    status = response.status_code
    try:
        problem = response.json()
    except ValueError:
        problem = None
    if not isinstance(problem, dict):
        return WorkError(
            f"{url} answered the {what} with {status} {response.reason}", status=status
        )
    kind = str(problem.get("type", "")).rsplit(":", 1)[-1] or None
    code = problem.get("code") if isinstance(problem.get("code"), str) else None
    detail = str(problem.get("detail") or problem.get("title") or response.reason)
    if status == 401:
        message = (
            f"the node refused the token (401 from {url}): {detail}; pass --token or run "
            "medtrace profile set with a token of this node"
        )
    elif status == 429:
        retry = problem.get("retry_after", response.headers.get("Retry-After", "?"))
        message = f"{url} refused the {what} (429 {code or kind}): {detail} (retry in {retry} s)"
    else:
        message = f"the node refused the {what} ({status} {code or kind}): {detail}"
    return WorkError(message, status=status, problem=kind, code=code)
