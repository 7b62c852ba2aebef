"""The per-profile session lock (R-S1), atomic on SQLite and PostgreSQL.

Taking it is one ``INSERT ... ON CONFLICT DO NOTHING``; taking over an expired one (a killed worker
never releases) is one conditional UPDATE. Either counts one row or it did not happen, so two
acquirers can never both win. The holder heartbeats to push the expiry on while it works.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable

from sqlalchemy import Connection, Engine, and_, delete, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from calsync.errors import LockTimeout
from calsync.state.engine import write_tx
from calsync.state.models import Lock

_T = Lock.__table__
Clock = Callable[[], dt.datetime]


def _try(conn: Connection, profile_id: str, holder: str, now: dt.datetime, ttl: dt.timedelta) -> bool:
    ins = (postgresql.insert(_T) if conn.dialect.name == "postgresql" else sqlite.insert(_T)).values(
        profile_id=profile_id, holder=holder, acquired_at=now, heartbeat_at=now, expires_at=now + ttl)
    if conn.execute(ins.on_conflict_do_nothing(index_elements=["profile_id"])).rowcount == 1:
        return True
    # An expired lock (its holder died) is taken over; the same holder may re-enter.
    res = conn.execute(
        update(_T).where(and_(_T.c.profile_id == profile_id,
                              or_(_T.c.expires_at < now, _T.c.holder == holder)))
        .values(holder=holder, acquired_at=now, heartbeat_at=now, expires_at=now + ttl))
    return res.rowcount == 1


def holder_of(engine: Engine, profile_id: str) -> tuple[str, dt.datetime] | None:
    with engine.connect() as conn:
        row = conn.execute(select(_T.c.holder, _T.c.expires_at).where(_T.c.profile_id == profile_id)).first()
    return None if row is None else (row[0], row[1])


def acquire(engine: Engine, profile_id: str, holder: str, *, timeout: float, ttl: dt.timedelta,
            clock: Clock, poll: float = 0.5) -> None:
    """Take the lock or wait up to ``timeout`` seconds, then raise LockTimeout naming the holder."""
    deadline = time.monotonic() + timeout
    while True:
        with write_tx(engine) as conn:
            if _try(conn, profile_id, holder, clock(), ttl):
                return
        if time.monotonic() >= deadline:
            current = holder_of(engine, profile_id)
            name = ("unknown holder" if current is None
                    else f"{current[0]} (expires {current[1]:%Y-%m-%d %H:%M:%S} UTC)")
            raise LockTimeout(profile_id, name)
        time.sleep(max(0.0, min(poll, deadline - time.monotonic())))


def heartbeat(engine: Engine, profile_id: str, holder: str, *, ttl: dt.timedelta, clock: Clock) -> bool:
    """Extend the expiry; False when this holder no longer holds the lock (it expired and was taken)."""
    now = clock()
    with write_tx(engine) as conn:
        res = conn.execute(update(_T).where(and_(_T.c.profile_id == profile_id, _T.c.holder == holder))
                           .values(heartbeat_at=now, expires_at=now + ttl))
    return res.rowcount == 1


def release(engine: Engine, profile_id: str, holder: str) -> bool:
    with write_tx(engine) as conn:
        res = conn.execute(delete(_T).where(and_(_T.c.profile_id == profile_id, _T.c.holder == holder)))
    return res.rowcount == 1
