"""The real planner (calsync.plan) against the reference model written from SPEC alone.

(a) the product note's four examples, run through both;
(b) a hypothesis state machine over random histories (the model's own history rules, reused from
    test_reference_model.SyncMachine) under real calsync profiles: at every session both plan the same
    world; their R-S4 comparison keys must be equal as multisets; the planner's own plan, applied with the
    model's apply, must leave nothing to do for the planner (R-D5), must never delete what the rules keep,
    and never duplicate a record per iCalUId or an item per record and mailbox. The world then continues
    from the MODEL's plan, so one disagreement does not derail the rest of the history.

Disagreements found and their verdicts are in docs/planner-vs-model.md; the histories carry no
constraint any more.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

from adapter import apply_planner_plan, comparison_keys, make_profile, planner_actions, run_planner
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import initialize, rule
from reference_model import PLANNED, Action, Context, Item, Record, When, World, apply, plan_session
from test_reference_model import MAILBOXES, SyncMachine

from calsync.profiles import Profile
from calsync.schema import MAILBOX, SALESFORCE

T0 = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
ANN, BOB = "ann@example.com", "bob@example.com"


# --- both planners on one world ----------------------------------------------------------------------------


def both(world: World, profile: Profile, ctx: Context) -> tuple[list[Action], list[Action]]:
    """(model plan, planner plan as model actions) for one session."""
    model = plan_session(world, profile, ctx)
    planner = planner_actions(run_planner(world, profile, ctx), world, profile)
    return model, planner


def diff(world: World, profile: Profile, model: list[Action],
         planner: list[Action]) -> tuple[Counter, Counter]:
    m, p = comparison_keys(model, world, profile), comparison_keys(planner, world, profile)
    return m - p, p - m


def assert_agree(world: World, profile: Profile, ctx: Context) -> tuple[list[Action], list[Action]]:
    model, planner = both(world, profile, ctx)
    only_model, only_planner = diff(world, profile, model, planner)
    assert not only_model and not only_planner, (
        f"planner and model disagree\n  only the model: {sorted(only_model.elements())}\n"
        f"  only the planner: {sorted(only_planner.elements())}\n"
        f"{describe(world, profile, ctx, only_model + only_planner)}")
    return model, planner


def describe(world: World, profile: Profile, ctx: Context, keys: Counter) -> str:
    """The settings and the rows and links a disagreement names (for the failure message)."""
    settings_ = {k: getattr(profile, k) for k in ("direction", "conflict_winner", "salesforce_deletion",
                                                  "downsync", "on_leave_window", "private_items")}
    ids = {k[2] for k in keys} | {k[4] for k in keys}
    lines = [f"  profile {settings_}, reference time {ctx.reference_time}, "
             f"unavailable {set(ctx.unavailable_mailboxes)}"]
    for rid in sorted(ids & set(world.records)):
        r = world.records[rid]
        lines.append(f"  record {rid}: deleted={r.deleted} owner={r.owner_mailbox} key={r.external_id} "
                     f"{r.fields}")
    for items in world.mailboxes.values():
        for i in items.values():
            stamped = (i.stamp or "||").split("|")[1]
            if i.id in ids or stamped in ids:
                lines.append(f"  item {i.mailbox}/{i.id}: cats={set(i.categories)} stamp={i.stamp} "
                             f"uid={i.ical_uid} org={i.is_organizer} {i.fields}")
    for lk in world.links:
        if lk.record_id in ids or lk.item_id in ids:
            lines.append(f"  link {lk.record_id}/{lk.mailbox}/{lk.item_id} origin={lk.origin} "
                         f"in_window={lk.in_window} base_sf={lk.base_sf} base_mb={lk.base_mb}")
    return "\n".join(lines)


def check_planner_invariants(world: World, planner: list[Action], profile: Profile, ctx: Context) -> None:
    """The planner's plan on its own: R-D5, nothing kept is deleted, nothing existing is created again."""
    after = apply_planner_plan(world, planner, profile, ctx)
    replanned = planner_actions(run_planner(after, profile, ctx), after, profile)
    again = [a for a in replanned if a.outcome == PLANNED]
    assert not again, f"R-D5: the planner plans again after its own plan was applied: {again}"
    links = {(lk.record_id, lk.mailbox): lk for lk in world.links if lk.profile_id == profile.id}
    # A pair joined by stamp in this plan (R-O3) is linked before its R-X3 delete.
    joined = {(a.record_id, a.mailbox): a for a in planner if a.operation == "link" and a.outcome == PLANNED}
    for a in planner:
        if a.operation != "delete" or a.outcome != PLANNED:
            continue
        if a.side == SALESFORCE:
            # R-X2 / R-X3 only: a confirmed mailbox delete or the unsync category; never in one-way downsync.
            assert profile.direction != "salesforce_to_mailbox" and profile.kind == "event", a
            lk = links.get((a.record_id, a.mailbox)) or joined.get((a.record_id, a.mailbox))
            assert lk is not None, f"a Salesforce delete without a link: {a}"
            item = world.item(lk.mailbox or "", lk.item_id or "")
            assert item is None or item.cancelled or profile.categories.unsync in item.categories, (
                f"the planner deletes a record whose item the rules keep: {a}")
        else:
            rec = world.records.get(a.record_id or "")
            item = world.item(a.mailbox or "", a.item_id or "")
            assert item is not None, a
            if a.rule in ("R-X1",):
                assert rec is None or rec.deleted, f"R-C3: an item deleted without a confirmed delete: {a}"
    live = [r.external_id for r in after.records.values() if not r.deleted and r.external_id]
    assert len(live) == len(set(live)), "R-M5: two records with one iCalUId"
    pairs = [(lk.record_id, lk.mailbox) for lk in after.links]
    assert len(pairs) == len(set(pairs)), "R-O1: a record with two links in one mailbox"
    items = [(lk.mailbox, lk.item_id) for lk in after.links]
    assert len(items) == len(set(items)), "R-O1: an item with two links"


