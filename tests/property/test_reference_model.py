"""The reference model of the sync rules (tests/property/reference_model), checked on its own.

(a) readable examples, one or a few per rule, including the product note's examples;
(b) a hypothesis state machine over random histories checking the model's own invariants.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule
from reference_model import (
    PLANNED,
    SKIPPED,
    Action,
    Categories,
    Context,
    Item,
    MailboxResolution,
    Profile,
    Record,
    When,
    World,
    apply,
    common,
    convert,
    fields_for,
    in_window,
    plan_session,
    run_session,
)

from calsync.schema import MAILBOX, OPERATIONS, SALESFORCE

T0 = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
ANN, BOB, CAT = "ann@example.com", "bob@example.com", "cat@example.com"


def at(hours: float, length: float = 1.0, all_day: bool = False) -> When:
    return When(T0 + timedelta(hours=hours), T0 + timedelta(hours=hours + length), all_day)


def sf_fields(subject: str = "Demo", hours: float = 24, **kw: Any) -> dict[str, Any]:
    base = {
        "subject": subject,
        "body": "agenda",
        "location": "Room 1",
        "when": at(hours),
        "show_as": "Busy",
        "reminder": 15,
        "sensitivity": "normal",
        "attendees": frozenset(),
    }
    return base | kw


def mb_fields(subject: str = "Demo", hours: float = 24, **kw: Any) -> dict[str, Any]:
    base = {
        "subject": subject,
        "body": "<p>agenda</p>",
        "location": "Room 1",
        "when": at(hours),
        "show_as": "busy",
        "reminder": 15,
        "sensitivity": "normal",
        "attendees": frozenset(),
    }
    return base | kw


def new_world(*mailboxes: str) -> World:
    return World(mailboxes={m: {} for m in (mailboxes or (ANN, BOB))})


def add_record(
    w: World,
    rid: str = "r1",
    owner: str | None = ANN,
    sobject: str = "Event",
    minutes: int = 0,
    **fields: Any,
) -> Record:
    r = Record(
        id=rid,
        sobject=sobject,
        fields=sf_fields(**fields),
        owner_mailbox=owner,
        last_modified=T0 - timedelta(minutes=minutes),
        preserve={"WhoId": "003A", "WhatId": "006B"},
    )
    w.records[rid] = r
    return r


def add_item(
    w: World,
    mailbox: str = ANN,
    iid: str = "i1",
    categories: tuple[str, ...] = ("Salesforce",),
    uid: str = "uid-x",
    **fields: Any,
) -> Item:
    item = Item(
        mailbox=mailbox,
        id=iid,
        fields=mb_fields(**fields),
        categories=frozenset(categories),
        ical_uid=uid,
        last_modified=T0,
    )
    w.mailboxes[mailbox][iid] = item
    return item


def ctx(hours: float = 0, **kw: Any) -> Context:
    return Context(reference_time=T0 + timedelta(hours=hours), **kw)


def ops(actions: list[Action]) -> list[tuple[str, str, str]]:
    return [(a.side, a.operation, a.rule) for a in actions if a.outcome == PLANNED]


def session(w: World, p: Profile, c: Context | None = None) -> tuple[World, list[Action]]:
    """One session, then R-D5: planning again right away finds nothing."""
    c = c or ctx()
    w2, actions = run_session(w, p, c)
    assert [a for a in plan_session(w2, p, c) if a.outcome == PLANNED] == [], "R-D5: second run not empty"
    return w2, actions


def synced_pair(p: Profile, **record_fields: Any) -> tuple[World, str, str]:
    """A record downsynced into ANN's mailbox: (world, record id, item id)."""
    w = new_world()
    add_record(w, **record_fields)
    w, _ = session(w, p)
    (link,) = w.links
    return w, link.record_id, link.item_id


def touch_record(w: World, rid: str, minutes: float = 10, **fields: Any) -> None:
    r = w.records[rid]
    r.fields.update(fields)
    r.last_modified = T0 + timedelta(minutes=minutes)
    r.last_modified_by = "005USER"


def touch_item(w: World, mailbox: str, iid: str, minutes: float = 10, **fields: Any) -> None:
    i = w.mailboxes[mailbox][iid]
    i.fields.update(fields)
    i.last_modified = T0 + timedelta(minutes=minutes)


TWO_WAY = Profile()
UP = Profile(direction="mailbox_to_salesforce")
DOWN = Profile(direction="salesforce_to_mailbox")


# --- (a) examples per rule -----------------------------------------------------------------------------


def test_r_d2_salesforce_created_record_is_still_downsynced() -> None:
    w = new_world()
    add_record(w)
    w2, actions = session(w, UP)
    assert ops(actions) == [(MAILBOX, "create", "R-D2")]
    (item,) = w2.mailboxes[ANN].values()
    assert item.fields["subject"] == "Demo" and "Salesforce" in item.categories
    assert item.stamp == f"events|r1|{SALESFORCE}"  # R-M8


def test_r_d2_salesforce_edit_is_reverted_and_recorded_with_the_overwritten_value() -> None:
    w, rid, iid = synced_pair(UP)
    touch_record(w, rid, subject="Edited in Salesforce")
    touch_item(w, ANN, iid, location="Room 2")  # fields the mailbox changed go up as usual
    w2, actions = session(w, UP)
    revert = next(a for a in actions if a.operation == "revert_update")
    assert (revert.side, revert.rule) == (SALESFORCE, "R-D2")
    assert revert.fields == {"subject": "Demo"} and revert.before == {"subject": "Edited in Salesforce"}
    up = next(a for a in actions if a.operation == "update")
    assert up.side == SALESFORCE and up.fields == {"location": "Room 2"}
    assert w2.records[rid].fields["subject"] == "Demo" and w2.records[rid].fields["location"] == "Room 2"


def test_r_d2_salesforce_delete_is_reverted_with_preserve_fields() -> None:
    w, rid, _iid = synced_pair(UP)
    w.records[rid].deleted = True
    w2, actions = session(w, UP)
    # the new record id goes into the item's stamp too (R-M8)
    assert ops(actions) == [(SALESFORCE, "revert_delete", "R-D2"), (MAILBOX, "stamp", "R-M8")]
    assert actions[0].fields["WhoId"] == "003A" and actions[0].fields["WhatId"] == "006B"
    (link,) = w2.links
    assert link.record_id != rid and w2.records[link.record_id].preserve["WhoId"] == "003A"


def test_r_d3_outlook_edit_is_reverted() -> None:
    w, _rid, iid = synced_pair(DOWN)
    touch_item(w, ANN, iid, subject="Edited in Outlook", reminder=30)
    w2, actions = session(w, DOWN)
    assert sorted(ops(actions)) == [(MAILBOX, "revert_update", "R-D3")] * 2
    assert {k for a in actions for k in a.fields} == {"subject", "reminder"}
    assert w2.mailboxes[ANN][iid].fields["subject"] == "Demo"


def test_r_d3_user_extra_category_is_left_alone_and_new_items_never_conveyed() -> None:
    w, _rid, iid = synced_pair(DOWN)
    i = w.mailboxes[ANN][iid]
    i.categories = i.categories | {"Red"}
    add_item(w, iid="new", uid="uid-new", subject="Lunch", hours=30)
    _, actions = session(w, DOWN)
    assert actions == []


def test_r_d3_mailbox_delete_is_recreated() -> None:
    w, _rid, iid = synced_pair(DOWN)
    del w.mailboxes[ANN][iid]
    w2, actions = session(w, DOWN)
    assert ops(actions) == [(MAILBOX, "revert_delete", "R-D3")]
    (link,) = w2.links
    assert link.item_id != iid and w2.mailboxes[ANN][link.item_id].fields["subject"] == "Demo"


def test_r_d4_revert_even_when_authoritative_side_changed_the_same_field() -> None:
    w, rid, iid = synced_pair(DOWN)
    touch_record(w, rid, subject="SF new")
    touch_item(w, ANN, iid, subject="Outlook new", minutes=20)
    _, actions = session(w, DOWN)
    assert ops(actions) == [(MAILBOX, "revert_update", "R-D4")]
    assert actions[0].fields == {"subject": "SF new"} and actions[0].before == {"subject": "Outlook new"}


def test_r_m1_r_m3_custom_object_lands_with_its_own_category() -> None:
    p = Profile(
        id="milestones",
        kind="object",
        sobject="Project_Milestone__c",
        label="Project Milestone",
        direction="salesforce_to_mailbox",
    )
    w = new_world()
    add_record(w, sobject="Project_Milestone__c")
    w2, actions = session(w, p)
    assert ops(actions) == [(MAILBOX, "create", "R-M1")]
    (item,) = w2.mailboxes[ANN].values()
    assert item.categories == {"Salesforce: Project Milestone"}
    assert "attendees" not in item.fields  # event-only field
    touch_item(w2, ANN, item.id, subject="changed in Outlook")
    _, actions = session(w2, p)
    assert ops(actions) == [(MAILBOX, "revert_update", "R-M1")]


def test_r_m6_recurring_records_and_series_are_never_synced() -> None:
    w = new_world()
    add_record(w).recurring = True
    add_item(w, subject="Standup").series_type = "master"
    _, actions = session(w, TWO_WAY)
    assert actions == []


def test_r_d1_field_level_merge() -> None:
    w, rid, iid = synced_pair(TWO_WAY)
    touch_record(w, rid, subject="New title")
    touch_item(w, ANN, iid, location="Room 9")
    w2, actions = session(w, TWO_WAY)
    assert sorted(ops(actions)) == [(MAILBOX, "update", "R-D1"), (SALESFORCE, "update", "R-D1")]
    assert w2.records[rid].fields["location"] == "Room 9"
    assert w2.mailboxes[ANN][iid].fields["subject"] == "New title"


def test_r_d1_conflict_newest_with_clock_skew() -> None:
    for sf_minutes, winner in ((30, SALESFORCE), (10.5, MAILBOX), (5, MAILBOX)):
        w, rid, iid = synced_pair(TWO_WAY)
        touch_record(w, rid, minutes=sf_minutes, subject="SF")
        touch_item(w, ANN, iid, minutes=10, subject="MB")
        w2, actions = session(w, TWO_WAY)
        (a,) = actions
        assert a.conflict and a.winner == winner and a.rule == "R-D1"
        assert a.before == {"subject": {"salesforce": "SF", "mailbox": "MB"}}
        expected = "SF" if winner == SALESFORCE else "MB"
        assert w2.records[rid].fields["subject"] == w2.mailboxes[ANN][iid].fields["subject"] == expected


def test_r_d1_fixed_winner_and_lossy_mapping_is_no_change() -> None:
    p = replace(TWO_WAY, conflict_winner="salesforce")
    w, rid, iid = synced_pair(p)
    touch_record(w, rid, minutes=1, subject="SF")
    touch_item(w, ANN, iid, minutes=50, subject="MB", sensitivity="confidential", show_as="tentative")
    _w2, actions = session(w, p)
    assert [(a.side, a.fields) for a in actions] == [(MAILBOX, {"subject": "SF"})]


