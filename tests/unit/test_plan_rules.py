"""The planner, rule by rule (SPEC v2). Each test names the rule it checks."""

from __future__ import annotations

import pandas as pd
import pytest
from plan_fixtures import (
    REF,
    A,
    B,
    World,
    before_of,
    event_profile,
    fields_of,
    object_profile,
    ops,
)

from calsync.plan import (
    AMBIGUOUS_MATCH,
    NO_MAILBOX,
    OWNER_NOT_ORGANIZER,
    PRIVATE_SKIPPED,
    RECURRENCE,
    WAITING_FOR_ORGANIZER,
)
from calsync.schema import MAILBOX, SALESFORCE

# --- product note examples ---------------------------------------------------------------------------


def test_salesforce_edit_under_mailbox_to_salesforce_is_reverted_with_the_overwritten_value() -> None:
    # R-D2 / R-D4: the product note's first example.
    w = World(event_profile(direction="mailbox_to_salesforce"))
    w.pair("a01", "i01")
    w.edit_sf("a01", subject="Edited in Salesforce", last_modified=REF)
    r = w.plan()
    assert ops(r) == [(SALESFORCE, "revert_update", "R-D2")]
    assert fields_of(r, "revert_update", SALESFORCE) == {"subject": "Quarterly review"}
    before = before_of(r, "revert_update", SALESFORCE)
    assert before["subject"] == "Edited in Salesforce"
    assert before["_last_modified"].startswith(REF.isoformat()[:19])  # R-D4 audit: when


def test_salesforce_created_record_is_still_downsynced_under_mailbox_to_salesforce() -> None:
    # R-D2: records created in Salesforce are still downsynced.
    w = World(event_profile(direction="mailbox_to_salesforce"))
    w.record("a01", subject="Created in Salesforce")
    r = w.plan()
    assert ops(r) == [(MAILBOX, "create", "R-D2")]
    created = fields_of(r, "create", MAILBOX)
    assert created["subject"] == "Created in Salesforce"
    assert created["categories"] == ["Salesforce"]
    assert created["stamp"] == "events|a01|salesforce"  # R-M8


def test_outlook_edit_under_salesforce_to_mailbox_is_reverted() -> None:
    # R-D3: the product note's second example.
    w = World(event_profile(direction="salesforce_to_mailbox"))
    w.pair("a01", "i01")
    w.edit_mb("i01", location="Somewhere else")
    r = w.plan()
    assert ops(r) == [(MAILBOX, "revert_update", "R-D3")]
    assert fields_of(r, "revert_update", MAILBOX) == {"location": "Room 1"}
    assert before_of(r, "revert_update", MAILBOX)["location"] == "Somewhere else"


def test_custom_object_lands_with_its_own_category() -> None:
    # R-M1 / R-M3: an object profile writes Salesforce -> mailbox with the object's category.
    w = World(object_profile())
    w.record("a0X1", subject="Go-live")
    r = w.plan()
    assert ops(r) == [(MAILBOX, "create", "R-M3")]
    created = fields_of(r, "create", MAILBOX)
    assert created["categories"] == ["Salesforce: Project Milestone"]
    assert "attendees" not in created  # object profiles never sync attendees


# --- change detection ---------------------------------------------------------------------------------


def test_one_side_edit_is_conveyed_field_by_field() -> None:
    # R-D1 / R-C1: only the changed field travels.
    w = World(event_profile())
    w.pair("a01", "i01")
    w.edit_mb("i01", subject="Renamed", last_modified=REF)
    r = w.plan()
    assert ops(r) == [(SALESFORCE, "update", "R-D1")]
    assert fields_of(r, "update", SALESFORCE) == {"subject": "Renamed"}


def test_both_sides_changed_to_the_same_value_is_not_a_conflict() -> None:
    # R-C1: cross-side equality by the common hash.
    w = World(event_profile())
    w.pair("a01", "i01")
    w.edit_sf("a01", subject="Same")
    w.edit_mb("i01", subject="Same")
    assert ops(w.plan()) == []


def test_a_lossy_difference_is_never_an_edit() -> None:
    # R-C1: a 'personal' item maps to IsPrivate false; the sides differ in common form only by loss.
    w = World(event_profile())
    w.record("a01", sensitivity="normal")
    w.item("i01", sensitivity="personal")
    w.link("a01", "i01")
    assert ops(w.plan()) == []


def test_conflict_newest_mailbox_wins_within_clock_skew() -> None:
    # R-D1: within clock_skew_seconds the mailbox wins.
    w = World(event_profile())
    w.pair("a01", "i01")
    w.edit_sf("a01", subject="SF", last_modified=REF + pd.Timedelta(seconds=30))
    w.edit_mb("i01", subject="MB", last_modified=REF)
    r = w.plan()
    assert ops(r) == [(SALESFORCE, "update", "R-D1")]
    row = r.actions.iloc[0]
    assert bool(row["conflict"]) and row["winner"] == MAILBOX
    assert before_of(r, "update", SALESFORCE)["subject"] == "SF"  # both values recorded


def test_conflict_newest_salesforce_wins_when_later_than_the_skew() -> None:
    # R-D1
    w = World(event_profile())
    w.pair("a01", "i01")
    w.edit_sf("a01", subject="SF", last_modified=REF + pd.Timedelta(minutes=5))
    w.edit_mb("i01", subject="MB", last_modified=REF)
    r = w.plan()
    assert ops(r) == [(MAILBOX, "update", "R-D1")]
    assert r.actions.iloc[0]["winner"] == SALESFORCE


