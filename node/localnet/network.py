"""The demo consortium: five organisations and their keys."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from keys.consortium import Consortium
from ledger.identifiers import with_check_digit
from ledger.kinds import Role
from node.store import Store

#: The GS1 company prefix of the demo's manufacturer (GS1's example prefix 950 6000).
COMPANY_PREFIX = "9506000"


def gln(location: int, prefix: str = COMPANY_PREFIX) -> str:
    body = prefix + f"{location:0{12 - len(prefix)}d}"
    return with_check_digit(body)


@dataclass(frozen=True)
class Member:
    org: str
    name: str
    role: Role
    sites: tuple[str, ...]
    prefixes: tuple[str, ...] = ()


MEMBERS = (
    Member(
        "manufacturer",
        "Acme Pharma Manufacturing",
        Role.MANUFACTURER,
        ("line-1",),
        (COMPANY_PREFIX,),
    ),
    Member("distributor", "Northwind Wholesale", Role.DISTRIBUTOR, ("warehouse",)),
    Member("customs", "Border Post 7", Role.CUSTOMS, ("post-7",)),
    Member("pharmacy", "Market Square Pharmacy", Role.PHARMACY, ("counter", "branch")),
    Member("regulator", "National Medicines Agency", Role.REGULATOR, ("office",)),
)
#: node name -> the feed it signs with; the pharmacy's branch counter is a device, not a node.
NODE_FEEDS = {m.org: f"{m.org}/{m.sites[0]}" for m in MEMBERS}
BRANCH_FEED = "pharmacy/branch"


def create_consortium(directory: Path, passphrase: str) -> Consortium:
    consortium = Consortium.create(directory, "medtrace-demo", passphrase=passphrase)
    for index, member in enumerate(MEMBERS, 1):
        consortium.add_organisation(
            member.org,
            name=member.name,
            role=member.role,
            gln=gln(index),
            company_prefixes=member.prefixes,
            feeds=member.sites,
            passphrase=passphrase,
        )
    return consortium


def open_store(path: Path, consortium: Consortium) -> Store:
    path.parent.mkdir(parents=True, exist_ok=True)
    store = Store(path)
    for version in consortium.versions():
        store.save_membership(version)
    store.set_meta("genesis_id", consortium.genesis_id)
    return store
