"""Graph side of the transform: events -> side frame, frame values -> event JSON (R-M8, R-M9, R-C3).

Pure: pandas, numpy and calsync modules of the same kind; no SDK, database or Airflow import.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import timedelta
from typing import Any

import numpy as np
import pandas as pd

from calsync.bodies import html_to_text
from calsync.frame import DESCRIPTION_LIMIT, LOCATION_LIMIT, SUBJECT_LIMIT, add_hashes
from calsync.profiles import Profile
from calsync.schema import DELETED, MAILBOX, PRESENT, REMOVED_COLUMNS, SIDE_COLUMNS, conform, empty
from calsync.timezones import localize_to_utc, midnight_utc, to_iana
from calsync.transform_common import (
    GRAPH_SERIES,
    SERIES_NOT_SYNCED,
    STAMP_PROPERTY_ID,
    TEXT_TRUNCATED,
    UNKNOWN_TIME_ZONE,
    SideRead,
    address_list,
    as_date,
    as_utc,
    as_utc_seconds,
    date_column,
    issue,
    issues_frame,
    parse_stamp,
    stamp_property_matches,
    value_of,
)

# --- Graph -> frame ------------------------------------------------------------------------------------


def _g(ev: Mapping[str, Any], *path: str) -> Any:
    cur: Any = ev
    for p in path:
        if not isinstance(cur, Mapping):
            return None
        cur = cur.get(p)
    return cur


def graph_to_frame(
    events: Mapping[str, Iterable[Mapping[str, Any]]] | Iterable[Mapping[str, Any]],
    profile: Profile,
    *,
    mailbox: str | None = None,
    mailbox_time_zones: Mapping[str, str] | None = None,
    confirmed_deleted: Iterable[tuple[str, str]] = (),
    drop_private_bodies: bool = True,
) -> SideRead:
    """Graph events (``{mailbox: [event, ...]}``, or a list with ``mailbox=``) as a side frame.

    * ``@removed`` tombstones go to ``SideRead.removed``, not into the frame (R-C3: read them by id);
    * ``confirmed_deleted``: (mailbox, item id) pairs a read by id answered with 404 ``ErrorItemNotFound``;
      they become rows with presence ``deleted``, as do items the organizer cancelled (``isCancelled``);
    * all-day items keep their own floating dates (R-M9); ``mailbox_time_zones`` is used only to place
      those dates on the UTC axis for window tests and when an item's dates are not at midnight;
    * ``drop_private_bodies``: the body of a private item is hashed, then blanked (R-Z2: never staged);
      a session that must write such a body reads the item by id.
    """
    if isinstance(events, Mapping):
        pairs = [(str(m).lower(), ev) for m, evs in events.items() for ev in evs]
    else:
        if mailbox is None:
            raise ValueError("graph_to_frame: pass mailbox= with a list of events, or a "
                             "{mailbox: events} map")
        pairs = [(mailbox.lower(), ev) for ev in events]
    zones = {k.lower(): v for k, v in (mailbox_time_zones or {}).items()}
    issues: list[dict[str, Any]] = []
    removed = [(m, ev.get("id"), _g(ev, "@removed", "reason") or "deleted")
               for m, ev in pairs if "@removed" in ev]
    live = [(m, ev) for m, ev in pairs if "@removed" not in ev]
    deleted_pairs = list(dict.fromkeys((m.lower(), i) for m, i in confirmed_deleted))

    rows: dict[str, list[Any]] = {k: [] for k in (
        "mailbox", "item_id", "ical_uid", "subject", "body", "body_type", "location", "s_dt", "s_tz", "e_dt",
        "e_tz", "is_all_day", "show_as", "sensitivity", "reminder_on", "reminder", "categories", "attendees",
        "is_organizer", "organizer", "is_cancelled", "series_type", "series_id", "stamp", "last_modified",
        "change_key")}
    for m, ev in live:
        organizer = (_g(ev, "organizer", "emailAddress", "address") or "").lower()
        stamp = next((p.get("value") for p in ev.get("singleValueExtendedProperties") or []
                      if stamp_property_matches(p.get("id"))), None)
        values = {
            "mailbox": m, "item_id": ev.get("id"), "ical_uid": ev.get("iCalUId"),
            "subject": ev.get("subject"),
            "body": _g(ev, "body", "content"), "body_type": (_g(ev, "body", "contentType") or "text").lower(),
            "location": _g(ev, "location", "displayName"), "s_dt": _g(ev, "start", "dateTime"),
            "s_tz": _g(ev, "start", "timeZone"), "e_dt": _g(ev, "end", "dateTime"),
            "e_tz": _g(ev, "end", "timeZone"),
            "is_all_day": bool(ev.get("isAllDay")), "show_as": ev.get("showAs"),
            "sensitivity": (ev.get("sensitivity") or "normal").lower(), "reminder_on": ev.get("isReminderOn"),
            "reminder": ev.get("reminderMinutesBeforeStart"), "categories": list(ev.get("categories") or []),
            "attendees": address_list((_g(a, "emailAddress", "address") for a in ev.get("attendees") or []),
                                       {m, organizer} - {""}),
            "is_organizer": ev.get("isOrganizer"), "organizer": organizer or None,
            "is_cancelled": bool(ev.get("isCancelled")),
            "series_type": GRAPH_SERIES.get(str(ev.get("type") or "singleInstance").lower(), "single"),
            "series_id": ev.get("seriesMasterId") or ev.get("id"), "stamp": stamp or None,
            "last_modified": ev.get("lastModifiedDateTime"), "change_key": ev.get("changeKey"),
        }
        for k, v in values.items():
            rows[k].append(v)
    raw = pd.DataFrame(rows)
    n = len(raw)
    out = pd.DataFrame(index=raw.index)
    out["profile_id"] = profile.id
    out["presence"] = np.where(raw["is_cancelled"].astype(bool), DELETED, PRESENT) if n else []
    parsed = [parse_stamp(s) for s in raw["stamp"]]
    out["record_id"] = [p[1] if p and p[0] == profile.id else None for p in parsed]
    for col in ("item_id", "mailbox", "subject", "body", "body_type", "location", "show_as", "sensitivity",
                "categories", "attendees", "ical_uid", "stamp", "is_organizer", "organizer", "is_cancelled",
                "series_type", "change_key"):
        out[col] = raw[col] if n else []
    out["is_private"] = (raw["sensitivity"] == "private") if n else []
    out["reminder_minutes"] = (pd.to_numeric(raw["reminder"], errors="coerce")
                               .where(raw["reminder_on"].fillna(False).astype(bool))) if n else []
    out["last_modified"] = as_utc_seconds(raw["last_modified"]) if n else []

    # --- times (R-M9): timed -> UTC from the item's own zone; all-day -> its own floating dates --------
    if n:
        s_zone = raw["s_tz"].map(to_iana).astype("object")
        e_zone = raw["e_tz"].map(to_iana).astype("object")
        out["time_zone"] = s_zone
        bad = s_zone.isna() | e_zone.isna()
        in_scope = _in_scope(out, profile)
        for i in np.flatnonzero(bad.to_numpy(bool)):
            name = raw["s_tz"].iloc[i] if s_zone.isna().iloc[i] else raw["e_tz"].iloc[i]
            issues.append(issue(profile, MAILBOX, UNKNOWN_TIME_ZONE,
                                f"time zone {name!r} cannot be mapped to an IANA zone (R-M9)",
                                mailbox=raw["mailbox"].iloc[i], item_id=raw["item_id"].iloc[i],
                                record_id=out["record_id"].iloc[i], quarantine=True))
        start = localize_to_utc(_naive(raw["s_dt"]), s_zone)
        end = localize_to_utc(_naive(raw["e_dt"]), e_zone)
        all_day = raw["is_all_day"].astype(bool)
        mailbox_zone = raw["mailbox"].map(lambda x: to_iana(zones.get(x))).astype("object")
        mailbox_zone = mailbox_zone.where(mailbox_zone.notna(), s_zone)
        s_day = _floating_day(raw["s_dt"], start, mailbox_zone)
        e_day = _floating_day(raw["e_dt"], end, mailbox_zone)
        s_day, e_day = s_day.where(all_day), e_day.where(all_day)
        out["is_all_day"] = all_day
        out["start_date"] = date_column(s_day)
        out["end_date"] = date_column(e_day)
        out["start_utc"] = start.where(~all_day, midnight_utc(s_day, mailbox_zone)).dt.floor("s")
        out["end_utc"] = end.where(~all_day, midnight_utc(e_day, mailbox_zone)).dt.floor("s")

        # --- series (R-M6): one issue per series, for series the profile would otherwise see ----------
        series_rows = raw[(raw["series_type"] != "single") & in_scope]
        for (m, sid), _grp in series_rows.groupby(["mailbox", "series_id"], sort=True):
            issues.append(issue(profile, MAILBOX, SERIES_NOT_SYNCED, "recurring series are not synced (R-M6)",
                                mailbox=m, item_id=sid))
        # --- R-M4: what an upsync would truncate --------------------------------------------------
        if profile.upsync_fields:
            issues += _truncation_issues(profile, out, in_scope)

    frame = conform(out, SIDE_COLUMNS) if n else empty(SIDE_COLUMNS)
    if deleted_pairs:
        gone = pd.DataFrame({"profile_id": profile.id, "presence": DELETED,
                             "mailbox": [m for m, _ in deleted_pairs],
                             "item_id": [i for _, i in deleted_pairs]})
        frame = pd.concat([frame[~frame.set_index(["mailbox", "item_id"]).index.isin(deleted_pairs)],
                           conform(gone, SIDE_COLUMNS)], ignore_index=True)
        frame = conform(frame, SIDE_COLUMNS)
    frame = add_hashes(frame, profile.synced_fields)
    if drop_private_bodies and len(frame):
        private = frame["sensitivity"].fillna("") == "private"
        frame.loc[private, "body"] = None
    removed_df = conform(pd.DataFrame({"profile_id": profile.id, "mailbox": [r[0] for r in removed],
                                       "item_id": [r[1] for r in removed],
                                       "reason": [r[2] for r in removed]}),
                         REMOVED_COLUMNS) if removed else empty(REMOVED_COLUMNS)
    return SideRead(frame[list(SIDE_COLUMNS)], issues_frame(issues), removed_df[list(REMOVED_COLUMNS)])


def _naive(values: pd.Series) -> pd.Series:
    """Graph's "2024-05-01T09:00:00.0000000" wall times (7-digit fractions) as naive timestamps."""
    text = values.astype("object").map(lambda v: v[:26] if isinstance(v, str) else None)
    ts = pd.to_datetime(text, errors="coerce", format="ISO8601")
    if getattr(ts.dt, "tz", None) is not None:
        ts = ts.dt.tz_convert("UTC").dt.tz_localize(None)
    return ts