@pytest.mark.parametrize(("winner", "side"), [("salesforce", MAILBOX), ("mailbox", SALESFORCE)])
def test_conflict_winner_fixed_side(winner: str, side: str) -> None:
    # R-D1 conflict_winner salesforce | mailbox
    w = World(event_profile(conflict_winner=winner))
    w.pair("a01", "i01")
    w.edit_sf("a01", location="SF", last_modified=REF)
    w.edit_mb("i01", location="MB", last_modified=REF + pd.Timedelta(hours=1))
    assert ops(w.plan()) == [(side, "update", "R-D1")]


def test_no_baseline_is_no_evidence_and_differing_values_resolve_like_a_conflict() -> None:
    # R-C1 / R-O3: a rebuilt link has no baselines; differing fields go to the winner.
    w = World(event_profile(conflict_winner="salesforce"))
    w.record("a01", subject="SF subject")
    w.item("i01", subject="MB subject")
    link = w.link("a01", "i01")
    for k in list(link):
        if k.startswith("base_sf_") or k.startswith("base_mb_"):
            link[k] = None
    r = w.plan()
    assert ops(r) == [(MAILBOX, "update", "R-D1")]
    assert fields_of(r, "update", MAILBOX) == {"subject": "SF subject"}


def test_both_edited_under_one_way_is_still_a_revert() -> None:
    # R-D4
    w = World(event_profile(direction="salesforce_to_mailbox"))
    w.pair("a01", "i01")
    w.edit_sf("a01", subject="SF")
    w.edit_mb("i01", subject="MB")
    assert ops(w.plan()) == [(MAILBOX, "revert_update", "R-D3")]


def test_mailbox_change_goes_up_under_mailbox_to_salesforce() -> None:
    # R-D2
    w = World(event_profile(direction="mailbox_to_salesforce"))
    w.pair("a01", "i01")
    w.edit_mb("i01", body="New agenda")
    assert ops(w.plan()) == [(SALESFORCE, "update", "R-D2")]


def test_new_mailbox_item_is_never_conveyed_under_salesforce_to_mailbox() -> None:
    # R-D3
    w = World(event_profile(direction="salesforce_to_mailbox"))
    w.item("i01")
    assert ops(w.plan()) == []


# --- deletes -----------------------------------------------------------------------------------------


def test_absence_is_never_a_delete() -> None:
    # R-C3: a linked item missing from the frame is read by id, not deleted.
    w = World(event_profile())
    w.pair("a01", "i01")
    w.edit_sf("a01", subject="x")
    r = w.plan(only_mb=set())
    assert ops(r) == []
    assert r.needs_read.to_dict("records") == [{"link_id": 1, "side": MAILBOX}]
    assert list(r.dirty_link_ids) == [1]


@pytest.mark.parametrize(
    ("strategy", "origin", "expected"),
    [
        ("keep", SALESFORCE, [(MAILBOX, "uncategorize", "R-X1"), (MAILBOX, "unlink", "R-X1")]),
        ("delete_appointments", SALESFORCE, [(MAILBOX, "delete", "R-X1")]),
        ("delete_appointments", MAILBOX, [(MAILBOX, "uncategorize", "R-X1"), (MAILBOX, "unlink", "R-X1")]),
        ("delete", MAILBOX, [(MAILBOX, "delete", "R-X1")]),
    ],
)
def test_salesforce_delete_strategies(strategy: str, origin: str, expected: list) -> None:
    # R-X1 / R-X7: the origin decides delete_appointments.
    w = World(event_profile(salesforce_deletion=strategy))
    w.pair("a01", "i01", origin=origin)
    w.delete_sf("a01")
    assert ops(w.plan()) == expected


def test_meeting_is_kept_under_delete_appointments() -> None:
    # R-X1: meetings lose the category, never deleted by delete_appointments.
    w = World(event_profile())
    w.pair("a01", "i01", attendees=["carol@example.test"])
    w.delete_sf("a01")
    assert ops(w.plan()) == [(MAILBOX, "uncategorize", "R-X1"), (MAILBOX, "unlink", "R-X1")]


def test_mailbox_delete_deletes_the_record() -> None:
    # R-X2
    w = World(event_profile())
    w.pair("a01", "i01")
    w.delete_mb("i01")
    r = w.plan()
    assert ops(r) == [(SALESFORCE, "delete", "R-X2")]
    assert before_of(r, "delete", SALESFORCE)["subject"] == "Quarterly review"  # the ledger keeps values


def test_salesforce_delete_under_mailbox_to_salesforce_is_re_created_with_preserve_fields() -> None:
    # R-D2: revert_delete with preserve_fields.
    w = World(event_profile(direction="mailbox_to_salesforce"))
    w.pair("a01", "i01")
    w.delete_sf("a01")
    r = w.plan()
    assert ops(r) == [(SALESFORCE, "revert_delete", "R-D2")]
    f = fields_of(r, "revert_delete", SALESFORCE)
    assert f["subject"] == "Quarterly review" and '"WhoId": "003X"' in f["preserve"]


def test_mailbox_delete_in_window_is_re_created_under_salesforce_to_mailbox() -> None:
    # R-D3
    w = World(event_profile(direction="salesforce_to_mailbox"))
    w.pair("a01", "i01")
    w.delete_mb("i01")
    assert ops(w.plan()) == [(MAILBOX, "revert_delete", "R-D3")]