# --- (a) the product note's four examples ------------------------------------------------------------------


def sf_fields(subject: str = "Demo", hours: float = 24, **kw: Any) -> dict[str, Any]:
    when = When(T0 + timedelta(hours=hours), T0 + timedelta(hours=hours + 1))
    base = {"subject": subject, "body": "agenda", "location": "Room 1", "when": when, "show_as": "Busy",
            "reminder": 15, "sensitivity": "normal", "attendees": frozenset()}
    return base | kw


def new_record(w: World, rid: str = "r1", sobject: str = "Event", **kw: Any) -> Record:
    fields = sf_fields(**kw)
    if sobject != "Event":
        fields.pop("attendees")
    r = Record(id=rid, sobject=sobject, fields=fields, owner_mailbox=ANN, last_modified=T0,
               preserve={"WhoId": "003A", "WhatId": "006B"})
    w.records[rid] = r
    return r


def session(w: World, p: Profile, minutes: float = 0) -> tuple[World, list[Action]]:
    """One session planned by both (they must agree), the planner's invariants, then the model's apply."""
    c = Context(reference_time=T0 + timedelta(minutes=minutes))
    model, planner = assert_agree(w, p, c)
    check_planner_invariants(w, planner, p, c)
    return apply(w, model, p, c), model


def synced(p: Profile, sobject: str = "Event") -> tuple[World, str, str]:
    w = World(mailboxes={ANN: {}, BOB: {}})
    new_record(w, sobject=sobject)
    w, _ = session(w, p)
    (link,) = w.links
    return w, link.record_id, link.item_id


def ops(actions: list[Action]) -> list[tuple[str, str]]:
    return sorted((a.side, a.operation) for a in actions if a.outcome == PLANNED)


def test_note_example_1_custom_object_is_a_calendar_item_with_its_own_category() -> None:
    # R-M1, R-M3: a custom object, Salesforce -> mailbox only, category named after the object type.
    p = Profile.model_validate({"id": "milestones", "kind": "object", "sobject": "Project_Milestone__c",
                                "label": "Project Milestone",
                                "date_fields": {"start": "Start__c", "end": "End__c"},
                                "field_map": {"body": "Description__c", "location": "Location__c",
                                              "show_as": "ShowAs__c", "reminder": "Reminder__c",
                                              "sensitivity": "IsPrivate__c"}})
    w, _rid, iid = synced(p, sobject="Project_Milestone__c")
    assert w.mailboxes[ANN][iid].categories == {p.item_category}
    w.mailboxes[ANN][iid].fields["subject"] = "edited in Outlook"
    w2, actions = session(w, p, 30)
    assert ops(actions) == [(MAILBOX, "revert_update")]
    assert w2.mailboxes[ANN][iid].fields["subject"] == "Demo"


