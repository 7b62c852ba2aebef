"""The ``calsync`` command.

Each command group lives in its own module under ``calsync.commands`` and is registered in
``COMMANDS``; a new command (plan, run, report) is one module plus one line here. Command modules import
nothing heavy at the top, so ``calsync --help`` stays fast and works before the engine is complete.

Every failure ends as one line on stderr and a non-zero exit code, never a traceback:
usage errors and config errors exit 2, everything else 1 (``CALSYNC_DEBUG=1`` re-raises for a traceback).
"""

from __future__ import annotations

import importlib
import os
import sys

import click

from calsync.commands import CommandError
from calsync.errors import CalsyncError, ConfigError

# (module, attribute) of each top-level command, in help order.
COMMANDS: list[tuple[str, str]] = [
    ("calsync.commands.sandbox", "sandbox"),
    ("calsync.commands.check", "check"),
]

EXIT_USAGE = 2
EXIT_CONFIG = 2
EXIT_FAILURE = 1


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="calsync", message="%(prog)s %(version)s")
def cli() -> None:
    """Keep Salesforce records and Microsoft 365 calendars in step.

    Try it locally: `calsync sandbox up`, then `eval "$(calsync sandbox env)"`.
    """


for _module, _attr in COMMANDS:
    cli.add_command(getattr(importlib.import_module(_module), _attr))


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _fail(prog: str, message: str, code: int) -> int:
    click.echo(f"{prog}: error: {_one_line(message)}", err=True)
    return code


def main(argv: list[str] | None = None) -> int:
    """Console-script entry point; returns the exit code."""
    args = sys.argv[1:] if argv is None else argv
    debug = os.environ.get("CALSYNC_DEBUG") == "1"
    try:
        rv = cli.main(args=args, prog_name="calsync", standalone_mode=False)
    except click.exceptions.NoArgsIsHelpError as e:
        # A bare group ("calsync", "calsync sandbox") shows its help, as users expect.
        click.echo(e.ctx.get_help() if e.ctx else "", err=True)
        return EXIT_USAGE
    except click.UsageError as e:
        prog = e.ctx.command_path if e.ctx else "calsync"
        return _fail(prog, f"{e.format_message()} (see {prog} --help)", EXIT_USAGE)
    except click.ClickException as e:
        return _fail("calsync", e.format_message(), e.exit_code or EXIT_FAILURE)
    except click.Abort:
        click.echo("calsync: aborted", err=True)
        return 130
    except CommandError as e:
        return _fail("calsync", str(e), e.exit_code)
    except ConfigError as e:
        if debug:
            raise
        return _fail("calsync", str(e), EXIT_CONFIG)
    except CalsyncError as e:
        if debug:
            raise
        return _fail("calsync", str(e), EXIT_FAILURE)
    except Exception as e:
        if debug:
            raise
        return _fail("calsync", f"unexpected {type(e).__name__}: {e} (CALSYNC_DEBUG=1 shows the traceback)",
                     EXIT_FAILURE)
    return rv if isinstance(rv, int) else 0


if __name__ == "__main__":
    sys.exit(main())