@pytest.mark.parametrize("deleted", [SALESFORCE, MAILBOX])
def test_delete_against_edit_restores(deleted: str) -> None:
    # R-D6: the edit wins; recorded as a conflict.
    w = World(event_profile())
    w.pair("a01", "i01")
    if deleted == SALESFORCE:
        w.delete_sf("a01")
        w.edit_mb("i01", subject="Edited")
    else:
        w.delete_mb("i01")
        w.edit_sf("a01", subject="Edited")
    r = w.plan()
    assert ops(r) == [(deleted, "restore", "R-D6")]
    assert bool(r.actions.iloc[0]["conflict"])
    assert fields_of(r, "restore", deleted)["subject"] == "Edited"


def test_both_deleted_drops_the_link() -> None:
    # R-C3
    w = World(event_profile())
    w.pair("a01", "i01")
    w.delete_sf("a01")
    w.delete_mb("i01")
    assert ops(w.plan()) == [(MAILBOX, "unlink", "R-C3")]


# --- owner moves -------------------------------------------------------------------------------------


def test_owner_change_moves_an_appointment() -> None:
    # R-C4: a new item in the new mailbox, the old one treated as under R-X1 (step order R-D5).
    w = World(event_profile())
    w.pair("a01", "i01")
    w.edit_sf("a01", mailbox=B)
    r = w.plan()
    assert ops(r) == [(MAILBOX, "create", "R-C4"), (MAILBOX, "delete", "R-C4")]
    a = r.actions
    assert list(a["operation"]) == ["create", "delete"]  # the move before the removal
    assert a.iloc[0]["mailbox"] == B and a.iloc[1]["mailbox"] == A


def test_owner_change_keeps_an_outlook_edit_made_before_the_move() -> None:
    # R-C4 with R-D1: the old item's edit reaches Salesforce and the new item before the old item goes;
    # nothing is written to the old item (it is removed in the same plan, R-D5).
    w = World(event_profile())
    w.pair("a01", "i01")
    w.edit_mb("i01", subject="Edited in Outlook")
    w.edit_sf("a01", mailbox=B)
    r = w.plan()
    assert sorted(ops(r)) == sorted(
        [(MAILBOX, "create", "R-C4"), (SALESFORCE, "update", "R-D1"), (MAILBOX, "delete", "R-C4")]
    )
    assert fields_of(r, "create", MAILBOX)["subject"] == "Edited in Outlook"
    assert fields_of(r, "update", SALESFORCE) == {"subject": "Edited in Outlook"}
    w.apply(r)
    assert w.plan().actions.empty


def test_owner_change_of_a_meeting_keeps_it_with_an_issue() -> None:
    # R-C4: OWNER_NOT_ORGANIZER
    w = World(event_profile())
    w.pair("a01", "i01", attendees=["carol@example.test"])
    w.edit_sf("a01", mailbox=B)
    r = w.plan()
    assert ops(r) == []
    assert list(r.issues["code"]) == [OWNER_NOT_ORGANIZER]


def test_no_move_when_the_new_owner_has_no_mailbox() -> None:
    # R-C4 / R-M7
    w = World(event_profile())
    w.pair("a01", "i01")
    w.edit_sf("a01", mailbox=None)
    r = w.plan()
    assert ops(r) == []
    assert list(r.issues["code"]) == [NO_MAILBOX]


# --- rebuild, adoption, ownership ----------------------------------------------------------------------


def test_stamp_rebuilds_the_link_before_any_create() -> None:
    # R-O3 / R-M8
    w = World(event_profile())
    w.record("a01")
    w.item("i01", record_id="a01", stamp="events|a01|salesforce")
    r = w.plan()
    assert ops(r) == [(MAILBOX, "link", "R-O3")]
    assert fields_of(r, "link", MAILBOX)["origin"] == SALESFORCE


def test_same_event_on_both_sides_is_adopted_not_duplicated() -> None:
    # R-S7: equal subject after case-folding and whitespace collapsing, same start and end.
    w = World(event_profile())
    w.record("a01", subject="Quarterly  REVIEW")
    w.item("i01", subject="quarterly review")
    r = w.plan()
    assert [op for _, op, _ in ops(r)].count("create") == 0
    assert (MAILBOX, "link", "R-S7") in ops(r)
    assert fields_of(r, "link", MAILBOX)["origin"] == MAILBOX


def test_adopting_one_copy_of_an_external_meeting_links_the_other_copy_too() -> None:
    # R-S7 then R-O4 (R-M5): a record equal to ann's copy of an outside organizer's meeting adopts it;
    # bob's copy of the same meeting links to that record as an attendee's copy, never a second record.
    w = World(event_profile())
    copy = {"is_organizer": False, "organizer": "x@ext.test", "ical_uid": "uid-m"}
    w.record("a01", subject="Lunch")
    w.item("i01", mailbox=A, subject="Lunch", attendees=[B], **copy)
    w.item("i02", mailbox=B, subject="Lunch", attendees=[A], **copy)
    r = w.plan(synced_mailboxes=frozenset({A, B}))
    assert [op for _, op, _ in ops(r)].count("create") == 0
    links = r.actions[r.actions["operation"] == "link"].set_index("item_id")
    assert links.loc["i01", "rule"] == "R-S7" and links.loc["i02", "rule"] == "R-O4"
    assert links.loc["i02", "record_id"] == "a01"


