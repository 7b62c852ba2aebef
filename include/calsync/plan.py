"""The planner: both side frames + the links and their per-side baselines + a profile -> actions.

One public entry point, :func:`plan`. Pure: pandas, numpy and pyarrow only (no SDK, database or
Airflow import; tests/unit/test_layering.py follows these imports). The work is split by concern:

* ``plan_align``: the join of links with the rows read this session (key hashes, presence codes);
* ``plan_triage``: the vectorised decision table over every link and every synced field;
* ``plan_unlinked``: rebuild, adoption and creates for rows no link holds;
* ``plan_attendees``: the attendee set merge, per record on the changed subset;
* ``plan_emit``: action rows with the values to write, for the links that need one;
* ``plan_guard``: the mass-delete guard.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from calsync.plan_align import ABSENT, ITEM_KEY, RECORD_KEY, gather, keys_of, positions, side_rows
from calsync.plan_emit import Sink, emit_linked, item_category, settled, unsync_category
from calsync.plan_guard import apply_guard
from calsync.plan_model import (
    AMBIGUOUS_MATCH,
    NO_MAILBOX,
    OWNER_NOT_ORGANIZER,
    PRIVATE_SKIPPED,
    RECURRENCE,
    WAITING_FOR_ORGANIZER,
    GuardOutcome,
    GuardScope,
    PlanInput,
    PlanResult,
)
from calsync.plan_triage import CASES, classify
from calsync.plan_unlinked import plan_unlinked
from calsync.plan_values import Values
from calsync.schema import MAILBOX, SALESFORCE

__all__ = [
    "AMBIGUOUS_MATCH",
    "CASES",
    "NO_MAILBOX",
    "OWNER_NOT_ORGANIZER",
    "PRIVATE_SKIPPED",
    "RECURRENCE",
    "WAITING_FOR_ORGANIZER",
    "GuardOutcome",
    "GuardScope",
    "PlanInput",
    "PlanResult",
    "plan",
]


def plan(inputs: PlanInput) -> PlanResult:
    """Decide every write of one session of one profile, with its reason and rule.

    **Inputs** (:class:`PlanInput`):

    * ``sf`` / ``mb``: the side frames (``schema.SIDE_COLUMNS``) of the rows read this session. Each row
      is ``present`` (in scope), ``deleted`` (confirmed by the side for that id, R-C3) or
      ``out_of_scope`` (read by id: exists, but outside the window, failing the filter, or without the
      category). A linked row that is **absent** was not read: it is unchanged (R-S4). The planner never
      treats absence as a delete; a link with one side read and the other absent is returned in
      ``needs_read`` and left alone, so the caller reads the missing row by id and plans again (DESIGN
      step 3: every ``@removed`` or missing linked item is read by id). So an incremental session
      supplies the changed rows, the dirty links' rows and the other side of each (read by id), and a
      full reconcile supplies everything: the same side states give the same actions, whatever
      ``full`` says (it is only recorded). For adoption (R-S7) an incremental session must also read
      the candidates of each new row: the unlinked in-scope items of its mailbox at the same start
      and end, the records (linked or not) whose key is the new item's iCalUId, and the records of the
      links that hold an item with that iCalUId (R-O4, R-M5).
      Mailbox rows are keyed by ``item_id`` (unique across mailboxes, R-O1), Salesforce rows by
      ``record_id``. Optional int64 columns ``k_record`` / ``k_item`` (``plan_align.key_hash``) save
      hashing the ids at plan time.
    * ``links``: this profile's links with their baselines (``schema.LINK_COLUMNS``).
    * ``reference_time``: the session's reference time (R-S2); the window is computed from it, never
      from the wall clock, so a re-run plans the same.
    * ``unavailable_mailboxes``: none of their links is planned and nothing is created in them (R-X6);
      their links that had a row read are returned dirty.
    * ``allow_mass_delete``: the R-X6 override.
    * ``quarantined_records`` / ``quarantined_items``: R-V2; their values never flow and nothing is
      deleted because of them; under a one-way policy an invalid non-authoritative row is reverted.
    * ``claimed_records`` / ``claimed_items``: rows another profile links or claims (R-O2).
    * ``synced_mailboxes``: every mailbox the profile syncs (read this session or not). An attendee's
      copy of a meeting whose organizer's mailbox is one of them waits for the organizer's item
      (``WAITING_FOR_ORGANIZER``, R-O4); empty: organizers are taken as not synced.
    * ``read_values``: optional ``(side, ids) -> frame`` for the value columns, so the side frames may
      carry hashes only and values are read for the rows that need a write (DESIGN step 5).

    **Profile knobs** (duck-typed; docs/contracts/profile.md):

    * ``kind``: ``event`` or ``object``. Object profiles are Salesforce -> mailbox only whatever
      ``direction`` says (R-M1), write their ``item_category`` (R-M3) and never sync attendees.
    * ``direction``: ``two_way`` merges field by field (R-D1); ``mailbox_to_salesforce`` conveys
      mailbox creates, edits and deletes, downsyncs records created in Salesforce, reverts Salesforce
      edits field by field (``revert_update``, the overwritten value in ``before``) and re-creates
      deleted records (``revert_delete`` with the link's ``preserve`` values) (R-D2);
      ``salesforce_to_mailbox`` conveys Salesforce creates, edits and deletes, reverts mailbox edits,
      re-creates items deleted in the window and never conveys new items (R-D3). Under a one-way
      policy an edit of the non-authoritative side is reverted even if the authoritative side changed
      the same field (R-D4).
    * ``conflict_winner``: ``newest`` | ``salesforce`` | ``mailbox``: who wins a field changed on both
      sides to different values (and a field without baseline whose sides differ, R-O3).
      ``newest`` compares ``last_modified`` of both rows as extracted.
    * ``clock_skew_seconds``: under ``newest``, Salesforce must be later by more than this, else the
      mailbox wins (R-D1).
    * ``salesforce_deletion``: what a Salesforce delete does to the item in ``two_way`` (R-X1): ``keep``
      (uncategorize + unlink), ``delete_appointments`` (delete items calsync created from Salesforce
      without attendees, keep the others), ``delete`` (delete every item). Elsewhere: delete.
    * ``downsync``: ``False`` stops Salesforce-created records reaching mailboxes and removes items
      pushed earlier (R-X4); owner moves do not happen (R-C4).
    * ``window.past_days`` / ``window.future_days``: the scope around ``reference_time`` (R-S2, R-X5).
    * ``on_leave_window``: ``keep`` or ``delete_salesforce_created`` (R-X5).
    * ``private_items``: ``skip`` (private items are not upsynced; a linked item that turns private is
      suspended with ``PRIVATE_SKIPPED``), ``sync``, ``sync_without_flag`` (IsPrivate not written) (R-P1).
    * ``categories.opt_in`` / ``categories.unsync`` / ``item_category``: the category calsync keeps on
      its items (put back when removed, R-X3) and the unsync category (R-X3).
    * ``mailboxes.mode`` / ``mailboxes.fixed``: ``owner`` / ``user_field`` resolve one mailbox per
      record (a change moves the appointment, R-C4); ``fixed`` broadcasts to each listed mailbox (R-M7).
    * ``preserve_fields``: carried in the link's ``preserve`` JSON, written back on re-creates (R-D2, R-D6).
    * ``max_delete_fraction`` / ``min_delete_guard``: the mass-delete guard (R-X6).

    **Output** (:class:`PlanResult`): ``actions`` (``schema.ACTION_COLUMNS``, ordered by ``step`` so a
    re-created side comes before the updates it implies and a move before the removal of the old item,
    R-D5; creates carry every synced value, updates only the changed fields, reverts and conflicts the
    overwritten values in ``before``), ``issues`` (``schema.ISSUE_COLUMNS``), ``guard`` (R-X6; blocked
    deletes are actions with outcome ``skipped``), ``dirty_link_ids`` (R-K2), ``needs_read`` and
    ``rebaseline_link_ids`` (fields without a baseline whose sides now agree, R-C1).
    """
    profile = inputs.profile
    cat, unsync = item_category(profile), unsync_category(profile)
    ref = pd.Timestamp(inputs.reference_time)
    ref = ref.tz_localize("UTC") if ref.tzinfo is None else ref.tz_convert("UTC")
    sf = side_rows(inputs.sf, RECORD_KEY, "record_id", ref, profile, inputs.quarantined_records, None, None)
    mb = side_rows(inputs.mb, ITEM_KEY, "item_id", ref, profile, inputs.quarantined_items, cat, unsync)
    links = inputs.links
    sf_pos = positions(sf.keys, keys_of(links, RECORD_KEY, "record_id"), "sf")
    mb_pos = positions(mb.keys, keys_of(links, ITEM_KEY, "item_id"), "mb")

    # Rows any link holds are never "new", even when their link is not planned this session.
    sf_linked = np.zeros(len(inputs.sf), bool)
    sf_linked[sf_pos[sf_pos >= 0]] = True
    mb_linked = np.zeros(len(inputs.mb), bool)
    mb_linked[mb_pos[mb_pos >= 0]] = True

    read = (sf_pos >= 0) | (mb_pos >= 0)
    dirty = (
        links["dirty"].fillna(False).to_numpy(bool)
        if "dirty" in links.columns
        else np.zeros(len(links), bool)
    )
    unavailable = np.zeros(len(links), bool)
    if inputs.unavailable_mailboxes:
        unavailable = links["mailbox"].isin(inputs.unavailable_mailboxes).to_numpy(bool)
    planned = (read | dirty) & ~unavailable
    idx = np.flatnonzero(planned)
    sub = links if len(idx) == len(links) else links.iloc[idx]
    sp, mp = sf_pos[idx], mb_pos[idx]

    sink = Sink(profile)
    sfv = Values(inputs.sf, SALESFORCE, inputs.read_values)
    mbv = Values(inputs.mb, MAILBOX, inputs.read_values)
    tri = classify(
        sub,
        sp,
        mp,
        sf,
        mb,
        profile,
        ref,
        force_read=dirty[idx] & (sp < 0) & (mp < 0),
        unavailable=frozenset(inputs.unavailable_mailboxes),
    )
    emit_linked(sub, tri, sf, mb, sfv, mbv, profile, sink)

    matched = plan_unlinked(
        sf,
        mb,
        sf_linked,
        mb_linked,
        profile,
        inputs.unavailable_mailboxes,
        inputs.claimed_records,
        inputs.claimed_items,
        sfv,
        mbv,
        sink,
        links=links,
        link_sf_pos=sf_pos,
        synced_mailboxes=inputs.synced_mailboxes,
        after=settled(sink, tri, sub),
    )
    if len(matched.links):
        # R-O3 / R-S7: a joined pair is planned at once like a link without baselines, so the plan
        # already holds the writes that make both sides agree (R-D5).
        mtri = classify(
            matched.links,
            matched.sf_pos,
            matched.mb_pos,
            sf,
            mb,
            profile,
            ref,
            unavailable=frozenset(inputs.unavailable_mailboxes),
        )
        emit_linked(matched.links, mtri, sf, mb, sfv, mbv, profile, sink)

    actions, issues = sink.frames()
    actions, guard, blocked = apply_guard(
        actions, links[~unavailable] if unavailable.any() else links, profile, inputs.allow_mass_delete
    )
    actions = actions.sort_values(["step"], kind="stable", ignore_index=True)

    needs = tri.mask("needs_read")
    link_ids = sub["link_id"].to_numpy("int64") if "link_id" in sub.columns else idx
    s_abs = gather(sf.presence, sp, ABSENT) == ABSENT
    m_abs = gather(mb.presence, mp, ABSENT) == ABSENT
    needs_read = pd.concat(
        [
            pd.DataFrame({"link_id": link_ids[needs & s_abs], "side": SALESFORCE}),
            pd.DataFrame({"link_id": link_ids[needs & m_abs], "side": MAILBOX}),
        ],
        ignore_index=True,
    )
    all_ids = links["link_id"].to_numpy("int64") if "link_id" in links.columns else np.arange(len(links))
    dirty_ids = np.unique(
        np.concatenate(
            [
                link_ids[needs | tri.mask("quarantined")],
                blocked,
                all_ids[unavailable & read],  # their changes were read but not planned: re-read next session
            ]
        ).astype("int64")
    )
    rebaseline = link_ids[tri.agreed_without_baseline & tri.mask("pair")]
    return PlanResult(actions, issues, guard, dirty_ids, needs_read, np.asarray(rebaseline, "int64"))
