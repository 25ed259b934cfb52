"""The options every ``medtrace keys`` command module shares, so their help reads the same."""

from __future__ import annotations

from keys.keystore import PASSPHRASE_ENV
from medtrace.cli.console import directory_option, passphrase_file_option

dir_option = directory_option("--dir", "directory", help="The consortium directory.")
passphrase_option = passphrase_file_option(
    f"Read the passphrase from this file (first line) instead of ${PASSPHRASE_ENV} or the prompt."
)

__all__ = ["dir_option", "passphrase_option"]