def test_r_d6_delete_against_edit_restores() -> None:
    w, rid, iid = synced_pair(TWO_WAY)
    touch_record(w, rid, subject="edited")
    del w.mailboxes[ANN][iid]
    w2, actions = session(w, TWO_WAY)
    assert ops(actions) == [(MAILBOX, "restore", "R-D6")] and actions[0].conflict
    (link,) = w2.links
    assert link.origin == SALESFORCE and w2.mailboxes[ANN][link.item_id].fields["subject"] == "edited"


def test_r_x2_confirmed_mailbox_delete_deletes_record_unconfirmed_does_not() -> None:
    w, rid, iid = synced_pair(TWO_WAY)
    del w.mailboxes[ANN][iid]
    assert plan_session(w, TWO_WAY, ctx(unreadable_items=frozenset({(ANN, iid)}))) == []  # R-C3
    assert plan_session(w, TWO_WAY, ctx(unavailable_mailboxes=frozenset({ANN}))) == []  # R-X6
    w2, actions = session(w, TWO_WAY)
    assert ops(actions) == [(SALESFORCE, "delete", "R-X2")]
    assert w2.records[rid].deleted and w2.links == []


def test_r_c3_cancelled_meeting_counts_as_deleted() -> None:
    w, _rid, iid = synced_pair(TWO_WAY)
    w.mailboxes[ANN][iid].cancelled = True
    _, actions = session(w, TWO_WAY)
    assert ops(actions) == [(SALESFORCE, "delete", "R-X2")]


def test_r_x1_deletion_strategies() -> None:
    # delete_appointments: a Salesforce-created appointment is deleted
    w, rid, iid = synced_pair(TWO_WAY)
    w.records[rid].deleted = True
    w2, actions = session(w, TWO_WAY)
    assert ops(actions) == [(MAILBOX, "delete", "R-X1")] and w2.mailboxes[ANN] == {}
    # ... a meeting is kept and loses the category
    w, rid, iid = synced_pair(TWO_WAY, attendees=frozenset({CAT}))
    w.records[rid].deleted = True
    w2, actions = session(w, TWO_WAY)
    assert ops(actions) == [(MAILBOX, "uncategorize", "R-X1")]
    assert w2.mailboxes[ANN][iid].categories == set() and w2.mailboxes[ANN][iid].stamp is None
    # keep: never deletes; delete: always deletes
    for strategy, op in (("keep", "uncategorize"), ("delete", "delete")):
        p = replace(TWO_WAY, salesforce_deletion=strategy)
        w, rid, iid = synced_pair(p)
        w.records[rid].deleted = True
        _, actions = session(w, p)
        assert ops(actions) == [(MAILBOX, op, "R-X1")]


def test_r_x3_category_removed_is_restored_and_unsync_deletes() -> None:
    w, rid, iid = synced_pair(TWO_WAY)
    w.mailboxes[ANN][iid].categories = frozenset({"Blue"})
    w2, actions = session(w, TWO_WAY)
    assert ops(actions) == [(MAILBOX, "restore_category", "R-X3")]
    assert w2.mailboxes[ANN][iid].categories == {"Blue", "Salesforce"}
    w2.mailboxes[ANN][iid].categories = frozenset({"Blue", "Salesforce", "Salesforce Unsync"})
    w3, actions = session(w2, TWO_WAY)
    assert ops(actions) == [(SALESFORCE, "delete", "R-X3"), (MAILBOX, "uncategorize", "R-X3")]
    assert w3.records[rid].deleted and w3.mailboxes[ANN][iid].categories == {"Blue"} and w3.links == []


def test_r_x3_unsync_is_reverted_under_salesforce_to_mailbox_and_stripped_when_unlinked() -> None:
    w, _rid, iid = synced_pair(DOWN)
    w.mailboxes[ANN][iid].categories = frozenset({"Salesforce", "Salesforce Unsync"})
    _, actions = session(w, DOWN)
    assert ops(actions) == [(MAILBOX, "revert_update", "R-X3")]
    w = new_world()
    add_item(w, categories=("Salesforce", "Salesforce Unsync", "Red"))
    w2, actions = session(w, TWO_WAY)
    assert ops(actions) == [(MAILBOX, "uncategorize", "R-X3")] and w2.records == {}


def test_r_d1_new_mailbox_item_is_upsynced_and_stamped() -> None:
    w = new_world()
    add_item(w, subject="Call")
    w2, actions = session(w, TWO_WAY)
    assert ops(actions) == [(SALESFORCE, "create", "R-D1"), (MAILBOX, "stamp", "R-M8")]
    (r,) = w2.records.values()
    assert r.external_id == "uid-x" and r.fields["body"] == "agenda" and r.owner_mailbox == ANN


def test_r_s7_adoption_links_instead_of_duplicating_and_ambiguity_blocks() -> None:
    w = new_world()
    add_record(w, subject="Quarterly  Review")
    add_item(w, subject="quarterly review")
    w2, actions = session(w, TWO_WAY)
    assert ops(actions)[0] == (MAILBOX, "link", "R-S7")
    assert len(w2.records) == 1 and len(w2.mailboxes[ANN]) == 1
    w = new_world()
    add_record(w, subject="Review")
    add_item(w, iid="i1", uid="u1", subject="Review")
    add_item(w, iid="i2", uid="u2", subject="Review")
    _, actions = session(w, TWO_WAY)
    assert actions == []  # AMBIGUOUS_MATCH: neither linked nor created


def test_r_o3_rebuild_after_lost_state_store() -> None:
    w, _rid, iid = synced_pair(TWO_WAY)
    touch_item(w, ANN, iid, subject="changed while the store was lost", minutes=30)
    w.links = []
    w2, actions = session(w, TWO_WAY)
    assert ops(actions)[0] == (MAILBOX, "link", "R-O3") and actions[0].origin == SALESFORCE
    assert ("salesforce", "update", "R-O3") in ops(actions)  # no baseline: resolved like a conflict
    assert len(w2.records) == 1 and len(w2.mailboxes[ANN]) == 1


def test_r_p1_private_items() -> None:
    w = new_world()
    add_item(w, sensitivity="private")
    _, actions = session(w, TWO_WAY)
    assert actions == []  # skip
    _, actions = session(w, replace(TWO_WAY, private_items="sync"))
    assert actions[0].fields["sensitivity"] == "private"
    _, actions = session(w, replace(TWO_WAY, private_items="sync_without_flag"))
    assert actions[0].fields["sensitivity"] == "normal"
    # a linked item that becomes private is suspended both ways
    w, rid, iid = synced_pair(TWO_WAY)
    touch_item(w, ANN, iid, sensitivity="private", subject="secret")
    touch_record(w, rid, location="elsewhere")
    assert session(w, TWO_WAY)[1] == []
    touch_item(w, ANN, iid, sensitivity="normal", minutes=40)
    _, actions = session(w, TWO_WAY)
    written = {(a.side, tuple(a.fields)) for a in actions}
    assert written == {(SALESFORCE, ("subject",)), (MAILBOX, ("location",))}


def test_r_p2_attendee_removed_in_salesforce_is_not_added_back() -> None:
    w, rid, iid = synced_pair(TWO_WAY, attendees=frozenset({CAT, "dan@x.org"}))
    touch_record(w, rid, attendees=frozenset({CAT}))
    w2, actions = session(w, TWO_WAY)
    assert actions == []  # removed in Salesforce -> no change to the item, and not added back
    touch_item(w2, ANN, iid, attendees=frozenset({"dan@x.org", "eve@x.org"}))
    w3, actions = session(w2, TWO_WAY)
    # eve added and cat removed on the item; dan (removed in Salesforce earlier) stays removed there
    assert w3.records[rid].fields["attendees"] == {"eve@x.org"}
    touch_record(w3, rid, attendees=frozenset({"eve@x.org", "fay@x.org"}))
    w4, _ = session(w3, TWO_WAY)
    assert w4.mailboxes[ANN][iid].fields["attendees"] == {"dan@x.org", "eve@x.org", "fay@x.org"}


def test_r_c4_owner_move_creates_new_item_before_deleting_old() -> None:
    w, rid, _ = synced_pair(TWO_WAY)
    w.records[rid].owner_mailbox = BOB
    w2, actions = session(w, TWO_WAY)
    assert ops(actions) == [(MAILBOX, "create", "R-C4"), (MAILBOX, "delete", "R-C4")]
    assert actions[0].mailbox == BOB and w2.mailboxes[ANN] == {}
    (link,) = w2.links
    assert link.mailbox == BOB and link.origin == SALESFORCE
    # a meeting keeps its item (OWNER_NOT_ORGANIZER); no mailbox -> the old link stays
    w, rid, _ = synced_pair(TWO_WAY, attendees=frozenset({CAT}))
    w.records[rid].owner_mailbox = BOB
    assert session(w, TWO_WAY)[1] == []
    w, rid, _iid = synced_pair(TWO_WAY)
    w.records[rid].owner_mailbox = "nobody@example.com"
    assert session(w, TWO_WAY)[1] == []


def test_r_c4_r_x2_deleted_meeting_does_not_move_after_an_owner_change() -> None:
    """N26: a MEETING's item deleted after its record's owner changed does not move ("even if it was
    deleted meanwhile" is for appointments): the link's baseline attendees say it was a meeting, so the
    delete is an ordinary confirmed delete: R-X2 deletes the record, or R-D6 restores an edited one."""
    for edited in (False, True):
        w = new_world(ANN, BOB)
        add_item(w, ANN, "m7a", uid="meet7", subject="Kickoff", attendees=frozenset({CAT}))
        w, _ = session(w, TWO_WAY)
        (link,) = w.links
        rid = link.record_id
        assert link.origin == MAILBOX and link.base_mb["attendees"] and w.records[rid].fields["attendees"]
        w.records[rid].owner_mailbox = BOB
        if edited:
            touch_record(w, rid, subject="edited")
        del w.mailboxes[ANN]["m7a"]
        w2, actions = session(w, TWO_WAY)
        assert w2.mailboxes[BOB] == {}  # no R-C4 create in BOB's mailbox
        if edited:
            assert ops(actions) == [(MAILBOX, "restore", "R-D6")] and actions[0].mailbox == ANN
            (link,) = w2.links
            assert link.mailbox == ANN and w2.mailboxes[ANN][link.item_id].fields["subject"] == "edited"
        else:
            assert ops(actions) == [(SALESFORCE, "delete", "R-X2")]
            assert w2.records[rid].deleted and w2.links == []


