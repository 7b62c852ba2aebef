"""Small caches kept in the state store so a session with no change costs no extra API call.

Owner emails (R-M7), describe() results per day (R-M5), mailbox time zones per day (R-M9).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd
from sqlalchemy import Connection, Table, and_, select
from sqlalchemy.dialects import postgresql, sqlite

from calsync.state.models import DescribeCache, MailboxSettingsCache, OwnerCache

_OWNERS: Table = OwnerCache.__table__  # type: ignore[assignment]
_DESCRIBE: Table = DescribeCache.__table__  # type: ignore[assignment]
_MAILBOX: Table = MailboxSettingsCache.__table__  # type: ignore[assignment]
_CHUNK = 5_000


def upsert_rows(conn: Connection, table: Table, keys: list[str], rows: list[dict[str, Any]]) -> None:
    """INSERT ... ON CONFLICT DO UPDATE for a batch of rows (one executemany)."""
    if not rows:
        return
    ins = postgresql.insert(table) if conn.dialect.name == "postgresql" else sqlite.insert(table)
    cols = [c for c in rows[0] if c not in keys]
    conn.execute(ins.on_conflict_do_update(index_elements=keys,
                                           set_={c: ins.excluded[c] for c in cols}), rows)


def owners(conn: Connection, owner_ids: Iterable[str], fresh_after: dt.datetime | None) -> pd.DataFrame:
    ids = list(dict.fromkeys(owner_ids))
    out: list[Any] = []
    for start in range(0, len(ids), _CHUNK):
        q = select(_OWNERS).where(_OWNERS.c.owner_id.in_(ids[start:start + _CHUNK]))
        if fresh_after is not None:
            q = q.where(_OWNERS.c.fetched_at >= fresh_after)
        out.extend(conn.execute(q).mappings().all())
    df = pd.DataFrame(out, columns=["owner_id", "email", "time_zone", "fetched_at"])
    df["fetched_at"] = pd.to_datetime(df["fetched_at"], utc=True)
    return df


def put_owners(conn: Connection, df: pd.DataFrame, now: dt.datetime) -> None:
    rows = [{"owner_id": r.owner_id, "email": None if pd.isna(r.email) else r.email,
             "time_zone": None if pd.isna(r.time_zone) else r.time_zone, "fetched_at": now}
            for r in df[["owner_id", "email", "time_zone"]].astype(object).itertuples(index=False)]
    upsert_rows(conn, _OWNERS, ["owner_id"], rows)


def get_describe(conn: Connection, org: str, sobject: str, day: dt.date) -> dict[str, Any] | None:
    row = conn.execute(select(_DESCRIBE.c.result).where(and_(
        _DESCRIBE.c.org == org, _DESCRIBE.c.sobject == sobject, _DESCRIBE.c.fetched_day == day))).first()
    return None if row is None else json.loads(row[0])


def put_describe(conn: Connection, org: str, sobject: str, result: Mapping[str, Any], day: dt.date,
                 describe_hash: str | None) -> None:
    upsert_rows(conn, _DESCRIBE, ["org", "sobject"], [{
        "org": org, "sobject": sobject, "result": json.dumps(result, sort_keys=True, default=str),
        "describe_hash": describe_hash, "fetched_day": day}])


def mailbox_time_zones(conn: Connection, mailboxes: Iterable[str], day: dt.date) -> dict[str, str | None]:
    boxes = list(dict.fromkeys(mailboxes))
    out: dict[str, str | None] = {}
    for start in range(0, len(boxes), _CHUNK):
        q = select(_MAILBOX.c.mailbox, _MAILBOX.c.time_zone).where(and_(
            _MAILBOX.c.mailbox.in_(boxes[start:start + _CHUNK]), _MAILBOX.c.fetched_day == day))
        out.update((m, z) for m, z in conn.execute(q).all())
    return out


def put_mailbox_time_zones(conn: Connection, zones: Mapping[str, str | None], day: dt.date) -> None:
    upsert_rows(conn, _MAILBOX, ["mailbox"],
                [{"mailbox": m, "time_zone": z, "fetched_day": day} for m, z in zones.items()])
