"""Column schemas shared by transform, state and plan: the contract between the engine's stages.

Three frames cross stage boundaries:

* a **side frame** (one per side and session): the rows read from Salesforce or from the mailboxes,
  normalised into one schema, with a 64-bit hash per synced field (R-C1);
* the **links frame**: the stored pairs with their per-side hash baselines and the few values the
  rules need (state.py persists exactly these columns);
* the **actions frame**: what the planner decided, one row per write (SPEC R-A1).

Pure: pandas and pyarrow only. Names here are the API; add columns, do not rename them.

The profile model's attribute contract (what plan, state and transform read from a Profile) is in
docs/contracts/profile.md.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import pyarrow as pa

# --- synced fields --------------------------------------------------------------------------------


@dataclass(frozen=True)
class SyncedField:
    name: str
    # True when the two sides hold it in different shapes (HTML vs plain body, four sensitivities vs
    # IsPrivate): change detection uses each side's own hash (h_), cross-side equality the common one (x_).
    lossy: bool
    event_only: bool = False  # only `event` profiles sync it


# start, end and the all-day flag are one field ("when"), so a merge never gives end before start (R-D1).
SYNCED_FIELDS: tuple[SyncedField, ...] = (
    SyncedField("subject", lossy=False),
    SyncedField("body", lossy=True),
    SyncedField("location", lossy=False),
    SyncedField("when", lossy=False),
    SyncedField("show_as", lossy=True),
    SyncedField("reminder", lossy=True),
    SyncedField("sensitivity", lossy=True),
    SyncedField("attendees", lossy=False, event_only=True),
)
FIELD_NAMES: tuple[str, ...] = tuple(f.name for f in SYNCED_FIELDS)


def own_hash(field: str) -> str:
    """Hash of the value in the side's own representation: compared with that side's baseline."""
    return f"h_{field}"


def common_hash(field: str) -> str:
    """Hash of the value mapped into the common form: compared across sides."""
    return f"x_{field}"


def baseline(side: str, field: str) -> str:
    """Link column holding a side's baseline hash for a field (null: no baseline yet, R-C1)."""
    return f"base_{'sf' if side == SALESFORCE else 'mb'}_{field}"


# --- sides, presence, operations ------------------------------------------------------------------

SALESFORCE = "salesforce"
MAILBOX = "mailbox"
SIDES = (SALESFORCE, MAILBOX)

# A side frame row is one of these (R-C3: only a side's confirmation makes a delete).
PRESENT = "present"
DELETED = "deleted"  # confirmed for this id: IsDeleted, deleted/, 404 ErrorItemNotFound, isCancelled
OUT_OF_SCOPE = "out_of_scope"  # read by id, exists, but outside window / filter / lost its category
PRESENCE = (PRESENT, DELETED, OUT_OF_SCOPE)

OPERATIONS = (
    "create", "update", "delete", "restore", "revert_update", "revert_delete", "restore_category",
    "uncategorize", "link", "unlink", "stamp",
)
OUTCOMES = ("pending", "applied", "failed", "skipped")

# --- dtypes ---------------------------------------------------------------------------------------

STR = pd.StringDtype("pyarrow")
UTC_TS = pd.DatetimeTZDtype("us", "UTC")
BOOL = pd.BooleanDtype()
INT64 = pd.Int64Dtype()
INT32 = pd.Int32Dtype()
DATE = pd.ArrowDtype(pa.date32())
STR_LIST = pd.ArrowDtype(pa.list_(pa.string()))
HASH = "int64"  # 64-bit hashes are stored as signed int64 (the bit pattern of the unsigned value)
NULLABLE_HASH = INT64

# The common frame of either side. Salesforce-only columns are null in mailbox frames and the reverse.
SIDE_COLUMNS: dict[str, object] = {
    "profile_id": STR,
    "presence": STR,  # PRESENCE
    "record_id": STR,  # Salesforce Id (mailbox rows: from the stamp, when stamped)
    "item_id": STR,  # Graph event id (Salesforce rows: null)
    "mailbox": STR,  # lower-case address; Salesforce rows: the resolved mailbox (R-M7)
    "owner_id": STR,  # Salesforce OwnerId
    "subject": STR,
    "body": STR,
    "body_type": STR,  # "text" | "html"
    "location": STR,
    "start_utc": UTC_TS,
    "end_utc": UTC_TS,
    "is_all_day": BOOL,
    "start_date": DATE,  # all-day items: floating dates in the mailbox's zone (R-M9)
    "end_date": DATE,
    "time_zone": STR,  # IANA name
    "show_as": STR,  # Graph freeBusyStatus names
    "sensitivity": STR,  # normal | personal | private | confidential (Salesforce: from IsPrivate)
    "is_private": BOOL,
    "reminder_minutes": INT32,
    "categories": STR_LIST,
    "attendees": STR_LIST,  # lower-case addresses, sorted
    "ical_uid": STR,
    "external_id": STR,  # CalSync_Event_Id__c
    "stamp": STR,  # "{profile id}|{record id}|{origin}" (R-M8)
    "is_organizer": BOOL,
    "organizer": STR,  # the organizer's address, lower case (R-O4: copies wait for a synced organizer)
    "is_cancelled": BOOL,
    "series_type": STR,  # single | occurrence | exception | master (R-M6)
    "last_modified": UTC_TS,
    "last_modified_by": STR,
    "system_modstamp": UTC_TS,
    "change_key": STR,
    "preserve": STR,  # JSON object of the profile's preserve_fields (Salesforce rows)
    **{own_hash(f.name): HASH for f in SYNCED_FIELDS},
    **{common_hash(f.name): HASH for f in SYNCED_FIELDS},
}