def test_r_o3_r_c4_stamp_joins_the_old_item_after_an_owner_change_and_a_lost_state_store() -> None:
    """N12 / N26: the stamp on ANN's item joins the record whatever the mailbox; the link then moves in
    the same session (R-D5): no second item for the record in BOB's mailbox beside a stranded one."""
    w, rid, iid = synced_pair(TWO_WAY, rid="p1")
    assert w.mailboxes[ANN][iid].stamp == f"{TWO_WAY.id}|p1|salesforce"
    w.records[rid].owner_mailbox = BOB  # no session
    w.links = []  # the state store is lost
    w2, actions = session(w, TWO_WAY)
    assert ops(actions) == [
        (MAILBOX, "link", "R-O3"),
        (MAILBOX, "create", "R-C4"),
        (MAILBOX, "delete", "R-C4"),
    ]
    assert (actions[0].mailbox, actions[0].item_id, actions[0].origin) == (ANN, iid, SALESFORCE)
    assert actions[1].mailbox == BOB and (actions[2].mailbox, actions[2].item_id) == (ANN, iid)
    assert w2.mailboxes[ANN] == {} and len(w2.mailboxes[BOB]) == 1
    (link,) = w2.links
    assert (link.record_id, link.mailbox, link.origin) == (rid, BOB, SALESFORCE)


def test_r_o3_r_c4_lost_state_store_rejoins_a_meeting_kept_with_its_organizer() -> None:
    """N12: a meeting organized by ANN whose record's owner changed to an attendee (BOB) stays in ANN's
    mailbox (OWNER_NOT_ORGANIZER, R-C4). After a lost state store, ANN's item is stamp-joined (R-O3),
    BOB's copy links as an attendee's copy (R-O4), nothing is created or moved; either mailbox order."""
    for org, att in ((ANN, BOB), (BOB, ANN)):
        for invited in (True, False):
            w = new_world(ANN, BOB)
            add_item(w, org, "m1a", uid="meet", subject="Kickoff", attendees=frozenset({att, CAT}))
            if invited:
                copy = add_item(w, att, "m1b", uid="meet", subject="Kickoff", attendees=frozenset({CAT}))
                copy.is_organizer, copy.organizer = False, org
            w, _ = session(w, TWO_WAY)
            (rid,) = w.records
            assert [(lk.mailbox, lk.is_organizer_copy) for lk in w.links] == [(org, True)] + (
                [(att, False)] if invited else []
            )
            w.records[rid].owner_mailbox = att
            assert session(w, TWO_WAY)[1] == []  # OWNER_NOT_ORGANIZER: the meeting stays
            w.links = []  # the state store is lost
            w2, actions = session(w, TWO_WAY)  # session(): the next session plans nothing
            assert ops(actions) == [(MAILBOX, "link", "R-O3")] + (
                [(MAILBOX, "link", "R-O4")] if invited else []
            )
            assert (actions[0].mailbox, actions[0].item_id, actions[0].organizer_copy) == (org, "m1a", True)
            if invited:
                assert (actions[1].mailbox, actions[1].item_id, actions[1].organizer_copy) == (
                    att,
                    "m1b",
                    False,
                )
            assert set(w2.mailboxes[att]) == ({"m1b"} if invited else set())  # no item created
            assert sorted((lk.record_id, lk.mailbox, lk.item_id) for lk in w2.links) == sorted(
                [(rid, org, "m1a")] + ([(rid, att, "m1b")] if invited else [])
            )


def test_r_x4_downsync_false() -> None:
    p = replace(TWO_WAY, downsync=False)
    w = new_world()
    add_record(w)
    assert session(w, p)[1] == []
    w, rid, _iid = synced_pair(TWO_WAY)
    w2, actions = session(w, p)
    assert ops(actions) == [(MAILBOX, "delete", "R-X4")] and not w2.records[rid].deleted


def test_r_x4_downsync_false_two_way_conveys_up_and_never_writes_the_item() -> None:
    """N10: a Salesforce-created item under downsync: false: the mailbox's edits go up to Salesforce, the
    Salesforce edit is not written to the item (nor its category put back, nor the attendee merge's item
    half), and the item is deleted (R-X4) in the same session."""
    p = replace(TWO_WAY, downsync=False)
    w, rid, iid = synced_pair(TWO_WAY)
    touch_record(w, rid, subject="Edited in Salesforce", attendees=frozenset({CAT}))
    touch_item(w, ANN, iid, location="Room 2", attendees=frozenset({"x@o.org"}))
    i = w.mailboxes[ANN][iid]
    i.categories = i.categories - {"Salesforce"}  # R-X3 would put it back: not on an item R-X4 removes
    w2, actions = session(w, p)
    assert sorted(ops(actions)) == [
        (MAILBOX, "delete", "R-X4"),
        (SALESFORCE, "update", "R-D1"),
        (SALESFORCE, "update", "R-P2"),
    ]
    assert ops(actions)[-1] == (MAILBOX, "delete", "R-X4")
    assert [a for a in actions if a.side == MAILBOX and a.operation != "delete"] == []
    r = w2.records[rid]
    assert not r.deleted and r.fields["subject"] == "Edited in Salesforce"
    assert r.fields["location"] == "Room 2"
    assert r.fields["attendees"] == frozenset({CAT, "x@o.org"})
    assert w2.links == [] and w2.mailboxes[ANN] == {}
    # a conflict Salesforce wins writes nothing to the item: only the delete
    p = replace(TWO_WAY, downsync=False, conflict_winner="salesforce")
    w, rid, iid = synced_pair(TWO_WAY)
    touch_record(w, rid, subject="SF new")
    touch_item(w, ANN, iid, subject="Outlook new", minutes=20)
    w2, actions = session(w, p)
    assert ops(actions) == [(MAILBOX, "delete", "R-X4")] and w2.records[rid].fields["subject"] == "SF new"
    # the same conflict won by the mailbox goes up first
    p = replace(TWO_WAY, downsync=False, conflict_winner="mailbox")
    w2, actions = session(w, p)
    assert ops(actions) == [(SALESFORCE, "update", "R-D1"), (MAILBOX, "delete", "R-X4")]
    assert actions[0].conflict and w2.records[rid].fields["subject"] == "Outlook new"


def test_r_x4_downsync_false_mailbox_to_salesforce_reverts_the_record_then_deletes() -> None:
    """N10 under mailbox_to_salesforce: the record's Salesforce edit is reverted to the item's value and the
    mailbox's edit goes up (R-D2), then the item is deleted (R-X4); nothing is written to the item."""
    p = replace(UP, downsync=False)
    w, rid, iid = synced_pair(UP)
    touch_record(w, rid, subject="Edited in Salesforce")
    touch_item(w, ANN, iid, location="Room 2")
    w2, actions = session(w, p)
    assert ops(actions) == [
        (SALESFORCE, "revert_update", "R-D2"),
        (SALESFORCE, "update", "R-D2"),
        (MAILBOX, "delete", "R-X4"),
    ]
    assert actions[0].fields == {"subject": "Demo"}
    assert actions[0].before == {"subject": "Edited in Salesforce"}
    r = w2.records[rid]
    assert not r.deleted and r.fields["subject"] == "Demo" and r.fields["location"] == "Room 2"
    assert w2.links == [] and w2.mailboxes[ANN] == {}
    # only a Salesforce edit: reverted, then the delete
    w, rid, iid = synced_pair(UP)
    touch_record(w, rid, subject="Edited in Salesforce")
    _, actions = session(w, p)
    assert ops(actions) == [(SALESFORCE, "revert_update", "R-D2"), (MAILBOX, "delete", "R-X4")]
    # unchanged: a Salesforce delete is reverted (N18), then R-X4 deletes the item (no stamp rewrite)
    w, rid, iid = synced_pair(UP)
    w.records[rid].deleted = True
    w2, actions = session(w, p)
    assert ops(actions) == [(SALESFORCE, "revert_delete", "R-D2"), (MAILBOX, "delete", "R-X4")]
    assert w2.links == [] and w2.mailboxes[ANN] == {}


def test_r_x4_downsync_false_mailbox_delete_against_salesforce_edit_only_unlinks() -> None:
    """N10: two_way, origin salesforce: the item deleted in the mailbox while the record was edited: the
    record is kept (R-D6, no R-X2 delete) and the item is not re-created (R-X4): only an unlink."""
    p = replace(TWO_WAY, downsync=False)
    w, rid, iid = synced_pair(TWO_WAY)
    touch_record(w, rid, subject="Edited in Salesforce")
    del w.mailboxes[ANN][iid]
    w2, actions = session(w, p)
    assert ops(actions) == [(MAILBOX, "unlink", "R-X4")]
    assert (actions[0].record_id, actions[0].mailbox, actions[0].item_id) == (rid, ANN, iid)
    assert actions[0].conflict and actions[0].winner == SALESFORCE
    r = w2.records[rid]
    assert not r.deleted and r.fields["subject"] == "Edited in Salesforce"
    assert w2.links == [] and w2.mailboxes[ANN] == {}
    assert plan_session(w2, p, ctx(hours=1)) == []  # the session after it plans nothing
    assert run_session(w2, p, ctx(hours=24))[1] == []
    # without the Salesforce edit, R-X2 deletes the record as before
    w, rid, iid = synced_pair(TWO_WAY)
    del w.mailboxes[ANN][iid]
    w2, actions = session(w, p)
    assert ops(actions) == [(SALESFORCE, "delete", "R-X2")] and w2.records[rid].deleted
    # unchanged: a record deleted while the item was edited is restored (R-D6), then R-X4 deletes the item
    w, rid, iid = synced_pair(TWO_WAY)
    touch_item(w, ANN, iid, subject="Edited in Outlook")
    w.records[rid].deleted = True
    w2, actions = session(w, p)
    assert ops(actions) == [(SALESFORCE, "restore", "R-D6"), (MAILBOX, "delete", "R-X4")]
    (kept,) = [r for r in w2.records.values() if not r.deleted]
    assert kept.fields["subject"] == "Edited in Outlook" and w2.links == []


def test_r_x5_frozen_outside_window_and_on_leave_window() -> None:
    w, rid, _ = synced_pair(TWO_WAY)
    later = ctx(hours=24 * 30)  # the event (tomorrow) is now 29 days in the past
    touch_record(w, rid, subject="late edit")
    assert session(w, TWO_WAY, later)[1] == []
    w, rid, _iid = synced_pair(TWO_WAY)
    p = replace(TWO_WAY, on_leave_window="delete_salesforce_created")
    w2, actions = session(w, p, later)
    assert ops(actions) == [(MAILBOX, "delete", "R-X5")] and not w2.records[rid].deleted