def test_ambiguous_match_links_nothing_and_creates_nothing() -> None:
    # R-S7: AMBIGUOUS_MATCH
    w = World(event_profile())
    w.record("a01")
    w.item("i01")
    w.item("i02")
    r = w.plan()
    assert ops(r) == []
    assert set(r.issues["code"]) == {AMBIGUOUS_MATCH}


def test_a_record_claimed_by_another_profile_is_ignored() -> None:
    # R-O2
    w = World(event_profile())
    w.record("a01")
    assert ops(w.plan(claimed_records=frozenset({"a01"}))) == []


def test_a_new_mailbox_item_is_upsynced_with_its_ical_uid_as_key() -> None:
    # R-D1 / R-M5: the create is an upsert on CalSync_Event_Id__c.
    w = World(event_profile())
    w.item("i01", subject="From Outlook")
    r = w.plan()
    assert ops(r) == [(SALESFORCE, "create", "R-D1")]
    assert fields_of(r, "create", SALESFORCE)["external_id"] == "uid-i01"


def test_one_record_per_meeting_across_mailboxes() -> None:
    # R-O4: the organizer's copy is upsynced; the attendee's copy links to the same record.
    w = World(event_profile())
    w.item("i01", mailbox=A, attendees=[B], is_organizer=True, ical_uid="m1")
    w.item("i02", mailbox=B, attendees=[B], is_organizer=False, ical_uid="m1")
    r = w.plan()
    assert ops(r) == [(MAILBOX, "link", "R-O4"), (SALESFORCE, "create", "R-D1")]
    a = r.actions.set_index("operation")
    assert a.loc["create", "item_id"] == "i01" and a.loc["link", "item_id"] == "i02"


# --- categories, scope, window ---------------------------------------------------------------------------


def test_removed_opt_in_category_is_put_back() -> None:
    # R-X3: not a delete.
    w = World(event_profile())
    w.pair("a01", "i01")
    w.edit_mb("i01", categories=["Blue"])
    w.leave_scope(MAILBOX, "i01")
    assert ops(w.plan()) == [(MAILBOX, "restore_category", "R-X3")]


def test_unsync_category_deletes_the_record_and_unlinks() -> None:
    # R-X3 (two_way)
    w = World(event_profile())
    w.pair("a01", "i01")
    w.edit_mb("i01", categories=["Salesforce", "Salesforce Unsync"])
    assert ops(w.plan()) == [
        (MAILBOX, "uncategorize", "R-X3"),
        (MAILBOX, "unlink", "R-X3"),
        (SALESFORCE, "delete", "R-X3"),
    ]


def test_unsync_category_is_reverted_under_salesforce_to_mailbox() -> None:
    # R-X3: a mailbox edit like any other.
    w = World(event_profile(direction="salesforce_to_mailbox"))
    w.pair("a01", "i01")
    w.edit_mb("i01", categories=["Salesforce", "Salesforce Unsync"])
    r = w.plan()
    assert ops(r) == [(MAILBOX, "restore_category", "R-X3")]
    assert fields_of(r, "restore_category", MAILBOX)["remove_categories"] == ["Salesforce Unsync"]


def test_unsync_on_an_unlinked_item_removes_both_categories() -> None:
    # R-X3
    w = World(event_profile())
    w.item("i01", categories=["Salesforce", "Salesforce Unsync"])
    assert ops(w.plan()) == [(MAILBOX, "uncategorize", "R-X3")]


def test_downsync_false_removes_pushed_items_and_creates_none() -> None:
    # R-X4
    w = World(event_profile(downsync=False))
    w.pair("a01", "i01", origin=SALESFORCE)
    w.pair("a02", "i02", origin=MAILBOX)
    w.record("a03")
    assert ops(w.plan()) == [(MAILBOX, "delete", "R-X4")]


def test_both_outside_the_window_is_frozen() -> None:
    # R-X5
    w = World(event_profile())
    w.pair("a01", "i01")
    w.edit_sf(
        "a01", subject="x", start_utc=REF + pd.Timedelta(days=400), end_utc=REF + pd.Timedelta(days=401)
    )
    w.leave_scope(SALESFORCE, "a01")
    w.leave_scope(MAILBOX, "i01")
    w.mb["i01"].update(start_utc=REF + pd.Timedelta(days=400), end_utc=REF + pd.Timedelta(days=401))
    assert ops(w.plan()) == []


def test_a_move_out_of_the_window_is_conveyed_first() -> None:
    # R-X5
    w = World(event_profile())
    w.pair("a01", "i01")
    later = REF + pd.Timedelta(days=400)
    w.edit_sf("a01", start_utc=later, end_utc=later + pd.Timedelta(hours=1))
    w.leave_scope(SALESFORCE, "a01")
    assert ops(w.plan()) == [(MAILBOX, "update", "R-D1")]


def test_on_leave_window_deletes_items_created_from_salesforce() -> None:
    # R-X5 on_leave_window: delete_salesforce_created (not backfill links, not meetings).
    w = World(event_profile(on_leave_window="delete_salesforce_created"))
    w.pair("a01", "i01")
    w.pair("a02", "i02")
    w.links[1]["by_backfill"] = True
    old = REF - pd.Timedelta(days=30)
    for rid, iid in (("a01", "i01"), ("a02", "i02")):
        w.sf[rid].update(start_utc=old, end_utc=old + pd.Timedelta(hours=1), presence="out_of_scope")
        w.mb[iid].update(start_utc=old, end_utc=old + pd.Timedelta(hours=1), presence="out_of_scope")
    r = w.plan()
    assert ops(r) == [(MAILBOX, "delete", "R-X5")]
    assert r.actions.iloc[0]["item_id"] == "i01"