def test_note_example_2_upsync_reverts_salesforce_edits_and_deletes() -> None:
    # R-D2: created in Salesforce -> still downsynced; a Salesforce edit or delete is reverted.
    p = make_profile(direction="mailbox_to_salesforce")
    w, rid, _iid = synced(p)
    w.records[rid].fields["subject"] = "corrected in Salesforce"
    w2, actions = session(w, p, 30)
    assert ops(actions) == [(SALESFORCE, "revert_update")]
    assert w2.records[rid].fields["subject"] == "Demo"
    w2.records[rid].deleted = True
    _w3, actions = session(w2, p, 60)
    assert (SALESFORCE, "revert_delete") in ops(actions)


def test_note_example_3_downsync_reverts_outlook_edits() -> None:
    # R-D3: mailbox edits are not kept nor conveyed; new mailbox items are never conveyed.
    p = make_profile(direction="salesforce_to_mailbox")
    w, _rid, iid = synced(p)
    w.mailboxes[ANN][iid].fields["location"] = "Room 9"
    w.mailboxes[BOB]["new"] = Item(mailbox=BOB, id="new", fields=sf_fields("Lunch") | {"body": "<p>x</p>",
                                   "show_as": "busy"}, categories=frozenset({"Salesforce"}), ical_uid="u-new",
                                   last_modified=T0)
    w2, actions = session(w, p, 30)
    assert ops(actions) == [(MAILBOX, "revert_update")]
    assert w2.mailboxes[ANN][iid].fields["location"] == "Room 1"


def test_note_example_4_service_event_deletion_strategy() -> None:
    # R-X1: `delete` removes the item a Salesforce delete leaves behind; `keep` only uncategorizes it.
    for strategy, expected in (("delete", (MAILBOX, "delete")), ("keep", (MAILBOX, "uncategorize"))):
        p = make_profile(salesforce_deletion=strategy)
        w, rid, _iid = synced(p)
        w.records[rid].deleted = True
        _w2, actions = session(w, p, 30)
        assert expected in ops(actions)


# --- (b) random histories ----------------------------------------------------------------------------------

# Every profile setting the histories run under, changed between sessions at random.
SETTINGS: list[dict[str, Any]] = [
    {},
    {"direction": "mailbox_to_salesforce"},
    {"direction": "salesforce_to_mailbox"},
    {"conflict_winner": "salesforce"},
    {"conflict_winner": "mailbox"},
    {"downsync": False},
    {"direction": "mailbox_to_salesforce", "downsync": False},
    {"salesforce_deletion": "keep"},
    {"salesforce_deletion": "delete"},
    {"private_items": "sync"},
    {"direction": "mailbox_to_salesforce", "private_items": "sync_without_flag"},
    {"on_leave_window": "delete_salesforce_created", "conflict_winner": "mailbox"},
]
PROFILES = st.sampled_from([make_profile(**s) for s in SETTINGS])


class PlannerVsModel(SyncMachine):
    """SyncMachine's person rules (creates, edits of any field incl. attendees, deletes, categories, owner
    moves, private flags, meetings with attendees' copies in several synced mailboxes, time passing,
    unavailable mailboxes, a lost state store) with both planners at every session, unconstrained."""

    @initialize(profile=PROFILES)
    def start(self, profile: Any) -> None:
        super().start(profile)

    @rule(profile=PROFILES)
    def change_settings(self, profile: Any) -> None:
        self.profile = profile

    def session_of(self, c: Context) -> None:
        before = self.world
        model, planner = assert_agree(before, self.profile, c)
        check_planner_invariants(before, planner, self.profile, c)
        self.world = apply(before, model, self.profile, c)

    @rule(mailbox=st.sampled_from(MAILBOXES))
    def session_with_unavailable_mailbox(self, mailbox: str) -> None:
        self.tick()
        c = Context(reference_time=self.ctx().reference_time, unavailable_mailboxes=frozenset({mailbox}))
        self.session_of(c)

    @rule()
    def run_session(self) -> None:
        self.tick()
        self.session_of(self.ctx())



# CI: fixed seed, no example database, failures printed as a reproducible blob.
settings.register_profile(
    "planner_vs_model_ci", max_examples=40, stateful_step_count=30, deadline=None, derandomize=True,
    database=None, print_blob=True, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
PlannerVsModel.TestCase.settings = settings.get_profile("planner_vs_model_ci")
TestPlannerVsModel = PlannerVsModel.TestCase
