"""Fixtures for the state store tests: the same tests on SQLite and on PostgreSQL.

Imported by tests/unit/test_state*.py (not a conftest.py, so other helpers' unit tests are unaffected).
The PostgreSQL parameter creates its own uniquely named database and drops it afterwards; when no
server answers it is reported as SKIPPED with the reason, the only skip these tests allow.
"""

from __future__ import annotations

import datetime as dt
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from calsync.state import StateStore
from calsync.state.engine import normalise_url
from calsync.state.models import Base

PG_URL = os.environ.get("CALSYNC_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


class FakeClock:
    """A settable UTC clock: lock expiry and issue times without sleeping."""

    def __init__(self, start: dt.datetime) -> None:
        self.now = start

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **kw: float) -> None:
        self.now += dt.timedelta(**kw)


def _pg_database() -> Iterator[str]:
    admin_url = normalise_url(PG_URL)
    try:
        admin = create_engine(admin_url, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3})
        with admin.connect() as conn:
            conn.execute(text("select 1"))
    except Exception as exc:  # any failure to reach the server is the documented skip
        pytest.skip(f"PostgreSQL not reachable at {make_url(PG_URL).render_as_string()}: {exc}")
    name = f"calsync_test_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def pg_session_url() -> Iterator[str]:
    """One database for the whole test session (emptied before each test by ``store``)."""
    yield from _pg_database()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def state_url(backend: str, tmp_path: Path) -> Iterator[str]:
    """An empty database of its own (for tests that need a store from nothing, e.g. migrations)."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'state.db'}"
    else:
        yield from _pg_database()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC))


@pytest.fixture
def store(backend: str, tmp_path: Path, clock: FakeClock,
          request: pytest.FixtureRequest) -> Iterator[StateStore]:
    """A migrated, empty store. PostgreSQL: the session's database, every table truncated first."""
    if backend == "sqlite":
        s = StateStore(f"sqlite:///{tmp_path / 'state.db'}", clock=clock)
        s.migrate()
    else:
        s = StateStore(request.getfixturevalue("pg_session_url"), clock=clock)
        s.migrate()
        tables = ", ".join(t.name for t in Base.metadata.sorted_tables)
        with s.engine.begin() as conn:
            conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY"))
    try:
        yield s
    finally:
        s.dispose()

def make_links(n: int, profile_id: str = "p1", *, start_id: int = 1, mailboxes: int = 50):
    """A links frame conforming to LINK_COLUMNS with every baseline filled and realistic ids."""
    import numpy as np
    import pandas as pd

    from calsync.schema import LINK_COLUMNS, STR_LIST, conform
    from calsync.state.models import LINK_HASH_COLUMNS

    rng = np.random.default_rng(start_id)
    ids = np.arange(start_id, start_id + n, dtype="int64")
    box = np.array([f"user{i:04d}@contoso.example" for i in range(mailboxes)], dtype=object)[ids % mailboxes]
    starts = pd.Timestamp("2026-03-01", tz="UTC") + pd.to_timedelta(ids % 100_000, unit="min")
    df = pd.DataFrame({
        "link_id": ids,
        "profile_id": profile_id,
        "record_id": [f"00U{i:015d}" for i in ids],
        "mailbox": box,
        "item_id": [f"AAMkAGI2TG93AAA{i:020d}=" for i in ids],
        "origin": np.where(ids % 3 == 0, "mailbox", "salesforce"),
        "ical_uid": [f"040000008200E00074C5B7101A82E008{i:016X}" for i in ids],
        **{c: rng.integers(-(2**63), 2**63 - 1, size=n, dtype="int64") for c in LINK_HASH_COLUMNS},
        "base_start_utc": starts,
        "base_end_utc": starts + pd.Timedelta(minutes=30),
        "preserve": '{"WhatId":null,"WhoId":"003000000000001"}',
        "is_organizer": pd.array([True if i % 4 == 0 else None for i in ids], dtype="boolean"),
        "is_meeting": ids % 4 == 0,
        "by_backfill": False,
        "in_window": True,
        "dirty": False,
        "sf_modstamp": starts - pd.Timedelta(days=1),
        "mb_change_key": [f"CQAAABYAAAB{i}" for i in ids],
    })
    lists = [["a@contoso.example", "b@fabrikam.example"] if i % 4 == 0 else [] for i in ids]
    df["base_sf_attendees_set"] = pd.Series(lists, dtype=STR_LIST)
    df["base_mb_attendees_set"] = pd.Series(lists, dtype=STR_LIST)
    return conform(df, LINK_COLUMNS)[list(LINK_COLUMNS)]
