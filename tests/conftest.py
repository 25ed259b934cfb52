"""Shared fixtures. Ledger: the golden consortium (fixed keys, signed genesis membership)."""

from __future__ import annotations

import pytest

from ledger.membership import Membership, SignedMembership
from tests.vectors import golden


@pytest.fixture(scope="session")
def golden_genesis() -> SignedMembership:
    """The golden consortium's genesis, signed by the governance threshold (2 of 3)."""
    return golden.signed_genesis()


@pytest.fixture(scope="session")
def golden_membership(golden_genesis: SignedMembership) -> Membership:
    return golden_genesis.membership
