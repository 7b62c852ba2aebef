"""transform.py: Salesforce rows <-> frame <-> Graph events, both ways, per field and rule."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from calsync.profiles import Profile
from calsync.schema import FIELD_NAMES, ISSUE_COLUMNS, REMOVED_COLUMNS, SIDE_COLUMNS, common_hash, own_hash
from calsync.timezones import to_iana, to_windows
from calsync.transform import (
    NO_MAILBOX,
    SERIES_NOT_SYNCED,
    STAMP_PROPERTY_ID,
    TEXT_TRUNCATED,
    UNKNOWN_TIME_ZONE,
    frame_to_graph,
    frame_to_salesforce,
    graph_to_frame,
    make_stamp,
    parse_stamp,
    salesforce_to_frame,
)

EVENTS = Profile.model_validate({"id": "events", "kind": "event"})
MILESTONES = Profile.model_validate(
    {
        "id": "milestones",
        "kind": "object",
        "sobject": "Project_Milestone__c",
        "label": "Project Milestone",
        "date_fields": {"date": "Due_Date__c"},
        "field_map": {"subject": "Milestone: {Name} ({Project__r.Name})"},
        "categories": {"color": "preset4"},
    }
)
VISITS = Profile.model_validate(
    {
        "id": "site_visits",
        "kind": "object",
        "sobject": "Site_Visit__c",
        "date_fields": {"start": "Visit_Start__c", "end": "Visit_End__c"},
        "field_map": {"location": "Site__c"},
    }
)
ALICE = "alice@example.com"
USERS = {"005A": ALICE, "005B": "bob@example.com"}
X_COLS = [common_hash(f) for f in FIELD_NAMES]


def sf_event(**kw: Any) -> dict[str, Any]:
    row = {
        "attributes": {"type": "Event"},
        "Id": "00U000000000001",
        "OwnerId": "005A",
        "Subject": "Kickoff",
        "Description": "Agenda\nitems",
        "Location": "Room 1",
        "IsAllDayEvent": False,
        "StartDateTime": "2024-05-01T09:00:00.000+0000",
        "EndDateTime": "2024-05-01T10:00:00.000+0000",
        "ActivityDate": "2024-05-01",
        "DurationInMinutes": 60,
        "ShowAs": "Busy",
        "IsPrivate": False,
        "IsReminderSet": True,
        "ReminderDateTime": "2024-05-01T08:45:00.000+0000",
        "IsDeleted": False,
        "IsRecurrence": False,
        "CalSync_Event_Id__c": None,
        "WhoId": "003X",
        "WhatId": None,
        "LastModifiedDate": "2024-04-01T12:00:00.000+0000",
        "LastModifiedById": "005A",
        "SystemModstamp": "2024-04-01T12:00:00.000+0000",
    }
    row.update(kw)
    return row


def g_event(**kw: Any) -> dict[str, Any]:
    ev = {
        "id": "AAMkA1",
        "iCalUId": "040000008200E001",
        "subject": "Kickoff",
        "body": {"contentType": "html", "content": "<html><body><p>Agenda</p><p>items</p></body></html>"},
        "location": {"displayName": "Room 1"},
        "start": {"dateTime": "2024-05-01T09:00:00.0000000", "timeZone": "UTC"},
        "end": {"dateTime": "2024-05-01T10:00:00.0000000", "timeZone": "UTC"},
        "isAllDay": False,
        "showAs": "busy",
        "sensitivity": "normal",
        "isReminderOn": True,
        "reminderMinutesBeforeStart": 15,
        "categories": ["Salesforce"],
        "attendees": [],
        "organizer": {"emailAddress": {"address": ALICE}},
        "isOrganizer": True,
        "isCancelled": False,
        "type": "singleInstance",
        "lastModifiedDateTime": "2024-04-02T08:00:00.1234567Z",
        "changeKey": "ck1",
    }
    ev.update(kw)
    return ev


def read_sf(rows: list[dict[str, Any]], profile: Profile = EVENTS, **kw: Any) -> Any:
    kw.setdefault("user_emails", USERS)
    return salesforce_to_frame(rows, profile, **kw)


def read_g(events: list[dict[str, Any]], profile: Profile = EVENTS, mailbox: str = ALICE, **kw: Any) -> Any:
    return graph_to_frame({mailbox: events}, profile, **kw)


def up_down_sf(row: pd.Series, profile: Profile = EVENTS, record_id: str = "00U000000000009") -> pd.Series:
    """A mailbox row written to Salesforce and read back as Salesforce would return it."""
    fields, _issues = frame_to_salesforce(row, profile, create=True, owner_id="005A")
    return read_sf([{"Id": record_id, "OwnerId": "005A", "IsDeleted": False, **fields}], profile).frame.iloc[
        0
    ]


def down_graph(
    row: pd.Series, profile: Profile = EVENTS, zone: str = "UTC", mailbox: str = ALICE
) -> pd.Series:
    """A Salesforce row written to Graph (create) and read back as Graph would return it."""
    body = frame_to_graph(
        row,
        profile,
        create=True,
        mailbox_time_zone=zone,
        stamp=make_stamp(profile.id, row["record_id"], "salesforce"),
    )
    ev = {
        "id": "AAMkNEW",
        "iCalUId": "uid-new",
        "type": "singleInstance",
        "isOrganizer": True,
        "organizer": {"emailAddress": {"address": mailbox}},
        **body,
    }
    return read_g([ev], profile, mailbox=mailbox, mailbox_time_zones={mailbox: zone}).frame.iloc[0]


def assert_common_equal(a: pd.Series, b: pd.Series, fields: tuple[str, ...]) -> None:
    for f in fields:
        assert a[common_hash(f)] == b[common_hash(f)], f


# --- shapes ---------------------------------------------------------------------------------------


def test_frames_have_the_contract_columns() -> None:
    # R-C1: the side frame contract (schema.SIDE_COLUMNS).
    sf = read_sf([sf_event()])
    g = read_g([g_event(), {"id": "gone", "@removed": {"reason": "deleted"}}])
    assert list(sf.frame.columns) == list(SIDE_COLUMNS) == list(g.frame.columns)
    assert list(sf.issues.columns) == list(ISSUE_COLUMNS) and list(g.removed.columns) == list(REMOVED_COLUMNS)
    for name, dtype in SIDE_COLUMNS.items():
        if dtype != "int64":
            assert sf.frame[name].dtype == dtype, name


def test_empty_inputs() -> None:
    assert len(read_sf([]).frame) == 0 and len(read_g([]).frame) == 0


# --- round trips per field (R-C1) -----------------------------------------------------------------


def test_downsync_round_trip_keeps_every_common_hash() -> None:
    # R-C1: what calsync writes to Graph comes back as no difference in any synced field.
    sf = read_sf(
        [sf_event(IsPrivate=True, ShowAs="OutOfOffice")],
        attendees={"00U000000000001": ["carol@example.com", ALICE, "Dan@Example.com"]},
    ).frame.iloc[0]
    back = down_graph(sf)
    assert_common_equal(sf, back, EVENTS.synced_fields)
    assert back["stamp"] == "events|00U000000000001|salesforce" and back["record_id"] == sf["record_id"]
    assert list(back["categories"]) == ["Salesforce"]


def test_upsync_round_trip_keeps_every_common_hash() -> None:
    # R-C1 with lossy mappings: HTML body, tentative, confidential all come back equal in common form.
    g = read_g(
        [
            g_event(
                showAs="tentative",
                sensitivity="confidential",
                attendees=[{"emailAddress": {"address": "Carol@example.com"}}],
            )
        ]
    ).frame.iloc[0]
    sf = up_down_sf(g)
    for f in ("body", "show_as", "sensitivity"):
        assert sf[own_hash(f)] != g[own_hash(f)] or f == "sensitivity", f  # the own forms differ
    sf_rows = read_sf(
        [
            {
                "Id": "00U9",
                "OwnerId": "005A",
                "IsDeleted": False,
                **frame_to_salesforce(g, EVENTS, create=True)[0],
            }
        ],
        attendees={"00U9": list(g["attendees"])},
    ).frame.iloc[0]
    assert_common_equal(g, sf_rows, EVENTS.synced_fields)
    assert sf["external_id"] == "040000008200E001"  # R-M5: the iCalUId is the upsert key


def test_show_as_mapping() -> None:
    # R-M4
    # Salesforce has Busy, Free, OutOfOffice; Graph six values.
    cases = {
        "free": "Free",
        "busy": "Busy",
        "oof": "OutOfOffice",
        "tentative": "Busy",
        "workingElsewhere": "Busy",
        "unknown": "Busy",
    }
    for graph_value, sf_value in cases.items():
        g = read_g([g_event(showAs=graph_value)]).frame.iloc[0]
        assert frame_to_salesforce(g, EVENTS, fields=["show_as"])[0] == {"ShowAs": sf_value}
    sf = read_sf([sf_event(ShowAs="OutOfOffice")]).frame.iloc[0]
    assert sf["show_as"] == "oof" and frame_to_graph(sf, EVENTS, fields=["show_as"]) == {"showAs": "oof"}


def test_reminder_both_ways_and_moved_start_moves_it() -> None:
    # R-M4
    sf = read_sf([sf_event()]).frame.iloc[0]
    assert sf["reminder_minutes"] == 15
    assert frame_to_graph(sf, EVENTS, fields=["reminder"]) == {
        "isReminderOn": True,
        "reminderMinutesBeforeStart": 15,
    }
    off = read_sf([sf_event(IsReminderSet=False)]).frame.iloc[0]
    assert pd.isna(off["reminder_minutes"])
    g = read_g([g_event(isReminderOn=False)]).frame.iloc[0]
    assert frame_to_salesforce(g, EVENTS, fields=["reminder"])[0] == {
        "IsReminderSet": False,
        "ReminderDateTime": None,
    }
    # A new start time in Graph: the absolute Salesforce reminder follows it.
    moved = read_g(
        [
            g_event(
                start={"dateTime": "2024-05-02T09:00:00", "timeZone": "UTC"},
                end={"dateTime": "2024-05-02T10:00:00", "timeZone": "UTC"},
            )
        ]
    ).frame.iloc[0]
    fields = frame_to_salesforce(moved, EVENTS, fields=["when"])[0]
    assert fields["ReminderDateTime"] == "2024-05-02T08:45:00.000Z" and fields["IsReminderSet"] is True


def test_templates_are_rendered_and_never_upsynced() -> None:
    # R-M4: a template over fields, write-only (Salesforce -> mailbox).
    p = Profile.model_validate(
        {"id": "events", "kind": "event", "field_map": {"subject": "{Subject} / {What.Name}"}}
    )
    sf = read_sf([sf_event(What={"attributes": {}, "Name": "Acme"})], p).frame.iloc[0]
    assert sf["subject"] == "Kickoff / Acme"
    g = read_g([g_event(subject="Changed in Outlook")], p).frame.iloc[0]
    assert "Subject" not in frame_to_salesforce(g, p)[0]


def test_bulk_csv_strings_equal_json_records() -> None:
    # R-S5 (Bulk API 2.0 extracts), R-C1
    # Bulk API 2.0 CSV: strings everywhere, "" for null, relationship columns flattened with dots.
    json_rows = [sf_event()]
    csv_rows = pd.DataFrame(
        [
            {
                k: ("" if v is None else str(v).lower() if isinstance(v, bool) else str(v))
                for k, v in sf_event().items()
                if k != "attributes"
            }
        ]
    )
    a, b = read_sf(json_rows).frame, read_sf(csv_rows).frame
    for col in [own_hash(f) for f in FIELD_NAMES] + X_COLS:
        assert a[col].iloc[0] == b[col].iloc[0], col


# --- all-day and time zones (R-M2, R-M9) --------------------------------------------------------------


@pytest.mark.parametrize(
    "zone",
    [
        "Europe/Berlin",  # DST starts 2024-03-31 02:00
        "W. Europe Standard Time",  # the same zone by its Windows name
        "America/New_York",
        "Pacific Standard Time",
        "Australia/Lord_Howe",  # half-hour DST
        "Pacific/Kiritimati",  # UTC+14
        "America/Sao_Paulo",
    ],
)
@pytest.mark.parametrize("day", [date(2024, 3, 31), date(2024, 10, 27), date(2024, 3, 10), date(2024, 11, 3)])
def test_all_day_event_round_trip_in_zones(zone: str, day: date) -> None:
    # R-M2: an all-day Event spans DurationInMinutes/1440 days; R-M9: written midnight to midnight in
    # the mailbox's zone, read back as the same floating dates.
    sf = read_sf(
        [
            sf_event(
                IsAllDayEvent=True,
                ActivityDate=day.isoformat(),
                DurationInMinutes=2880,
                StartDateTime=f"{day.isoformat()}T00:00:00.000+0000",
                EndDateTime=None,
            )
        ],
        mailbox_time_zones={ALICE: zone},
    ).frame.iloc[0]
    assert sf["start_date"] == day and sf["end_date"] == day + timedelta(days=2)
    body = frame_to_graph(sf, EVENTS, fields=["when"], mailbox_time_zone=zone)
    assert body["isAllDay"] is True and body["start"]["dateTime"] == f"{day.isoformat()}T00:00:00.0000000"
    assert body["end"]["dateTime"] == f"{(day + timedelta(days=2)).isoformat()}T00:00:00.0000000"
    back = down_graph(sf, zone=zone)
    assert back["h_when"] == sf["h_when"] and back["start_date"] == day
    # The UTC instant is local midnight in the mailbox's zone (window tests, R-S2).
    local = pd.Timestamp(day).tz_localize(to_iana(zone))
    assert back["start_utc"] == local.tz_convert("UTC") == sf["start_utc"]
    # Back to Salesforce: ActivityDate and a whole number of days.
    fields = frame_to_salesforce(back, EVENTS, fields=["when"])[0]
    assert fields["ActivityDate"] == day.isoformat() and fields["DurationInMinutes"] == 2880


def test_mailbox_time_zone_change_is_not_an_edit() -> None:
    # R-M9: the same all-day item, the mailbox moved from Berlin to New York: no change of `when`.
    ev = g_event(
        isAllDay=True,
        start={"dateTime": "2024-05-01T00:00:00.0000000", "timeZone": "W. Europe Standard Time"},
        end={"dateTime": "2024-05-02T00:00:00.0000000", "timeZone": "W. Europe Standard Time"},
    )
    before = read_g([ev], mailbox_time_zones={ALICE: "Europe/Berlin"}).frame.iloc[0]
    after = read_g([ev], mailbox_time_zones={ALICE: "Eastern Standard Time"}).frame.iloc[0]
    assert before["h_when"] == after["h_when"] and before["start_date"] == date(2024, 5, 1)
    # Read with Prefer: outlook.timezone="UTC" the same item still says midnight: the same dates.
    as_utc = g_event(
        isAllDay=True,
        start={"dateTime": "2024-05-01T00:00:00.0000000", "timeZone": "UTC"},
        end={"dateTime": "2024-05-02T00:00:00.0000000", "timeZone": "UTC"},
    )
    assert (
        read_g([as_utc], mailbox_time_zones={ALICE: "Asia/Tokyo"}).frame.iloc[0]["h_when"] == before["h_when"]
    )


def test_all_day_not_at_midnight_is_read_in_the_mailbox_zone() -> None:
    # R-M9
    # An all-day item converted to UTC by the server (22:00Z the day before, Berlin summer time).
    ev = g_event(
        isAllDay=True,
        start={"dateTime": "2024-04-30T22:00:00.0000000", "timeZone": "UTC"},
        end={"dateTime": "2024-05-01T22:00:00.0000000", "timeZone": "UTC"},
    )
    row = read_g([ev], mailbox_time_zones={ALICE: "Europe/Berlin"}).frame.iloc[0]
    assert (row["start_date"], row["end_date"]) == (date(2024, 5, 1), date(2024, 5, 2))


def test_timed_item_zone_is_irrelevant() -> None:
    # R-M9: timed items are compared in UTC; a change of the item's zone with the same instant is no edit.
    utc = read_g([g_event()]).frame.iloc[0]
    berlin = read_g(
        [
            g_event(
                start={"dateTime": "2024-05-01T11:00:00.0000000", "timeZone": "Europe/Berlin"},
                end={"dateTime": "2024-05-01T12:00:00.0000000", "timeZone": "W. Europe Standard Time"},
            )
        ]
    ).frame.iloc[0]
    assert utc["h_when"] == berlin["h_when"]
    assert utc["start_utc"] == pd.Timestamp("2024-05-01T09:00:00Z")


def test_dst_edge_wall_times() -> None:
    # R-M9
    # 02:30 on the spring-forward night does not exist in Berlin; on the fall-back night it exists twice.
    spring = read_g(
        [
            g_event(
                start={"dateTime": "2024-03-31T02:30:00", "timeZone": "Europe/Berlin"},
                end={"dateTime": "2024-03-31T04:00:00", "timeZone": "Europe/Berlin"},
            )
        ]
    ).frame.iloc[0]
    assert spring["start_utc"] == pd.Timestamp("2024-03-31T01:00:00Z")  # shifted forward to 03:00 CEST
    fall = read_g(
        [
            g_event(
                start={"dateTime": "2024-10-27T02:30:00", "timeZone": "Europe/Berlin"},
                end={"dateTime": "2024-10-27T04:00:00", "timeZone": "Europe/Berlin"},
            )
        ]
    ).frame.iloc[0]
    assert fall["start_utc"] == pd.Timestamp("2024-10-27T00:30:00Z")  # the first (summer-time) 02:30


def test_unknown_time_zone_is_an_issue_for_that_row_only() -> None:
    # R-M9: a zone calsync cannot map stops that item with UNKNOWN_TIME_ZONE; the frame goes on.
    bad = g_event(id="BAD", start={"dateTime": "2024-05-01T09:00:00", "timeZone": "Customized Time Zone"})
    r = read_g([g_event(), bad])
    assert len(r.frame) == 2
    assert r.issues["code"].tolist() == [UNKNOWN_TIME_ZONE] and r.issues["item_id"].tolist() == ["BAD"]
    assert bool(r.issues["quarantine"].iloc[0])
    assert pd.isna(r.frame.set_index("item_id").loc["BAD", "start_utc"])
    sf = read_sf(
        [sf_event(IsAllDayEvent=True, DurationInMinutes=1440)], mailbox_time_zones={ALICE: "Mars/Olympus"}
    )
    assert sf.issues["code"].tolist() == [UNKNOWN_TIME_ZONE]


def test_windows_and_iana_names_both_accepted() -> None:
    # R-M9
    assert to_iana("Pacific Standard Time") == "America/Los_Angeles" == to_iana("America/Los_Angeles")
    assert to_iana("tzone://Microsoft/Utc") == "UTC" and to_iana("Nowhere/Land") is None
    assert to_windows("Europe/Berlin") == "W. Europe Standard Time"


# --- object profiles (R-M2, R-M3) -------------------------------------------------------------------


def test_object_date_field_is_an_all_day_item_with_its_category() -> None:
    # R-M2, R-M3, R-M1
    rows = [
        {
            "Id": "a01",
            "OwnerId": "005A",
            "Name": "Beta",
            "Project__r": {"Name": "Apollo"},
            "Due_Date__c": "2024-06-03",
            "IsDeleted": False,
        }
    ]
    sf = read_sf(rows, MILESTONES, mailbox_time_zones={ALICE: "America/Chicago"}).frame.iloc[0]
    assert sf["subject"] == "Milestone: Beta (Apollo)"
    assert (sf["start_date"], sf["end_date"]) == (date(2024, 6, 3), date(2024, 6, 4))
    body = frame_to_graph(sf, MILESTONES, create=True, mailbox_time_zone="Central Standard Time")
    assert body["categories"] == ["Salesforce: Project Milestone"] and body["isAllDay"] is True
    assert body["start"] == {"dateTime": "2024-06-03T00:00:00.0000000", "timeZone": "Central Standard Time"}
    assert "attendees" not in body and "sensitivity" not in body  # unmapped fields are not written
    back = down_graph(sf, MILESTONES, zone="America/Chicago")
    assert_common_equal(sf, back, MILESTONES.synced_fields)
    assert frame_to_salesforce(back, MILESTONES)[0] == {}  # object profiles never upsync (R-M1)


def test_object_two_datetime_fields_are_a_timed_item() -> None:
    # R-M2, R-M3
    rows = [
        {
            "Id": "a02",
            "OwnerId": "005B",
            "Name": "Plant",
            "Site__c": "Dock 4",
            "IsDeleted": "false",
            "Visit_Start__c": "2024-06-03T13:00:00.000+0000",
            "Visit_End__c": "2024-06-03T15:30:00.000+0000",
        }
    ]
    sf = read_sf(rows, VISITS).frame.iloc[0]
    assert not sf["is_all_day"] and sf["mailbox"] == "bob@example.com"
    body = frame_to_graph(sf, VISITS, create=True)
    assert body["start"] == {"dateTime": "2024-06-03T13:00:00.0000000", "timeZone": "UTC"}
    assert body["location"] == {"displayName": "Dock 4"} and body["categories"] == ["Salesforce: Site Visit"]


# --- text limits (R-M4) ---------------------------------------------------------------------------------


def test_truncation_on_upsync_is_recorded() -> None:
    # R-M4, R-C1
    g = read_g(
        [
            g_event(
                subject="S" * 300,
                location={"displayName": "L" * 256},
                body={"contentType": "text", "content": "b" * 40_000},
            )
        ]
    )
    assert sorted(g.issues["code"]) == [TEXT_TRUNCATED] * 3  # found when read, re-checked each session
    fields, issues = frame_to_salesforce(g.frame.iloc[0], EVENTS)
    assert len(fields["Subject"]) == 255 and len(fields["Location"]) == 255
    assert len(fields["Description"]) == 32_000
    assert sorted(i["message"].split()[0] for i in issues) == ["Description", "Location", "Subject"]
    assert all(i["code"] == TEXT_TRUNCATED and not i["quarantine"] for i in issues)
    # The truncated value read back agrees with the long one in common form (R-C1): no endless update.
    sf = read_sf([{"Id": "00U7", "OwnerId": "005A", "IsDeleted": False, **fields}]).frame.iloc[0]
    assert_common_equal(g.frame.iloc[0], sf, ("subject", "location", "body"))


def test_no_truncation_issue_for_items_out_of_scope() -> None:
    # R-M4, R-S3
    g = read_g([g_event(subject="S" * 300, categories=[])])
    assert g.issues.empty


# --- privacy (R-P1, R-Z2) -----------------------------------------------------------------------------


def test_private_and_confidential() -> None:
    # R-P1: Graph's private counts as private; confidential does not. IsPrivate <-> private.
    r = read_g([g_event(id="P", sensitivity="private"), g_event(id="C", sensitivity="confidential")]).frame
    r = r.set_index("item_id")
    assert bool(r.loc["P", "is_private"]) and not bool(r.loc["C", "is_private"])
    assert frame_to_salesforce(r.loc["P"], EVENTS, fields=["sensitivity"])[0] == {"IsPrivate": True}
    assert frame_to_salesforce(r.loc["C"], EVENTS, fields=["sensitivity"])[0] == {"IsPrivate": False}
    sf = read_sf([sf_event(IsPrivate=True)]).frame.iloc[0]
    assert sf["sensitivity"] == "private" and frame_to_graph(sf, EVENTS, fields=["sensitivity"]) == {
        "sensitivity": "private"
    }
    sync_without_flag = Profile.model_validate({**EVENTS.model_dump(), "private_items": "sync_without_flag"})
    assert "sensitivity" not in sync_without_flag.synced_fields


def test_private_bodies_are_not_kept_but_hashed() -> None:
    # R-Z2: the body of a private item is never staged; its hash still detects an edit.
    a = read_g([g_event(sensitivity="private")]).frame.iloc[0]
    b = read_g([g_event(sensitivity="private", body={"contentType": "text", "content": "other"})]).frame.iloc[
        0
    ]
    assert pd.isna(a["body"]) and a["h_body"] != b["h_body"]


# --- deletes (R-C3) -------------------------------------------------------------------------------------


def test_delta_removed_is_not_a_delete() -> None:
    # R-C3: @removed is also sent for items that left the range: a removed id, never a deleted row.
    r = read_g(
        [
            g_event(),
            {"@odata.type": "#microsoft.graph.event", "id": "GONE", "@removed": {"reason": "deleted"}},
        ]
    )
    assert r.frame["item_id"].tolist() == ["AAMkA1"] and (r.frame["presence"] == "present").all()
    assert r.removed[["mailbox", "item_id", "reason"]].values.tolist() == [[ALICE, "GONE", "deleted"]]


def test_confirmed_deletes_and_cancellations_are_deleted_rows() -> None:
    # R-C3: a 404 on a read by id, or an item the organizer cancelled.
    r = read_g([g_event(), g_event(id="CANCEL", isCancelled=True)], confirmed_deleted=[(ALICE, "GONE")])
    presence = dict(zip(r.frame["item_id"], r.frame["presence"], strict=True))
    assert presence == {"AAMkA1": "present", "CANCEL": "deleted", "GONE": "deleted"}


def test_salesforce_is_deleted_rows() -> None:
    # R-C3: IsDeleted from queryAll confirms a delete.
    r = read_sf([sf_event(IsDeleted=True)])
    assert r.frame["presence"].tolist() == ["deleted"] and r.issues.empty


# --- identity, attendees, mailboxes, series ------------------------------------------------------------


def test_stamp_read_and_written() -> None:
    # R-M8: the stamp is a single-value extended property; Graph may upper-case the GUID.
    prop = {
        "id": STAMP_PROPERTY_ID.upper().replace("STRING", "String").replace("NAME", "Name"),
        "value": "events|00U1|mailbox",
    }
    r = read_g([g_event(singleValueExtendedProperties=[prop])]).frame.iloc[0]
    assert r["stamp"] == "events|00U1|mailbox" and r["record_id"] == "00U1"
    other = read_g([g_event(singleValueExtendedProperties=[{**prop, "value": "milestones|a01|salesforce"}])])
    assert pd.isna(other.frame["record_id"].iloc[0])  # another profile's item (R-O2)
    assert parse_stamp("") is None and parse_stamp("a|b|c") is None
    cleared = frame_to_graph(r, EVENTS, fields=[], stamp="", categories=[])
    assert cleared == {
        "categories": [],
        "singleValueExtendedProperties": [{"id": STAMP_PROPERTY_ID, "value": ""}],
    }


def test_attendees_exclude_mailbox_owner_and_organizer() -> None:
    # R-O4: the mailbox's own address and the record owner are never attendees.
    sf = read_sf(
        [sf_event()],
        attendees=pd.DataFrame(
            {"EventId": ["00U000000000001"] * 3, "Email": [ALICE.upper(), "Carol@x.com", None]}
        ),
    )
    assert list(sf.frame["attendees"].iloc[0]) == ["carol@x.com"]
    g = read_g(
        [
            g_event(
                organizer={"emailAddress": {"address": "boss@x.com"}},
                attendees=[
                    {"emailAddress": {"address": ALICE}},
                    {"emailAddress": {"address": "Boss@x.com"}},
                    {"emailAddress": {"address": "Zed@x.com"}},
                    {"emailAddress": {"address": "amy@x.com"}},
                ],
            )
        ]
    )
    assert list(g.frame["attendees"].iloc[0]) == ["amy@x.com", "zed@x.com"]
    assert g.frame["organizer"].iloc[0] == "boss@x.com"  # R-O4: a copy waits for a synced organizer
    body = frame_to_graph(g.frame.iloc[0], EVENTS, fields=["attendees"])
    assert [a["emailAddress"]["address"] for a in body["attendees"]] == ["amy@x.com", "zed@x.com"]


def test_no_mailbox_issue_and_fixed_broadcast() -> None:
    # R-M7: the owner's email decides the mailbox; a fixed list broadcasts one record.
    r = read_sf([sf_event(OwnerId="005Z")])
    assert r.issues["code"].tolist() == [NO_MAILBOX] and pd.isna(r.frame["mailbox"].iloc[0])
    fixed = Profile.model_validate(
        {
            "id": "company",
            "kind": "event",
            "direction": "salesforce_to_mailbox",
            "mailboxes": {"fixed": ["x@e.com", "y@e.com"]},
        }
    )
    b = read_sf([sf_event()], fixed, user_emails={})
    assert b.frame["mailbox"].tolist() == ["x@e.com", "y@e.com"] and b.issues.empty
    assert b.frame["record_id"].nunique() == 1


def test_series_get_one_issue_per_series() -> None:
    # R-M6: a mailbox series and a recurring Salesforce Event are never synced; one issue per series.
    occ = [g_event(id=f"O{i}", type="occurrence", seriesMasterId="M1") for i in range(3)]
    r = read_g([*occ, g_event(id="M1", type="seriesMaster")])
    assert r.issues["code"].tolist() == [SERIES_NOT_SYNCED] and r.issues["item_id"].tolist() == ["M1"]
    assert set(r.frame["series_type"]) == {"occurrence", "master"}
    sf = read_sf(
        [
            sf_event(Id="00UM", IsRecurrence=True),
            sf_event(Id="00U1", RecurrenceActivityId="00UM"),
            sf_event(Id="00U2", RecurrenceActivityId="00UM"),
        ]
    )
    assert sf.issues["code"].tolist() == [SERIES_NOT_SYNCED] and sf.issues["record_id"].tolist() == ["00UM"]
    assert sf.frame["series_type"].tolist() == ["master", "occurrence", "occurrence"]


def test_salesforce_metadata_columns() -> None:
    # R-M5, R-D1, R-D2
    r = read_sf([sf_event(CalSync_Event_Id__c="uid-1")]).frame.iloc[0]
    assert r["external_id"] == r["ical_uid"] == "uid-1"
    assert r["last_modified"] == datetime(2024, 4, 1, 12, tzinfo=UTC) and r["last_modified_by"] == "005A"
    assert r["preserve"] == '{"WhatId": null, "WhoId": "003X"}'
    fields = frame_to_salesforce(r, EVENTS, create=True)[0]
    assert fields["WhoId"] == "003X" and "WhatId" not in fields  # R-D2 preserve_fields on re-create


# --- property: a mailbox item written to Salesforce agrees with itself in common form (R-C1) ------------

_text = st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), max_size=300)


@settings(max_examples=20, deadline=None)
@given(
    subject=_text,
    location=_text,
    body=_text,
    html=st.booleans(),
    start=st.integers(0, 10**8),
    minutes=st.integers(1, 60 * 24 * 3),
    show=st.sampled_from(["free", "tentative", "busy", "oof", "workingElsewhere", "unknown"]),
    sens=st.sampled_from(["normal", "personal", "private", "confidential"]),
    reminder=st.one_of(st.none(), st.integers(0, 10_000)),
)
def test_upsync_round_trip_property(
    subject: str,
    location: str,
    body: str,
    html: bool,
    start: int,
    minutes: int,
    show: str,
    sens: str,
    reminder: int | None,
) -> None:
    # R-C1, R-M4: lossy mappings agree in common form, both ways.
    t0 = datetime(2024, 1, 1, tzinfo=UTC) + timedelta(seconds=start)
    t1 = t0 + timedelta(minutes=minutes)
    content = "<p>" + body.replace("&", "&amp;").replace("<", "&lt;") + "</p>" if html else body
    ev = g_event(
        subject=subject,
        location={"displayName": location},
        body={"contentType": "html" if html else "text", "content": content},
        start={"dateTime": t0.strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": "UTC"},
        end={"dateTime": t1.strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": "UTC"},
        showAs=show,
        sensitivity=sens,
        isReminderOn=reminder is not None,
        reminderMinutesBeforeStart=reminder or 0,
    )
    g = read_g([ev], drop_private_bodies=False).frame.iloc[0]
    sf = up_down_sf(g)
    assert_common_equal(g, sf, ("subject", "location", "body", "when", "show_as", "sensitivity", "reminder"))
    # ... and that Salesforce value written back to Graph agrees again.
    again = down_graph(sf)
    assert_common_equal(
        sf, again, ("subject", "location", "body", "when", "show_as", "sensitivity", "reminder")
    )


def test_rows_from_iterrows_with_empty_attendees() -> None:
    # R-P2: a list column comes back as a numpy array from iterrows; an empty one is no attendee.
    frame = read_sf([sf_event()]).frame
    for _, row in frame.iterrows():
        assert frame_to_graph(row, EVENTS, fields=["attendees"]) == {"attendees": []}


def test_round_trip_through_the_graph_emulator_model() -> None:
    # R-C1, R-M9: what the sandbox's Graph model stores and renders (in any Prefer outlook.timezone)
    # reads back equal in common form, all-day and timed, with the stamp (R-M8).
    from sandbox.clock import Clock
    from sandbox.graph.models import Tenant
    from sandbox.graph.responses import event_json

    tenant = Tenant(Clock())
    tenant.add_mailbox(ALICE, "Alice", "Pacific Standard Time")
    mailbox = tenant.resolve(ALICE)
    rows = [
        sf_event(
            Id="00UA",
            IsAllDayEvent=True,
            ActivityDate="2024-03-10",
            DurationInMinutes=1440,
            StartDateTime=None,
            EndDateTime=None,
            IsPrivate=True,
            ShowAs="OutOfOffice",
            ReminderDateTime="2024-03-09T16:00:00.000+0000",
        ),
        sf_event(Id="00UB", ShowAs="Free"),
    ]
    zones = {ALICE: "Pacific Standard Time"}
    sf = read_sf(rows, mailbox_time_zones=zones, attendees={"00UB": ["bob@y.com"]}).frame
    sf = sf.set_index("record_id")
    for record_id, row in sf.iterrows():
        body = frame_to_graph(
            row,
            EVENTS,
            create=True,
            mailbox_time_zone="Pacific Standard Time",
            stamp=make_stamp("events", str(record_id), "salesforce"),
        )
        stored, _created = tenant.create_event(mailbox, body)
        for zone in ("UTC", "Pacific Standard Time", "Tokyo Standard Time"):
            g = read_g(
                [event_json(stored, zone, expand_ext=True)],
                mailbox_time_zones=zones,
                drop_private_bodies=False,
            ).frame.iloc[0]
            assert g["record_id"] == record_id
            assert_common_equal(row, g, EVENTS.synced_fields)


def test_mailbox_by_user_field() -> None:
    # R-M7: a profile may name another user-lookup field; the owner still never is an attendee (R-O4).
    p = Profile.model_validate(
        {"id": "events", "kind": "event", "mailboxes": {"user_field": "Assigned_To__c"}}
    )
    r = read_sf(
        [sf_event(Assigned_To__c="005B")], p, attendees={"00U000000000001": [ALICE, "bob@example.com"]}
    )
    row = r.frame.iloc[0]
    assert row["mailbox"] == "bob@example.com" and list(row["attendees"]) == []
    assert "Assigned_To__c" in p.salesforce_fields()


_ZONES = [
    "Europe/Berlin",
    "America/New_York",
    "Pacific Standard Time",
    "Australia/Lord_Howe",
    "Asia/Kolkata",
    "Pacific/Kiritimati",
    "Pacific/Pago_Pago",
    "America/St_Johns",
    "UTC",
]


@settings(max_examples=25, deadline=None)
@given(
    day=st.dates(min_value=date(2000, 1, 1), max_value=date(2037, 12, 31)),
    days=st.integers(1, 14),
    zone=st.sampled_from(_ZONES),
    read_zone=st.sampled_from(_ZONES),
)
def test_all_day_dates_survive_any_zone_property(day: date, days: int, zone: str, read_zone: str) -> None:
    # R-M2, R-M9: an all-day Event written in one mailbox zone and read in another keeps its dates.
    sf = read_sf(
        [
            sf_event(
                IsAllDayEvent=True,
                ActivityDate=day.isoformat(),
                DurationInMinutes=days * 1440,
                StartDateTime=None,
                EndDateTime=None,
            )
        ],
        mailbox_time_zones={ALICE: zone},
    ).frame.iloc[0]
    body = frame_to_graph(sf, EVENTS, create=True, mailbox_time_zone=zone)
    ev = {"id": "X", "type": "singleInstance", **body}
    back = read_g([ev], mailbox_time_zones={ALICE: read_zone}).frame.iloc[0]
    assert (back["start_date"], back["end_date"]) == (day, day + timedelta(days=days))
    assert back["h_when"] == sf["h_when"]