def test_r_x5_r_x1_on_leave_window_counts_a_deleted_record_as_out_of_the_window() -> None:
    """N37: the item left the window and the record was deleted meanwhile (frozen per N24)."""
    later = ctx(hours=24 * 30)  # past_days 14: the event (tomorrow) is now 29 days in the past
    p = replace(TWO_WAY, on_leave_window="delete_salesforce_created")
    w, rid, iid = synced_pair(p)
    (link,) = w.links
    assert link.origin == SALESFORCE and link.in_window and not link.by_backfill
    w.records[rid].deleted = True
    w2, actions = session(w, p, later)
    assert ops(actions) == [(MAILBOX, "delete", "R-X5")]
    assert w2.mailboxes[ANN] == {} and w2.links == []
    assert session(w2, p, ctx(hours=24 * 31))[1] == []
    # keep (default): frozen, nothing is planned, the item and the link stay
    w, rid, iid = synced_pair(TWO_WAY)
    w.records[rid].deleted = True
    w2, actions = session(w, TWO_WAY, later)
    assert actions == [] and iid in w2.mailboxes[ANN] and len(w2.links) == 1


def test_r_x6_mass_delete_guard() -> None:
    w = new_world()
    for n in range(12):
        add_record(w, rid=f"r{n:02}", subject=f"s{n}")
    w, _ = session(w, TWO_WAY)
    for r in w.records.values():
        r.deleted = True
    actions = plan_session(w, TWO_WAY, ctx())
    assert {a.outcome for a in actions} == {SKIPPED} and len(actions) == 12
    w2 = apply(w, actions, TWO_WAY, ctx())
    assert all(link.dirty for link in w2.links) and len(w2.links) == 12
    actions = plan_session(w, TWO_WAY, ctx(allow_mass_delete=True))
    assert {a.outcome for a in actions} == {PLANNED}


def test_r_o4_attendee_copies_link_to_the_organizers_record() -> None:
    w = new_world(ANN, BOB, CAT)
    add_item(w, ANN, "a1", uid="meet", subject="Kickoff", attendees=frozenset({BOB, CAT}))
    copy = add_item(w, BOB, "b1", uid="meet", subject="Kickoff", attendees=frozenset({CAT}))
    copy.is_organizer, copy.organizer = False, ANN
    w2, actions = session(w, TWO_WAY)
    assert len(w2.records) == 1 and len(w2.links) == 2
    assert ("mailbox", "link", "R-O4") in ops(actions)
    # the attendee's edit is not upsynced; its deletion only removes its link
    touch_item(w2, BOB, "b1", subject="my private title")
    assert session(w2, TWO_WAY)[1] == []
    del w2.mailboxes[BOB]["b1"]
    w3, actions = session(w2, TWO_WAY)
    assert ops(actions) == [(MAILBOX, "unlink", "R-O4")] and not any(r.deleted for r in w3.records.values())


def test_r_o4_waiting_for_organizer() -> None:
    w = new_world(ANN, BOB)
    copy = add_item(w, BOB, "b1", uid="meet", attendees=frozenset({CAT}))
    copy.is_organizer, copy.organizer = False, ANN
    assert session(w, TWO_WAY)[1] == []


def test_r_v2_quarantined_rows() -> None:
    w, rid, iid = synced_pair(TWO_WAY)
    touch_record(w, rid, subject="bad row")
    w.records[rid].valid = False
    assert session(w, TWO_WAY)[1] == []
    w, rid, iid = synced_pair(DOWN)
    touch_item(w, ANN, iid, subject="bad row")
    w.mailboxes[ANN][iid].valid = False
    _, actions = session(w, DOWN)
    assert ops(actions) == [(MAILBOX, "revert_update", "R-D3")]


def test_r_o2_record_claimed_by_first_profile() -> None:
    first, second = Profile(id="a"), Profile(id="b")
    w = new_world()
    add_record(w)
    c = ctx(profiles=(first, second))
    assert plan_session(w, second, c) == []
    w2, actions = run_session(w, first, c)
    assert len(actions) == 1 and plan_session(w2, second, c) == []


def test_r_m7_fixed_mailboxes_broadcast() -> None:
    p = replace(DOWN, mailboxes=MailboxResolution(mode="fixed", fixed=(ANN, BOB)))
    w = new_world(ANN, BOB, CAT)
    add_record(w, owner=None)
    w2, actions = session(w, p)
    assert [a.mailbox for a in actions] == [ANN, BOB] and len(w2.links) == 2


def test_r_s2_window_and_r_x7_origin() -> None:
    w = new_world()
    add_record(w, rid="far", hours=24 * 90)  # beyond future_days
    add_record(w, rid="old", hours=-24 * 20)  # before past_days
    assert session(w, TWO_WAY)[1] == []
    # a mailbox-originated appointment is kept (uncategorized) when its record is deleted (R-X1, R-X7)
    w = new_world()
    add_item(w, subject="From Outlook")
    w, _ = session(w, TWO_WAY)
    (link,) = w.links
    assert link.origin == MAILBOX
    w.records[link.record_id].deleted = True
    w2, actions = session(w, TWO_WAY)
    assert ops(actions) == [(MAILBOX, "uncategorize", "R-X1")] and len(w2.mailboxes[ANN]) == 1


def test_r_p1_sync_without_flag_is_stable_and_never_unprivates() -> None:
    p = replace(UP, private_items="sync_without_flag")
    w = new_world()
    add_item(w, sensitivity="private")
    w2, _actions = session(w, p)
    (r,) = w2.records.values()
    assert r.fields["sensitivity"] == "normal"
    w2.links = []  # rebuilt link (R-O3): the item stays private
    w3, _ = session(w2, replace(TWO_WAY, private_items="sync_without_flag", conflict_winner="salesforce"))
    assert next(iter(w3.mailboxes[ANN].values())).fields["sensitivity"] == "private"


def test_r_c1_r_p1_one_way_never_unprivates_an_item_whose_privacy_was_not_synced() -> None:
    # N38: sync_without_flag does not map the privacy flag; leaving it maps sensitivity anew (R-C1)
    w = new_world()
    add_item(w, sensitivity="private")
    w, _ = session(w, replace(UP, private_items="sync_without_flag"))
    (link,) = w.links
    rid, iid = link.record_id, link.item_id
    assert (link.base_sf["sensitivity"], link.base_mb["sensitivity"]) == ("normal", "private")
    lost = w.copy()
    # switched to salesforce_to_mailbox (R-P1: privacy not checked), nobody changed anything: nothing
    w2, actions = session(w, DOWN)
    assert actions == []
    assert w2.mailboxes[ANN][iid].fields["sensitivity"] == "private"
    # likewise a link rebuilt by R-O3 after a lost state store: sensitivity has no baseline
    lost.links = []
    w3, actions = session(lost, DOWN)
    assert ops(actions) == [(MAILBOX, "link", "R-O3")]
    assert w3.mailboxes[ANN][iid].fields["sensitivity"] == "private"
    # contrast: a real Salesforce edit of IsPrivate still reaches the item (R-D3)
    touch_record(w2, rid, sensitivity="private")
    w4, actions = session(w2, DOWN)
    assert actions == []  # the sides agree now: both baselines are set (R-C1, N3)
    touch_record(w4, rid, minutes=20, sensitivity="normal")
    w5, actions = session(w4, DOWN)
    assert ops(actions) == [(MAILBOX, "update", "R-D3")] and actions[0].fields == {"sensitivity": "normal"}
    assert w5.mailboxes[ANN][iid].fields["sensitivity"] == "normal"


def test_r_o2_item_linked_by_another_profile_is_invisible() -> None:
    other = Profile(id="other", categories=Categories(opt_in="Salesforce"))
    w, _rid, iid = synced_pair(other)
    touch_item(w, ANN, iid, subject="changed")
    assert plan_session(w, TWO_WAY, ctx()) == []


def test_r_v2_linked_record_without_date_is_quarantined_and_r_m7_user_field() -> None:
    w, rid, _ = synced_pair(TWO_WAY)
    touch_record(w, rid, when=None, subject="no date")
    assert session(w, TWO_WAY)[1] == []
    p = replace(DOWN, mailboxes=MailboxResolution(mode="user_field", user_field="Assistant__c"))
    w = new_world()
    add_record(w).user_fields["Assistant__c"] = BOB
    _w2, actions = session(w, p)
    assert [a.mailbox for a in actions] == [BOB]


def test_r_o4_own_address_and_owner_are_never_attendees_for_r_p2() -> None:
    w, _rid, iid = synced_pair(TWO_WAY, attendees=frozenset({CAT}))
    touch_item(w, ANN, iid, attendees=frozenset({CAT, ANN}))  # Graph lists the mailbox itself
    assert session(w, TWO_WAY)[1] == []


def test_r_x6_r_c4_no_move_while_the_old_mailbox_is_unavailable() -> None:
    """D14 / N30: the new item of a move is part of planning the old link, so it waits for that mailbox."""
    w, rid, iid = synced_pair(TWO_WAY)
    w.records[rid].owner_mailbox = BOB
    down = ctx(unavailable_mailboxes=frozenset({ANN}))
    assert plan_session(w, TWO_WAY, down) == []  # no create in BOB, nothing on the old link
    w2, _ = session(w, TWO_WAY, down)
    assert w2.mailboxes[BOB] == {} and [lk.mailbox for lk in w2.links] == [ANN]
    w3, actions = session(w2, TWO_WAY)  # ANN readable again: now the move happens
    assert ops(actions) == [(MAILBOX, "create", "R-C4"), (MAILBOX, "delete", "R-C4")]
    assert w3.mailboxes[ANN] == {} and [lk.mailbox for lk in w3.links] == [BOB]
    # the new mailbox's copy of the event is neither adopted nor upsynced meanwhile (no duplicate)
    w = new_world()
    add_record(w)  # no CalSync_Event_Id__c: adopted by subject and time (R-S7)
    add_item(w, ANN, "a1", uid="uid-a")
    w, _ = session(w, TWO_WAY)
    w.records["r1"].owner_mailbox = BOB
    add_item(w, BOB, "b1", uid="uid-b")
    w2, actions = session(w, TWO_WAY, down)
    assert actions == [] and len(w2.records) == 1
    w3, actions = session(w2, TWO_WAY)
    assert ops(actions) == [
        (MAILBOX, "link", "R-S7"),
        (MAILBOX, "uncategorize", "R-C4"),
        (MAILBOX, "stamp", "R-M8"),
    ]
    assert len(w3.records) == 1 and [(lk.mailbox, lk.item_id) for lk in w3.links] == [(BOB, "b1")]
    # the same when only the old item's read by id failed (R-C3, N4)
    w, rid, iid = synced_pair(TWO_WAY)
    w.records[rid].owner_mailbox = BOB
    assert plan_session(w, TWO_WAY, ctx(unreadable_items=frozenset({(ANN, iid)}))) == []