def _floating_day(wall: pd.Series, instant: pd.Series, mailbox_zone: pd.Series) -> pd.Series:
    """An all-day boundary as a floating date: the wall date when it is at midnight in its own zone
    (how Graph writes all-day items); otherwise the instant seen in the mailbox's zone, rounded to the
    nearest midnight (an item written or read in another zone)."""
    naive = _naive(wall)
    at_midnight = naive == naive.dt.normalize()
    local = pd.Series(pd.NaT, index=wall.index, dtype="datetime64[us]")
    for zone in pd.unique(mailbox_zone.dropna()):
        mask = (mailbox_zone == zone).to_numpy(dtype=bool, na_value=False)
        local[mask] = instant[mask].dt.tz_convert(str(zone)).dt.tz_localize(None).astype("datetime64[us]")
    rounded = local.dt.round("D")
    return naive.dt.normalize().where(at_midnight, rounded).astype("datetime64[us]")


def _in_scope(out: pd.DataFrame, profile: Profile) -> pd.Series:
    """Rows the profile would look at: its category or its stamp (issues for others are noise)."""
    cat = out["categories"].map(lambda c: profile.item_category in c if isinstance(c, list) else False)
    return (cat | out["record_id"].notna()).astype(bool)


def _truncation_issues(profile: Profile, out: pd.DataFrame, in_scope: pd.Series) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    checks = [("subject", "Subject", SUBJECT_LIMIT), ("location", "Location", LOCATION_LIMIT)]
    for fld, label, limit in checks:
        if fld not in profile.upsync_fields:
            continue
        lengths = out[fld].map(lambda v: len(v) if isinstance(v, str) else 0)
        for i in np.flatnonzero(((lengths > limit) & in_scope).to_numpy(bool)):
            found.append(issue(profile, MAILBOX, TEXT_TRUNCATED,
                               f"{label} has {lengths.iloc[i]} characters; Salesforce keeps {limit} (R-M4)",
                               mailbox=out["mailbox"].iloc[i], item_id=out["item_id"].iloc[i],
                               record_id=out["record_id"].iloc[i]))
    if "body" in profile.upsync_fields:
        long_body = in_scope & out["body"].map(lambda v: isinstance(v, str) and len(v) > DESCRIPTION_LIMIT)
        for i in np.flatnonzero(long_body.to_numpy(bool)):
            text = out["body"].iloc[i]
            if out["body_type"].iloc[i] == "html":
                text = html_to_text(text) or ""
            if len(text) > DESCRIPTION_LIMIT:
                found.append(issue(profile, MAILBOX, TEXT_TRUNCATED,
                                   f"Description has {len(text)} characters; Salesforce keeps "
                                   f"{DESCRIPTION_LIMIT} (R-M4)", mailbox=out["mailbox"].iloc[i],
                                   item_id=out["item_id"].iloc[i], record_id=out["record_id"].iloc[i]))
    return found



