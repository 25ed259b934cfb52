"""Which node a work command talks to: its options, else the environment, else the profile
(``medtrace profile set``); the genesis pinned on first use, after a person confirmed its
fingerprint; the one-line (or one-JSON-object) report of every failure.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click
from rich.markup import escape

from keys.keystore import KeyStoreError
from ledger.errors import LedgerError
from medtrace.cli.console import FilePath, err, fail, print_json
from medtrace.cli.profile_store import (
    Profile,
    ProfileError,
    genesis_fingerprint,
    load_profile,
    profile_path,
    save_profile,
)
from medtrace.cli.work.client import Consortium, NodeApi, WorkError
from scanner.reading.scan_data import ScanError

F = TypeVar("F", bound=Callable[..., Any])


def read_token_file(path: Path) -> str:
    """The first line of a token file (as ``medtrace node token create > FILE`` wrote it)."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise WorkError(f"{path}: the token file cannot be read ({exc})") from None
    token = lines[0].strip() if lines else ""
    if not token:
        raise WorkError(f"{path}: expected a token on the first line, found nothing")
    return token


def describe(consortium: Consortium) -> str:
    orgs = ", ".join(f"{o} ({r})" for o, r in sorted(consortium.organisations.items()))
    return (
        f"genesis      {consortium.genesis}\n"
        f"  fingerprint  {genesis_fingerprint(consortium.genesis)}\n"
        f"  consortium   {consortium.name!r}, membership v{consortium.version}, governance "
        f"keys {', '.join(consortium.governance)}\n"
        f"  members      {orgs}"
    )


def confirm_genesis(consortium: Consortium, url: str, *, yes: bool) -> None:
    """Show the genesis a node names, with its fingerprint, and have a person confirm it."""
    if not yes and not sys.stdin.isatty():
        raise WorkError(
            f"expected --yes (or --genesis ID) to pin the genesis without a terminal to confirm "
            f"it on: {url} names genesis {consortium.genesis} (fingerprint "
            f"{genesis_fingerprint(consortium.genesis)}, consortium {consortium.name!r})"
        )
    err().print(f"The node at {escape(url)} belongs to:\n  {escape(describe(consortium))}")
    if yes:
        return
    if not click.confirm(
        "Compare the fingerprint with the genesis id your consortium gave you. Pin it?", err=True
    ):
        raise WorkError("the genesis was not pinned: nothing was changed")


@dataclass
class Target:
    """What the options said; ``connect`` fills in the rest from the profile."""

    node: str | None
    token: str | None
    token_file: Path | None
    ca: Path | None
    genesis: str | None
    as_json: bool

    def connect(self) -> NodeApi:
        """The node to ask, after checking it belongs to the pinned consortium (when one is
        pinned, by option or profile; a profile without one pins it now)."""
        profile = load_profile() or Profile()
        node = self.node or profile.node
        if not node:
            raise WorkError(
                "expected --node URL (or MEDTRACE_NODE), or a profile: "
                "medtrace profile set --node URL --token-file FILE"
            )
        # the profile's token and CA go to the profile's node only, never to another --node
        mine = node.rstrip("/") == (profile.node or "").rstrip("/")
        token = read_token_file(self.token_file) if self.token_file else self.token
        token = token or (profile.token if mine else None)
        if not token:
            raise WorkError("expected --token (or --token-file) with a token of the node")
        ca = self.ca or (Path(profile.ca) if profile.ca and mine else None)
        api = NodeApi(node, token, ca)
        self._check_genesis(api, profile)
        return api

    def _check_genesis(self, api: NodeApi, profile: Profile) -> None:
        same_node = api.url == (profile.node or "").rstrip("/")
        pinned = self.genesis or (profile.genesis if same_node else None)
        if pinned is None and not same_node:
            return  # no profile for this node and no --genesis: nothing to compare with
        consortium = api.consortium(probe=pinned is None)
        if consortium is None:
            return  # the token may not read /membership (a verifier's): scans check the genesis
        if pinned is None:
            confirm_genesis(consortium, api.url, yes=False)
            save_profile(profile.with_genesis(consortium.genesis))
            err().print(f"pinned genesis {consortium.genesis[:16]}… in {profile_path()}")
        elif consortium.genesis != pinned:
            raise WorkError(
                f"expected the node at {api.url} to belong to the consortium of genesis "
                f"{pinned[:16]}… (pinned), found genesis {consortium.genesis[:16]}… "
                f"({consortium.name!r}): a node of another consortium, or the wrong profile"
            )


