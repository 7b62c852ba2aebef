"""Shared pieces of the transform stage: SideRead, stamps (R-M8), issues, and column helpers.

Pure: pandas, numpy and calsync modules of the same kind; no SDK, database or Airflow import.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import numpy as np
import pandas as pd

from calsync.profiles import Profile, is_template, template_parts
from calsync.schema import ISSUE_COLUMNS, MAILBOX, REMOVED_COLUMNS, SALESFORCE, UTC_TS, conform, empty

# The single-value extended property that carries "{profile id}|{record id}|{origin}" (R-M8). The GUID
# is calsync's own property set; Graph may return the id with the GUID upper-cased, so compare with
# stamp_property_matches().
STAMP_PROPERTY_ID = "String {66f5a359-4659-4830-9070-00047ec6ac6e} Name calsync.stamp"

# $select for reads by id and calendarView (delta ignores $select and returns these anyway).
GRAPH_SELECT = (
    "id,iCalUId,subject,body,location,start,end,isAllDay,showAs,sensitivity,isReminderOn,"
    "reminderMinutesBeforeStart,categories,attendees,organizer,isOrganizer,isCancelled,type,seriesMasterId,"
    "lastModifiedDateTime,changeKey"
)
GRAPH_EXPAND_STAMP = f"singleValueExtendedProperties($filter=id eq '{STAMP_PROPERTY_ID}')"

# Issue codes raised here (R-V2 / R-V3 keep them per profile, record or item, and code).
UNKNOWN_TIME_ZONE = "UNKNOWN_TIME_ZONE"
TEXT_TRUNCATED = "TEXT_TRUNCATED"
NO_MAILBOX = "NO_MAILBOX"
SERIES_NOT_SYNCED = "SERIES_NOT_SYNCED"
MISSING_DATE = "MISSING_DATE"

SF_SHOW_AS = {"busy": "busy", "free": "free", "outofoffice": "oof"}  # Salesforce -> Graph names
GRAPH_TO_SF_SHOW_AS = {"free": "Free", "oof": "OutOfOffice"}  # everything else is Busy
GRAPH_SERIES = {"singleinstance": "single", "occurrence": "occurrence", "exception": "exception",
                 "seriesmaster": "master"}
TRUE_TEXT = {"true", "1", "yes"}


@dataclass
class SideRead:
    """What reading one side gives: the side frame, its issues and (Graph) the delta tombstones."""

    frame: pd.DataFrame
    issues: pd.DataFrame = field(default_factory=lambda: empty(ISSUE_COLUMNS))
    removed: pd.DataFrame = field(default_factory=lambda: empty(REMOVED_COLUMNS))


# --- stamps (R-M8) -----------------------------------------------------------------------------------


def make_stamp(profile_id: str, record_id: str, origin: str) -> str:
    return f"{profile_id}|{record_id}|{origin}"


def parse_stamp(value: str | None) -> tuple[str, str, str] | None:
    """(profile id, record id, origin) or None for a missing, cleared ("") or foreign value."""
    if not value:
        return None
    parts = value.split("|")
    if len(parts) != 3 or not all(parts) or parts[2] not in (SALESFORCE, MAILBOX):
        return None
    return parts[0], parts[1], parts[2]


def stamp_property_matches(prop_id: str | None) -> bool:
    return bool(prop_id) and " ".join(str(prop_id).split()).lower() == STAMP_PROPERTY_ID.lower()


# --- issues ------------------------------------------------------------------------------------------


def issue(profile: Profile | str, side: str, code: str, message: str, *, record_id: str | None = None,
          mailbox: str | None = None, item_id: str | None = None, quarantine: bool = False) -> dict[str, Any]:
    pid = profile if isinstance(profile, str) else profile.id
    return {"profile_id": pid, "side": side, "record_id": record_id, "mailbox": mailbox, "item_id": item_id,
            "code": code, "message": message, "quarantine": quarantine}


def issues_frame(rows: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    rows = list(rows)
    if not rows:
        return empty(ISSUE_COLUMNS)
    return conform(pd.DataFrame(rows), ISSUE_COLUMNS)[list(ISSUE_COLUMNS)]


# --- small vectorised helpers ----------------------------------------------------------------------


def column_of(df: pd.DataFrame, name: str | None) -> pd.Series:
    """A column as object dtype with None for missing values (Bulk CSV gives '' for null)."""
    if name is None or name not in df.columns:
        return pd.Series([None] * len(df), index=df.index, dtype="object")
    s = df[name].astype("object")
    return s.where(s.notna() & (s != ""), None)


def as_bool(s: pd.Series) -> pd.Series:
    """Salesforce booleans from JSON (True/False) or CSV ("true"/"false"); null stays null."""
    null = s.isna()
    text = s.astype("object").astype(str).str.strip().str.lower()
    return text.isin(TRUE_TEXT).astype("boolean").mask(null)


def as_utc_seconds(s: pd.Series) -> pd.Series:
    """ISO date-times (Salesforce "2024-05-01T09:00:00.000+0000", Graph "...Z") as UTC, second precision."""
    if not len(s):
        return pd.Series([], dtype=UTC_TS, index=s.index)
    ts = pd.to_datetime(s, utc=True, errors="coerce", format="ISO8601")
    return ts.dt.floor("s").astype(UTC_TS)


def as_days(s: pd.Series) -> pd.Series:
    ts = pd.to_datetime(s, errors="coerce", format="ISO8601")
    if getattr(ts.dt, "tz", None) is not None:
        ts = ts.dt.tz_convert("UTC").dt.tz_localize(None)
    return ts.dt.normalize()


def date_column(ts: pd.Series) -> pd.Series:
    """Naive midnight timestamps -> the frame's date32 column."""
    return pd.Series(ts.dt.date.astype("object").where(ts.notna(), None), index=ts.index)