# --- frame -> Graph ---------------------------------------------------------------------------------------


def frame_to_graph(
    row: Mapping[str, Any],
    profile: Profile,
    *,
    fields: Iterable[str] | None = None,
    mailbox_time_zone: str | None = None,
    stamp: str | None = None,
    categories: Iterable[str] | None = None,
    create: bool = False,
) -> dict[str, Any]:
    """JSON for a Graph create (``create=True``) or PATCH carrying ``fields`` (default: the profile's
    synced fields) from a frame row (usually the Salesforce side's, in common form).

    All-day items are written midnight to midnight in ``mailbox_time_zone`` (Windows or IANA, from
    mailboxSettings; R-M9), timed items in UTC. Categories: on create the profile's item category
    (R-S3, R-M3) plus ``categories``; on an update only when ``categories`` is given (the full list:
    Graph replaces it, so pass the item's current categories with calsync's added or removed).
    ``stamp``: the R-M8 value; ``""`` clears it (an unlink that keeps the item).
    """
    wanted = list(profile.synced_fields if fields is None else fields)
    body: dict[str, Any] = {}
    if "subject" in wanted:
        body["subject"] = value_of(row, "subject") or ""
    if "body" in wanted:
        content = value_of(row, "body") or ""
        btype = "html" if str(value_of(row, "body_type") or "text").lower() == "html" else "text"
        body["body"] = {"contentType": btype, "content": content}
    if "location" in wanted:
        body["location"] = {"displayName": value_of(row, "location") or ""}
    if "when" in wanted:
        body.update(graph_times(row, mailbox_time_zone))
    if "show_as" in wanted:
        body["showAs"] = value_of(row, "show_as") or "busy"
    if "reminder" in wanted:
        minutes = value_of(row, "reminder_minutes")
        body["isReminderOn"] = minutes is not None
        if minutes is not None:
            body["reminderMinutesBeforeStart"] = int(minutes)
    if "sensitivity" in wanted:
        sens = value_of(row, "sensitivity")
        private = bool(value_of(row, "is_private")) or sens == "private"
        kept = sens if sens in ("normal", "personal", "confidential") else "normal"
        body["sensitivity"] = "private" if private else kept
    if "attendees" in wanted and profile.kind == "event":
        addresses = value_of(row, "attendees")
        body["attendees"] = [{"emailAddress": {"address": a}, "type": "required"}
                             for a in (list(addresses) if addresses is not None else [])]
    if create or categories is not None:
        cats = list(categories or [])
        if create and profile.item_category not in cats:
            cats.insert(0, profile.item_category)
        body["categories"] = cats
    if stamp is not None:
        body["singleValueExtendedProperties"] = [{"id": STAMP_PROPERTY_ID, "value": stamp}]
    return body