def test_r_p1_r_c4_no_move_while_the_link_is_suspended() -> None:
    """D16 / N31: nothing is created for a suspended link on either side; it moves once it resumes."""
    for p in (TWO_WAY, UP):
        w, rid, iid = synced_pair(p)
        touch_item(w, ANN, iid, sensitivity="private")
        w.records[rid].owner_mailbox = BOB
        w2, actions = session(w, p)
        assert actions == [] and w2.mailboxes[BOB] == {}
        touch_item(w2, ANN, iid, minutes=40, sensitivity="normal")
        w3, actions = session(w2, p)
        assert ops(actions) == [(MAILBOX, "create", "R-C4"), (MAILBOX, "delete", "R-C4")]
        assert w3.mailboxes[ANN] == {} and [lk.mailbox for lk in w3.links] == [BOB]


def test_r_d2_r_c4_move_reverts_salesforce_edits_first() -> None:
    """D13 / N32: under mailbox_to_salesforce the record's Salesforce edits are reverted (R-D2) and the
    item's edits go up, then the move carries the mailbox values (R-C4, R-D5); the owner is not reverted."""
    w, rid, iid = synced_pair(UP)
    touch_record(w, rid, subject="Edited in Salesforce", location="Room SF")
    touch_item(w, ANN, iid, reminder=30)  # fields the mailbox changed go up as usual
    w.records[rid].owner_mailbox = BOB
    w2, actions = session(w, UP)
    assert ops(actions) == [(SALESFORCE, "revert_update", "R-D2")] * 2 + [
        (SALESFORCE, "update", "R-D2"),
        (MAILBOX, "create", "R-C4"),
        (MAILBOX, "delete", "R-C4"),
    ]
    reverts = [a for a in actions if a.operation == "revert_update"]
    assert [(a.fields, a.before) for a in reverts] == [
        ({"subject": "Demo"}, {"subject": "Edited in Salesforce"}),
        ({"location": "Room 1"}, {"location": "Room SF"}),
    ]
    create = next(a for a in actions if a.operation == "create")
    assert (create.fields["subject"], create.fields["location"], create.fields["reminder"]) == (
        "Demo",
        "Room 1",
        30,
    )
    r = w2.records[rid]
    assert (r.fields["subject"], r.fields["location"], r.fields["reminder"], r.owner_mailbox) == (
        "Demo",
        "Room 1",
        30,
        BOB,
    )
    (link,) = w2.links
    assert link.mailbox == BOB and link.origin == SALESFORCE and w2.mailboxes[ANN] == {}
    # a mailbox-originated old item is kept, uncategorized (R-X1 delete_appointments), after the reverts
    w = new_world()
    add_item(w, subject="From Outlook")
    w, _ = session(w, UP)
    (link,) = w.links
    touch_record(w, link.record_id, subject="Edited in Salesforce")
    w.records[link.record_id].owner_mailbox = BOB
    w2, actions = session(w, UP)
    assert ops(actions) == [
        (SALESFORCE, "revert_update", "R-D2"),
        (MAILBOX, "create", "R-C4"),
        (MAILBOX, "uncategorize", "R-C4"),
    ]
    (new_item,) = w2.mailboxes[BOB].values()
    assert new_item.fields["subject"] == "From Outlook"


def test_r_c4_r_d1_two_way_move_conveys_the_mailbox_edits_first() -> None:
    """N36: under two_way the old link of a move first writes to Salesforce what the mailbox changed
    (R-D1), then, in the next pass of the same session (R-D5), the new item is created from the record (so
    it carries the merged values) and the old item goes under R-X1. Nothing is written to the old item."""
    w, rid, iid = synced_pair(TWO_WAY)
    item = w.mailboxes[ANN][iid]
    item.fields = {**item.fields, "subject": "Edited in Outlook"}
    item.last_modified = item.last_modified + timedelta(hours=1)
    w.records[rid].owner_mailbox = BOB
    w2, actions = session(w, TWO_WAY)
    assert ops(actions) == [
        (SALESFORCE, "update", "R-D1"),
        (MAILBOX, "create", "R-C4"),
        (MAILBOX, "delete", "R-C4"),
    ]
    update, create, delete = actions
    assert update.fields == {"subject": "Edited in Outlook"} and update.before == {"subject": "Demo"}
    assert create.mailbox == BOB and create.fields["subject"] == "Edited in Outlook"
    assert (delete.mailbox, delete.item_id) == (ANN, iid)
    assert w2.records[rid].fields["subject"] == "Edited in Outlook"
    assert w2.mailboxes[ANN] == {}
    (new_item,) = w2.mailboxes[BOB].values()
    assert new_item.fields["subject"] == "Edited in Outlook"
    (link,) = w2.links
    assert (link.mailbox, link.item_id, link.origin) == (BOB, new_item.id, SALESFORCE)
    assert run_session(w2, TWO_WAY, ctx())[1] == []  # the next session plans nothing (R-D5)
    # attendees removed from the old item go up first too (R-P2), then the (no longer meeting) item moves
    w, rid, iid = synced_pair(TWO_WAY, attendees=frozenset({CAT}))
    touch_item(w, ANN, iid, attendees=frozenset())
    w.records[rid].owner_mailbox = BOB
    w2, actions = session(w, TWO_WAY)
    assert ops(actions) == [
        (SALESFORCE, "update", "R-P2"),
        (MAILBOX, "create", "R-C4"),
        (MAILBOX, "delete", "R-C4"),
    ]
    assert w2.records[rid].fields["attendees"] == frozenset()
    # a mailbox-originated old item: the edit goes up, the item is kept uncategorized, not written
    w = new_world()
    add_item(w, subject="From Outlook")
    w, _ = session(w, TWO_WAY)
    (link,) = w.links
    touch_item(w, ANN, link.item_id, subject="Edited in Outlook", location="Room 7")
    w.records[link.record_id].owner_mailbox = BOB
    w2, actions = session(w, TWO_WAY)
    assert ops(actions) == [
        (SALESFORCE, "update", "R-D1"),
        (SALESFORCE, "update", "R-D1"),
        (MAILBOX, "create", "R-C4"),
        (MAILBOX, "uncategorize", "R-C4"),
    ]
    (new_item,) = w2.mailboxes[BOB].values()
    assert (new_item.fields["subject"], new_item.fields["location"]) == ("Edited in Outlook", "Room 7")
    kept = w2.mailboxes[ANN][link.item_id]
    assert kept.fields["subject"] == "Edited in Outlook" and kept.stamp is None
    # no mailbox edit: the move is at once, as before; a Salesforce edit reaches the new item only
    w, rid, iid = synced_pair(TWO_WAY)
    touch_record(w, rid, subject="Edited in Salesforce")
    w.records[rid].owner_mailbox = BOB
    w2, actions = session(w, TWO_WAY)
    assert ops(actions) == [(MAILBOX, "create", "R-C4"), (MAILBOX, "delete", "R-C4")]
    assert actions[0].fields["subject"] == "Edited in Salesforce"


def test_r_c4_r_d1_two_way_move_resolves_conflicts_before_moving() -> None:
    """N36: a field changed on both sides is resolved by conflict_winner; a value Salesforce wins is not
    written to the old item (it is deleted next) but reaches the new item through its create; a value the
    mailbox wins goes up first."""
    for p, sf_minutes in (
        (TWO_WAY, 30),  # newest: Salesforce later, beyond the clock skew
        (replace(TWO_WAY, conflict_winner="salesforce"), 5),
    ):
        w, rid, iid = synced_pair(p)
        touch_record(w, rid, minutes=sf_minutes, subject="SF")
        touch_item(w, ANN, iid, minutes=10, subject="MB")
        w.records[rid].owner_mailbox = BOB
        w2, actions = session(w, p)
        assert ops(actions) == [(MAILBOX, "create", "R-C4"), (MAILBOX, "delete", "R-C4")]
        assert actions[0].mailbox == BOB and actions[0].fields["subject"] == "SF"
        assert w2.records[rid].fields["subject"] == "SF" and w2.mailboxes[ANN] == {}
        # the same conflict with a mailbox-only edit of another field: that one goes up first
        w, rid, iid = synced_pair(p)
        touch_record(w, rid, minutes=sf_minutes, subject="SF")
        touch_item(w, ANN, iid, minutes=10, subject="MB", location="Room 9")
        w.records[rid].owner_mailbox = BOB
        w2, actions = session(w, p)
        assert ops(actions) == [
            (SALESFORCE, "update", "R-D1"),
            (MAILBOX, "create", "R-C4"),
            (MAILBOX, "delete", "R-C4"),
        ]
        assert actions[0].fields == {"location": "Room 9"} and not actions[0].conflict
        assert [a for a in actions if a.side == MAILBOX and a.item_id == iid] == [actions[2]]
        (new_item,) = w2.mailboxes[BOB].values()
        assert (new_item.fields["subject"], new_item.fields["location"]) == ("SF", "Room 9")
        assert (w2.records[rid].fields["subject"], w2.records[rid].fields["location"]) == ("SF", "Room 9")
    # won by the mailbox (newest, within the clock skew): the conflict goes up, then the move
    w, rid, iid = synced_pair(TWO_WAY)
    touch_record(w, rid, minutes=10.5, subject="SF")
    touch_item(w, ANN, iid, minutes=10, subject="MB")
    w.records[rid].owner_mailbox = BOB
    w2, actions = session(w, TWO_WAY)
    assert ops(actions) == [
        (SALESFORCE, "update", "R-D1"),
        (MAILBOX, "create", "R-C4"),
        (MAILBOX, "delete", "R-C4"),
    ]
    assert actions[0].conflict and actions[0].winner == MAILBOX
    assert actions[0].before == {"subject": {"salesforce": "SF", "mailbox": "MB"}}
    assert actions[1].fields["subject"] == "MB" and w2.records[rid].fields["subject"] == "MB"


