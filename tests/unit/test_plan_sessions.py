"""Planning across sessions: apply then plan again gives nothing (R-D5), and incremental input plans
the same as a full reconcile for the same side states (R-S4)."""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd
import pytest
from plan_fixtures import REF, B, World, action_set, event_profile, object_profile, ops

from calsync.schema import MAILBOX, SALESFORCE

Scenario = Callable[[World], None]

SCENARIOS: dict[str, tuple[dict, Scenario]] = {
    "sf edit two_way": ({}, lambda w: w.edit_sf("a01", subject="SF edit")),
    "mb edit two_way": ({}, lambda w: w.edit_mb("i01", location="MB edit")),
    "conflict": (
        {},
        lambda w: (
            w.edit_sf("a01", subject="S", last_modified=REF),
            w.edit_mb("i01", subject="M", last_modified=REF),
        ),
    ),
    "revert under m2s": ({"direction": "mailbox_to_salesforce"}, lambda w: w.edit_sf("a01", subject="x")),
    "revert under s2m": ({"direction": "salesforce_to_mailbox"}, lambda w: w.edit_mb("i01", subject="x")),
    "new record": ({}, lambda w: w.record("a09", subject="New")),
    "new item": ({}, lambda w: w.item("i09", subject="New item")),
    "sf delete": ({}, lambda w: w.delete_sf("a01")),
    "mb delete": ({}, lambda w: w.delete_mb("i01")),
    "restore after delete vs edit": ({}, lambda w: (w.delete_sf("a01"), w.edit_mb("i01", subject="kept"))),
    "revert_delete under m2s": ({"direction": "mailbox_to_salesforce"}, lambda w: w.delete_sf("a01")),
    "re-create under s2m": ({"direction": "salesforce_to_mailbox"}, lambda w: w.delete_mb("i01")),
    "owner move": ({}, lambda w: w.edit_sf("a01", mailbox=B)),
    "adoption": ({}, lambda w: (w.record("a09", subject="Lunch"), w.item("i09", subject="lunch"))),
    "unsync": ({}, lambda w: w.edit_mb("i01", categories=["Salesforce", "Salesforce Unsync"])),
    "attendees": ({}, lambda w: w.edit_sf("a01", attendees=["zed@example.test"])),
}


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_apply_then_plan_again_gives_no_action(name: str) -> None:
    # R-D5: the plan is a fixed point of the rules.
    overrides, change = SCENARIOS[name]
    w = World(event_profile(**overrides))
    w.pair("a01", "i01")
    w.pair("a02", "i02")
    change(w)
    first = w.plan()
    assert len(first.for_apply()), "the scenario must plan something"
    w.apply(first)
    again = w.plan()
    assert ops(again) == [], again.actions[["side", "operation", "rule", "reason", "fields"]]


def test_object_profile_fixed_point() -> None:
    # R-D5 with an object profile: create, then a mailbox edit reverted, then nothing.
    w = World(object_profile())
    w.record("a0X1", subject="Go-live")
    w.apply(w.plan())
    assert ops(w.plan()) == []
    iid = next(iter(w.mb))
    w.edit_mb(iid, subject="changed in Outlook")
    w.apply(w.plan())
    assert ops(w.plan()) == []


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_incremental_and_full_input_plan_the_same(name: str) -> None:
    # R-S4: incremental input = the changed rows plus the other side of each linked one (read by id).
    overrides, change = SCENARIOS[name]
    w = World(event_profile(**overrides))
    for i in range(5):
        w.pair(f"a{i:02d}", f"i{i:02d}")
    before_sf = {k: dict(v) for k, v in w.sf.items()}
    before_mb = {k: dict(v) for k, v in w.mb.items()}
    change(w)
    changed_sf = {k for k, v in w.sf.items() if before_sf.get(k) != v}
    changed_mb = {k for k, v in w.mb.items() if before_mb.get(k) != v}
    counterpart_mb = {lk["item_id"] for lk in w.links if lk["record_id"] in changed_sf}
    counterpart_sf = {lk["record_id"] for lk in w.links if lk["item_id"] in changed_mb}
    full = w.plan()
    incremental = w.plan(only_sf=changed_sf | counterpart_sf, only_mb=changed_mb | counterpart_mb)
    assert action_set(incremental) == action_set(full)
    assert len(incremental.needs_read) == 0


def test_unread_links_are_untouched() -> None:
    # R-S4: a link with no row read is not planned at all.
    w = World(event_profile())
    w.pair("a01", "i01")
    w.sf["a01"]["subject"] = "changed but not read"
    r = w.plan(only_sf=set(), only_mb=set())
    assert ops(r) == [] and len(r.needs_read) == 0 and len(r.dirty_link_ids) == 0


def test_reference_time_not_the_wall_clock_decides_the_window() -> None:
    # R-S2: the same inputs plan the same whatever the date today.
    w = World(event_profile())
    w.pair("a01", "i01")
    w.edit_sf("a01", start_utc=REF + pd.Timedelta(days=59), end_utc=REF + pd.Timedelta(days=59, hours=1))
    a, b = w.plan(), w.plan()
    assert action_set(a) == action_set(b)
    assert ops(a) == [(MAILBOX, "update", "R-D1")]
    _ = SALESFORCE
