"""The online source: one node's HTTP API, asked for a pack's provenance (verifier token),
whose answer is verified here as if the node were hostile."""

from __future__ import annotations

import socket
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import requests

from ledger.errors import LedgerError
from ledger.identifiers import pack_uri, parse_subject
from ledger.membership import SignedMembership
from node.https import ca_session
from scanner.outcome import Basis, Freshness, Outcome
from scanner.reading import ScanData
from scanner.verdict import Decision, Reason, Verdict
from scanner.verifying import VerifyError, check, decode_entries, today_iso

TIMEOUT_S = 10.0


@dataclass
class NodeClient:
    """The node's HTTP API as a scanner reads it, with a verifier token."""

    url: str
    token: str
    timeout: float = TIMEOUT_S
    session: requests.Session = field(default_factory=requests.Session)

    def get(self, path: str) -> requests.Response:
        try:
            return self.session.get(
                self.url.rstrip("/") + path,
                headers={"Authorization": f"Bearer {self.token}"},
                timeout=self.timeout,
            )
        except requests.exceptions.SSLError:
            raise NodeUnreachable(
                f"{self.url}: its TLS certificate is not trusted here (pass --ca with the "
                "consortium's CA certificate, e.g. DATA/tls-ca.crt of a node)"
            ) from None
        except requests.ConnectionError as exc:
            raise NodeUnreachable(connection_problem(self.url, exc)) from None
        except requests.Timeout:
            raise NodeUnreachable(f"{self.url}: no answer in time") from None
        except requests.RequestException:
            raise NodeUnreachable(f"{self.url}: the request failed") from None

    def provenance(self, gtin: str, serial: str) -> dict[str, Any]:
        response = self.get(f"/api/v1/packs/{gtin}/{quote(serial, safe='')}/provenance")
        return self._json(response, "provenance")

    def container(self, sscc: str) -> dict[str, Any]:
        return self._json(self.get(f"/api/v1/containers/{sscc}"), "container")

    def _json(self, response: requests.Response, what: str) -> dict[str, Any]:
        if response.status_code in (401, 403):
            raise VerifyError(
                f"the node refused the token ({response.status_code} from {self.url}): "
                f"{_problem_detail(response)}"
            )
        if response.status_code == 404 and what == "container":
            raise VerifyError(f"{self.url}: {_problem_detail(response)}")
        if response.status_code == 429:
            raise NodeUnreachable(
                f"{self.url} is rate-limiting this token (retry after "
                f"{response.headers.get('Retry-After', '?')} s)"
            )
        if response.status_code >= 400:
            raise NodeUnreachable(
                f"{self.url} answered {response.status_code}: {_problem_detail(response)}"
            )
        try:
            value = response.json()
        except ValueError:
            raise NodeUnreachable(f"{self.url} answered something that is not JSON") from None
        if not isinstance(value, dict):
            raise NodeUnreachable(f"{self.url} answered JSON that is not an object")
        return value


def node_session(ca: Path | None = None) -> requests.Session:
    """A session for a node's API: over https it trusts ``ca`` (the consortium's TLS CA) only,
    when given; else the system's CAs (a node behind a public certificate)."""
    return ca_session(ca)


def connection_problem(url: str, exc: requests.ConnectionError) -> str:
    """What a user can do about a connection that failed: requests says only ConnectionError."""
    text = str(exc)
    if "Connection refused" in text or "NewConnectionError" in text:
        return f"nothing answers at {url} (connection refused): is the node running on that port?"
    if url.startswith("http://") and _answers_https(url):
        return f"the node at {url} answers HTTPS: use https:// and --ca"
    if "Name or service not known" in text or "NameResolutionError" in text:
        return f"{url}: the host name is not known here"
    return f"{url}: the connection failed"


def _answers_https(url: str, timeout: float = 3.0) -> bool:
    """Whether the host and port of ``url`` complete a TLS handshake (certificate unchecked:
    this only tells a user which scheme to type)."""
    parts = urlsplit(url)
    if parts.hostname is None:
        return False
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        with (
            socket.create_connection((parts.hostname, parts.port or 80), timeout=timeout) as raw,
            context.wrap_socket(raw, server_hostname=parts.hostname),
        ):
            return True
    except (OSError, ValueError):
        return False


