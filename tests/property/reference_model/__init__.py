"""An independent reference model of calsync's sync rules, written from SPEC v2 alone.

It never imports the planner: only `calsync.schema` (field, side and operation names). It is plain and
slow on purpose: values instead of hashes, one record / item / link at a time.

PUBLIC API (import from `reference_model`; tests/property is on sys.path under pytest's default
"prepend" import mode, since tests/property has no __init__.py):

World (world.py), everything a plain mutable dataclass:
  When(start, end, all_day=False)             one synced field "when" (UTC datetimes)
  Record(id, sobject, fields, owner_mailbox, last_modified, last_modified_by="user", deleted=False,
         recurring=False, external_id=None, preserve={}, user_fields={}, passes_filter=True, valid=True)
      fields: {synced field name: value} in Salesforce vocabulary (body plain text; show_as Free|Busy|
      OutOfOffice; sensitivity "private"|"normal" = IsPrivate; reminder minutes|None; attendees
      frozenset of lower-case addresses; when When). `deleted` is a CONFIRMED delete (R-C3); a record id
      missing from World.records is confirmed too. `external_id` is CalSync_Event_Id__c. `preserve` holds
      e.g. WhoId / WhatId. `passes_filter`: the profile's filter evaluated. `valid=False`: quarantined (R-V2).
  Item(mailbox, id, fields, categories, ical_uid, last_modified, stamp=None, is_organizer=True,
       organizer=None, cancelled=False, series_type="single", valid=True)
      fields in mailbox vocabulary (body "<p>..</p>" HTML; show_as free|tentative|busy|oof|
      workingElsewhere; sensitivity normal|personal|private|confidential). An item id missing from its
      mailbox, or `cancelled`, is a confirmed delete (404 ErrorItemNotFound / isCancelled).
  Link(profile_id, record_id, mailbox, item_id, origin, base_sf={}, base_mb={}, preserve={},
       is_organizer_copy=True, by_backfill=False, in_window=True, dirty=False)
      base_sf / base_mb: per-side baselines as VALUES, field -> value; a missing key is "no baseline".
      is_organizer_copy=False marks an attendee's copy linked to a record another link upsyncs (R-O4).
  World(records: {id: Record}, mailboxes: {address: {item id: Item}}, links: [Link])
      `mailboxes` keys are all synced mailboxes (a resolution to any other address is NO_MAILBOX).
  Profile(...)  attribute names of docs/contracts/profile.md (id, kind, sobject, label, categories.opt_in/
      .unsync/.object_category, direction, conflict_winner, clock_skew_seconds, salesforce_deletion,
      downsync, window.past_days/.future_days, on_leave_window, private_items, mailboxes.mode/.user_field/
      .fixed, preserve_fields, max_delete_fraction, min_delete_guard) plus authoritative_side and
      item_category; a real calsync Profile with these attributes can be passed instead.
  Context(reference_time, unavailable_mailboxes=frozenset(), allow_mass_delete=False,
          unreadable_records=frozenset(), unreadable_items=frozenset({(mailbox, item id)}),
          profiles=(every profile in file order, for R-O2), backfill=False)
      unreadable_*: reads by id that failed (403/5xx): "absent but not confirmed" (R-C3).

Action (actions.py): profile_id, side ("salesforce"|"mailbox": the side written), operation
  (schema.OPERATIONS), rule ("R-D2"...), record_id, mailbox, item_id (None for the side a create makes),
  fields (values to write, see Action's docstring; update/revert_update carry ONE field each),
  before (values overwritten), reason, conflict, winner, origin (create/link), organizer_copy (link),
  outcome ("planned" | "skipped": blocked by the mass-delete guard). Action.key() is the comparison key of
  R-S4 (side, operation, record, mailbox, item, fields and values).

Modules: world.py (types, vocabularies, common form), actions.py (Action), rules.py (one pass of the
rules over a world), session.py (plan_session: passes to a fixed point, mass-delete guard), apply.py.

Functions:
  plan_session(world, profile, ctx) -> list[Action]
      every action of one session, in order, applying the rules until none applies (R-D5). Pure.
  apply(world, actions, profile=None, ctx=None, close=True) -> World
      a new world with the planned actions performed as the APIs would (new ids, stamps, links; R-C2
      baselines). With profile and ctx it also closes the session (R-C1 agreeing baselines, in_window,
      preserve, dirty). So `plan_session(apply(w, plan_session(w, p, c), p, c), p, c)` has no planned action.
  run_session(world, profile, ctx) -> (World, list[Action])   both of the above.
Helpers: common(field, side, value), convert(field, value, to_side, private_items), fields_for(kind),
  in_window(when, profile, ref), make_stamp(profile_id, record_id, origin).

Comparing with the real planner (for the adapter): the model's plan is the concatenation of passes (N1),
so an action of a later pass may name an id that an earlier `create` / `restore` / `revert_delete` of
the same plan will make; `apply` allocates ids deterministically (World.next_id), so applying the plan
to the same world gives exactly those ids. Compare plans per (side, operation, record, mailbox, item,
field) after mapping such new ids, and compare states after applying (the sides and links), which is
independent of how the planner groups its writes.

The decisions taken where SPEC is silent are numbered in DECISIONS.md (N1, N2, ...).
"""

from __future__ import annotations

from typing import Any

from .actions import PLANNED, SKIPPED, Action
from .apply import apply
from .session import plan_session
from .world import (
    Categories,
    Context,
    Item,
    Link,
    MailboxResolution,
    Profile,
    Record,
    When,
    Window,
    World,
    common,
    convert,
    fields_for,
    in_window,
    make_stamp,
)


def run_session(world: World, profile: Any, ctx: Context) -> tuple[World, list[Action]]:
    """Plan one session and apply it (closing the session)."""
    actions = plan_session(world, profile, ctx)
    return apply(world, actions, profile, ctx), actions


__all__ = [
    "PLANNED",
    "SKIPPED",
    "Action",
    "Categories",
    "Context",
    "Item",
    "Link",
    "MailboxResolution",
    "Profile",
    "Record",
    "When",
    "Window",
    "World",
    "apply",
    "common",
    "convert",
    "fields_for",
    "in_window",
    "make_stamp",
    "plan_session",
    "run_session",
]
