"""Engine construction: the URL, SQLite's connection settings, and write transactions.

SQLite is the default for a single machine (WAL so readers never block the writer, a busy timeout so
a second writer waits instead of failing); PostgreSQL is the production store. Nothing here knows
about profiles.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url

ENV_URL = "CALSYNC_STATE_URL"
SQLITE_BUSY_TIMEOUT_MS = 30_000
SQLITE_CACHE_KIB = 256 * 1024
_WRITE = "calsync_write"  # execution option: take SQLite's write lock at BEGIN


def default_url() -> str:
    """``$CALSYNC_STATE_URL``, else SQLite at ``$AIRFLOW_HOME/calsync/state.db``."""
    url = os.environ.get(ENV_URL)
    if url:
        return url
    home = Path(os.environ.get("AIRFLOW_HOME") or Path.home() / "airflow")
    return f"sqlite:///{home / 'calsync' / 'state.db'}"


def normalise_url(url: str) -> str:
    """``postgresql://`` means psycopg 3 (the installed driver), not SQLAlchemy's psycopg2 default."""
    u = make_url(url)
    if u.drivername in ("postgresql", "postgres"):
        u = u.set(drivername="postgresql+psycopg")
    return u.render_as_string(hide_password=False)


def make_engine(url: str | None = None, **kwargs: Any) -> Engine:
    url = normalise_url(url or default_url())
    u = make_url(url)
    if u.get_backend_name() == "sqlite":
        if u.database and u.database != ":memory:":
            Path(u.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, **kwargs)
        _configure_sqlite(engine)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(url, **kwargs)


def _configure_sqlite(engine: Engine) -> None:
    # pysqlite's own implicit transactions begin late and never for DDL; SQLAlchemy's documented
    # recipe hands BEGIN to us, so a write transaction can take the write lock up front (BEGIN
    # IMMEDIATE) and a busy writer is waited for instead of failing with "database is locked" midway.
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA journal_mode = WAL")
        cur.execute("PRAGMA synchronous = NORMAL")
        cur.execute("PRAGMA foreign_keys = ON")
        # A million links' unique indexes do not fit the 2 MB default page cache; pages are only
        # allocated when used, so small stores pay nothing for the larger limit.
        cur.execute(f"PRAGMA cache_size = -{SQLITE_CACHE_KIB}")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get(_WRITE, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


@contextmanager
def write_tx(engine: Engine) -> Iterator[Connection]:
    """A transaction that will write: on SQLite it holds the write lock from its first statement."""
    with engine.connect().execution_options(**{_WRITE: True}) as conn, conn.begin():
        yield conn


@contextmanager
def read_tx(engine: Engine) -> Iterator[Connection]:
    with engine.connect() as conn, conn.begin():
        yield conn


def is_postgres(engine_or_conn: Engine | Connection) -> bool:
    return engine_or_conn.dialect.name == "postgresql"