def test_r_c4_r_d1_move_that_waits_for_the_new_mailbox_syncs_the_old_link_both_ways() -> None:
    """N36: the upward-only deferral applies only when the move happens in this session. While the new
    owner's mailbox is unavailable, no new item can be created, so the old link is an ordinary link (R-D1):
    the mailbox's edit goes up AND the Salesforce edit reaches the old item. Before, only the upward write
    was made and its baseline reset swallowed the Salesforce edit (lost update). With BOB back, the move."""
    w, rid, iid = synced_pair(TWO_WAY, attendees=frozenset({CAT}))
    assert w.links[0].origin == SALESFORCE  # delete_appointments deletes the old item on the move
    touch_record(w, rid, reminder=None)  # Salesforce edit: 15 -> None
    w.records[rid].owner_mailbox = BOB
    touch_item(w, ANN, iid, minutes=20, attendees=frozenset())  # mailbox edit: no longer a meeting
    bob_down = ctx(unavailable_mailboxes=frozenset({BOB}))
    w2, actions = session(w, TWO_WAY, bob_down)
    assert sorted(ops(actions)) == [(MAILBOX, "update", "R-D1"), (SALESFORCE, "update", "R-P2")]
    up = next(a for a in actions if a.side == SALESFORCE)
    down = next(a for a in actions if a.side == MAILBOX)
    assert up.fields == {"attendees": frozenset()} and up.record_id == rid
    assert down.fields == {"reminder": None} and (down.mailbox, down.item_id) == (ANN, iid)
    assert w2.mailboxes[BOB] == {} and [lk.mailbox for lk in w2.links] == [ANN]
    assert w2.mailboxes[ANN][iid].fields["reminder"] is None  # the Salesforce edit is not lost
    assert w2.records[rid].fields["attendees"] == frozenset()
    # BOB's mailbox is back: nothing is left to convey, so the move is at once (create + R-X1)
    w3, actions = session(w2, TWO_WAY)
    assert ops(actions) == [(MAILBOX, "create", "R-C4"), (MAILBOX, "delete", "R-C4")]
    assert actions[0].mailbox == BOB and (actions[1].mailbox, actions[1].item_id) == (ANN, iid)
    assert w3.mailboxes[ANN] == {}
    (new_item,) = w3.mailboxes[BOB].values()
    assert new_item.fields["reminder"] is None and new_item.fields["attendees"] == frozenset()
    assert w3.records[rid].fields["reminder"] is None and w3.records[rid].fields["attendees"] == frozenset()
    (link,) = w3.links
    assert (link.mailbox, link.item_id) == (BOB, new_item.id)
    assert run_session(w3, TWO_WAY, ctx())[1] == []  # R-D5: nothing left, nothing lost
    # with BOB available from the start, N36 as before: the upward write first, then the move carrying
    # the Salesforce edit through the create
    w4, actions = session(w, TWO_WAY)
    assert ops(actions) == [
        (SALESFORCE, "update", "R-P2"),
        (MAILBOX, "create", "R-C4"),
        (MAILBOX, "delete", "R-C4"),
    ]
    assert actions[1].fields["reminder"] is None and actions[1].fields["attendees"] == frozenset()
    assert w4.records[rid].fields["attendees"] == frozenset() and w4.mailboxes[ANN] == {}
    # BOB available but no new item possible: two of its items carry the record's stamp (AMBIGUOUS_MATCH,
    # R-S7), so the move waits and the old link is again an ordinary link
    for n in ("b1", "b2"):
        add_item(w, BOB, n, uid=f"uid-{n}", hours=30, subject=f"Other {n}").stamp = f"events|{rid}|salesforce"
    w5, actions = session(w, TWO_WAY)
    assert sorted(ops(actions)) == [(MAILBOX, "update", "R-D1"), (SALESFORCE, "update", "R-P2")]
    assert w5.mailboxes[ANN][iid].fields["reminder"] is None and [lk.mailbox for lk in w5.links] == [ANN]


def test_r_o3_r_c4_stamp_joined_link_conveys_the_newer_mailbox_values_before_moving() -> None:
    """N36 with N12: after a lost state store the stamp join (R-O3) has no baselines for fields whose sides
    differ; they are resolved like a conflict (newest). A mailbox that wins goes up first (`update` R-O3),
    then the new item carries its values; a Salesforce that wins reaches only the new item."""
    w, rid, iid = synced_pair(TWO_WAY, rid="p1")
    item = w.mailboxes[ANN][iid]
    item.fields = {**item.fields, "subject": "Edited in Outlook"}
    item.last_modified = item.last_modified + timedelta(hours=1)
    w.records[rid].owner_mailbox = BOB
    w.links = []  # the state store is lost
    w2, actions = session(w, TWO_WAY)
    assert ops(actions) == [
        (MAILBOX, "link", "R-O3"),
        (SALESFORCE, "update", "R-O3"),
        (MAILBOX, "create", "R-C4"),
        (MAILBOX, "delete", "R-C4"),
    ]
    _link, update, create, delete = actions
    assert update.conflict and update.winner == MAILBOX and update.fields == {"subject": "Edited in Outlook"}
    assert create.mailbox == BOB and create.fields["subject"] == "Edited in Outlook"
    assert (delete.mailbox, delete.item_id) == (ANN, iid)
    assert w2.records[rid].fields["subject"] == "Edited in Outlook" and w2.mailboxes[ANN] == {}
    (new_item,) = w2.mailboxes[BOB].values()
    assert new_item.fields["subject"] == "Edited in Outlook"
    assert [(lk.record_id, lk.mailbox) for lk in w2.links] == [(rid, BOB)]
    # Salesforce newer: no write to the old item, the new item carries Salesforce's value
    w, rid, iid = synced_pair(TWO_WAY, rid="p1")
    touch_item(w, ANN, iid, minutes=10, subject="Edited in Outlook")
    touch_record(w, rid, minutes=90, subject="Edited in Salesforce")
    w.records[rid].owner_mailbox = BOB
    w.links = []
    w2, actions = session(w, TWO_WAY)
    assert ops(actions) == [
        (MAILBOX, "link", "R-O3"),
        (MAILBOX, "create", "R-C4"),
        (MAILBOX, "delete", "R-C4"),
    ]
    assert actions[1].fields["subject"] == "Edited in Salesforce"
    assert w2.records[rid].fields["subject"] == "Edited in Salesforce" and w2.mailboxes[ANN] == {}


def test_r_d6_mailbox_delete_against_salesforce_edit_restores_under_downsync_false() -> None:
    """D15 / N33: R-X4 does not stop R-D6: a mailbox-created item deleted while its record was edited is
    restored (keeping origin mailbox), not the record deleted by R-X2, and R-X4 does not then delete it."""
    p = replace(TWO_WAY, downsync=False)
    w = new_world()
    add_item(w, subject="From Outlook")
    w, _ = session(w, p)
    (link,) = w.links
    rid, iid = link.record_id, link.item_id
    touch_record(w, rid, subject="Edited in Salesforce")
    del w.mailboxes[ANN][iid]
    w2, actions = session(w, p)  # session(): a second run plans nothing (no R-X4 delete either)
    assert ops(actions) == [(MAILBOX, "restore", "R-D6")] and actions[0].conflict
    assert actions[0].fields["stamp"] == f"events|{rid}|{MAILBOX}"
    (link,) = w2.links
    assert link.origin == MAILBOX and not w2.records[rid].deleted
    assert w2.mailboxes[ANN][link.item_id].fields["subject"] == "Edited in Salesforce"


EXT = "ext@o.org"  # an organizer whose mailbox is not synced


def external_meeting(w: World) -> None:
    """One meeting organized by EXT: an attendee's copy in ANN's mailbox (m1a) and in BOB's (m1b)."""
    for mailbox, iid in ((ANN, "m1a"), (BOB, "m1b")):
        copy = add_item(w, mailbox, iid, uid="uid-m1", subject="Meeting", attendees=frozenset({mailbox, CAT}))
        copy.is_organizer, copy.organizer = False, EXT


def live_keys(w: World) -> list[str]:
    """R-M5: the CalSync_Event_Id__c of every live record (must be unique)."""
    keys = sorted(r.external_id for r in w.records.values() if not r.deleted and r.external_id)
    assert len(keys) == len(set(keys)), f"R-M5 / R-O4: two live records share a key: {keys}"
    return keys


def upsynced_from_bob_while_ann_is_down() -> tuple[World, str]:
    """Step 2 of the N29 histories: ANN's mailbox is unavailable, BOB's copy is the one upsynced."""
    w = new_world(ANN, BOB)
    external_meeting(w)
    w, actions = session(w, TWO_WAY, ctx(unavailable_mailboxes=frozenset({ANN})))
    assert ops(actions) == [(SALESFORCE, "create", "R-D1"), (MAILBOX, "stamp", "R-M8")]
    assert all(a.mailbox == BOB for a in actions) and live_keys(w) == ["uid-m1"]
    (link,) = w.links
    assert (link.mailbox, link.item_id, link.origin, link.is_organizer_copy) == (BOB, "m1b", MAILBOX, True)
    return w, link.record_id


def test_r_d6_r_o4_restored_meeting_is_not_duplicated_by_an_unseen_copy() -> None:
    """N29: the record of a meeting is deleted in Salesforce while BOB's linked copy is edited (R-D6); ANN's
    copy, never seen before (her mailbox was down), must not be upsynced as a second record (R-M5, R-O4):
    it links to the restored record as an attendee's copy in the next pass of the same session (R-D5)."""
    w, r2 = upsynced_from_bob_while_ann_is_down()
    w.records[r2].deleted = True  # step 3: deleted in Salesforce ...
    touch_item(w, BOB, "m1b", subject="Meeting (moved room)")  # ... and edited in BOB's mailbox
    w2, actions = session(w, TWO_WAY)  # step 4: every mailbox available; session(): a 2nd run is empty
    assert ops(actions) == [
        (SALESFORCE, "restore", "R-D6"),
        (MAILBOX, "stamp", "R-M8"),  # BOB's stamp names the restored record's new id
        (MAILBOX, "link", "R-O4"),  # ANN's copy: an attendee's copy of the restored record
        (MAILBOX, "stamp", "R-M8"),
    ]
    assert not [a for a in actions if a.side == SALESFORCE and a.operation == "create"], "N29: no upsync"
    restore, _stamp, link_ann, _ = actions
    assert restore.record_id == r2 and restore.item_id == "m1b" and restore.conflict
    assert restore.fields["CalSync_Event_Id__c"] == "uid-m1"
    assert (link_ann.item_id, link_ann.organizer_copy) == ("m1a", False)
    assert live_keys(w2) == ["uid-m1"]
    (new,) = [r for r in w2.records.values() if not r.deleted]
    assert new.fields["subject"] == "Meeting (moved room)" and new.owner_mailbox == BOB
    links = {lk.mailbox: lk for lk in w2.links}
    assert {m: (lk.record_id, lk.item_id, lk.is_organizer_copy) for m, lk in links.items()} == {
        BOB: (new.id, "m1b", True),
        ANN: (new.id, "m1a", False),
    }
    assert links[BOB].origin == MAILBOX  # R-D6: the restore keeps the link's origin
    # the copy stays passive (N9): ANN's edit is not upsynced
    touch_item(w2, ANN, "m1a", minutes=30, subject="my own title")
    w3, actions = session(w2, TWO_WAY)
    assert actions == [] and live_keys(w3) == ["uid-m1"]


def test_r_d6_r_o4_unseen_copy_waits_while_the_upsynced_copy_is_unreadable() -> None:
    """N29 with R-X6: while BOB's mailbox (holding the upsynced copy) cannot be read, the deleted record
    cannot be restored yet, and ANN's copy is not upsynced meanwhile; once BOB is back, restore + link."""
    w, r2 = upsynced_from_bob_while_ann_is_down()
    w.records[r2].deleted = True
    touch_item(w, BOB, "m1b", subject="Meeting (moved room)")
    bob_down = ctx(unavailable_mailboxes=frozenset({BOB}))
    for down in (bob_down, ctx(unreadable_items=frozenset({(BOB, "m1b")}))):
        w2, actions = session(w, TWO_WAY, down)
        assert actions == [] and live_keys(w2) == []
    w3, actions = session(w2, TWO_WAY)
    assert ops(actions) == [
        (SALESFORCE, "restore", "R-D6"),
        (MAILBOX, "stamp", "R-M8"),
        (MAILBOX, "link", "R-O4"),
        (MAILBOX, "stamp", "R-M8"),
    ]
    assert live_keys(w3) == ["uid-m1"] and len(w3.links) == 2