LINK_COLUMNS: dict[str, object] = {
    "link_id": "int64",
    "profile_id": STR,
    "record_id": STR,
    "mailbox": STR,
    "item_id": STR,
    "origin": STR,  # salesforce | mailbox (R-X7)
    "ical_uid": STR,
    **{baseline(s, f.name): NULLABLE_HASH for s in SIDES for f in SYNCED_FIELDS},
    "base_start_utc": UTC_TS,  # the window test of R-X5 needs the agreed times
    "base_end_utc": UTC_TS,
    "base_sf_attendees_set": STR_LIST,  # per-side attendee sets (R-P2)
    "base_mb_attendees_set": STR_LIST,
    "preserve": STR,  # JSON: preserve_fields values kept for revert_delete / restore (R-D2, R-D6)
    # R-O4: False for an attendee's copy linked to the record (passive); True / null for the record's own
    # link (the organizer's copy, or the copy upsynced in its stead when the organizer is not synced).
    "is_organizer": BOOL,
    "is_meeting": BOOL,  # the item has attendees (delete_appointments, on_leave_window, R-C4)
    "by_backfill": BOOL,  # made by a backfill: on_leave_window does not apply (R-X5)
    "in_window": BOOL,  # in the scheduled window at the previous session (R-X5)
    "dirty": BOOL,  # R-K2
    "sf_modstamp": UTC_TS,
    "mb_change_key": STR,
}

ACTION_COLUMNS: dict[str, object] = {
    "profile_id": STR,
    "side": STR,  # the side written
    "operation": STR,  # OPERATIONS
    "link_id": INT64,  # null for creates of new pairs
    "record_id": STR,
    "mailbox": STR,
    "item_id": STR,
    "fields": STR,  # JSON object: field -> value to write (in the written side's representation)
    "before": STR,  # JSON object: field -> value overwritten (reverts, conflicts, deletes)
    "reason": STR,
    "rule": STR,  # e.g. "R-D2"
    "conflict": BOOL,
    "winner": STR,  # salesforce | mailbox, for conflicts
    "outcome": STR,  # OUTCOMES: the planner emits "pending", or "skipped" for guard-blocked actions (R-X6)
    "step": INT32,  # apply order within the session (R-D5): links, re-creates, updates, followers, removals
}


def empty(columns: dict[str, object]) -> pd.DataFrame:
    """An empty frame with exactly these columns and dtypes."""
    return pd.DataFrame({name: pd.Series(dtype=dtype) for name, dtype in columns.items()})


def conform(df: pd.DataFrame, columns: dict[str, object]) -> pd.DataFrame:
    """Add missing columns as nulls and cast every known column to its dtype; keep extra columns."""
    out = df.copy()
    for name, dtype in columns.items():
        if name not in out.columns:
            out[name] = pd.Series([None] * len(out), index=out.index, dtype=dtype if dtype != HASH else INT64)
            if dtype == HASH:
                out[name] = out[name].fillna(0).astype("int64")
        else:
            out[name] = out[name].astype(dtype)
    return out

# --- issues found while transforming (added with the transform stage) -------------------------------

# One row per (profile, record or item, code): transform and validate report them, state keeps them
# with first/last seen (R-V3). `quarantine` rows are withheld from the plan (R-V2); the others (e.g. a
# truncated subject, R-M4) are only reported.
ISSUE_COLUMNS: dict[str, object] = {
    "profile_id": STR,
    "side": STR,  # salesforce | mailbox
    "record_id": STR,
    "mailbox": STR,
    "item_id": STR,
    "code": STR,  # e.g. UNKNOWN_TIME_ZONE, TEXT_TRUNCATED, NO_MAILBOX, SERIES_NOT_SYNCED
    "message": STR,
    "quarantine": BOOL,
}

# Graph delta `@removed` tombstones: never a delete by themselves (R-C3); the session reads each by id.
REMOVED_COLUMNS: dict[str, object] = {
    "profile_id": STR,
    "mailbox": STR,
    "item_id": STR,
    "reason": STR,  # Graph's @removed.reason ("deleted" is sent for items that left the range too)
}

# Hash of a field a profile does not sync: equal on both sides, so it never looks changed or different.
UNSYNCED_HASH = 0
