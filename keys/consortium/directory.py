"""A consortium directory: the signed membership versions and the keys that sign them.

Opening a directory verifies every version from the pinned genesis (``ledger.membership``):
a version file that does not follow, or lacks governance signatures, makes ``open`` raise.
Every change builds version N+1, signs it with the governance keys held here, verifies it as a
reader would (from its wire form, against the chain re-read from disk), and only then writes it;
after writing, the directory is opened again and must end at exactly that version.
A lock file serialises writers; files are never overwritten except ``consortium.json``.

The files themselves are described in ``keys.consortium.layout``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from keys.consortium import key_files  # the module: its functions read as key_files.x
from keys.consortium.feed_changes import add_feed_change, revoke_feed_change, rotate_feed_key_change
from keys.consortium.genesis import (
    check_genesis_request,
    require_empty_dir,
    sign_genesis,
    write_genesis,
)
from keys.consortium.governance import sign_with_governance
from keys.consortium.key_files import MembershipChange, StagedKey, confirm_keys_in_place
from keys.consortium.layout import (
    CONSORTIUM_FILE,
    ConsortiumError,
    ConsortiumPin,
    load_chain,
    locked,
)
from keys.consortium.organisation_changes import add_organisation_change, revoke_organisation_change
from keys.consortium.publishing import publish_version, require_change
from keys.consortium.summary import consortium_summary
from keys.keystore import KeyStoreError, Passphrase, resolve_passphrase
from ledger.errors import LedgerError, MembershipChainError
from ledger.kinds import Kind, Role
from ledger.membership import Membership, MembershipChain, SignedMembership

DEFAULT_GOVERNANCE: tuple[str, ...] = ("gov-1", "gov-2", "gov-3")
DEFAULT_THRESHOLD = 2


class Consortium:
    """A verified consortium directory. Build one with ``create`` or ``open``."""

    def __init__(self, path: Path, pin: ConsortiumPin, chain: MembershipChain) -> None:
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
        pin = ConsortiumPin.read(path)
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
        return key_files.governance_key_path(self.path, name)

    def feed_key_path(self, feed_id: str) -> Path:
        return key_files.feed_key_path(self.path, feed_id)

    def retired_key_paths(self, feed_id: str) -> list[Path]:
        return key_files.retired_key_paths(self.path, feed_id)

    def governance_key(self, name: str, passphrase: Passphrase | None = None) -> Ed25519PrivateKey:
        """The private governance key ``name``, checked against the current membership."""
        listed = self.membership.governance.get(name)
        if listed is None:
            raise ConsortiumError(
                f"expected a governance key name from {sorted(self.membership.governance)}, "
                f"found {name!r}"
            )
        path = self.governance_key_path(name)
        secret = resolve_passphrase(passphrase, purpose=str(path))
        return key_files.load_listed_key(
            path, secret, listed, f"governance key {name} in v{self.version}"
        )

    def feed_key(self, feed_id: str, passphrase: Passphrase | None = None) -> Ed25519PrivateKey:
        """The private key of ``feed_id``: the latest one membership lists for the feed.

        Whether it may sign at a given position is the membership's answer
        (``membership.feed(feed_id).key_at(seq)``): a revoked feed's key is still returned.
        """
        latest = self.membership.feed(feed_id).keys[-1]
        path = self.feed_key_path(feed_id)
        secret = resolve_passphrase(passphrase, purpose=str(path))
        return key_files.load_listed_key(
            path, secret, latest.public, f"the latest key of {feed_id}"
        )

    def check_keys(self, passphrase: Passphrase | None = None) -> list[str]:
        """Problems with the key files (missing, undecryptable, not the listed key); [] if none."""
        secret = resolve_passphrase(passphrase, purpose=f"the keys in {self.path}")
        checks: list[tuple[Callable[[str, Passphrase], Ed25519PrivateKey], str]] = [
            *((self.governance_key, name) for name in sorted(self.membership.governance)),
            *((self.feed_key, spec.id) for spec in self.membership.feeds()),
        ]
        problems: list[str] = []
        for load, which in checks:
            try:
                load(which, secret)
            except (KeyStoreError, LedgerError) as exc:
                problems.append(str(exc))
        return problems

    def summary(self) -> dict[str, Any]:
        """Everything public about the current version, as JSON-ready data (no secrets)."""
        return consortium_summary(self.name, self.path, self.genesis_id, self.current)

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
        names = check_genesis_request(name, governance, threshold)
        require_empty_dir(path)
        secret = resolve_passphrase(
            passphrase, purpose=f"the new keys of consortium {name!r}", confirm=True
        )
        keys, signed = sign_genesis(name, names, threshold)
        write_genesis(path, name, keys, signed, secret)
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
        change = add_organisation_change(
            self.path,
            org_id,
            name=name,
            role=role,
            gln=gln,
            company_prefixes=company_prefixes,
            feeds=feeds,
        )
        return self._change(change, passphrase, sign_with)

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
        return self._change(add_feed_change(self.path, org_id, site, kinds), passphrase, sign_with)

    def revoke_feed(
        self,
        feed_id: str,
        from_seq: int,
        passphrase: Passphrase | None = None,
        *,
        sign_with: Iterable[str] | None = None,
    ) -> SignedMembership:
        """No key of ``feed_id`` is valid from position ``from_seq`` on (entries before stay)."""
        return self._change(revoke_feed_change(feed_id, from_seq), passphrase, sign_with)

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
        change = revoke_organisation_change(org_id, feed_sizes)
        return self._change(change, passphrase, sign_with)

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
        change = rotate_feed_key_change(self.path, feed_id, from_seq)
        return self._change(change, passphrase, sign_with)

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
        return sign_with_governance(self.path, self.membership, membership, secret, sign_with)

    def publish(self, signed: SignedMembership) -> SignedMembership:
        """Verify ``signed`` (signed here or elsewhere) as the next version and write it.

        A version that does not verify against the chain on disk is refused and nothing is written.
        """
        with locked(self.path):
            self._reload()
            return self._publish_locked(signed, (), b"")

    def _change(
        self,
        change: MembershipChange,
        passphrase: Passphrase | None,
        sign_with: Iterable[str] | None,
    ) -> SignedMembership:
        secret = resolve_passphrase(passphrase, purpose=f"the governance keys in {self.path}")
        with locked(self.path):
            self._reload()  # another writer may have published since this object was opened
            proposed, new_keys = change(self.membership)
            require_change(proposed, self.membership)
            signed = self.sign(proposed, secret, sign_with=sign_with)
            return self._publish_locked(signed, new_keys, secret)

    def _publish_locked(
        self, signed: SignedMembership, new_keys: Sequence[StagedKey], secret: bytes
    ) -> SignedMembership:
        candidate = publish_version(self.path, self._pin, signed, new_keys, secret)
        self._reload()
        if self.current.id != candidate.id:
            raise MembershipChainError(
                f"{self.path}: expected to re-open at the version just written "
                f"({candidate.id[:16]}…), found {self.current.id[:16]}…"
            )
        confirm_keys_in_place(new_keys, secret)
        return self.current

    def _reload(self) -> None:
        fresh = Consortium.open(self.path, genesis_id=self.genesis_id)
        self._pin, self._chain = fresh._pin, fresh._chain


__all__ = ["DEFAULT_GOVERNANCE", "DEFAULT_THRESHOLD", "Consortium"]
