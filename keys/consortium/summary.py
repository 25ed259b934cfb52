"""Everything public about a consortium's current version, as JSON-ready data (no secrets).

This is what ``medtrace keys show --json`` prints; the key order of each object is kept stable.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from keys.keystore import fingerprint, public_b64
from ledger.membership import FeedSpec, Organisation, SignedMembership


def consortium_summary(
    name: str, directory: Path, genesis_id: str, current: SignedMembership
) -> dict[str, Any]:
    m = current.membership
    return {
        "consortium": name,
        "directory": str(directory),
        "genesis_id": genesis_id,
        "version": m.version,
        "membership_id": current.id,
        "governance": {
            "threshold": m.threshold,
            "keys": [
                {"name": key_name, **_public_key(pub)}
                for key_name, pub in sorted(m.governance.items())
            ],
        },
        "organisations": [
            _organisation(org) for org in sorted(m.organisations.values(), key=lambda o: o.id)
        ],
        "foreign_roots": [root.to_json() for root in m.foreign_roots],
    }


def _organisation(org: Organisation) -> dict[str, Any]:
    return {
        "id": org.id,
        "name": org.name,
        "role": org.role.value,
        "gln": org.gln,
        "company_prefixes": list(org.company_prefixes),
        "feeds": [_feed(spec) for spec in org.feeds.values()],
    }


def _feed(spec: FeedSpec) -> dict[str, Any]:
    return {
        "id": spec.id,
        "kinds": sorted(k.value for k in spec.kinds),
        "revoked": spec.open_key is None,
        "keys": [
            {**_public_key(k.public), "from_seq": k.from_seq, "until_seq": k.until_seq}
            for k in spec.keys
        ],
    }


def _public_key(public: bytes) -> dict[str, str]:
    return {"public": public_b64(public), "fingerprint": fingerprint(public)}


__all__ = ["consortium_summary"]