def test_recurring_record_is_not_synced() -> None:
    # R-M6
    w = World(object_profile())
    w.record("a0X1", series_type="master")
    r = w.plan()
    assert ops(r) == [] and list(r.issues["code"]) == [RECURRENCE]


# --- private items, attendees ---------------------------------------------------------------------------


def test_private_item_is_not_upsynced_under_skip() -> None:
    # R-P1
    w = World(event_profile())
    w.item("i01", sensitivity="private", is_private=True)
    r = w.plan()
    assert ops(r) == [] and list(r.issues["code"]) == [PRIVATE_SKIPPED]


def test_linked_item_turning_private_is_suspended() -> None:
    # R-P1
    w = World(event_profile())
    w.pair("a01", "i01")
    w.edit_mb("i01", sensitivity="private", is_private=True, subject="secret")
    w.edit_sf("a01", location="Elsewhere")
    r = w.plan()
    assert ops(r) == [] and list(r.issues["code"]) == [PRIVATE_SKIPPED]


def test_item_private_on_both_sides_is_not_suspended_under_skip() -> None:
    # R-P1: synced under `sync` (the record is IsPrivate too), then the profile switched to `skip`: the
    # record already holds the item's privacy, so the link is not suspended and a Salesforce edit goes on.
    w = World(event_profile())
    w.pair("a01", "i01", sensitivity="private", is_private=True)
    w.edit_sf("a01", location="Elsewhere")
    r = w.plan()
    assert ops(r) == [(MAILBOX, "update", "R-D1")] and r.issues.empty


def test_private_item_syncs_under_sync() -> None:
    # R-P1 private_items: sync
    w = World(event_profile(private_items="sync"))
    w.item("i01", sensitivity="private", is_private=True)
    r = w.plan()
    assert ops(r) == [(SALESFORCE, "create", "R-D1")]
    assert fields_of(r, "create", SALESFORCE)["is_private"] is True


def test_attendee_set_merge_uses_per_side_baselines() -> None:
    # R-P2: added in Salesforce -> added to the item; removed in Salesforce -> the item keeps it.
    w = World(event_profile())
    w.pair("a01", "i01", attendees=["carol@example.test", "dave@example.test"])
    w.edit_sf("a01", attendees=["dave@example.test", "erin@example.test"])
    r = w.plan()
    assert ops(r) == [(MAILBOX, "update", "R-P2")]
    assert fields_of(r, "update", MAILBOX)["attendees"] == [
        "carol@example.test",
        "dave@example.test",
        "erin@example.test",
    ]
    w.apply(r)
    assert ops(w.plan()) == []  # carol is not added back to Salesforce


def test_attendee_removed_from_the_item_is_removed_in_salesforce() -> None:
    # R-P2
    w = World(event_profile())
    w.pair("a01", "i01", attendees=["carol@example.test", "dave@example.test"])
    w.edit_mb("i01", attendees=["dave@example.test"])
    r = w.plan()
    assert fields_of(r, "update", SALESFORCE)["attendees"] == ["dave@example.test"]


# --- quarantine, guard, availability -------------------------------------------------------------------


def test_quarantined_row_never_flows_in_two_way() -> None:
    # R-V2
    w = World(event_profile())
    w.pair("a01", "i01")
    w.edit_sf("a01", subject="bad")
    w.delete_mb("i01")
    w.quarantined_records = frozenset({"a01"})
    r = w.plan()
    assert ops(r) == [] and list(r.dirty_link_ids) == [1]


def test_invalid_non_authoritative_row_is_reverted_under_one_way() -> None:
    # R-V2 one-way
    w = World(event_profile(direction="salesforce_to_mailbox"))
    w.pair("a01", "i01")
    w.edit_mb("i01", start_utc=None, subject="broken")
    w.quarantined_items = frozenset({"i01"})
    r = w.plan()
    assert ops(r) == [(MAILBOX, "revert_update", "R-D3")]
    assert set(fields_of(r, "revert_update", MAILBOX)) >= {"subject", "start_utc", "end_utc"}


def _many(w: World, n: int, mailbox: str, start: int = 0) -> None:
    for i in range(start, start + n):
        w.pair(f"a{i:03d}", f"i{i:03d}", mailbox=mailbox)


def test_mass_delete_guard_blocks_and_names_the_override() -> None:
    # R-X6: 12 of 20 links deleted in one mailbox (> 20 % and > 10): all skipped, links dirty.
    w = World(event_profile())
    _many(w, 20, A)
    for i in range(12):
        w.delete_mb(f"i{i:03d}")
    r = w.plan()
    assert r.guard.tripped and "allow_mass_delete" in r.guard.message
    assert set(r.actions["outcome"]) == {"skipped"} and len(r.actions) == 12
    assert len(r.for_apply()) == 0 and len(r.dirty_link_ids) == 12
    allowed = w.plan(allow_mass_delete=True)
    assert len(allowed.for_apply()) == 12 and not allowed.guard.tripped