def render_field(df: pd.DataFrame, spec: str | None) -> pd.Series:
    """A field map value for every row: the field, or the template rendered column by column."""
    if spec is None:
        return pd.Series([None] * len(df), index=df.index, dtype="object")
    if not is_template(spec):
        return column_of(df, spec).map(lambda v: None if v is None else str(v), na_action="ignore")
    out = pd.Series([""] * len(df), index=df.index, dtype="object")
    for literal, name in template_parts(spec):
        if literal:
            out = out + literal.replace("{{", "{").replace("}}", "}")
        if name is not None:
            out = out + column_of(df, name).map(lambda v: "" if v is None else str(v)).astype("object")
    return out


def records_frame(rows: pd.DataFrame | Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    if isinstance(rows, pd.DataFrame):
        return rows.reset_index(drop=True)
    records = [{k: v for k, v in r.items() if k != "attributes"} for r in rows]
    if not records:
        return pd.DataFrame()
    flat = pd.json_normalize(records, sep=".")
    return flat.drop(columns=[c for c in flat.columns if c.endswith(".attributes") or ".attributes." in c])


def address_list(values: Iterable[str | None], exclude: set[str]) -> list[str]:
    return sorted({v.strip().lower() for v in values if v and v.strip() and v.strip().lower() not in exclude})



def value_of(row: Mapping[str, Any], key: str) -> Any:
    v = row.get(key) if hasattr(row, "get") else None
    if v is None:
        return None
    try:
        if not isinstance(v, list | tuple | np.ndarray | dict) and pd.isna(v):
            return None
    except (TypeError, ValueError):
        pass
    return v


def as_date(v: Any) -> date:
    if isinstance(v, datetime):
        return v.date()
    if isinstance(v, date):
        return v
    return pd.Timestamp(v).date()


def as_utc(v: Any) -> pd.Timestamp:
    ts = pd.Timestamp(v)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


