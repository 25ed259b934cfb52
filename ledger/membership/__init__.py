"""The consortium membership: who may write what, with which key, from which feed position.

Versions chain like The Update Framework's root metadata: version N+1 names the id of N and is
valid only when signed by the governance threshold of N *and* of N+1, so neither the old nor the
new governance alone can rewrite the consortium. Nodes pin the genesis id and walk forward.
Key validity is a range of feed positions, never a time, so an old entry stays verifiable after
a rotation and verification does not depend on the wall clock.

This package is the public entry point (node, api, scanner, keys and the tests all read the
membership through it): ``organisations`` has who writes, ``document`` one version of the
document, ``versions`` the signed versions and their chain, ``keys`` how keys are written, ``policy``
the witness policy (who cosigns checkpoints), ``foreign`` the other consortia pinned as
foreign roots.
"""

from __future__ import annotations

from ledger.membership.document import Membership, genesis
from ledger.membership.foreign import ForeignRoot, foreign_root
from ledger.membership.keys import raw_public
from ledger.membership.organisations import FeedKey, FeedSpec, Organisation, organisation
from ledger.membership.policy import WitnessPolicy, default_policy
from ledger.membership.versions import MembershipChain, SignedMembership, sign_membership

__all__ = [
    "FeedKey",
    "FeedSpec",
    "ForeignRoot",
    "Membership",
    "MembershipChain",
    "Organisation",
    "SignedMembership",
    "WitnessPolicy",
    "default_policy",
    "foreign_root",
    "genesis",
    "organisation",
    "raw_public",
    "sign_membership",
]