def test_r_o4_copy_first_seen_while_the_record_is_live_links_even_if_it_sorts_first() -> None:
    """N9 / N29: the meeting already has its record (upsynced from BOB's copy); ANN's copy, seen for the
    first time, links as an attendee's copy. R-O4's "the copy in the mailbox that sorts first" only chooses
    which copy is upsynced when the meeting has no record yet."""
    w, r2 = upsynced_from_bob_while_ann_is_down()
    w2, actions = session(w, TWO_WAY)
    assert ops(actions) == [(MAILBOX, "link", "R-O4"), (MAILBOX, "stamp", "R-M8")]
    assert actions[0].record_id == r2 and actions[0].item_id == "m1a" and not actions[0].organizer_copy
    assert live_keys(w2) == ["uid-m1"] and len(w2.records) == 1
    assert {(lk.mailbox, lk.is_organizer_copy) for lk in w2.links} == {(BOB, True), (ANN, False)}
    # for contrast: with both mailboxes readable from the start, ANN's copy (sorts first) is upsynced
    w = new_world(ANN, BOB)
    external_meeting(w)
    w2, actions = session(w, TWO_WAY)
    assert ops(actions)[:2] == [(SALESFORCE, "create", "R-D1"), (MAILBOX, "stamp", "R-M8")]
    assert actions[0].item_id == "m1a" and live_keys(w2) == ["uid-m1"]
    assert {(lk.mailbox, lk.is_organizer_copy) for lk in w2.links} == {(ANN, True), (BOB, False)}


def adoptable_meeting(organizer: str, owner: str) -> World:
    """The N35 histories: a meeting with copies in ANN's and BOB's mailboxes (uid-m1, category Salesforce),
    organized by ANN (her organizer item m1a, BOB's attendee's copy m1b) or by EXT (two attendees' copies),
    and a record p2 created in Salesforce for the same event, owner `owner`, without CalSync_Event_Id__c."""
    w = new_world(ANN, BOB)
    if organizer == ANN:
        add_item(w, ANN, "m1a", uid="uid-m1", subject="Meeting", attendees=frozenset({BOB, CAT}))
        copy = add_item(w, BOB, "m1b", uid="uid-m1", subject="Meeting", attendees=frozenset({BOB, CAT}))
        copy.is_organizer, copy.organizer = False, ANN
    else:
        external_meeting(w)
    add_record(w, "p2", owner=owner, subject="Meeting")
    assert w.records["p2"].external_id is None
    return w


def test_r_d5_r_o4_copy_of_a_meeting_adopted_in_this_session_links_in_the_same_session() -> None:
    """N35 (R-D5, R-O4, R-M5): the record p2 is adopted (R-S7) with the copy in its owner's mailbox; the
    other mailbox's copy links to p2 as an attendee's copy in the same session (not one session late, not
    upsynced as a second record), so the second session plans nothing (session() checks it)."""
    cases = [(ANN, ANN, "m1a", "m1b"), (EXT, ANN, "m1a", "m1b"), (EXT, BOB, "m1b", "m1a")]
    for organizer, owner, joined, copy in cases:
        w, actions = session(adoptable_meeting(organizer, owner), TWO_WAY)
        links = [a for a in actions if a.operation == "link"]
        assert [(a.rule, a.record_id, a.mailbox, a.item_id) for a in links] == [
            ("R-S7", "p2", owner, joined),
            ("R-O4", "p2", BOB if owner == ANN else ANN, copy),
        ], (organizer, owner)
        assert links[1].origin == MAILBOX and not links[1].organizer_copy
        assert not [a for a in actions if a.side == SALESFORCE and a.operation == "create"], "R-M5: no upsync"
        assert list(w.records) == ["p2"] and not w.records["p2"].deleted
        assert {(lk.mailbox, lk.item_id, lk.record_id, lk.is_organizer_copy) for lk in w.links} == {
            (owner, joined, "p2", True),
            (BOB if owner == ANN else ANN, copy, "p2", False),
        }
        assert all(i.stamp == f"events|p2|{MAILBOX}" for m in (ANN, BOB) for i in w.mailboxes[m].values())
        # the copy is passive (N9): an edit of it is not upsynced
        other = BOB if owner == ANN else ANN
        touch_item(w, other, copy, minutes=30, subject="my own title")
        assert session(w, TWO_WAY)[1] == []
        # the join stored by an earlier session (the other mailbox was down): the copy links when seen
        w, _ = session(
            adoptable_meeting(organizer, owner), TWO_WAY, ctx(unavailable_mailboxes=frozenset({other}))
        )
        assert [(lk.mailbox, lk.item_id) for lk in w.links] == [(owner, joined)]
        w, actions = session(w, TWO_WAY)
        assert ops(actions) == [(MAILBOX, "link", "R-O4"), (MAILBOX, "stamp", "R-M8")]
        assert (actions[0].record_id, actions[0].item_id, actions[0].organizer_copy) == ("p2", copy, False)


def test_r_x3_r_o4_copy_of_a_meeting_adopted_and_unsynced_in_the_same_session() -> None:
    """N35: the adopted item also carries the unsync category: R-X3 deletes p2 in the same session, and the
    other copy is treated as any copy of a record deleted in the plan (as when p2 already carried the key
    and ANN's link was stored): linked, then uncategorized (R-O4), no stamp in between; no second record,
    nothing left for the next session."""
    for organizer in (ANN, EXT):
        w = adoptable_meeting(organizer, ANN)
        item = w.mailboxes[ANN]["m1a"]
        item.categories = item.categories | {"Salesforce Unsync"}
        w2, actions = session(w, TWO_WAY)
        assert [(a.operation, a.rule, a.mailbox) for a in actions] == [
            ("link", "R-S7", ANN),
            ("delete", "R-X3", ANN),  # next pass, with BOB's link (as if the join had been stored before)
            ("uncategorize", "R-X3", ANN),
            ("link", "R-O4", BOB),
            ("uncategorize", "R-O4", BOB),
        ], organizer
        assert w2.records["p2"].deleted and w2.links == [] and live_keys(w2) == []
        assert all(i.categories == frozenset() for m in (ANN, BOB) for i in w2.mailboxes[m].values())


# --- (b) random histories --------------------------------------------------------------------------------

MAILBOXES = (ANN, BOB)
SUBJECTS = st.sampled_from(["Demo", "Review", "Lunch", "Call"])
PROFILES = st.sampled_from(
    [
        TWO_WAY,
        UP,
        DOWN,
        replace(TWO_WAY, conflict_winner="salesforce"),
        replace(TWO_WAY, downsync=False),
        replace(UP, downsync=False),
        replace(TWO_WAY, salesforce_deletion="keep"),
        replace(TWO_WAY, salesforce_deletion="delete"),
        replace(TWO_WAY, private_items="sync"),
        replace(UP, private_items="sync_without_flag"),
        replace(TWO_WAY, on_leave_window="delete_salesforce_created", conflict_winner="mailbox"),
    ]
)
FIELD_EDITS = st.sampled_from(["subject", "location", "when", "reminder", "body", "show_as", "attendees"])


def _value(name: str, side: str, n: int) -> Any:
    people = ["x@o.org", "y@o.org", "z@o.org"]
    sf = {
        "subject": ["Demo", "Review", "Lunch"][n % 3],
        "location": f"Room {n % 3}",
        "when": at(24 + 2 * (n % 3)),
        "reminder": [None, 15, 30][n % 3],
        "body": f"text {n % 3}",
        "show_as": ["Free", "Busy", "OutOfOffice"][n % 3],
        "attendees": frozenset(people[: n % 3]) | (frozenset({people[2]}) if n % 4 == 3 else frozenset()),
    }
    value = sf[name]
    if side == MAILBOX:
        value = convert(name, value, MAILBOX)
        if name == "show_as" and n % 5 == 4:
            value = "tentative"
    return value


