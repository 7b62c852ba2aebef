"""The ``calsync`` subcommands, one module per command group (registered in ``calsync.cli.COMMANDS``).

Command modules import only click, rich and the standard library at the top; the engine and the SDKs
are imported inside the command functions.
"""

from __future__ import annotations


class CommandError(Exception):
    """A command failed for a reason the user can act on; printed as one line."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code
