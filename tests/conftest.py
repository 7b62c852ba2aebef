"""Shared fixtures: one sandbox per test session, reset before each test that uses it."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator

import pytest

from sandbox.runner import Sandbox

# Airflow reads these when first imported: the tests never touch a user's ~/airflow, never load the
# example DAGs, and never need a connection defined anywhere but the environment.
os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="calsync-airflow-home-"))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")


@pytest.fixture(scope="session")
def sandbox_server() -> Iterator[Sandbox]:
    """The running sandbox, with the process environment pointing Airflow's hooks at it.

    The environment is exactly what `calsync sandbox env` prints, so the tests reach the emulators
    the way a user's Airflow does: through the connections, not through a side door.
    """
    sb = Sandbox(seed=1234).start()
    saved = {k: os.environ.get(k) for k in sb.env()}
    os.environ.update(sb.env())
    try:
        yield sb
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        sb.stop()


@pytest.fixture
def sandbox(sandbox_server: Sandbox) -> Sandbox:
    """The session's sandbox, emptied: no records, no mailboxes, no faults, real clock."""
    sandbox_server.reset(seed=1234)
    return sandbox_server