class SyncMachine(RuleBasedStateMachine):
    """Random person actions on either side, with sessions in between (STYLE example 5)."""

    @initialize(profile=PROFILES)
    def start(self, profile: Profile) -> None:
        self.world = new_world(*MAILBOXES)
        self.profile = profile
        self.clock = 0.0  # minutes after T0
        self.counter = 0

    def tick(self) -> datetime:
        self.clock += 7
        return T0 + timedelta(minutes=self.clock)

    def ctx(self) -> Context:
        return Context(reference_time=T0 + timedelta(minutes=self.clock))

    # -- people in Salesforce
    @rule(subject=SUBJECTS, owner=st.sampled_from(MAILBOXES), hours=st.integers(-2, 4))
    def sf_create(self, subject: str, owner: str, hours: int) -> None:
        self.counter += 1
        rid = f"p{self.counter}"
        self.world.records[rid] = Record(
            id=rid,
            sobject="Event",
            fields=sf_fields(subject, 24 + hours),
            owner_mailbox=owner,
            last_modified=self.tick(),
            preserve={"WhoId": f"003{self.counter}", "WhatId": None},
        )

    def live_records(self) -> list[Record]:
        return sorted((r for r in self.world.records.values() if not r.deleted), key=lambda r: r.id)

    @precondition(lambda self: self.live_records())
    @rule(data=st.data(), name=FIELD_EDITS, n=st.integers(0, 11))
    def sf_edit(self, data: st.DataObject, name: str, n: int) -> None:
        r = data.draw(st.sampled_from(self.live_records()))
        r.fields[name] = _value(name, SALESFORCE, n)
        r.last_modified = self.tick()

    @precondition(lambda self: self.live_records())
    @rule(data=st.data())
    def sf_delete(self, data: st.DataObject) -> None:
        data.draw(st.sampled_from(self.live_records())).deleted = True

    @precondition(lambda self: self.live_records())
    @rule(data=st.data(), owner=st.sampled_from(MAILBOXES))
    def sf_owner_change(self, data: st.DataObject, owner: str) -> None:
        r = data.draw(st.sampled_from(self.live_records()))
        r.owner_mailbox = owner
        r.last_modified = self.tick()

    # -- people in mailboxes
    @rule(
        mailbox=st.sampled_from(MAILBOXES), subject=SUBJECTS, hours=st.integers(-2, 4), private=st.booleans()
    )
    def mb_create(self, mailbox: str, subject: str, hours: int, private: bool) -> None:
        self.counter += 1
        iid = f"u{self.counter}"
        fields = mb_fields(subject, 24 + hours, sensitivity="private" if private else "normal")
        self.world.mailboxes[mailbox][iid] = Item(
            mailbox=mailbox,
            id=iid,
            fields=fields,
            categories=frozenset({"Salesforce"}),
            ical_uid=f"uid-u{self.counter}",
            last_modified=self.tick(),
        )

    def items(self) -> list[Item]:
        return [i for m in MAILBOXES for i in sorted(self.world.mailboxes[m].values(), key=lambda i: i.id)]

    @precondition(lambda self: self.items())
    @rule(data=st.data(), name=FIELD_EDITS, n=st.integers(0, 11))
    def mb_edit(self, data: st.DataObject, name: str, n: int) -> None:
        i = data.draw(st.sampled_from(self.items()))
        i.fields[name] = _value(name, MAILBOX, n)
        i.last_modified = self.tick()

    @precondition(lambda self: self.items())
    @rule(data=st.data())
    def mb_delete(self, data: st.DataObject) -> None:
        i = data.draw(st.sampled_from(self.items()))
        del self.world.mailboxes[i.mailbox][i.id]

    @precondition(lambda self: self.items())
    @rule(data=st.data(), change=st.sampled_from(["drop_opt_in", "unsync", "private", "public", "extra"]))
    def mb_flags(self, data: st.DataObject, change: str) -> None:
        i = data.draw(st.sampled_from(self.items()))
        if change == "drop_opt_in":
            i.categories = i.categories - {"Salesforce"}
        elif change == "unsync":
            i.categories = i.categories | {"Salesforce Unsync"}
        elif change == "extra":
            i.categories = i.categories | {"Green"}
        else:
            i.fields["sensitivity"] = "private" if change == "private" else "normal"
        i.last_modified = self.tick()

    @rule(organizer=st.sampled_from([ANN, "ext@o.org"]), subject=SUBJECTS, hours=st.integers(-2, 4))
    def mb_invite(self, organizer: str, subject: str, hours: int) -> None:
        """A meeting: the organizer's item (when synced) and an attendee's copy in BOB's mailbox."""
        self.counter += 1
        uid = f"uid-m{self.counter}"
        holders = [ANN, BOB] if organizer == ANN else [BOB, ANN]
        for mailbox in holders:
            others = frozenset({BOB, CAT} - {mailbox}) | ({ANN} if mailbox != ANN else frozenset())
            iid = f"m{self.counter}{mailbox[0]}"
            self.world.mailboxes[mailbox][iid] = Item(
                mailbox=mailbox,
                id=iid,
                fields=mb_fields(subject, 24 + hours, attendees=others),
                categories=frozenset({"Salesforce"}),
                ical_uid=uid,
                last_modified=self.tick(),
                is_organizer=mailbox == organizer,
                organizer=organizer,
            )

    def linked(self) -> list[tuple[Record, Item]]:
        out = []
        for lk in self.world.links:
            r, i = self.world.records.get(lk.record_id), self.world.item(lk.mailbox, lk.item_id)
            if r is not None and i is not None and not r.deleted:
                out.append((r, i))
        return out

    @precondition(lambda self: self.linked())
    @rule(
        data=st.data(),
        name=FIELD_EDITS,
        n=st.integers(0, 11),
        m=st.integers(0, 11),
        who=st.sampled_from(["sf", "mb", "both", "sf_delete_mb_edit", "mb_delete_sf_edit"]),
        and_sync=st.booleans(),
    )
    def edit_linked(self, data: st.DataObject, name: str, n: int, m: int, who: str, and_sync: bool) -> None:
        """Edits and deletes aimed at linked pairs, so that merges, conflicts and reverts happen often."""
        r, i = data.draw(st.sampled_from(self.linked()))
        if who in ("sf", "both", "mb_delete_sf_edit"):
            r.fields[name] = _value(name, SALESFORCE, n)
            r.last_modified = self.tick()
        if who in ("mb", "both", "sf_delete_mb_edit"):
            i.fields[name] = _value(name, MAILBOX, m)
            i.last_modified = self.tick()
        if who == "sf_delete_mb_edit":
            r.deleted = True
        if who == "mb_delete_sf_edit":
            del self.world.mailboxes[i.mailbox][i.id]
        if and_sync:
            self.run_session()

    # -- the administrator and the engine
    @rule()
    def lose_state_store(self) -> None:
        """R-O3: links (and their baselines) are lost; stamps and keys rebuild them."""
        self.world.links = []

    @rule(days=st.sampled_from([1, 20, 70]))
    def time_passes(self, days: int) -> None:
        self.clock += days * 24 * 60

    @rule(mailbox=st.sampled_from(MAILBOXES))
    def session_with_unavailable_mailbox(self, mailbox: str) -> None:
        """R-X6: nothing of an unavailable mailbox is planned; the others go on."""
        self.tick()
        c = replace(self.ctx(), unavailable_mailboxes=frozenset({mailbox}))
        actions = plan_session(self.world, self.profile, c)
        assert all(a.mailbox != mailbox for a in actions)
        held = {lk.record_id for lk in self.world.links if lk.mailbox == mailbox}
        assert not [a for a in actions if a.rule == "R-C4" and a.record_id in held], "N30: a move waits"
        self.world = apply(self.world, actions, self.profile, c)

    @rule(profile=PROFILES)
    def change_settings(self, profile: Profile) -> None:
        self.profile = profile

    @rule()
    def run_session(self) -> None:
        self.tick()
        c = self.ctx()
        before = self.world
        snapshot = before.copy()
        actions = plan_session(before, self.profile, c)
        assert before == snapshot, "plan_session is pure"
        assert [a.key() for a in plan_session(before, self.profile, c)] == [a.key() for a in actions]
        for a in actions:
            assert a.operation in OPERATIONS
        self.world = apply(before, actions, self.profile, c)
        for a in actions:
            event(f"{a.side} {a.operation} {a.rule}")
        self.check_session(before, actions)

    # -- invariants
    def check_session(self, before: World, actions: list[Action]) -> None:
        c = self.ctx()
        again = [a for a in plan_session(self.world, self.profile, c) if a.outcome == PLANNED]
        assert again == [], f"R-D5: a second run plans {again}"
        # the one principle: nothing the rules keep is deleted
        for a in actions:  # deletes happen only for the reasons the rules give
            if a.operation != "delete":
                continue
            if a.side == SALESFORCE:
                assert a.rule in ("R-X2", "R-X3") and self.profile.direction != "salesforce_to_mailbox"
                old = before.item(a.mailbox or "", a.item_id or "")
                if a.rule == "R-X2":
                    assert old is None or old.cancelled, "R-C3: only a confirmed mailbox delete"
                else:
                    assert old is not None and "Salesforce Unsync" in old.categories
            else:
                assert a.rule in ("R-X1", "R-C4", "R-X4", "R-X5")
                rec = before.records.get(a.record_id or "")
                if a.rule == "R-X1":
                    assert rec is None or rec.deleted, "R-C3: only a confirmed Salesforce delete"
        if not self.profile.downsync and self.profile.direction != "salesforce_to_mailbox":
            # N10 / R-X4: an item calsync pushed is removed, never written (nor re-created) first
            origin = {(lk.mailbox, lk.item_id): lk.origin for lk in before.links_of(self.profile.id)}
            origin |= {(a.mailbox, a.item_id): a.origin for a in actions if a.operation == "link"}
            for a in actions:
                if a.side == MAILBOX and a.operation not in ("delete", "uncategorize", "link", "unlink"):
                    assert origin.get((a.mailbox, a.item_id)) != SALESFORCE, f"N10: item written: {a}"
        # N32 / N36 (R-C4, R-D5): the old item of a move is never written before it goes
        moved_out = {
            (a.mailbox, a.item_id)
            for a in actions
            if a.rule == "R-C4" and a.operation in ("delete", "uncategorize")
        }
        for a in actions:
            if a.side == MAILBOX and a.operation not in ("delete", "uncategorize", "link", "unlink"):
                assert (a.mailbox, a.item_id) not in moved_out, f"N36: old item of a move written: {a}"
        if self.profile.direction == "salesforce_to_mailbox":
            upward = [a for a in actions if a.side == SALESFORCE and a.operation not in ("link", "unlink")]
            assert not upward, "R-D3: nothing is conveyed upward"
        self.check_one_way_targets()

    def check_one_way_targets(self) -> None:
        """A one-way target equals its source after a session (common form, N6; except N38)."""
        p, c = self.profile, self.ctx()
        auth = p.authoritative_side
        if auth is None:
            return
        for link in self.world.links_of(p.id):
            r = self.world.records.get(link.record_id)
            i = self.world.item(link.mailbox, link.item_id)
            if r is None or i is None or r.deleted or not link.is_organizer_copy:
                continue
            ref = c.reference_time
            if not (in_window(r.fields["when"], p, ref) or in_window(i.fields["when"], p, ref)):
                continue  # frozen (R-X5)
            if auth == MAILBOX and p.private_items == "skip" and i.fields["sensitivity"] == "private":
                continue  # suspended (R-P1)
            target = MAILBOX if auth == SALESFORCE else SALESFORCE
            for name in fields_for(p.kind):
                a_val = r.fields[name] if auth == SALESFORCE else i.fields[name]
                t_val = i.fields[name] if auth == SALESFORCE else r.fields[name]
                if name == "sensitivity" and target == MAILBOX and t_val == "private":
                    agreed = name in link.base_sf and name in link.base_mb
                    agreed = agreed and common(name, SALESFORCE, link.base_sf[name]) == common(
                        name, MAILBOX, link.base_mb[name]
                    )
                    if not agreed:
                        continue  # N38 (R-C1): a private item is never made non-private without a baseline
                equal = common(name, auth, a_val) == common(name, target, t_val)
                assert equal or convert(name, a_val, target, p.private_items) == t_val, (name, a_val, t_val)

    @invariant()
    def no_duplicates(self) -> None:
        if not hasattr(self, "world"):
            return
        links = self.world.links
        pairs = [(lk.record_id, lk.mailbox) for lk in links]
        items = [(lk.mailbox, lk.item_id) for lk in links]
        assert len(pairs) == len(set(pairs)), "R-O1: a record has at most one link per mailbox"
        assert len(items) == len(set(items)), "R-O1: an item has at most one link"
        keys = [r.external_id for r in self.world.records.values() if not r.deleted and r.external_id]
        assert len(keys) == len(set(keys)), "R-M5: no two records per iCalUId"
        for lk in links:  # every link points at something that exists or was confirmed deleted
            assert lk.record_id in self.world.records


# A CI profile for this machine only (not loaded globally, so other tests keep their own settings):
# ~100 histories of up to 50 steps run in a few seconds; a local stress run can raise max_examples.
settings.register_profile(
    "reference_model_ci",
    max_examples=100,
    stateful_step_count=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
SyncMachine.TestCase.settings = settings.get_profile("reference_model_ci")
TestSyncMachine = SyncMachine.TestCase
