"""Alembic, configured in code: users never need an alembic.ini.

``upgrade(engine)`` is what ``StateStore.migrate()`` runs; ``alembic_config(url)`` is the same
configuration for Alembic's own commands (history, downgrade, revision --autogenerate), e.g.
``python -c "from calsync.state.migrate import command_line; command_line()" history``.
"""

from __future__ import annotations

import sys
from pathlib import Path

from alembic import command
from alembic.config import CommandLine, Config
from sqlalchemy import Engine

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def alembic_config(url: str | None = None, engine: Engine | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("path_separator", "os")
    cfg.set_main_option("version_locations", str(MIGRATIONS / "versions"))
    if url:
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    if engine is not None:
        cfg.attributes["engine"] = engine  # env.py uses it instead of building its own
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    command.upgrade(alembic_config(engine=engine), revision)


def command_line(argv: list[str] | None = None) -> None:
    """Alembic's CLI on the state store at ``$CALSYNC_STATE_URL`` (or the SQLite default)."""
    from calsync.state.engine import default_url, normalise_url

    cli = CommandLine(prog="calsync-state-migrate")
    options = cli.parser.parse_args(sys.argv[1:] if argv is None else argv)
    cfg = alembic_config(normalise_url(default_url()))
    cli.run_cmd(cfg, options)