def test_mass_delete_guard_is_per_mailbox() -> None:
    # R-X6: the mailbox scope trips although the profile's fraction is low.
    w = World(event_profile())
    _many(w, 14, A)
    _many(w, 60, B, start=100)
    for i in range(12):
        w.delete_mb(f"i{i:03d}")
    w.edit_sf("a100", subject="unrelated")
    r = w.plan()
    assert [s.scope for s in r.guard.blocked] == ["mailbox"]
    assert ops(r) == [(MAILBOX, "update", "R-D1")]  # other actions go on


def test_unavailable_mailbox_is_not_planned() -> None:
    # R-X6
    w = World(event_profile())
    w.pair("a01", "i01", mailbox=A)
    w.pair("a02", "i02", mailbox=B)
    w.edit_sf("a01", subject="x")
    w.edit_sf("a02", subject="y")
    w.record("a03", mailbox=B)
    r = w.plan(unavailable_mailboxes=frozenset({B}))
    assert [(a, m) for a, m in zip(r.actions["operation"], r.actions["mailbox"], strict=True)] == [
        ("update", A)
    ]
    assert list(r.dirty_link_ids) == [2]


def test_owner_move_with_categorical_mailbox_columns() -> None:
    # R-C4 on staged frames whose mailbox columns are categoricals (the code-translation path).
    from calsync.plan import PlanInput, plan

    w = World(event_profile())
    w.pair("a01", "i01")
    w.pair("a02", "i02")
    w.edit_sf("a01", mailbox=B)
    sf, mb, links = w.side_frame(SALESFORCE), w.side_frame(MAILBOX), w.links_frame()
    for frame in (sf, mb, links):
        frame["mailbox"] = frame["mailbox"].astype("category")
    r = plan(PlanInput(profile=w.profile, sf=sf, mb=mb, links=links, reference_time=REF))
    assert sorted(zip(r.actions["operation"], r.actions["mailbox"], strict=True)) == [
        ("create", B),
        ("delete", A),
    ]


def test_guard_counts_each_link_once_and_skips_an_unsync_whole() -> None:
    # R-X6: an unsync is one delete (with its uncategorize and unlink), and is skipped whole.
    w = World(event_profile())
    _many(w, 20, A)
    for i in range(12):
        w.edit_mb(f"i{i:03d}", categories=["Salesforce", "Salesforce Unsync"])
    r = w.plan()
    assert [(s.scope, s.deletes) for s in r.guard.blocked] == [("mailbox", 12), ("profile", 12)]
    assert len(r.actions) == 36 and set(r.actions["outcome"]) == {"skipped"}
    assert sorted(r.dirty_link_ids.tolist()) == list(range(1, 13))


def test_dirty_link_without_rows_is_read_by_id() -> None:
    # R-K2: a dirty link is planned again; with no row read it asks for both.
    w = World(event_profile())
    w.pair("a01", "i01")
    w.links[0]["dirty"] = True
    r = w.plan(only_sf=set(), only_mb=set())
    assert sorted(r.needs_read["side"]) == [MAILBOX, SALESFORCE] and list(r.dirty_link_ids) == [1]


# --- found by tests/property/test_planner_matches_model.py (docs/planner-vs-model.md) ------------------


def test_stamp_joins_an_item_whose_category_was_removed_and_nothing_is_duplicated() -> None:
    # R-O3: "a session never creates a record or item for a pair that a stamp ... joins" (lost state store
    # after the user removed the opt-in category): the stamp joins, the category is put back (R-X3).
    w = World(event_profile())
    w.record("a01")
    w.item("i01", categories=["Blue"])
    w.mb["i01"].update(stamp="events|a01|salesforce", record_id="a01")
    r = w.plan()
    assert ops(r) == [(MAILBOX, "link", "R-O3"), (MAILBOX, "restore_category", "R-X3")]
    w.apply(r)
    assert len(w.mb) == 1 and ops(w.plan()) == []


def test_no_move_into_an_unavailable_mailbox() -> None:
    # R-X6 / R-C4: nothing is created in a mailbox that cannot be read; the move waits, the link stays.
    w = World(event_profile())
    w.pair("a01", "i01", A)
    w.sf["a01"]["mailbox"] = B
    assert ops(w.plan(unavailable_mailboxes=frozenset({B}))) == []
    assert (MAILBOX, "create", "R-C4") in ops(w.plan())


# --- R-X4 with pending edits, R-C4 of a deleted item, R-O4 attendees' copies ---------------------------


def test_downsync_false_conveys_the_mailbox_edit_before_removing_the_pushed_item() -> None:
    # R-X4 "upsync continues": the mailbox's edit reaches Salesforce, nothing is written to the item first.
    w = World(event_profile(downsync=False))
    w.pair("a01", "i01", origin=SALESFORCE)
    w.edit_mb("i01", subject="Edited in Outlook")
    w.edit_sf("a01", location="Room 9")
    r = w.plan()
    assert ops(r) == [(MAILBOX, "delete", "R-X4"), (SALESFORCE, "update", "R-D1")]
    assert fields_of(r, "update", SALESFORCE) == {"subject": "Edited in Outlook"}
    assert list(r.actions["operation"]) == ["update", "delete"]  # conveyed before the item goes


def test_downsync_false_item_deleted_while_record_edited_keeps_the_record() -> None:
    # R-X4 with R-D6: the Salesforce edit wins over the delete (no R-X2), the pushed item is not re-created.
    w = World(event_profile(downsync=False))
    w.pair("a01", "i01", origin=SALESFORCE)
    w.delete_mb("i01")
    w.edit_sf("a01", subject="Edited in Salesforce")
    assert ops(w.plan()) == [(MAILBOX, "unlink", "R-X4")]