def report(error: Exception, as_json: bool) -> NoReturn:
    """One red line on stderr, or under ``--json`` one JSON object on stdout; exit 1."""
    problem = error if isinstance(error, WorkError) else WorkError(str(error))
    if as_json:
        print_json(problem.to_json())
        raise click.exceptions.Exit(1)
    fail(str(problem))


@contextmanager
def handled(as_json: bool) -> Iterator[None]:
    """Every failure a person can meet in a work command becomes ``report``'s one line."""
    try:
        yield
    except (WorkError, ProfileError, LedgerError, ScanError, KeyStoreError) as exc:
        report(exc, as_json)


_NODE_OPTIONS = (
    click.option(
        "--node", envvar="MEDTRACE_NODE", help="The node's base URL (default: the profile's)."
    ),
    click.option(
        "--token",
        envvar="MEDTRACE_OPERATOR_TOKEN",
        help="An operator token of that node (or MEDTRACE_OPERATOR_TOKEN; default: the profile's).",
    ),
    click.option(
        "--token-file",
        type=FilePath(exists=True),
        help="Read the token from the first line of this file instead.",
    ),
    click.option(
        "--ca",
        envvar="MEDTRACE_CA",
        type=FilePath(exists=True),
        help="Trust only this CA certificate for an https node, e.g. DATA/tls-ca.crt (or "
        "MEDTRACE_CA; default: the profile's).",
    ),
    click.option(
        "--genesis",
        envvar="MEDTRACE_GENESIS",
        help="The genesis id the node must belong to (default: the one the profile pinned).",
    ),
    click.option(
        "--json", "as_json", is_flag=True, help="One JSON object on stdout, for machines."
    ),
)


def node_options(func: F) -> F:
    """Adds --node, --token, --token-file, --ca, --genesis and --json, and hands the command a
    ``target``; every expected failure inside it is one line."""

    @functools.wraps(func)
    def wrapper(
        *args: Any,
        node: str | None,
        token: str | None,
        token_file: Path | None,
        ca: Path | None,
        genesis: str | None,
        as_json: bool,
        **kwargs: Any,
    ) -> Any:
        target = Target(node, token, token_file, ca, genesis, as_json)
        with handled(as_json):
            return func(*args, target=target, **kwargs)

    decorated: Any = wrapper
    for option in reversed(_NODE_OPTIONS):
        decorated = option(decorated)
    return decorated  # type: ignore[no-any-return]


@dataclass(frozen=True)
class Defaults:
    """``medtrace scan``'s online options with the profile's filled in."""

    node: str | None
    token: str | None
    ca: Path | None
    genesis: str | None
    operator_token: str | None


def profile_defaults(given: Defaults) -> Defaults:
    """The profile's node when none is given; its token, CA and genesis (pinned now, once
    confirmed, when the profile has none) for the profile's node only."""
    profile = load_profile()
    if profile is None or not profile.node:
        return given
    node = given.node or profile.node
    if node.rstrip("/") != profile.node.rstrip("/"):
        return given
    token = given.token or profile.token
    ca = given.ca or (Path(profile.ca) if profile.ca else None)
    genesis = given.genesis or profile.genesis
    if genesis is None and token:
        api = NodeApi(node, token, ca)
        try:
            consortium = api.consortium()
        finally:
            api.close()
        assert consortium is not None  # probe=True: never None
        confirm_genesis(consortium, api.url, yes=False)
        save_profile(profile.with_genesis(consortium.genesis))
        genesis = consortium.genesis
    return Defaults(node, token, ca, genesis, given.operator_token or profile.token)
