"""Issues (R-V3): open while their condition holds, re-checked at every session, set-based.

A session hands over the set of conditions it saw; the store opens the new ones (or re-opens a
resolved one), touches those still present, and resolves those no longer seen among what the session
checked. One query to read the open set, then batched statements: no round trip per issue.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Connection, and_, bindparam, select, update
from sqlalchemy.dialects import postgresql, sqlite

from calsync.state.models import Issue

_T = Issue.__table__
_CHUNK = 5_000
KEY = ["key_kind", "key", "code"]
STATUS_MAX = 255  # CalSync_Sync_Status__c is Text(255) (R-M5)


def _open(conn: Connection, profile_id: str) -> pd.DataFrame:
    rows = conn.execute(select(_T.c.id, _T.c.key_kind, _T.c.key, _T.c.code, _T.c.message)
                        .where(and_(_T.c.profile_id == profile_id, _T.c.resolved_at.is_(None)))).all()
    return pd.DataFrame(rows, columns=["id", *KEY, "message"])


def _by_ids(conn: Connection, ids: list[int], values: dict[str, Any]) -> None:
    for start in range(0, len(ids), _CHUNK):
        conn.execute(update(_T).where(_T.c.id.in_(ids[start:start + _CHUNK])).values(values))


def as_observed(df: pd.DataFrame) -> pd.DataFrame:
    """(key_kind, key, code, message) rows; a schema.ISSUE_COLUMNS frame (record_id / item_id) is keyed
    by its record when it has one (the status field lives there, R-V3), else by its item."""
    if "key_kind" in df.columns:
        return df
    has_record = df["record_id"].notna().to_numpy(dtype=bool)
    return pd.DataFrame({
        "key_kind": np.where(has_record, "record", "item"),
        "key": np.where(has_record, df["record_id"].astype(object), df["item_id"].astype(object)),
        "code": df["code"].astype(object).to_numpy(),
        "message": df["message"].astype(object).to_numpy(),
    })


def observe(conn: Connection, session_id: int, profile_id: str, observed: pd.DataFrame, now: dt.datetime,
            checked: pd.DataFrame | None = None) -> dict[str, int]:
    """Record this session's open conditions.

    ``observed``: columns key_kind, key, code, message (one row per condition; duplicates collapse),
    or a schema.ISSUE_COLUMNS frame.
    ``checked``: the (key_kind, key) pairs the session re-checked; open issues of other keys stay
    open untouched (an incremental session does not see every record). None: everything was checked.
    """
    obs = as_observed(observed)[[*KEY, "message"]].drop_duplicates(KEY, keep="last").astype(object)
    cur = _open(conn, profile_id)
    merged = obs.merge(cur, on=KEY, how="outer", suffixes=("", "_old"), indicator=True)
    new = merged[merged["_merge"] == "left_only"]
    kept = merged[merged["_merge"] == "both"]
    gone = merged[merged["_merge"] == "right_only"]
    if checked is not None:
        scope = checked[["key_kind", "key"]].drop_duplicates().astype(object)
        gone = gone.merge(scope, on=["key_kind", "key"], how="inner")

    if len(new):
        ins = (postgresql.insert(_T) if conn.dialect.name == "postgresql" else sqlite.insert(_T))
        stmt = ins.on_conflict_do_update(
            index_elements=["profile_id", *KEY],
            set_={"message": ins.excluded.message, "first_seen": ins.excluded.first_seen,
                  "last_seen": ins.excluded.last_seen, "resolved_at": None,
                  "first_session": ins.excluded.first_session, "last_session": ins.excluded.last_session,
                  "occurrences": _T.c.occurrences + 1})
        conn.execute(stmt, [
            {"profile_id": profile_id, "key_kind": r.key_kind, "key": r.key, "code": r.code,
             "message": r.message, "first_seen": now, "last_seen": now, "resolved_at": None,
             "first_session": session_id, "last_session": session_id, "occurrences": 1}
            for r in new.itertuples(index=False)])
    if len(kept):
        _by_ids(conn, [int(i) for i in kept["id"]], {"last_seen": now, "last_session": session_id})
        changed = kept[kept["message"] != kept["message_old"]]
        if len(changed):
            conn.execute(update(_T).where(_T.c.id == bindparam("b_id")).values(message=bindparam("b_msg")),
                         [{"b_id": int(r.id), "b_msg": r.message} for r in changed.itertuples(index=False)])
    if len(gone):
        _by_ids(conn, [int(i) for i in gone["id"]], {"resolved_at": now, "last_session": session_id})
    return {"opened": len(new), "touched": len(kept), "resolved": len(gone)}


def frame(conn: Connection, profile_id: str | None = None, *, open_only: bool = True) -> pd.DataFrame:
    q = select(_T).order_by(_T.c.id)
    if profile_id is not None:
        q = q.where(_T.c.profile_id == profile_id)
    if open_only:
        q = q.where(_T.c.resolved_at.is_(None))
    df = pd.DataFrame(conn.execute(q).mappings().all(), columns=[c.name for c in _T.columns])
    for c in ("first_seen", "last_seen", "resolved_at"):
        df[c] = pd.to_datetime(df[c], utc=True)
    return df


def status_texts(conn: Connection, profile_id: str, keys: Iterable[str] | None = None,
                 key_kind: str = "record") -> pd.DataFrame:
    """Per key: the open issue with the latest first-seen (ties: the smallest code) and its status
    text for CalSync_Sync_Status__c (R-V3). Keys without an open issue are absent (status "")."""
    df = frame(conn, profile_id)
    df = df[df["key_kind"] == key_kind]
    if keys is not None:
        df = df[df["key"].isin(list(keys))]
    df = df.sort_values(["key", "first_seen", "code"], ascending=[True, False, True], kind="mergesort")
    top = df.drop_duplicates("key", keep="first")[["key", "code", "message", "first_seen"]]
    top = top.assign(status=(top["code"] + ": " + top["message"]).str.slice(0, STATUS_MAX))
    return top.reset_index(drop=True)