def graph_times(row: Mapping[str, Any], mailbox_time_zone: str | None) -> dict[str, Any]:
    """start/end/isAllDay for Graph. An all-day item spans midnight to midnight in the mailbox's zone."""
    if bool(value_of(row, "is_all_day")):
        zone = mailbox_time_zone or value_of(row, "time_zone") or "UTC"
        if to_iana(zone) is None:
            raise ValueError(f"{UNKNOWN_TIME_ZONE}: {zone!r}")
        first = as_date(value_of(row, "start_date"))
        end_value = value_of(row, "end_date")
        last = as_date(end_value) if end_value is not None else first + timedelta(days=1)
        if last <= first:
            last = first + timedelta(days=1)
        return {"isAllDay": True,
                "start": {"dateTime": f"{first.isoformat()}T00:00:00.0000000", "timeZone": zone},
                "end": {"dateTime": f"{last.isoformat()}T00:00:00.0000000", "timeZone": zone}}
    start, end = as_utc(value_of(row, "start_utc")), as_utc(value_of(row, "end_utc"))
    fmt = "%Y-%m-%dT%H:%M:%S.0000000"
    return {"isAllDay": False, "start": {"dateTime": start.strftime(fmt), "timeZone": "UTC"},
            "end": {"dateTime": end.strftime(fmt), "timeZone": "UTC"}}