class NodeUnreachable(Exception):
    """The node could not be asked (network, server error, rate limit): HOLD, not REJECT."""


def _problem_detail(response: requests.Response) -> str:
    try:
        value = response.json()
    except ValueError:
        return response.reason or "no detail"
    if isinstance(value, dict):
        return str(value.get("detail") or value.get("title") or response.reason)
    return response.reason or "no detail"


def _memberships(raw: Any) -> tuple[list[SignedMembership], Reason | None]:
    versions: list[SignedMembership] = []
    if not isinstance(raw, list):
        return [], Reason("no_membership", "the ledger's answer holds no membership list")
    for wire in raw:
        try:
            if not isinstance(wire, Mapping):
                raise TypeError("expected an object")
            versions.append(SignedMembership.from_wire(wire))
        except (LedgerError, TypeError, ValueError) as exc:
            return versions, Reason(
                "forged_membership", f"a membership version is malformed: {exc}"
            )
    return versions, None


def verify_online(
    scan: ScanData,
    node_url: str,
    token: str,
    *,
    membership_pin: str,
    today: str | None = None,
    in_transit_ok: bool = False,
    custodian: str | None = None,
    timeout: float = TIMEOUT_S,
    client: NodeClient | None = None,
) -> Outcome:
    """Ask ``node_url`` for the pack's provenance and verify it from ``membership_pin``."""
    client = client or NodeClient(node_url, token, timeout)
    uri = pack_uri(scan.gtin, scan.serial)
    asked = datetime.now(UTC)
    freshness = Freshness("node", asked.isoformat(timespec="seconds").replace("+00:00", "Z"), 0.0)
    try:
        answer = client.provenance(scan.gtin, scan.serial)
    except NodeUnreachable as exc:
        verdict = Verdict(
            Decision.HOLD,
            uri,
            [
                Reason(
                    "ledger_unreachable",
                    f"the ledger could not be asked ({exc}): verify offline, or hold the pack",
                )
            ],
        )
        return Outcome(scan, verdict, "online", Freshness("node", None), node_url)
    versions, problem = _memberships(answer.get("memberships"))
    if problem is not None:
        verdict = Verdict(Decision.REJECT, uri, [problem])
        return Outcome(scan, verdict, "online", freshness, node_url)
    entries = answer.get("entries")
    if not isinstance(entries, list):
        verdict = Verdict(
            Decision.HOLD, uri, [Reason("bad_answer", "the ledger's answer holds no entry list")]
        )
        return Outcome(scan, verdict, "online", freshness, node_url)
    withheld = answer.get("withheld", [])
    if not (isinstance(withheld, list) and all(isinstance(w, str) for w in withheld)):
        verdict = Verdict(
            Decision.HOLD,
            uri,
            [Reason("bad_answer", "the ledger's 'withheld' is not a list of ids")],
        )
        return Outcome(scan, verdict, "online", freshness, node_url)
    decoded, broken = decode_entries(entries)
    verdict = check(
        scan,
        decoded if not broken else entries,
        versions,
        pin=membership_pin,
        today=today or today_iso(),
        in_transit_ok=in_transit_ok,
        custodian=custodian,
        withheld=withheld,
    )
    basis = Basis(tuple(decoded), tuple(versions), tuple(withheld)) if not broken else None
    return Outcome(scan, verdict, "online", freshness, node_url, basis)


def container_packs(client: NodeClient, sscc: str, depth: int = 0) -> list[str]:
    """The packs inside a case or pallet as the node lists them, through up to four levels of
    cases inside it."""
    answer = client.container(sscc)
    children = answer.get("children", [])
    if children is None:  # listed to the custodian, the destination and the regulator only
        raise VerifyError(
            f"{client.url} does not list the contents of SSCC {sscc} to this token (a "
            "container's packs are listed to the operators and auditors of its custodian, its "
            "destination and the regulator only): scan the packs one by one, or verify the "
            "case offline against a replica"
        )
    packs: list[str] = []
    for child in children if isinstance(children, list) else []:
        if not isinstance(child, str):
            continue
        if "/00/" in child and depth < 4:
            subject = parse_subject(child)
            assert subject.sscc is not None
            packs.extend(container_packs(client, subject.sscc, depth + 1))
        elif "/21/" in child:
            packs.append(child)
    return packs
