"""``calsync check``: load and validate the profiles, one line per profile."""

from __future__ import annotations

import os
from pathlib import Path

import click

from calsync.commands import CommandError
from calsync.errors import ConfigError


@click.command()
@click.option("--profiles", "path", type=click.Path(dir_okay=False, path_type=Path),
              help="Profiles file [default: $CALSYNC_PROFILES, else include/profiles.yaml].")
def check(path: Path | None) -> None:
    """Validate the profiles file: one line per profile, or the first error (exit 2)."""
    explicit = path or (Path(os.environ["CALSYNC_PROFILES"]) if os.environ.get("CALSYNC_PROFILES") else None)
    # Checked here so a typo in the path gets the same one-line answer as any other config error.
    if explicit is not None and not explicit.is_file():
        raise ConfigError("file not found" if not explicit.exists() else "not a file", file=str(explicit))
    try:
        # Imported late: the profile model pulls in pydantic and YAML, which `calsync --help` does not need.
        from calsync.profiles import load_profiles
    except ImportError as e:
        raise CommandError(f"calsync.profiles is not available: {e}") from e
    loaded = load_profiles(path)
    for profile in loaded.profiles:
        click.echo(profile.summary_line())
