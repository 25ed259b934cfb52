"""The per-user profile: which node a person works against, with which token, trusting which CA,
pinned to which consortium (genesis id). One JSON file, mode 0600.

Where: ``$MEDTRACE_PROFILE`` when set, else ``$XDG_CONFIG_HOME/medtrace/profile.json`` (default
``~/.config/medtrace/profile.json``). The token is stored in it (that is what the file is for)
and never printed: ``token_label`` shows its last four characters and the fingerprint
``medtrace node token list`` shows for it.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from keys.keystore import atomic_write
from node.tokens import token_hash

PROFILE_ENV = "MEDTRACE_PROFILE"
FIELDS = ("node", "token", "ca", "genesis")


class ProfileError(Exception):
    """The profile file cannot be read or written: one line for the user."""


@dataclass(frozen=True)
class Profile:
    node: str | None = None
    token: str | None = None
    ca: str | None = None
    genesis: str | None = None

    def with_genesis(self, genesis: str) -> Profile:
        return replace(self, genesis=genesis)

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}


def profile_path() -> Path:
    """Where the profile lives (it need not exist)."""
    explicit = os.environ.get(PROFILE_ENV)
    if explicit:
        return Path(explicit)
    config = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(config) / "medtrace" / "profile.json"


def load_profile(path: Path | None = None) -> Profile | None:
    """The stored profile; ``None`` when there is none."""
    path = path or profile_path()
    if not path.exists():
        return None
    if path.is_dir():
        raise ProfileError(f"{path}: expected a medtrace profile file, found a directory")
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ProfileError(f"{path}: the profile cannot be read ({exc.strerror})") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ProfileError(
            f"{path}: expected a medtrace profile (JSON), found a file that is not ({exc}); "
            "run medtrace profile set again or medtrace profile clear"
        ) from None
    if not isinstance(raw, dict):
        raise ProfileError(f"{path}: expected a JSON object, found {type(raw).__name__}")
    values: dict[str, str | None] = {}
    for name in FIELDS:
        value = raw.get(name)
        if value is not None and not isinstance(value, str):
            raise ProfileError(f"{path}: expected {name} to be text, found {value!r}")
        values[name] = value
    return Profile(**values)


def save_profile(profile: Profile, path: Path | None = None) -> Path:
    """Write ``profile`` (0600; its directory 0700 when created here)."""
    path = path or profile_path()
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise ProfileError(f"{path.parent}: cannot create the directory ({exc.strerror})") from None
    data = (json.dumps(profile.to_json(), indent=2, sort_keys=True) + "\n").encode()
    try:
        atomic_write(path, data, mode=0o600, overwrite=True)
    except Exception as exc:  # noqa: BLE001 (KeyStoreError or OSError: one line either way)
        raise ProfileError(str(exc)) from None
    os.chmod(path, 0o600)
    return path


def clear_profile(path: Path | None = None) -> bool:
    """Remove the profile; whether there was one."""
    path = path or profile_path()
    if not path.exists():
        return False
    try:
        path.unlink()
    except OSError as exc:
        raise ProfileError(f"{path}: cannot remove it ({exc.strerror})") from None
    return True


def token_label(token: str) -> str:
    """How a token is shown: never the token, its last four characters and the fingerprint
    (the first 12 hex digits of its SHA-256) that ``medtrace node token list`` shows."""
    return f"…{token[-4:]} (fingerprint {token_hash(token)[:12]})"


def genesis_fingerprint(genesis: str) -> str:
    """The first 16 hex digits of a genesis id in groups of four: what a person compares with
    the id ``medtrace keys create`` and ``keys show`` print."""
    head = genesis[:16]
    return " ".join(head[i : i + 4] for i in range(0, len(head), 4))
