"""A consortium directory: the signed membership versions and the keys that sign them.

::

    DIR/consortium.json          {"name": ..., "genesis_id": ..., "current_version": N}
    DIR/membership/v0001.json    SignedMembership.to_wire(), one file per version
    DIR/governance/<name>.key    encrypted PKCS#8, 0600 (directory 0700)
    DIR/feeds/<org>/<site>.key   encrypted PKCS#8, 0600 (directories 0700); feed id "<org>/<site>"
    DIR/feeds/<org>/<site>.retired-v0004.key   a key rotated away by v4, kept for audit
    DIR/tls/ca.key, DIR/tls/ca.crt   the TLS CA for node certificates (``keys.tls``)

Opening a directory verifies every version from the pinned genesis (``ledger.membership``):
a version file that does not follow, or lacks governance signatures, makes ``open`` raise.
Every change builds version N+1, signs it with the governance keys held here, verifies it as a
reader would (from its wire form, against the chain re-read from disk), and only then writes it;
after writing, the directory is opened again and must end at exactly that version.
A lock file serialises writers; files are never overwritten except ``consortium.json``.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from keys.keystore import (
    KeyStoreError,
    Passphrase,
    atomic_write,
    ensure_private_dir,
    fingerprint,
    generate_key,
    load_private_key,
    move_no_clobber,
    public_b64,
    public_bytes,
    resolve_passphrase,
    write_private_key,
)
from keys.tls import create_ca
from ledger.entry import FEED_ID
from ledger.errors import LedgerError, MembershipChainError, MembershipError
from ledger.kinds import Kind, Role
from ledger.membership import (
    Membership,
    MembershipChain,
    SignedMembership,
    genesis,
    organisation,
    sign_membership,
)

CONSORTIUM_FILE = "consortium.json"
MEMBERSHIP_DIR = "membership"
GOVERNANCE_DIR = "governance"
FEEDS_DIR = "feeds"
LOCK_FILE = ".lock"
PUBLIC_FILE_MODE = 0o644
DEFAULT_GOVERNANCE: tuple[str, ...] = ("gov-1", "gov-2", "gov-3")
DEFAULT_THRESHOLD = 2

#: Governance key names, organisation ids and site names: safe as file names by construction.
NAME = re.compile(r"\A[a-z0-9][a-z0-9-]{0,31}\Z")
_VERSION_FILE = re.compile(r"\Av(\d{4,})\.json\Z")
_HEX64 = re.compile(r"\A[0-9a-f]{64}\Z")
_MAX_JSON_FILE = 16 * 1024 * 1024


class ConsortiumError(KeyStoreError):
    """The consortium directory is missing, malformed, or cannot be written as asked."""


def version_file_name(version: int) -> str:
    return f"v{version:04d}.json"


def check_name(value: str, what: str) -> str:
    if not isinstance(value, str) or not NAME.match(value):
        raise ConsortiumError(
            f"expected a {what} of 1 to 32 lower-case letters, digits and '-' (not starting "
            f"with '-'), found {value!r}"
        )
    return value


def split_feed_id(feed_id: str) -> tuple[str, str]:
    if not isinstance(feed_id, str) or not FEED_ID.match(feed_id):
        raise ConsortiumError(f"expected a feed id like 'acme/line-1', found {feed_id!r}")
    org, site = feed_id.split("/", 1)
    return org, site


def parse_role(role: Role | str) -> Role:
    try:
        return Role(role)
    except ValueError:
        raise ConsortiumError(
            f"expected a role from {[r.value for r in Role]}, found {role!r}"
        ) from None


# -- files ---------------------------------------------------------------------------------------


def _read_json(path: Path, what: str) -> Any:
    try:
        with path.open("rb") as handle:
            data = handle.read(_MAX_JSON_FILE + 1)
    except FileNotFoundError:
        raise ConsortiumError(f"{path}: expected {what}, found no file") from None
    except OSError as exc:
        raise ConsortiumError(f"{path}: cannot read {what}: {exc.strerror}") from None
    if len(data) > _MAX_JSON_FILE:
        raise ConsortiumError(f"{path}: expected {what} under {_MAX_JSON_FILE} bytes")
    try:
        return json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ConsortiumError(f"{path}: expected {what} in JSON, found an error: {exc}") from None


def _json_bytes(obj: Any) -> bytes:
    return (json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")


@dataclass(frozen=True, slots=True)
class _Pin:
    name: str
    genesis_id: str
    current_version: int

    @classmethod
    def read(cls, directory: Path) -> _Pin:
        path = directory / CONSORTIUM_FILE
        obj = _read_json(path, "the consortium file")
        if not isinstance(obj, dict):
            raise ConsortiumError(f"{path}: expected a JSON object")
        name, gid, current = obj.get("name"), obj.get("genesis_id"), obj.get("current_version")
        if not isinstance(name, str) or not name:
            raise ConsortiumError(f"{path}: expected a non-empty string 'name', found {name!r}")
        if not isinstance(gid, str) or not _HEX64.match(gid):
            raise ConsortiumError(f"{path}: expected a 64-hex 'genesis_id', found {gid!r}")
        if type(current) is not int or current < 1:
            raise ConsortiumError(
                f"{path}: expected a positive integer 'current_version', found {current!r}"
            )
        return cls(name, gid, current)

    def write(self, directory: Path) -> None:
        data = {
            "name": self.name,
            "genesis_id": self.genesis_id,
            "current_version": self.current_version,
        }
        atomic_write(
            directory / CONSORTIUM_FILE, _json_bytes(data), mode=PUBLIC_FILE_MODE, overwrite=True
        )


def read_version_file(path: Path) -> SignedMembership:
    """One ``membership/vNNNN.json``: parsed and checked for shape, not yet for signatures."""
    obj = _read_json(path, "a signed membership version")
    if not isinstance(obj, dict):
        raise MembershipError(f"{path}: expected a JSON object {{membership, signatures}}")
    try:
        signed = SignedMembership.from_wire(obj)
    except MembershipError as exc:
        raise MembershipError(f"{path}: {exc}") from None
    match = _VERSION_FILE.match(path.name)
    if match is None or int(match[1]) != signed.membership.version:
        raise MembershipChainError(
            f"{path}: expected a file named {version_file_name(signed.membership.version)} for "
            f"membership v{signed.membership.version}"
        )
    return signed


def load_chain(directory: Path, genesis_id: str) -> MembershipChain:
    """Verify every ``membership/vNNNN.json`` of ``directory`` from the genesis ``genesis_id``."""
    found: dict[int, Path] = {}
    folder = directory / MEMBERSHIP_DIR
    try:
        names = sorted(os.listdir(folder))
    except FileNotFoundError:
        raise ConsortiumError(f"{folder}: expected the membership directory, found none") from None
    except OSError as exc:
        raise ConsortiumError(f"{folder}: cannot list: {exc.strerror}") from None
    for name in names:
        match = _VERSION_FILE.match(name)
        if match is not None:
            found[int(match[1])] = folder / name
    if 1 not in found:
        raise MembershipChainError(
            f"{folder}: expected the genesis version {version_file_name(1)}, found none"
        )
    chain = MembershipChain(read_version_file(found[1]), genesis_id)
    for version in sorted(found)[1:]:
        if version != chain.current.version + 1:
            raise MembershipChainError(
                f"{folder}: expected {version_file_name(chain.current.version + 1)} after "
                f"v{chain.current.version}, found {found[version].name} (a version is missing)"
            )
        chain.extend(read_version_file(found[version]))
    return chain


@contextlib.contextmanager
def _locked(directory: Path) -> Iterator[None]:
    """An exclusive advisory lock on the directory for the length of one change."""
    try:
        fd = os.open(directory / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise ConsortiumError(f"{directory}: cannot take the lock: {exc.strerror}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


@dataclass(frozen=True, slots=True)
class _NewKey:
    """A generated key, staged under ``staged`` until its version is published."""

    final: Path
    staged: Path
    key: Ed25519PrivateKey
    retire_to: Path | None = None


# -- the consortium ------------------------------------------------------------------------------


class Consortium:
    """A verified consortium directory. Build one with ``create`` or ``open``."""

    def __init__(self, path: Path, pin: _Pin, chain: MembershipChain) -> None:
        self.path = path
        self._pin = pin
        self._chain = chain

    def __repr__(self) -> str:
        return f"Consortium({str(self.path)!r}, {self.name!r}, v{self.version})"

    # -- reading -------------------------------------------------------------------------------
    @classmethod
    def open(
        cls, directory: str | os.PathLike[str], *, genesis_id: str | None = None
    ) -> Consortium:
        """Open and verify; ``genesis_id`` checks the pin against one you hold out of band."""
        path = Path(directory)
        pin = _Pin.read(path)
        if genesis_id is not None and genesis_id != pin.genesis_id:
            raise MembershipChainError(
                f"{path / CONSORTIUM_FILE}: expected the pinned genesis {genesis_id}, "
                f"found {pin.genesis_id}"
            )
        chain = load_chain(path, pin.genesis_id)
        if chain.versions[0].membership.consortium != pin.name:
            raise MembershipChainError(
                f"{path / CONSORTIUM_FILE}: expected the consortium name of the genesis "
                f"{chain.versions[0].membership.consortium!r}, found {pin.name!r}"
            )
        if chain.current.version < pin.current_version:
            raise MembershipChainError(
                f"{path}: expected membership versions up to v{pin.current_version} "
                f"(recorded in {CONSORTIUM_FILE}), found them only up to v{chain.current.version}: "
                "a version file is missing (rolled back?)"
            )
        return cls(path, pin, chain)

    @property
    def name(self) -> str:
        return self._pin.name

    @property
    def genesis_id(self) -> str:
        return self._pin.genesis_id

    @property
    def chain(self) -> MembershipChain:
        return self._chain

    @property
    def membership(self) -> Membership:
        return self._chain.current

    @property
    def version(self) -> int:
        return self._chain.current.version

    @property
    def current(self) -> SignedMembership:
        return self._chain.versions[-1]

    def versions(self) -> list[SignedMembership]:
        return list(self._chain.versions)

    def governance_key_path(self, name: str) -> Path:
        return self.path / GOVERNANCE_DIR / f"{check_name(name, 'governance key name')}.key"

    def feed_key_path(self, feed_id: str) -> Path:
        org, site = split_feed_id(feed_id)
        return self.path / FEEDS_DIR / org / f"{site}.key"

    def retired_key_paths(self, feed_id: str) -> list[Path]:
        org, site = split_feed_id(feed_id)
        return sorted((self.path / FEEDS_DIR / org).glob(f"{site}.retired-v*.key"))

    def governance_key(self, name: str, passphrase: Passphrase | None = None) -> Ed25519PrivateKey:
        """The private governance key ``name``, checked against the current membership."""
        listed = self.membership.governance.get(name)
        if listed is None:
            raise ConsortiumError(
                f"expected a governance key name from {sorted(self.membership.governance)}, "
                f"found {name!r}"
            )
        path = self.governance_key_path(name)
        key = load_private_key(path, resolve_passphrase(passphrase, purpose=str(path)))
        _require_match(path, key, listed, f"governance key {name} in v{self.version}")
        return key

    def feed_key(self, feed_id: str, passphrase: Passphrase | None = None) -> Ed25519PrivateKey:
        """The private key of ``feed_id``: the latest one membership lists for the feed.

        Whether it may sign at a given position is the membership's answer
        (``membership.feed(feed_id).key_at(seq)``): a revoked feed's key is still returned.
        """
        spec = self.membership.feed(feed_id)
        path = self.feed_key_path(feed_id)
        key = load_private_key(path, resolve_passphrase(passphrase, purpose=str(path)))
        _require_match(path, key, spec.keys[-1].public, f"the latest key of {feed_id}")
        return key

    def check_keys(self, passphrase: Passphrase | None = None) -> list[str]:
        """Problems with the key files (missing, undecryptable, not the listed key); [] if none."""
        secret = resolve_passphrase(passphrase, purpose=f"the keys in {self.path}")
        problems: list[str] = []
        for name in sorted(self.membership.governance):
            try:
                self.governance_key(name, secret)
            except (KeyStoreError, LedgerError) as exc:
                problems.append(str(exc))
        for spec in self.membership.feeds():
            try:
                self.feed_key(spec.id, secret)
            except (KeyStoreError, LedgerError) as exc:
                problems.append(str(exc))
        return problems

    def summary(self) -> dict[str, Any]:
        """Everything public about the current version, as JSON-ready data (no secrets)."""
        m = self.membership
        return {
            "consortium": self.name,
            "directory": str(self.path),
            "genesis_id": self.genesis_id,
            "version": m.version,
            "membership_id": self.current.id,
            "governance": {
                "threshold": m.threshold,
                "keys": [
                    {"name": name, "public": public_b64(pub), "fingerprint": fingerprint(pub)}
                    for name, pub in sorted(m.governance.items())
                ],
            },
            "organisations": [
                {
                    "id": org.id,
                    "name": org.name,
                    "role": org.role.value,
                    "gln": org.gln,
                    "company_prefixes": list(org.company_prefixes),
                    "feeds": [
                        {
                            "id": spec.id,
                            "kinds": sorted(k.value for k in spec.kinds),
                            "revoked": spec.open_key is None,
                            "keys": [
                                {
                                    "public": public_b64(k.public),
                                    "fingerprint": fingerprint(k.public),
                                    "from_seq": k.from_seq,
                                    "until_seq": k.until_seq,
                                }
                                for k in spec.keys
                            ],
                        }
                        for spec in org.feeds.values()
                    ],
                }
                for org in sorted(m.organisations.values(), key=lambda o: o.id)
            ],
        }

    # -- creating ------------------------------------------------------------------------------
    @classmethod
    def create(
        cls,
        directory: str | os.PathLike[str],
        name: str,
        *,
        governance: Sequence[str] = DEFAULT_GOVERNANCE,
        threshold: int = DEFAULT_THRESHOLD,
        passphrase: Passphrase | None = None,
    ) -> Consortium:
        """A new consortium in an empty (or absent) ``directory``: governance keys and genesis."""
        path = Path(directory)
        if not isinstance(name, str) or not name.strip():
            raise ConsortiumError(f"expected a non-empty consortium name, found {name!r}")
        names = [check_name(n, "governance key name") for n in governance]
        if not names or len(set(names)) != len(names):
            raise ConsortiumError(
                f"expected one or more distinct governance key names, found {names}"
            )
        if type(threshold) is not int or not 1 <= threshold <= len(names):
            raise ConsortiumError(
                f"expected a threshold between 1 and {len(names)} (the number of governance "
                f"keys), found {threshold!r}"
            )
        _require_empty_dir(path)
        secret = resolve_passphrase(
            passphrase, purpose=f"the new keys of consortium {name!r}", confirm=True
        )
        keys = {n: generate_key() for n in names}
        doc = genesis(name, {n: public_bytes(k) for n, k in keys.items()}, threshold)
        signed = _as_read(sign_membership(doc, keys))
        MembershipChain(signed, signed.id)  # verify before anything is written
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConsortiumError(f"{path}: cannot create the directory: {exc.strerror}") from None
        with _locked(path):
            _require_empty_dir(path, allow={LOCK_FILE})
            ensure_private_dir(path / GOVERNANCE_DIR)
            ensure_private_dir(path / FEEDS_DIR)
            try:
                (path / MEMBERSHIP_DIR).mkdir()
            except OSError as exc:
                raise ConsortiumError(
                    f"{path / MEMBERSHIP_DIR}: cannot create: {exc.strerror}"
                ) from None
            for n, key in keys.items():
                write_private_key(path / GOVERNANCE_DIR / f"{n}.key", key, secret)
            create_ca(path, name, secret)
            atomic_write(
                path / MEMBERSHIP_DIR / version_file_name(1),
                _json_bytes(signed.to_wire()),
                mode=PUBLIC_FILE_MODE,
                overwrite=False,
            )
            _Pin(name, signed.id, 1).write(path)
        created = cls.open(path, genesis_id=signed.id)
        for n in names:
            created.governance_key(n, secret)  # each key file decrypts to the listed key
        return created

    # -- changing ------------------------------------------------------------------------------
    def add_organisation(
        self,
        org_id: str,
        *,
        name: str,
        role: Role | str,
        gln: str,
        company_prefixes: Iterable[str] = (),
        feeds: Iterable[str] = ("main",),
        passphrase: Passphrase | None = None,
        sign_with: Iterable[str] | None = None,
    ) -> SignedMembership:
        """Add an organisation with one new key per feed site; returns the new version."""
        check_name(org_id, "organisation id")
        if not isinstance(name, str) or not name.strip():
            raise ConsortiumError(f"expected a non-empty organisation name, found {name!r}")
        the_role = parse_role(role)
        sites = [check_name(s, "feed site name") for s in feeds]
        if len(set(sites)) != len(sites):
            raise ConsortiumError(f"expected distinct feed site names, found {sites}")

        def build(current: Membership) -> tuple[Membership, list[_NewKey]]:
            new = [self._new_key(f"{org_id}/{site}", current.version + 1) for site in sites]
            org = organisation(
                org_id,
                name=name,
                role=the_role,
                gln=gln,
                company_prefixes=tuple(company_prefixes),
                feeds={
                    f"{org_id}/{s}": public_bytes(k.key) for s, k in zip(sites, new, strict=True)
                },
            )
            return current.with_organisation(org), new

        return self._change(build, passphrase, sign_with)

    def add_feed(
        self,
        org_id: str,
        site: str,
        passphrase: Passphrase | None = None,
        *,
        kinds: Iterable[Kind | str] | None = None,
        sign_with: Iterable[str] | None = None,
    ) -> SignedMembership:
        """Add feed ``org_id/site`` with a new key (kinds: all its role allows, unless given)."""
        check_name(org_id, "organisation id")
        feed_id = f"{org_id}/{check_name(site, 'feed site name')}"
        wanted = None if kinds is None else [_parse_kind(k) for k in kinds]

        def build(current: Membership) -> tuple[Membership, list[_NewKey]]:
            new = self._new_key(feed_id, current.version + 1)
            return current.with_feed(org_id, feed_id, public_bytes(new.key), wanted), [new]

        return self._change(build, passphrase, sign_with)

    def revoke_feed(
        self,
        feed_id: str,
        from_seq: int,
        passphrase: Passphrase | None = None,
        *,
        sign_with: Iterable[str] | None = None,
    ) -> SignedMembership:
        """No key of ``feed_id`` is valid from position ``from_seq`` on (entries before stay)."""
        split_feed_id(feed_id)
        _check_seq(from_seq)
        return self._change(lambda m: (m.revoke_feed(feed_id, from_seq), []), passphrase, sign_with)

    def revoke_organisation(
        self,
        org_id: str,
        feed_sizes: Mapping[str, int],
        passphrase: Passphrase | None = None,
        *,
        sign_with: Iterable[str] | None = None,
    ) -> SignedMembership:
        """Revoke every feed of ``org_id``, each from its position in ``feed_sizes``.

        Every feed of the organisation must be named (0 revokes a feed's whole history), and only
        those: a mistyped feed id is an error, never a silent revocation from 0.
        """
        check_name(org_id, "organisation id")
        for seq in feed_sizes.values():
            _check_seq(seq)

        def build(current: Membership) -> tuple[Membership, list[_NewKey]]:
            org = current.organisations.get(org_id)
            if org is None:
                raise MembershipError(f"expected a listed organisation, found {org_id!r}")
            missing = sorted(set(org.feeds) - set(feed_sizes))
            unknown = sorted(set(feed_sizes) - set(org.feeds))
            if missing or unknown:
                raise ConsortiumError(
                    f"organisation {org_id}: expected a revocation position for exactly its feeds "
                    f"{sorted(org.feeds)}, found missing {missing} and unknown {unknown}"
                )
            return current.without_organisation(org_id, feed_sizes), []

        return self._change(build, passphrase, sign_with)

    def rotate_feed_key(
        self,
        feed_id: str,
        from_seq: int,
        passphrase: Passphrase | None = None,
        *,
        sign_with: Iterable[str] | None = None,
    ) -> SignedMembership:
        """A new key for ``feed_id`` from ``from_seq``; the old one stays valid before it.

        The old key file is kept as ``<site>.retired-vNNNN.key`` (NNNN: the version that retired it).
        """
        split_feed_id(feed_id)
        _check_seq(from_seq)

        def build(current: Membership) -> tuple[Membership, list[_NewKey]]:
            spec = current.feed(feed_id)
            latest = spec.keys[-1]
            if from_seq < latest.from_seq:
                raise MembershipError(
                    f"feed {feed_id}: expected a rotation position ≥ {latest.from_seq} (where its "
                    f"current key starts), found {from_seq}"
                )
            new = self._new_key(feed_id, current.version + 1, replacing=True)
            return current.rotate_feed_key(feed_id, public_bytes(new.key), from_seq), [new]

        return self._change(build, passphrase, sign_with)

    # -- signing and publishing ----------------------------------------------------------------
    def sign(
        self,
        membership: Membership,
        passphrase: Passphrase | None = None,
        *,
        sign_with: Iterable[str] | None = None,
    ) -> SignedMembership:
        """Sign ``membership`` with the governance keys ``sign_with`` (default: every one held).

        Nothing is checked or written: ``publish`` does that.
        """
        secret = resolve_passphrase(passphrase, purpose=f"the governance keys in {self.path}")
        listed = sorted(set(self.membership.governance) | set(membership.governance))
        if sign_with is None:
            names = [n for n in listed if self.governance_key_path(n).exists()]
        else:
            names = list(dict.fromkeys(sign_with))
            unknown = sorted(set(names) - set(listed))
            if unknown:
                raise ConsortiumError(
                    f"expected governance key names from {listed}, found unknown {unknown}"
                )
        keys = {}
        for n in names:
            path = self.governance_key_path(n)
            key = load_private_key(path, secret)
            expected = self.membership.governance.get(n) or membership.governance[n]
            _require_match(path, key, expected, f"governance key {n}")
            keys[n] = key
        return sign_membership(membership, keys)

    def publish(self, signed: SignedMembership) -> SignedMembership:
        """Verify ``signed`` (signed here or elsewhere) as the next version and write it.

        A version that does not verify against the chain on disk is refused and nothing is written.
        """
        with _locked(self.path):
            self._reload()
            return self._publish_locked(signed, (), b"")

    def _change(
        self,
        build: Callable[[Membership], tuple[Membership, list[_NewKey]]],
        passphrase: Passphrase | None,
        sign_with: Iterable[str] | None,
    ) -> SignedMembership:
        secret = resolve_passphrase(passphrase, purpose=f"the governance keys in {self.path}")
        with _locked(self.path):
            self._reload()
            current = self.membership
            proposed, new_keys = build(current)
            if _content(proposed) == _content(current):
                raise MembershipError(
                    f"expected a change to membership v{current.version}, found none "
                    "(already revoked from that position?)"
                )
            signed = self.sign(proposed, secret, sign_with=sign_with)
            return self._publish_locked(signed, new_keys, secret)

    def _publish_locked(
        self, signed: SignedMembership, new_keys: Sequence[_NewKey], secret: bytes
    ) -> SignedMembership:
        candidate = _as_read(signed)
        load_chain(self.path, self.genesis_id).extend(candidate)  # raises: nothing written
        version = candidate.membership.version
        for new in new_keys:
            if new.retire_to is None and new.final.exists():
                raise ConsortiumError(f"{new.final}: expected no key file there, found one")
        staged: list[Path] = []
        try:
            for new in new_keys:
                write_private_key(new.staged, new.key, secret)
                staged.append(new.staged)
            atomic_write(
                self.path / MEMBERSHIP_DIR / version_file_name(version),
                _json_bytes(candidate.to_wire()),
                mode=PUBLIC_FILE_MODE,
                overwrite=False,
            )
        except BaseException:
            for path in staged:
                with contextlib.suppress(OSError):
                    path.unlink()
            raise
        try:
            for new in new_keys:
                if new.retire_to is not None and new.final.exists():
                    move_no_clobber(new.final, new.retire_to)
                move_no_clobber(new.staged, new.final)
        except KeyStoreError as exc:
            raise ConsortiumError(
                f"membership v{version} is published, but its key files could not be put in "
                f"place ({exc}); the new keys are in {[str(n.staged) for n in new_keys]}"
            ) from None
        _Pin(self.name, self.genesis_id, version).write(self.path)
        self._reload()
        if self.current.id != candidate.id:
            raise MembershipChainError(
                f"{self.path}: expected to re-open at the version just written "
                f"({candidate.id[:16]}…), found {self.current.id[:16]}…"
            )
        for new in new_keys:
            public = public_bytes(load_private_key(new.final, secret))
            if public != public_bytes(new.key):
                raise ConsortiumError(f"{new.final}: expected the key just written, found another")
        return self.current

    def _reload(self) -> None:
        fresh = Consortium.open(self.path, genesis_id=self.genesis_id)
        self._pin, self._chain = fresh._pin, fresh._chain

    def _new_key(self, feed_id: str, version: int, *, replacing: bool = False) -> _NewKey:
        """A new key for ``feed_id``, staged as ``<site>.pending-vNNNN.key`` until published.

        ``replacing``: the current key file will be kept as ``<site>.retired-vNNNN.key``
        (the names end in ``.key`` so that the ``*.key`` rule of .gitignore covers them).
        """
        final = self.feed_key_path(feed_id)
        if not replacing and final.exists():
            raise ConsortiumError(
                f"{final}: expected no key file for the new feed {feed_id}, found one "
                "(left from an earlier attempt? move it away)"
            )
        tag = f"v{version:04d}"
        return _NewKey(
            final=final,
            staged=final.with_name(f"{final.stem}.pending-{tag}.key"),
            key=generate_key(),
            retire_to=final.with_name(f"{final.stem}.retired-{tag}.key") if replacing else None,
        )


# -- helpers -------------------------------------------------------------------------------------


def _require_empty_dir(path: Path, allow: frozenset[str] | set[str] = frozenset()) -> None:
    try:
        in_use = path.exists() and (
            not path.is_dir() or any(p.name not in allow for p in path.iterdir())
        )
    except OSError as exc:
        raise ConsortiumError(f"{path}: cannot inspect the directory: {exc.strerror}") from None
    if in_use:
        raise ConsortiumError(
            f"{path}: expected an empty or absent directory for a new consortium, found one in use"
        )


def _as_read(signed: SignedMembership) -> SignedMembership:
    """``signed`` as a reader gets it: through its wire form, so the reader's checks apply."""
    return SignedMembership.from_wire(json.loads(_json_bytes(signed.to_wire())))


def _content(membership: Membership) -> dict[str, Any]:
    doc = membership.to_json()
    del doc["version"], doc["previous"]
    return doc


def _require_match(path: Path, key: Ed25519PrivateKey, expected: bytes, what: str) -> None:
    found = public_bytes(key)
    if found != expected:
        raise ConsortiumError(
            f"{path}: expected {what} (fingerprint {fingerprint(expected)}), found a key with "
            f"fingerprint {fingerprint(found)}"
        )


def _check_seq(seq: int) -> None:
    if type(seq) is not int or seq < 0:
        raise ConsortiumError(f"expected a non-negative integer feed position, found {seq!r}")


def _parse_kind(kind: Kind | str) -> Kind:
    try:
        return Kind(kind)
    except ValueError:
        raise ConsortiumError(
            f"expected a kind from {sorted(k.value for k in Kind)}, found {kind!r}"
        ) from None


__all__ = [
    "CONSORTIUM_FILE",
    "DEFAULT_GOVERNANCE",
    "DEFAULT_THRESHOLD",
    "FEEDS_DIR",
    "GOVERNANCE_DIR",
    "MEMBERSHIP_DIR",
    "Consortium",
    "ConsortiumError",
    "check_name",
    "load_chain",
    "read_version_file",
    "split_feed_id",
    "version_file_name",
]
