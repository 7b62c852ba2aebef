"""Salesforce side of the transform: records -> side frame, frame values -> Event fields (R-M2..R-M7).

Pure: pandas, numpy and calsync modules of the same kind; no SDK, database or Airflow import.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import timedelta
from typing import Any

import numpy as np
import pandas as pd

from calsync.bodies import html_to_text
from calsync.frame import DESCRIPTION_LIMIT, LOCATION_LIMIT, SUBJECT_LIMIT, add_hashes
from calsync.profiles import Profile, is_template
from calsync.schema import DELETED, PRESENT, SALESFORCE, SIDE_COLUMNS, UTC_TS, conform, empty
from calsync.timezones import midnight_utc, to_iana
from calsync.transform_common import (
    GRAPH_TO_SF_SHOW_AS,
    MISSING_DATE,
    NO_MAILBOX,
    SERIES_NOT_SYNCED,
    SF_SHOW_AS,
    TEXT_TRUNCATED,
    UNKNOWN_TIME_ZONE,
    SideRead,
    address_list,
    as_bool,
    as_date,
    as_days,
    as_utc,
    as_utc_seconds,
    column_of,
    date_column,
    issue,
    issues_frame,
    records_frame,
    render_field,
    value_of,
)

# --- Salesforce -> frame ------------------------------------------------------------------------------


def salesforce_to_frame(
    rows: pd.DataFrame | Iterable[Mapping[str, Any]],
    profile: Profile,
    *,
    user_emails: Mapping[str, str] | None = None,
    mailbox_time_zones: Mapping[str, str] | None = None,
    attendees: Mapping[str, Iterable[str]] | pd.DataFrame | None = None,
    default_time_zone: str = "UTC",
) -> SideRead:
    """Salesforce records of ``profile``'s object as a side frame.

    ``user_emails``: User Id -> email (the state store's cache, R-M7), used for the owner (or the
    profile's user field) and to drop the owner from attendees (R-O4). ``mailbox_time_zones``: mailbox
    -> its time zone (Windows or IANA, from mailboxSettings); all-day dates are placed at midnight in it
    (R-M9), a mailbox missing from the map uses ``default_time_zone``. ``attendees``: Event Id -> the
    resolved emails of its EventRelation rows, or a frame with ``EventId`` and ``Email`` columns.
    A ``fixed`` mailbox profile gives one row per record and listed mailbox (broadcast, R-M7).
    """
    df = records_frame(rows)
    user_emails = {k: v.strip().lower() for k, v in (user_emails or {}).items() if v}
    issues: list[dict[str, Any]] = []
    n = len(df)
    if not n:
        return SideRead(empty(SIDE_COLUMNS))
    out = pd.DataFrame(index=df.index)
    out["profile_id"] = profile.id
    out["record_id"] = column_of(df, "Id")
    out["owner_id"] = column_of(df, "OwnerId")
    deleted = as_bool(column_of(df, "IsDeleted")).fillna(False).to_numpy(bool)
    out["presence"] = np.where(deleted, DELETED, PRESENT)

    # --- dates (R-M2): floating dates for all-day rows, UTC instants for timed rows ---------------
    if profile.kind == "event":
        all_day = as_bool(column_of(df, "IsAllDayEvent")).fillna(False).to_numpy(bool)
        start = as_utc_seconds(column_of(df, "StartDateTime"))
        end = as_utc_seconds(column_of(df, "EndDateTime"))
        duration = pd.to_numeric(column_of(df, "DurationInMinutes"), errors="coerce")
        end = end.where(end.notna(), start + pd.to_timedelta(duration, unit="m"))
        first_day = as_days(column_of(df, "ActivityDate"))
        first_day = first_day.where(first_day.notna(), as_days(column_of(df, "StartDateTime")))
        # An all-day Event spans DurationInMinutes / 1440 days; without a duration, up to EndDateTime's day.
        days = (duration / 1440).round()
        last_day = as_days(column_of(df, "EndDateTime"))
        days = days.where(days.notna() & (days >= 1), (last_day - first_day).dt.days + 1)
        days = days.where(days.notna() & (days >= 1), 1)
        start_date = first_day.where(pd.Series(all_day, index=df.index))
        end_date = (first_day + pd.to_timedelta(days, unit="D")).where(pd.Series(all_day, index=df.index))
    else:
        d = profile.date_fields
        if d.date:
            all_day = np.ones(n, dtype=bool)
            start_date = as_days(column_of(df, d.date))
            end_date = start_date + pd.Timedelta(days=1)
            start = end = pd.Series(pd.NaT, index=df.index, dtype=UTC_TS)
        else:
            all_day = np.zeros(n, dtype=bool)
            start, end = as_utc_seconds(column_of(df, d.start)), as_utc_seconds(column_of(df, d.end))
            start_date = end_date = pd.Series(pd.NaT, index=df.index, dtype="datetime64[us]")
    out["is_all_day"] = pd.array(all_day, dtype="boolean")
    out["start_utc"] = start
    out["end_utc"] = end
    out["_start_day"] = start_date
    out["_end_day"] = end_date

    # --- fields of the field map ----------------------------------------------------------------
    fm = profile.field_map
    out["subject"] = render_field(df, fm.subject)
    out["body"] = render_field(df, fm.body)
    out["body_type"] = np.where(out["body"].notna(), "text", None)
    out["location"] = render_field(df, fm.location)
    out["show_as"] = column_of(df, fm.show_as).map(
        lambda v: SF_SHOW_AS.get(str(v).replace(" ", "").lower(), str(v).lower()), na_action="ignore")
    if fm.sensitivity:
        private = as_bool(column_of(df, fm.sensitivity)).fillna(False)
        out["is_private"] = private
        out["sensitivity"] = np.where(private.to_numpy(bool), "private", "normal")
    else:
        out["is_private"] = pd.array([None] * n, dtype="boolean")
        out["sensitivity"] = None
    out["_reminder_raw"] = column_of(df, fm.reminder)
    by_time = fm.reminder == "ReminderDateTime"
    out["_reminder_set"] = as_bool(column_of(df, "IsReminderSet")) if by_time else None

    ext = column_of(df, "CalSync_Event_Id__c")
    out["external_id"] = ext
    out["ical_uid"] = ext
    out["last_modified"] = as_utc_seconds(column_of(df, "LastModifiedDate"))
    out["last_modified_by"] = column_of(df, "LastModifiedById")
    out["system_modstamp"] = as_utc_seconds(column_of(df, "SystemModstamp"))
    if profile.preserve_fields:
        names = sorted(profile.preserve_fields)
        cols = [column_of(df, f).tolist() for f in names]
        out["preserve"] = [json.dumps(dict(zip(names, vals, strict=True)))
                           for vals in zip(*cols, strict=True)]
    else:
        out["preserve"] = None

    # --- series (R-M6): one issue per series, not per occurrence ------------------------------------
    is_master = (as_bool(column_of(df, "IsRecurrence")).fillna(False)
                 | as_bool(column_of(df, "IsRecurrence2")).fillna(False))
    parent = column_of(df, "RecurrenceActivityId")
    out["series_type"] = np.where(is_master.to_numpy(bool), "master",
                                  np.where(parent.notna().to_numpy(bool), "occurrence", "single"))
    series_rows = out[(out["series_type"] != "single") & (out["presence"] == PRESENT)]
    for series_id in pd.unique(parent[series_rows.index].where(parent[series_rows.index].notna(),
                                                             series_rows["record_id"])):
        issues.append(issue(profile, SALESFORCE, SERIES_NOT_SYNCED, "recurring Events are not synced (R-M6)",
                            record_id=series_id))

    # --- mailbox resolution (R-M7) --------------------------------------------------------------
    mb = profile.mailboxes
    if mb.mode == "fixed":
        out = out.loc[out.index.repeat(len(mb.fixed))].copy()
        out["mailbox"] = list(mb.fixed) * n
        out = out.reset_index(drop=True)
    else:
        who = out["owner_id"] if mb.mode == "owner" else column_of(df, mb.user_field)
        out["mailbox"] = who.map(lambda u: user_emails.get(u) if u else None).astype("object")
        out = out.reset_index(drop=True)
        for rid in out.loc[out["mailbox"].isna() & (out["presence"] == PRESENT), "record_id"]:
            whose = "owner" if mb.mode == "owner" else f"user in {mb.user_field}"
            issues.append(issue(profile, SALESFORCE, NO_MAILBOX,
                                f"the record's {whose} has no mailbox (R-M7)", record_id=rid))

    # --- the mailbox's time zone places all-day dates (R-M9) -----------------------------------------
    zones_in = out["mailbox"].map(lambda m: (mailbox_time_zones or {}).get(m, default_time_zone)
                                  if m else default_time_zone)
    iana = zones_in.map(to_iana).astype("object")
    out["time_zone"] = iana
    day_rows = out["is_all_day"].fillna(False).to_numpy(bool)
    unknown = day_rows & iana.isna().to_numpy(bool) & (out["presence"] == PRESENT).to_numpy(bool)
    for i in np.flatnonzero(unknown):
        issues.append(issue(profile, SALESFORCE, UNKNOWN_TIME_ZONE,
                            f"mailbox time zone {zones_in.iloc[i]!r} cannot be mapped (R-M9)",
                            record_id=out["record_id"].iloc[i], mailbox=out["mailbox"].iloc[i],
                            quarantine=True))
    if day_rows.any():
        su = midnight_utc(out["_start_day"], iana)
        eu = midnight_utc(out["_end_day"], iana)
        out["start_utc"] = out["start_utc"].where(~pd.Series(day_rows), su)
        out["end_utc"] = out["end_utc"].where(~pd.Series(day_rows), eu)
    out["start_date"] = date_column(pd.to_datetime(out["_start_day"]))
    out["end_date"] = date_column(pd.to_datetime(out["_end_day"]))

    # A present record without its dates: out of scope when unlinked, MISSING_DATE when linked (R-V2);
    # the planner knows which, so the issue is only quarantining for rows it keeps.
    missing = np.where(day_rows, out["start_date"].isna(), out["start_utc"].isna())
    no_date = (out["presence"] == PRESENT) & missing
    for rid in out.loc[no_date, "record_id"]:
        issues.append(issue(profile, SALESFORCE, MISSING_DATE, "the record has no start date", record_id=rid,
                            quarantine=True))

    # --- reminder: minutes before start ------------------------------------------------------------
    raw = out["_reminder_raw"]
    if fm.reminder == "ReminderDateTime":
        at = as_utc_seconds(raw)
        mins = ((out["start_utc"] - at).dt.total_seconds() / 60).round()
        is_set = out["_reminder_set"].fillna(False).astype(bool)
        out["reminder_minutes"] = mins.where(is_set & mins.notna() & (mins >= 0))
    else:
        out["reminder_minutes"] = pd.to_numeric(raw, errors="coerce").round()

    # --- attendees (R-P2, R-O4): never the mailbox itself, never the record owner --------------------
    by_record = _attendee_map(attendees) if profile.kind == "event" else {}
    if profile.kind == "event":
        out["attendees"] = [[] for _ in range(len(out))]
    if by_record:
        owner_mail = out["owner_id"].map(lambda u: user_emails.get(u) if u else None)
        out["attendees"] = [
            address_list(by_record.get(rid, ()), {m for m in (mbx, own) if m})
            for rid, mbx, own in zip(out["record_id"], out["mailbox"], owner_mail, strict=True)
        ]
    if profile.kind != "event":
        out["attendees"] = None

    frame = conform(out.drop(columns=[c for c in out.columns if c.startswith("_")]), SIDE_COLUMNS)
    frame = add_hashes(frame, profile.synced_fields)
    return SideRead(frame[list(SIDE_COLUMNS)], issues_frame(issues))


def _attendee_map(attendees: Mapping[str, Iterable[str]] | pd.DataFrame | None) -> dict[str, list[str]]:
    if attendees is None:
        return {}
    if isinstance(attendees, pd.DataFrame):
        key = "EventId" if "EventId" in attendees.columns else "record_id"
        mail = next(c for c in ("Email", "email", "address") if c in attendees.columns)
        grouped: dict[str, list[str]] = {}
        for rid, address in zip(attendees[key], attendees[mail], strict=True):
            if isinstance(address, str):
                grouped.setdefault(rid, []).append(address)
        return grouped
    return {k: list(v) for k, v in attendees.items()}



# --- frame -> Salesforce --------------------------------------------------------------------------------


def _iso_z(ts: pd.Timestamp) -> str:
    return as_utc(ts).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _cut(profile: Profile, row: Mapping[str, Any], label: str, text: str | None, limit: int,
         issues: list[dict[str, Any]]) -> str | None:
    if text is None or len(text) <= limit:
        return text
    issues.append(issue(profile, SALESFORCE, TEXT_TRUNCATED,
                        f"{label} cut from {len(text)} to {limit} characters (R-M4)",
                        record_id=value_of(row, "record_id"), mailbox=value_of(row, "mailbox"),
                        item_id=value_of(row, "item_id")))
    return text[:limit]


def frame_to_salesforce(
    row: Mapping[str, Any],
    profile: Profile,
    *,
    fields: Iterable[str] | None = None,
    create: bool = False,
    owner_id: str | None = None,
    preserve: Mapping[str, Any] | str | None = None,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Salesforce field values for a create or update carrying ``fields`` (default: the profile's
    upsync fields) from a frame row (usually the mailbox side's), plus the R-M4 truncation issues.

    Write-only mappings (templates, relationship paths) are never written. Attendees are EventRelation
    rows, not Event fields: the caller writes ``row["attendees"]`` through them. On create, the key
    ``CalSync_Event_Id__c`` is the item's iCalUId (R-M5, an upsert key), ``owner_id`` becomes OwnerId,
    and ``preserve`` (a dict or the frame's JSON) restores the profile's preserve_fields (R-D2, R-D6).
    """
    allowed = set(profile.upsync_fields) if profile.kind == "event" else set()
    wanted = [f for f in (profile.synced_fields if fields is None else fields) if f in allowed]
    fm = profile.field_map
    issues: list[dict[str, Any]] = []
    out: dict[str, Any] = {}

    def target(fld: str) -> str | None:
        spec = getattr(fm, fld)
        return None if spec is None or is_template(spec) or "." in spec else spec

    if "subject" in wanted and target("subject"):
        out[target("subject")] = _cut(profile, row, "Subject", value_of(row, "subject"), SUBJECT_LIMIT,
                                      issues)
    if "location" in wanted and target("location"):
        out[target("location")] = _cut(profile, row, "Location", value_of(row, "location"), LOCATION_LIMIT,
                                       issues)
    if "body" in wanted and target("body"):
        text = value_of(row, "body")
        if text is not None and str(value_of(row, "body_type") or "").lower() == "html":
            text = html_to_text(text)
        out[target("body")] = _cut(profile, row, "Description", text or None, DESCRIPTION_LIMIT, issues)
    if "when" in wanted:
        out.update(salesforce_times(row))
    if "show_as" in wanted and target("show_as"):
        show = str(value_of(row, "show_as") or "busy").lower()
        out[target("show_as")] = GRAPH_TO_SF_SHOW_AS.get(show, "Busy")
    reminder_target = target("reminder")
    if reminder_target and ("reminder" in wanted or ("when" in wanted and "reminder" in allowed)):
        # A reminder is relative in Graph and absolute in Salesforce: a moved start moves it too.
        minutes = value_of(row, "reminder_minutes")
        if reminder_target == "ReminderDateTime":
            start = value_of(row, "start_utc")
            if minutes is not None and start is not None:
                out["IsReminderSet"] = True
                out["ReminderDateTime"] = _iso_z(as_utc(start) - pd.Timedelta(minutes=int(minutes)))
            elif "reminder" in wanted:
                out["IsReminderSet"] = False
                out["ReminderDateTime"] = None
        elif "reminder" in wanted:
            out[reminder_target] = None if minutes is None else int(minutes)
    if "sensitivity" in wanted and target("sensitivity"):
        private = bool(value_of(row, "is_private")) or value_of(row, "sensitivity") == "private"
        out[target("sensitivity")] = private
    if create:
        uid = value_of(row, "ical_uid")
        if uid:
            out["CalSync_Event_Id__c"] = uid
        if owner_id:
            out["OwnerId"] = owner_id
        kept = json.loads(preserve) if isinstance(preserve, str) else dict(preserve or {})
        if not kept and isinstance(value_of(row, "preserve"), str):
            kept = json.loads(value_of(row, "preserve"))
        for name in profile.preserve_fields:
            if kept.get(name) is not None:
                out[name] = kept[name]
    return out, issues


def salesforce_times(row: Mapping[str, Any]) -> dict[str, Any]:
    """Event date fields (R-M2). All-day: ActivityDate and DurationInMinutes = days x 1440, with
    StartDateTime/EndDateTime at midnight GMT of the first and last day, as Salesforce stores them."""
    if bool(value_of(row, "is_all_day")):
        first = as_date(value_of(row, "start_date"))
        end_value = value_of(row, "end_date")
        days = max(1, (as_date(end_value) - first).days) if end_value is not None else 1
        last = first + timedelta(days=days - 1)
        return {"IsAllDayEvent": True, "ActivityDate": first.isoformat(), "DurationInMinutes": days * 1440,
                "StartDateTime": f"{first.isoformat()}T00:00:00.000Z",
                "EndDateTime": f"{last.isoformat()}T00:00:00.000Z"}
    start, end = as_utc(value_of(row, "start_utc")), as_utc(value_of(row, "end_utc"))
    # Salesforce derives ActivityDate and DurationInMinutes of a timed Event from these two.
    return {"IsAllDayEvent": False, "StartDateTime": _iso_z(start), "EndDateTime": _iso_z(end)}