def test_owner_change_moves_even_if_the_old_item_was_deleted() -> None:
    # R-C4: "even if it was deleted meanwhile (a move is not an R-X2 delete)": the record is kept.
    w = World(event_profile())
    w.pair("a01", "i01")
    w.delete_mb("i01")
    w.edit_sf("a01", mailbox=B)
    r = w.plan()
    assert ops(r) == [(MAILBOX, "create", "R-C4"), (MAILBOX, "unlink", "R-C4")]
    assert r.actions.iloc[0]["mailbox"] == B
    w.apply(r)
    assert ops(w.plan()) == []


def test_move_under_mailbox_to_salesforce_reverts_and_carries_the_mailbox_values() -> None:
    # R-C4 with R-D2: the Salesforce edit is reverted and the new item holds the authoritative values.
    w = World(event_profile(direction="mailbox_to_salesforce"))
    w.pair("a01", "i01", subject="Agreed")
    w.edit_sf("a01", subject="Edited in Salesforce", mailbox=B)
    r = w.plan()
    assert (SALESFORCE, "revert_update", "R-D2") in ops(r)
    assert fields_of(r, "create", MAILBOX)["subject"] == "Agreed"


def _synced_meeting(w: World) -> None:
    """A meeting organized in A, linked by the profile, with an attendee's copy in B."""
    w.pair("a01", "i01", attendees=[B])
    w.sf["a01"]["external_id"] = "uid-i01"
    w.item("i02", mailbox=B, attendees=[A], is_organizer=False, organizer=A, ical_uid="uid-i01")


def test_attendee_copy_of_a_synced_meeting_links_to_its_record() -> None:
    # R-O4: one Event per meeting: the copy links to the organizer's record, nothing is upsynced.
    w = World(event_profile())
    _synced_meeting(w)
    r = w.plan(synced_mailboxes=frozenset({A, B}))
    assert ops(r) == [(MAILBOX, "link", "R-O4")]
    link = r.actions.iloc[0]
    assert (link["record_id"], link["item_id"]) == ("a01", "i02")
    assert fields_of(r, "link", MAILBOX)["organizer_copy"] is False


def test_attendee_copy_is_passive_and_its_delete_removes_only_its_link() -> None:
    # R-O4: the copy's edits are not upsynced, Salesforce edits are not written to it, its delete or
    # unsync category never deletes the record.
    w = World(event_profile())
    _synced_meeting(w)
    w.apply(w.plan(synced_mailboxes=frozenset({A, B})))
    assert len(w.links) == 2
    w.edit_mb("i02", subject="Attendee's own note")
    w.edit_sf("a01", location="Room 9")
    r = w.plan()
    assert list(zip(r.actions["operation"], r.actions["item_id"], strict=True)) == [("update", "i01")]
    w.edit_mb("i02", categories=["Salesforce", "Salesforce Unsync"])
    assert ops(w.plan()) == [
        (MAILBOX, "uncategorize", "R-O4"),
        (MAILBOX, "unlink", "R-O4"),
        (MAILBOX, "update", "R-D1"),
    ]
    w.edit_mb("i02", categories=["Salesforce"])
    w.delete_mb("i02")
    assert ops(w.plan()) == [(MAILBOX, "unlink", "R-O4"), (MAILBOX, "update", "R-D1")]


def test_attendee_copy_waits_for_a_synced_organizer() -> None:
    # R-O4: the organizer's mailbox is synced but its item is not in scope yet: WAITING_FOR_ORGANIZER.
    w = World(event_profile())
    w.item("i02", mailbox=B, attendees=[A], is_organizer=False, organizer=A, ical_uid="m1")
    r = w.plan(synced_mailboxes=frozenset({A, B}))
    assert ops(r) == []
    assert list(r.issues["code"]) == [WAITING_FOR_ORGANIZER]
    # An organizer outside the synced mailboxes: the first mailbox's copy is upsynced.
    r = w.plan(synced_mailboxes=frozenset({B}))
    assert ops(r) == [(SALESFORCE, "create", "R-D1")]


def test_an_item_carrying_a_linked_records_key_is_never_upsynced_again() -> None:
    # R-M5 / R-O3: a second item with the key of a record linked in the same mailbox is not a new record.
    w = World(event_profile())
    w.pair("a01", "i01")
    w.sf["a01"]["external_id"] = "uid-i01"
    w.item("i03", ical_uid="uid-i01")
    assert ops(w.plan()) == []


def test_lost_state_store_relinks_a_meeting_and_its_attendees_copy() -> None:
    # R-O3 with R-O4: both copies carry the organizer's stamp; the one in the record's mailbox joins by
    # stamp, the other links as an attendee's copy; nothing is created or reported ambiguous.
    w = World(event_profile())
    _synced_meeting(w)
    w.apply(w.plan(synced_mailboxes=frozenset({A, B})))
    for iid in ("i01", "i02"):
        w.mb[iid]["stamp"] = "events|a01|salesforce"
        w.mb[iid]["record_id"] = "a01"
    w.links.clear()
    r = w.plan(synced_mailboxes=frozenset({A, B}))
    assert ops(r) == [(MAILBOX, "link", "R-O3"), (MAILBOX, "link", "R-O4")]
    assert r.issues.empty


