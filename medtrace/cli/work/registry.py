"""Every work command by name: what ``medtrace.cli.main`` loads when one is invoked."""

from __future__ import annotations

from collections.abc import Callable

import click

from medtrace.cli.work import flows, queries, steps
from medtrace.cli.work.commission import commission_command

COMMANDS: dict[str, Callable[[], click.Command]] = {
    "commission": lambda: commission_command,
    **steps.COMMANDS,
    **flows.COMMANDS,
    **queries.COMMANDS,
}


def load(name: str) -> click.Command:
    return COMMANDS[name]()