def test_unseen_copy_of_a_meeting_restored_in_this_session_links_to_it() -> None:
    # R-D6 then R-O4 in the same session (R-D5): the record is re-created from the upsynced copy; a copy
    # seen for the first time links to it by its key instead of becoming a second record (R-M5).
    w = World(event_profile())
    ext = "x@ext.test"
    own = w.pair("a01", "i02", mailbox=B, origin=MAILBOX, attendees=[A], is_organizer=False, organizer=ext)
    own["is_organizer"] = True  # the copy upsynced in the external organizer's stead: the record's own link
    w.sf["a01"]["external_id"] = "uid-i02"
    w.delete_sf("a01")
    w.edit_mb("i02", subject="Edited by the attendee")
    w.item("i01", mailbox=A, attendees=[B], is_organizer=False, organizer=ext, ical_uid="uid-i02")
    r = w.plan(synced_mailboxes=frozenset({A, B}))
    assert ops(r) == [(MAILBOX, "link", "R-O4"), (SALESFORCE, "restore", "R-D6")]
    link = r.actions[r.actions["operation"] == "link"].iloc[0]
    assert link["item_id"] == "i01" and fields_of(r, "link", MAILBOX)["external_id"] == "uid-i02"


def test_copy_links_to_a_record_that_adopted_another_copy_without_a_key() -> None:
    # R-O4: bob's copy of an outside organizer's meeting was adopted (R-S7; the record has no key); ann's
    # copy, seen once her mailbox is read again, links to that record as an attendee's copy.
    w = World(event_profile())
    ext = "x@ext.test"
    own = w.pair("a01", "i02", mailbox=B, origin=MAILBOX, attendees=[A], is_organizer=False, organizer=ext)
    own["is_organizer"] = True  # the adopted copy is the record's own link
    w.item("i01", mailbox=A, attendees=[B], is_organizer=False, organizer=ext, ical_uid="uid-i02")
    r = w.plan(synced_mailboxes=frozenset({A, B}))
    assert ops(r) == [(MAILBOX, "link", "R-O4")]
    link = r.actions.iloc[0]
    assert (link["record_id"], link["item_id"]) == ("a01", "i01")


def test_lost_state_store_keeps_a_meeting_with_its_organizer_after_an_owner_change() -> None:
    # R-O3 with R-C4 / R-O4: the record's owner is now B, but the meeting stays in its organizer's
    # mailbox: the organizer's item joins by stamp, B's copy links as a passive copy (no writes to it).
    w = World(event_profile())
    _synced_meeting(w)
    w.apply(w.plan(synced_mailboxes=frozenset({A, B})))
    w.sf["a01"]["mailbox"] = B
    for iid in ("i01", "i02"):
        w.mb[iid].update(stamp="events|a01|salesforce", record_id="a01")
    w.links.clear()
    r = w.plan(synced_mailboxes=frozenset({A, B}))
    links = r.actions[r.actions["operation"] == "link"].set_index("item_id")
    assert links.loc["i01", "rule"] == "R-O3" and links.loc["i02", "rule"] == "R-O4"
    assert set(r.actions["operation"]) == {"link"}


def test_lost_state_store_unsync_on_a_stamped_item_still_removes_the_record() -> None:
    # R-O3 then R-X3: the stamp joins the pair (nothing is created for it), the unsync category acts.
    w = World(event_profile())
    w.pair("a01", "i01")
    w.mb["i01"].update(
        stamp="events|a01|salesforce", record_id="a01", categories=["Salesforce", "Salesforce Unsync"]
    )
    w.links.clear()
    r = w.plan()
    assert (SALESFORCE, "delete", "R-X3") in ops(r)
    assert (MAILBOX, "create", "R-D1") not in ops(r)


def test_lost_state_store_unsync_on_a_stamped_item_whose_record_is_gone() -> None:
    # R-O3 joins nothing (the record was deleted); R-X3 then treats the item as any unlinked one: with
    # calsync's category both categories go; without it the item is out of scope (R-S3) and untouched.
    for categories, expected in (
        (["Salesforce", "Salesforce Unsync"], [(MAILBOX, "uncategorize", "R-X3")]),
        (["Salesforce Unsync"], []),
    ):
        w = World(event_profile())
        w.pair("a01", "i01")
        w.mb["i01"].update(stamp="events|a01|salesforce", record_id="a01", categories=categories)
        w.delete_sf("a01")
        w.links.clear()
        assert ops(w.plan()) == expected, categories


def test_lost_state_store_unsync_on_a_meeting_also_uncategorizes_the_attendees_copy() -> None:
    # R-O3, R-X3, then R-O4 in the same session (R-D5): the organizer's item joins by stamp and its
    # unsync category deletes the record; the attendee's copy goes with it, not one session later.
    w = World(event_profile())
    _synced_meeting(w)
    w.apply(w.plan(synced_mailboxes=frozenset({A, B})))
    for iid in ("i01", "i02"):
        w.mb[iid].update(stamp="events|a01|salesforce", record_id="a01")
    w.mb["i01"]["categories"] = ["Salesforce", "Salesforce Unsync"]
    w.links.clear()
    r = w.plan(synced_mailboxes=frozenset({A, B}))
    assert (SALESFORCE, "delete", "R-X3") in ops(r)
    copy = r.actions[r.actions["item_id"] == "i02"]
    assert set(copy["operation"]) >= {"link", "uncategorize"}
    w.apply(r)
    assert "Salesforce" not in w.mb["i02"]["categories"]
    assert w.plan(synced_mailboxes=frozenset({A, B})).actions.empty
