"""The deciding rules of SPEC v2: one pass over a world, one readable method per situation.

Plain and slow on purpose. session.py repeats passes until none decides anything (R-D5). Numbered
decisions (DECISIONS.md, "N<k>") are cited where SPEC is silent.
"""

from __future__ import annotations

from typing import Any

from calsync.schema import MAILBOX, SALESFORCE

from .actions import SKIPPED, Action
from .world import (
    Context,
    Item,
    Link,
    Record,
    World,
    common,
    convert,
    fields_for,
    fold_subject,
    in_window,
    make_stamp,
)

TWO_WAY, UP, DOWN = "two_way", "mailbox_to_salesforce", "salesforce_to_mailbox"

PRESENT, DELETED, UNKNOWN = "present", "deleted", "unknown"


# --- reading the world -------------------------------------------------------------------------------


def record_state(world: World, record_id: str, ctx: Context) -> str:
    """R-C3: only a confirmed delete is DELETED; a failed read is UNKNOWN (absent but not confirmed)."""
    if record_id in ctx.unreadable_records:
        return UNKNOWN
    record = world.records.get(record_id)
    return DELETED if record is None or record.deleted else PRESENT


def item_state(world: World, mailbox: str, item_id: str, ctx: Context) -> str:
    if mailbox in ctx.unavailable_mailboxes or (mailbox, item_id) in ctx.unreadable_items:
        return UNKNOWN
    item = world.item(mailbox, item_id)
    return DELETED if item is None or item.cancelled else PRESENT


def is_meeting(item: Item) -> bool:
    """An item with attendees, or another organizer's meeting (R-X1, R-C4, R-X5)."""
    return bool(item.fields.get("attendees")) or not item.is_organizer


def is_private(item: Item) -> bool:
    return item.fields.get("sensitivity") == "private"  # Graph `private`; `confidential` is not (R-P1)


def targets(world: World, profile: Any, record: Record) -> list[str]:
    """R-M7 mailbox resolution, restricted to synced mailboxes (a target nobody syncs is NO_MAILBOX)."""
    mode = profile.mailboxes.mode
    if mode == "fixed":
        wanted = [m.lower() for m in profile.mailboxes.fixed]
    elif mode == "user_field":
        wanted = [record.user_fields.get(profile.mailboxes.user_field or "")]
    else:
        wanted = [record.owner_mailbox]
    return sorted({m for m in wanted if m is not None and m in world.mailboxes})


def record_matches(profile: Any, record: Record, ctx: Context) -> bool:
    """R-O2: of the profile's object, passes its filter, in its window (R-S2)."""
    return (
        record.sobject == profile.sobject
        and record.passes_filter
        and not record.deleted
        and in_window(record.fields.get("when"), profile, ctx.reference_time)
    )


def claimed_by_other(world: World, profile: Any, record: Record, ctx: Context) -> bool:
    """R-O2: linked by another profile, or an earlier profile of the file matches it too."""
    if any(link.record_id == record.id and link.profile_id != profile.id for link in world.links):
        return True
    for other in ctx.profiles:
        if other.id == profile.id:
            return False
        if record_matches(other, record, ctx):
            return True
    return False


def item_linked(world: World, mailbox: str, item_id: str) -> bool:
    return any(link.mailbox == mailbox and link.item_id == item_id for link in world.links)


def record_link(world: World, record_id: str, mailbox: str) -> Link | None:
    return next((lk for lk in world.links if lk.record_id == record_id and lk.mailbox == mailbox), None)


def changed(link: Link, side: str, name: str, value: Any) -> bool:
    """R-C1: a side changed a field iff it has a baseline and its current value differs from it."""
    base = link.base_sf if side == SALESFORCE else link.base_mb
    return name in base and base[name] != value


def has_baselines(link: Link, name: str) -> bool:
    return name in link.base_sf and name in link.base_mb


def suspended(profile: Any, record: Record | None, item: Item | None) -> bool:
    """R-P1: a private item under `skip`, in a profile that upsyncs (N7: not when the record is private)."""
    if profile.kind != "event" or profile.direction == DOWN or profile.private_items != "skip":
        return False
    if item is None or not is_private(item):
        return False
    return not (record is not None and not record.deleted and record.fields.get("sensitivity") == "private")


def mailbox_fields_from(record: Record, profile: Any) -> dict[str, Any]:
    return {f: convert(f, record.fields.get(f), MAILBOX) for f in fields_for(profile.kind)}


def salesforce_fields_from(item: Item, profile: Any) -> dict[str, Any]:
    return {
        f: convert(f, item.fields.get(f), SALESFORCE, profile.private_items) for f in fields_for(profile.kind)
    }


# --- one pass ----------------------------------------------------------------------------------------


class Pass:
    """The decisions of one pass over a world. `blocked_scopes`: mailboxes (or "*") whose deletes are
    blocked by the guard (R-X6); `skipped_links`: links whose decision was skipped in an earlier pass."""

    def __init__(
        self,
        world: World,
        profile: Any,
        ctx: Context,
        blocked_scopes: set[str],
        skipped_links: set[tuple[str, str, str]],
    ) -> None:
        self.w, self.p, self.ctx = world, profile, ctx
        self.blocked_scopes, self.skipped_links = blocked_scopes, skipped_links
        self.actions: list[Action] = []
        self.adopted_records: set[tuple[str, str]] = set()  # (record, mailbox) linked or ambiguous now
        self.adopted_items: set[tuple[str, str]] = set()  # (mailbox, item) linked or ambiguous now
        self.planned_pairs: set[tuple[str, str]] = set()  # (record, mailbox) created or linked now
        self.joined_uids: set[str] = set()  # iCalUIds of the items joined (R-S7 / R-O3) in this pass (N35)
        self.ambiguous_pairs: set[tuple[str, str]] = set()  # (record, mailbox) held AMBIGUOUS_MATCH now

    # helpers
    def act(self, side: str, operation: str, rule: str, **kw: Any) -> Action:
        return Action(profile_id=self.p.id, side=side, operation=operation, rule=rule, **kw)

    def emit(self, decision: list[Action], link: Link | None = None) -> None:
        """Add one decision (a list of actions taken together). Skipped whole when it deletes in a
        blocked scope (R-X6: "a blocked action is skipped whole")."""
        deletes = [a for a in decision if a.operation == "delete"]
        scope_blocked = link is not None and bool({link.mailbox, "*"} & self.blocked_scopes)
        if deletes and scope_blocked:
            for a in decision:
                a.outcome = SKIPPED
                a.reason += " [blocked by the mass-delete guard, R-X6]"
            self.skipped_links.add(link.key)
        self.actions.extend(decision)

    def run(self) -> list[Action]:
        self.adopt()  # R-S7 / R-O3 before anything is created
        self.records()  # creates and moves' new items (R-C4: a move before the old item's revert/delete)
        self.links()
        self.items()
        return self.actions

    # ---- R-S7 / R-O3 adoption and rebuild -----------------------------------------------------------

    def candidate_records(self, mailbox: str) -> list[Record]:
        """Unlinked records this profile would place in `mailbox`."""
        out = []
        for r in sorted(self.w.records.values(), key=lambda r: r.id):
            tgts = targets(self.w, self.p, r)
            if not self.record_eligible(r) or mailbox not in tgts or self.meeting_kept_elsewhere(r, tgts):
                continue
            if record_link(self.w, r.id, mailbox) is None:
                out.append(r)
        return out

    def meeting_kept_elsewhere(self, r: Record, tgts: list[str]) -> bool:
        """R-C4: a meeting whose owner changed keeps its item and link (OWNER_NOT_ORGANIZER): the record
        gets no second upsynced link; other copies of the meeting link to it as attendees' copies (N9).
        N12: likewise before that link is rebuilt (lost state store), whatever the mailboxes' order."""
        return self.stamped_meeting_elsewhere(r, tgts) or any(
            lk.record_id == r.id
            and lk.profile_id == self.p.id
            and lk.mailbox not in tgts
            and lk.is_organizer_copy
            and self.link_is_meeting(lk)
            for lk in self.w.links
        )

    def stamped_meeting_elsewhere(self, r: Record, tgts: list[str]) -> bool:
        """N12 (R-O3, R-C4): the record has no link at all and an unlinked organizer's item of a meeting
        outside its targets carries its stamp: that item is stamp-joined and keeps the meeting."""
        if any(lk.record_id == r.id and lk.profile_id == self.p.id for lk in self.w.links):
            return False
        return any(
            self.stamp_joins(i, r.id) and is_meeting(i) and i.is_organizer
            for m in sorted(self.w.mailboxes)
            if m not in tgts and m not in self.ctx.unavailable_mailboxes
            for i in self.w.mailboxes[m].values()
            if self.item_in_scope(i, stamped_ok=True)
        )

    def stamp_joins(self, i: Item, record_id: str) -> bool:
        parts = (i.stamp or "").split("|")
        return parts[:2] == [self.p.id, record_id] and len(parts) == 3

    def record_eligible(self, r: Record) -> bool:
        return (
            r.valid
            and not r.recurring
            and r.fields.get("when") is not None
            and record_matches(self.p, r, self.ctx)
            and not claimed_by_other(self.w, self.p, r, self.ctx)
            and r.id not in self.ctx.unreadable_records
        )

    def item_in_scope(self, item: Item, stamped_ok: bool = False) -> bool:
        """R-S3: an unlinked item carries the profile's category (N12: or this profile's stamp)."""
        if item_linked(self.w, item.mailbox, item.id) or item.cancelled or not item.valid:
            return False
        if item.series_type != "single" or (item.mailbox, item.id) in self.ctx.unreadable_items:
            return False
        if not in_window(item.fields.get("when"), self.p, self.ctx.reference_time):
            return False
        stamped = item.stamp is not None and item.stamp.split("|")[0] == self.p.id
        return self.p.item_category in item.categories or (stamped_ok and stamped)

    def adopt(self) -> None:
        for mailbox in sorted(self.w.mailboxes):
            if mailbox in self.ctx.unavailable_mailboxes:
                continue
            records = self.candidate_records(mailbox)
            items = [
                i
                for i in sorted(self.w.mailboxes[mailbox].values(), key=lambda i: i.id)
                if self.item_in_scope(i, stamped_ok=True)
            ]
            strong: dict[tuple[str, str], str] = {}  # (record, item) -> rule, for stamp / key joins
            weak: set[tuple[str, str]] = set()
            for r in records:
                for i in items:
                    stamp_parts = (i.stamp or "").split("|")
                    stamp_join = stamp_parts[:2] == [self.p.id, r.id] and len(stamp_parts) == 3
                    key_join = r.external_id is not None and r.external_id == i.ical_uid
                    if stamp_join or key_join:
                        strong[(r.id, i.id)] = "R-O3"
                    elif (
                        r.external_id is None
                        and self.p.item_category in i.categories
                        and fold_subject(r.fields.get("subject")) == fold_subject(i.fields.get("subject"))
                        and r.fields["when"].start == i.fields["when"].start
                        and r.fields["when"].end == i.fields["when"].end
                    ):
                        weak.add((r.id, i.id))
            for r in self.records_stamped_elsewhere(mailbox):
                for i in items:  # N12: a stamp joins whatever the mailbox; the link then moves (R-C4)
                    if self.stamp_joins(i, r.id) and (not is_meeting(i) or i.is_organizer):
                        strong[(r.id, i.id)] = "R-O3"  # a meeting's organizer item stays (R-C4)
            self.join(mailbox, strong, records, items)
            self.join(mailbox, {pair: "R-S7" for pair in weak}, records, items)

    def records_stamped_elsewhere(self, mailbox: str) -> list[Record]:
        """N12 (R-O3, R-C4): records of this profile with no link at all that no longer resolve to
        `mailbox` (e.g. the owner changed while the state store was lost). An unlinked item of `mailbox`
        whose stamp names one of them is linked there (not an attendee's copy), and the link then moves
        (N26), unless it is a meeting's organizer item: that one stays (OWNER_NOT_ORGANIZER, R-C4)."""
        out = []
        for r in sorted(self.w.records.values(), key=lambda r: r.id):
            if not self.record_eligible(r) or mailbox in targets(self.w, self.p, r):
                continue
            if not any(lk.record_id == r.id and lk.profile_id == self.p.id for lk in self.w.links):
                out.append(r)
        return out

    def join(
        self, mailbox: str, pairs: dict[tuple[str, str], str], records: list[Record], items: list[Item]
    ) -> None:
        pairs = {
            (r, i): rule
            for (r, i), rule in pairs.items()
            if (r, mailbox) not in self.adopted_records and (mailbox, i) not in self.adopted_items
        }
        by_record: dict[str, list[str]] = {}
        by_item: dict[str, list[str]] = {}
        for r, i in pairs:
            by_record.setdefault(r, []).append(i)
            by_item.setdefault(i, []).append(r)
        for (r, i), rule in sorted(pairs.items()):
            self.adopted_records.add((r, mailbox))
            self.adopted_items.add((mailbox, i))
            if len(by_record[r]) > 1 or len(by_item[i]) > 1:
                self.ambiguous_pairs.add((r, mailbox))
                continue  # AMBIGUOUS_MATCH: neither linked nor created while it lasts (R-S7)
            if self.move_waits(self.w.records[r], targets(self.w, self.p, self.w.records[r])):
                continue  # N30-N32: the move waits; its new item is not adopted yet, nor upsynced
            item = self.w.mailboxes[mailbox][i]
            parts = (item.stamp or "").split("|")
            origin = parts[2] if rule == "R-O3" and len(parts) == 3 and parts[1] == r else MAILBOX
            self.planned_pairs.add((r, mailbox))
            self.joined_uids.add(item.ical_uid)  # N35: its copies link next pass, in this session
            self.emit(
                [
                    self.act(
                        MAILBOX,
                        "link",
                        rule,
                        record_id=r,
                        mailbox=mailbox,
                        item_id=i,
                        origin=origin,
                        reason="same event on both sides: linked, not duplicated",
                    )
                ]
            )

    # ---- unlinked records: downsync creates (and the new item of a move, R-C4) ---------------------------

    def records(self) -> None:
        for r in sorted(self.w.records.values(), key=lambda r: r.id):
            if not self.record_eligible(r):
                continue
            tgts = targets(self.w, self.p, r)
            if not tgts:
                continue  # NO_MAILBOX (R-M7); an existing link stays (R-C4)
            mine = [lk for lk in self.w.links if lk.record_id == r.id and lk.profile_id == self.p.id]
            if self.meeting_kept_elsewhere(r, tgts):
                continue  # a meeting whose owner changed keeps its item: OWNER_NOT_ORGANIZER (R-C4)
            if self.p.kind == "event" and self.p.direction != DOWN and not self.p.downsync:
                continue  # R-X4: Salesforce-created records are not pushed
            if self.move_waits(r, tgts):
                continue  # R-C4 (R-X6 / R-P1 / R-D2 / R-D1): the old link is not ready to move (N30-N32, N36)
            if any(rid == r.id and m not in tgts for rid, m in self.planned_pairs):
                continue  # N12: stamp-joined in another mailbox in this pass: it moves next pass (R-C4)
            for mailbox in tgts:
                if mailbox in self.ctx.unavailable_mailboxes:
                    continue
                if record_link(self.w, r.id, mailbox) is not None:
                    continue
                if (r.id, mailbox) in self.adopted_records:
                    continue  # linked or ambiguous in this pass (R-S7)
                self.planned_pairs.add((r.id, mailbox))
                rule = "R-C4" if mine else ("R-M1" if self.p.kind == "object" else "R-D1")
                if self.p.direction == UP:
                    rule = "R-D2" if not mine else rule
                elif self.p.direction == DOWN and self.p.kind == "event" and not mine:
                    rule = "R-D3"
                fields = mailbox_fields_from(r, self.p) | {"categories": [self.p.item_category]}
                self.emit(
                    [
                        self.act(
                            MAILBOX,
                            "create",
                            rule,
                            record_id=r.id,
                            mailbox=mailbox,
                            fields=fields,
                            origin=SALESFORCE,
                            reason="record without an item in its mailbox",
                        )
                    ]
                )

    def link_is_meeting(self, link: Link) -> bool:
        """R-C4: a gone item cannot be inspected: whether it was a meeting comes from what the link last
        agreed, the baseline attendees of the item side (else of the record side) (N26)."""
        item = self.w.item(link.mailbox, link.item_id)
        if item is not None:
            return is_meeting(item)
        base = link.base_mb if "attendees" in link.base_mb else link.base_sf
        return bool(base.get("attendees"))

    # ---- linked pairs ---------------------------------------------------------------------------------

    def links(self) -> None:
        mine = [lk for lk in self.w.links if lk.profile_id == self.p.id]
        # R-D5: organizers' links before attendees' copies
        for link in sorted(mine, key=lambda lk: (not lk.is_organizer_copy, lk.record_id, lk.mailbox)):
            if link.key in self.skipped_links:
                continue
            decision = self.plan_link(link)
            if decision:
                self.emit(decision, link)

    def plan_link(self, link: Link) -> list[Action]:
        p, ctx, ref = self.p, self.ctx, self.ctx.reference_time
        if link.mailbox in ctx.unavailable_mailboxes:
            return []  # R-X6: none of an unavailable mailbox's links is planned
        rs = record_state(self.w, link.record_id, ctx)
        its = item_state(self.w, link.mailbox, link.item_id, ctx)
        if UNKNOWN in (rs, its):
            return []  # R-C3: absent but not confirmed; the link stays dirty (R-K2)
        r = self.w.records.get(link.record_id)
        i = self.w.item(link.mailbox, link.item_id)
        if rs == DELETED and its == DELETED:
            return [
                self.act(
                    SALESFORCE,
                    "unlink",
                    "R-C3",
                    record_id=link.record_id,
                    mailbox=link.mailbox,
                    item_id=link.item_id,
                    reason="both sides confirmed deleted",
                )
            ]
        if (rs == PRESENT and r is not None and r.recurring) or (
            its == PRESENT and i is not None and i.series_type != "single"
        ):
            return []  # R-M6 / R-X5: a linked row that became recurring is frozen
        r_out = rs == PRESENT and r is not None and not in_window(r.fields.get("when"), p, ref)
        i_out = its == PRESENT and i is not None and not in_window(i.fields.get("when"), p, ref)
        fails_filter = rs == PRESENT and r is not None and not r.passes_filter
        if fails_filter or ((r_out or rs == DELETED) and (i_out or its == DELETED)):
            # R-X5 (N24); a confirmed-deleted record counts as out for on_leave_window too (N37, R-X1)
            return self.frozen(link, r, i, i_out and (r_out or rs == DELETED))
        if not link.is_organizer_copy:
            return self.attendee_copy(link, rs, its, i)
        auth = p.authoritative_side
        # R-V2: a linked row without a date is quarantined (MISSING_DATE), like any invalid row
        bad_sf = rs == PRESENT and r is not None and (not r.valid or r.fields.get("when") is None)
        bad_mb = its == PRESENT and i is not None and (not i.valid or i.fields.get("when") is None)
        # R-V2: quarantined values never flow; only an invalid non-authoritative row is reverted
        if (bad_sf or bad_mb) and (
            auth is None or (bad_sf and auth == SALESFORCE) or (bad_mb and auth == MAILBOX)
        ):
            return []
        if suspended(p, r if rs == PRESENT else None, i if its == PRESENT else None):
            return []  # R-P1: PRIVATE_SKIPPED, the link is kept
        if (
            rs == PRESENT
            and r is not None
            and its == PRESENT
            and i is not None
            and self.convey_first(link, r, i)
        ):
            return self.upward(link, r, i)  # N32 / N36: writes to Salesforce before the move (R-C4)
        if rs == PRESENT and r is not None and self.moved(link, r, i if its == PRESENT else None):
            return self.old_item_of_move(link, i if its == PRESENT else None)
        if rs == DELETED:
            assert i is not None
            return self.record_deleted(link, i)
        if its == DELETED:
            assert r is not None
            return self.item_deleted(link, r)
        assert r is not None and i is not None
        return self.both_present(link, r, i)

    def frozen(self, link: Link, r: Record | None, i: Item | None, left_window: bool) -> list[Action]:
        """R-X5: no edits, reverts or deletes either way; `on_leave_window` may delete what calsync made."""
        p = self.p
        if (
            left_window
            and p.on_leave_window == "delete_salesforce_created"
            and i is not None
            and link.origin == SALESFORCE
            and not is_meeting(i)
            and link.in_window
            and not link.by_backfill
            and not self.ctx.backfill
        ):
            return [self.delete_item(link, i, "R-X5", "Salesforce-created appointment left the window")]
        return []

    def attendee_copy(self, link: Link, rs: str, its: str, i: Item | None) -> list[Action]:
        """R-O4: an attendee's copy is never upsynced nor written from Salesforce (N9); its deletion,
        cancellation or unsync category removes only its own link."""
        if its == DELETED:
            return [
                self.act(
                    MAILBOX,
                    "unlink",
                    "R-O4",
                    record_id=link.record_id,
                    mailbox=link.mailbox,
                    item_id=link.item_id,
                    reason="attendee's copy deleted: only its link goes",
                )
            ]
        assert i is not None
        if rs == DELETED or (
            self.p.kind == "event" and self.p.categories.unsync in i.categories and self.p.direction != DOWN
        ):
            return [self.uncategorize(link, i, "R-O4", "attendee's copy: link removed, record kept")]
        return self.categories_and_stamp(link, i)

    def moves(self, link: Link, r: Record, i: Item | None) -> bool:
        """R-C4: the link is the old link of a move: the record now resolves to other synced mailboxes."""
        if not link.is_organizer_copy or not self.record_eligible(r):
            return False
        tgts = targets(self.w, self.p, r)
        if link.mailbox in tgts or not tgts:
            return False  # not moved, or NO_MAILBOX: the old link stays
        if self.p.kind == "event" and self.p.direction != DOWN and not self.p.downsync:
            return False  # no move under downsync: false
        # a meeting stays: OWNER_NOT_ORGANIZER; deleted meanwhile: the baseline tells (N26)
        return not (is_meeting(i) if i is not None else self.link_is_meeting(link))

    def moved(self, link: Link, r: Record, i: Item | None) -> bool:
        """R-C4: ... and the new item exists or is created / adopted in this pass."""
        return self.moves(link, r, i) and any(
            record_link(self.w, r.id, t) is not None or (r.id, t) in self.planned_pairs
            for t in targets(self.w, self.p, r)
        )

    def upward(self, link: Link, r: Record, i: Item) -> list[Action]:
        """The link's field writes to Salesforce (R-D1 / R-O3 / R-P2 in two_way, R-D2 / R-D4 reverts and
        upsync in mailbox_to_salesforce); what Salesforce wins is not written to the item (N10, N32, N36)."""
        return [a for a in self.sync_fields(link, r, i) if a.side == SALESFORCE]

    def convey_first(self, link: Link, r: Record, i: Item) -> bool:
        """N32 / N36 (R-D2, R-D1, R-D5): under mailbox_to_salesforce and two_way the old link of a move
        first makes its field writes to Salesforce (mailbox_to_salesforce: reverts of the record's edits
        and the item's edits going up; two_way: the item's edits and the conflicts the mailbox wins); the
        move comes in the next pass. Nothing is written to the old item (R-D5), so with no write to
        Salesforce the move is at once. salesforce_to_mailbox and object profiles move at once.
        two_way only when the move itself happens in this session (N36): while it waits (no new item
        possible: new mailbox unavailable or held ambiguous; an old link unreadable or suspended, N30 /
        N31), the old link is an ordinary link, so that what Salesforce changed still reaches the item that
        exists (R-D1). mailbox_to_salesforce is unchanged (N32): all its field writes go to Salesforce."""
        if self.p.direction not in (UP, TWO_WAY) or not i.valid or i.fields.get("when") is None:
            return False
        if not self.moves(link, r, i) or not self.upward(link, r, i):
            return False
        if self.p.direction == UP:
            return True
        tgts = targets(self.w, self.p, r)
        return not self.move_blocked(r, tgts) and self.new_item_possible(r, tgts)

    def new_item_possible(self, r: Record, tgts: list[str]) -> bool:
        """N36 (R-C4, R-X6): the new item of the record's move exists already, or can be created or adopted
        in this session: one of its new mailboxes is available and not held by an ambiguous match (R-S7)."""
        return any(
            record_link(self.w, r.id, t) is not None
            or (t not in self.ctx.unavailable_mailboxes and (r.id, t) not in self.ambiguous_pairs)
            for t in tgts
        )

    def move_blocked(self, r: Record, tgts: list[str]) -> bool:
        """Whether an old link of the record (outside its targets) cannot be planned (R-X6 / R-C3, N30) or
        is suspended (R-P1, N31): the move waits, whatever the old links have to convey."""
        for lk in self.w.links:
            if lk.profile_id != self.p.id or lk.record_id != r.id or lk.mailbox in tgts:
                continue
            if not lk.is_organizer_copy:
                continue  # an attendee's copy never moves (R-O4)
            its = item_state(self.w, lk.mailbox, lk.item_id, self.ctx)
            if its == UNKNOWN:
                return True  # N30: unavailable mailbox or failed read: none of its links is planned
            i = self.w.item(lk.mailbox, lk.item_id) if its == PRESENT else None
            if i is None or not self.moves(lk, r, i):
                continue  # deleted meanwhile: the move goes on (R-C4); a meeting does not move
            if suspended(self.p, r, i):
                return True  # N31: nothing is created for a suspended link on either side
        return False

    def move_waits(self, r: Record, tgts: list[str]) -> bool:
        """Whether the new item of the record's move is neither created nor adopted in this pass, because an
        old link (a link of the record outside its targets) cannot be planned (R-X6 / R-C3, N30), is
        suspended (R-P1, N31) or has field writes to Salesforce to make first (R-D2 N32, R-D1 N36)."""
        if self.move_blocked(r, tgts):
            return True
        for lk in self.w.links:
            if lk.profile_id != self.p.id or lk.record_id != r.id or lk.mailbox in tgts:
                continue
            if not lk.is_organizer_copy or item_state(self.w, lk.mailbox, lk.item_id, self.ctx) != PRESENT:
                continue
            i = self.w.item(lk.mailbox, lk.item_id)
            if i is not None and self.convey_first(lk, r, i):
                return True  # N32 / N36: Salesforce writes first, the move in the next pass (R-D5)
        return False

    def old_item_of_move(self, link: Link, i: Item | None) -> list[Action]:
        """R-C4: the old item is treated under R-X1 as if the record had been deleted there (two_way
        rules also in mailbox_to_salesforce); deleted meanwhile: only the link goes."""
        if i is None:
            return [
                self.act(
                    MAILBOX,
                    "unlink",
                    "R-C4",
                    record_id=link.record_id,
                    mailbox=link.mailbox,
                    item_id=link.item_id,
                    reason="moved; the old item was already deleted",
                )
            ]
        if self.p.kind == "object" or self.p.direction == DOWN:
            return [self.delete_item(link, i, "R-C4", "moved to the new owner's mailbox")]
        return self.x1(link, i, "R-C4")

    def x1(self, link: Link, i: Item, rule: str) -> list[Action]:
        """R-X1 `salesforce_deletion` in two_way."""
        strategy = self.p.salesforce_deletion
        if strategy == "delete" or (
            strategy == "delete_appointments" and link.origin == SALESFORCE and not is_meeting(i)
        ):
            return [self.delete_item(link, i, rule, f"salesforce_deletion={strategy}")]
        return [self.uncategorize(link, i, rule, f"salesforce_deletion={strategy}: item kept, unlinked")]

    def record_deleted(self, link: Link, i: Item) -> list[Action]:
        p = self.p
        if p.kind == "object" or p.direction == DOWN:
            return [self.delete_item(link, i, "R-X1", "record deleted in Salesforce")]
        if p.direction == UP:
            return [self.recreate_record(link, i, "revert_delete", "R-D2", "Salesforce delete reverted")]
        edited = [f for f in fields_for(p.kind) if changed(link, MAILBOX, f, i.fields.get(f))]
        if edited:
            a = self.recreate_record(
                link,
                i,
                "restore",
                "R-D6",
                f"deleted in Salesforce, edited in the mailbox ({', '.join(edited)}): the edit wins",
            )
            a.conflict, a.winner = True, MAILBOX
            return [a]
        return self.x1(link, i, "R-X1")

    def item_deleted(self, link: Link, r: Record) -> list[Action]:
        p = self.p
        if p.kind == "object" or p.direction == DOWN:
            return [self.recreate_item(link, r, "revert_delete", "R-D3", "mailbox delete reverted")]
        if p.direction == TWO_WAY:
            edited = [f for f in fields_for(p.kind) if changed(link, SALESFORCE, f, r.fields.get(f))]
            if edited and not p.downsync and link.origin == SALESFORCE:
                # N10: R-D6 keeps the edited record (no R-X2 delete); R-X4 pushes nothing, so the item
                # calsync pushed earlier is not re-created: only the link goes
                a = self.act(
                    MAILBOX,
                    "unlink",
                    "R-X4",
                    record_id=r.id,
                    mailbox=link.mailbox,
                    item_id=link.item_id,
                    conflict=True,
                    winner=SALESFORCE,
                    reason=(
                        f"deleted in the mailbox, edited in Salesforce ({', '.join(edited)}): record kept,"
                        " item not re-created under downsync: false"
                    ),
                )
                return [a]
            if edited:
                a = self.recreate_item(
                    link,
                    r,
                    "restore",
                    "R-D6",
                    f"deleted in the mailbox, edited in Salesforce ({', '.join(edited)}): the edit wins",
                )
                a.conflict, a.winner = True, SALESFORCE
                return [a]
        return [
            self.act(
                SALESFORCE,
                "delete",
                "R-X2",
                record_id=r.id,
                mailbox=link.mailbox,
                item_id=link.item_id,
                before=dict(r.fields),
                reason="confirmed mailbox delete",
            )
        ]

    def both_present(self, link: Link, r: Record, i: Item) -> list[Action]:
        p = self.p
        if p.kind == "event" and p.categories.unsync in i.categories and p.direction != DOWN:
            # R-X3: the unsync category deletes the record, drops the link, removes both categories
            return [
                self.act(
                    SALESFORCE,
                    "delete",
                    "R-X3",
                    record_id=r.id,
                    mailbox=link.mailbox,
                    item_id=link.item_id,
                    before=dict(r.fields),
                    reason="unsync category",
                ),
                self.uncategorize(link, i, "R-X3", "unsync category: both categories removed"),
            ]
        field_actions = self.sync_fields(link, r, i)
        if p.kind == "event" and p.direction != DOWN and not p.downsync and link.origin == SALESFORCE:
            # N10: only the writes to Salesforce are made (the mailbox's edits go up, R-D2 reverts of the
            # record); nothing is written to the item R-X4 removes, which goes in the next pass
            upward = [a for a in field_actions if a.side == SALESFORCE]
            if upward:
                return upward
            return [self.delete_item(link, i, "R-X4", "downsync: false removes items pushed earlier")]
        return field_actions + self.categories_and_stamp(link, i)

    def categories_and_stamp(self, link: Link, i: Item) -> list[Action]:
        p, out = self.p, []
        cats = set(i.categories)
        if p.kind == "event" and p.categories.unsync in cats:  # here only under salesforce_to_mailbox
            new = (cats - {p.categories.unsync}) | {p.item_category}
            out.append(
                self.act(
                    MAILBOX,
                    "revert_update",
                    "R-X3",
                    record_id=link.record_id,
                    mailbox=link.mailbox,
                    item_id=link.item_id,
                    fields={"categories": sorted(new)},
                    before={"categories": sorted(cats)},
                    reason="unsync category reverted",
                )
            )
        elif p.item_category not in cats:
            out.append(
                self.act(
                    MAILBOX,
                    "restore_category",
                    "R-X3",
                    record_id=link.record_id,
                    mailbox=link.mailbox,
                    item_id=link.item_id,
                    fields={"categories": sorted(cats | {p.item_category})},
                    before={"categories": sorted(cats)},
                    reason="category removed: put back",
                )
            )
        stamp = make_stamp(p.id, link.record_id, link.origin)
        if i.stamp != stamp:
            out.append(
                self.act(
                    MAILBOX,
                    "stamp",
                    "R-M8",
                    record_id=link.record_id,
                    mailbox=link.mailbox,
                    item_id=link.item_id,
                    fields={"stamp": stamp},
                    before={"stamp": i.stamp},
                )
            )
        return out

    # ---- field by field --------------------------------------------------------------------------------

    def sync_fields(self, link: Link, r: Record, i: Item) -> list[Action]:
        out: list[Action] = []
        for name in fields_for(self.p.kind):
            if name == "attendees" and self.p.authoritative_side is None:
                out.extend(self.merge_attendees(link, r, i))
            elif self.p.authoritative_side is None:
                out.extend(self.merge_two_way(link, r, i, name))
            else:
                out.extend(self.one_way(link, r, i, name))
        return out

    def write(
        self,
        link: Link,
        side: str,
        op: str,
        rule: str,
        name: str,
        value: Any,
        before: Any,
        reason: str,
        **kw: Any,
    ) -> Action:
        return self.act(
            side,
            op,
            rule,
            record_id=link.record_id,
            mailbox=link.mailbox,
            item_id=link.item_id,
            fields={name: value},
            before={name: before},
            reason=reason,
            **kw,
        )

    def winner(self, r: Record, i: Item) -> str:
        """R-D1 conflict_winner; `newest` compares last-modified within skew the mailbox wins."""
        if self.p.conflict_winner in (SALESFORCE, MAILBOX):
            return str(self.p.conflict_winner)
        diff = (r.last_modified - i.last_modified).total_seconds()
        if abs(diff) <= self.p.clock_skew_seconds:
            return MAILBOX
        return SALESFORCE if diff > 0 else MAILBOX

    def merge_two_way(self, link: Link, r: Record, i: Item, name: str) -> list[Action]:
        """R-D1: a field changed on one side only takes that side's value; on both: conflict_winner."""
        s, m = r.fields.get(name), i.fields.get(name)
        if common(name, SALESFORCE, s) == common(name, MAILBOX, m):
            return []
        sf_ch, mb_ch = changed(link, SALESFORCE, name, s), changed(link, MAILBOX, name, m)
        if not has_baselines(link, name) or (sf_ch and mb_ch):
            # R-O3 / R-C1: no baseline is no evidence of an edit, resolved like a conflict; R-D1 conflict
            winner = self.winner(r, i)
            rule = "R-D1" if (sf_ch and mb_ch) else "R-O3"
            if (
                winner == SALESFORCE
                and name == "sensitivity"
                and m == "private"
                and not has_baselines(link, name)
            ):
                winner = MAILBOX  # R-C1: a private item is never made non-private
            return self.propagate(link, r, i, name, winner, rule, conflict=True)
        if sf_ch:
            return self.propagate(link, r, i, name, SALESFORCE, "R-D1")
        if mb_ch:
            return self.propagate(link, r, i, name, MAILBOX, "R-D1")
        return []  # differ by a lossy mapping with both sides unchanged (e.g. sync_without_flag): stable

    def propagate(
        self, link: Link, r: Record, i: Item, name: str, source: str, rule: str, conflict: bool = False
    ) -> list[Action]:
        src_value = r.fields.get(name) if source == SALESFORCE else i.fields.get(name)
        target = MAILBOX if source == SALESFORCE else SALESFORCE
        cur = i.fields.get(name) if target == MAILBOX else r.fields.get(name)
        value = convert(name, src_value, target, self.p.private_items)
        if value == cur:
            return []
        before: Any = cur
        if conflict:
            before = {"salesforce": r.fields.get(name), "mailbox": i.fields.get(name)}
        a = self.write(
            link,
            target,
            "update",
            rule,
            name,
            value,
            cur,
            f"{name} changed in {source}",
            conflict=conflict,
            winner=source if conflict else None,
        )
        if conflict:
            a.before = {name: before}
        return [a]

    def merge_attendees(self, link: Link, r: Record, i: Item) -> list[Action]:
        """R-P2 in two_way: additions flow both ways, removals only from the item to Salesforce."""
        # R-O4: the mailbox's own address and the record owner are never attendees for R-P2
        own = frozenset(a for a in (link.mailbox, r.owner_mailbox) if a)
        s_all, m_all = frozenset(r.fields.get("attendees") or ()), frozenset(i.fields.get("attendees") or ())
        s, m = s_all - own, m_all - own
        if "attendees" not in link.base_sf or "attendees" not in link.base_mb:
            new_s, new_m = s | m, m | s  # N8: no baseline: nobody is removed
        else:
            bs = frozenset(link.base_sf["attendees"]) - own
            bm = frozenset(link.base_mb["attendees"]) - own
            sf_added, mb_added, mb_removed = s - bs, m - bm, bm - m
            new_m = m | sf_added
            new_s = (s | mb_added) - (mb_removed - sf_added)
        out = []
        if new_m != m:
            out.append(
                self.write(
                    link,
                    MAILBOX,
                    "update",
                    "R-P2",
                    "attendees",
                    new_m | (m_all & own),
                    m_all,
                    "attendees added in Salesforce",
                )
            )
        if new_s != s:
            out.append(
                self.write(
                    link,
                    SALESFORCE,
                    "update",
                    "R-P2",
                    "attendees",
                    new_s | (s_all & own),
                    s_all,
                    "attendees changed on the item",
                )
            )
        return out

    def one_way(self, link: Link, r: Record, i: Item, name: str) -> list[Action]:
        """R-D2 / R-D3 / R-D4 / R-M1: the authoritative value wins; an edit of the other side is reverted."""
        auth = self.p.authoritative_side
        target = MAILBOX if auth == SALESFORCE else SALESFORCE
        a_val = r.fields.get(name) if auth == SALESFORCE else i.fields.get(name)
        t_val = i.fields.get(name) if target == MAILBOX else r.fields.get(name)
        if common(name, auth, a_val) == common(name, target, t_val):
            return []  # N6: a difference the mapping cannot express is not reverted
        value = convert(name, a_val, target, self.p.private_items)
        if value == t_val or self.keeps_private(link, name, a_val, t_val, value, target):
            return []
        direction_rule = "R-M1" if self.p.kind == "object" else ("R-D3" if auth == SALESFORCE else "R-D2")
        if changed(link, target, name, t_val):
            rule = "R-D4" if changed(link, auth, name, a_val) else direction_rule
            return [
                self.write(
                    link,
                    target,
                    "revert_update",
                    rule,
                    name,
                    value,
                    t_val,
                    f"{name} edited on the non-authoritative side: reverted",
                )
            ]
        rule = direction_rule if has_baselines(link, name) else "R-O3"
        return [self.write(link, target, "update", rule, name, value, t_val, f"{name} from {auth}")]

    def keeps_private(self, link: Link, name: str, a_val: Any, t_val: Any, value: Any, target: str) -> bool:
        """N38 (R-C1, R-P1, N6): a one-way write never makes a private item non-private while its
        sensitivity has no agreed baseline (link rebuilt by R-O3, or a privacy flag the profile did not
        sync, e.g. `sync_without_flag`: baselines that disagree in common form), unless Salesforce itself
        changed the field since its baseline (a real edit, conveyed as usual)."""
        if target != MAILBOX or name != "sensitivity" or t_val != "private" or value == "private":
            return False
        agreed = has_baselines(link, name) and common(name, SALESFORCE, link.base_sf[name]) == common(
            name, MAILBOX, link.base_mb[name]
        )
        return not agreed and not changed(link, SALESFORCE, name, a_val)

    # ---- writes that end or re-create a side ------------------------------------------------------------

    def delete_item(self, link: Link, i: Item, rule: str, reason: str) -> Action:
        return self.act(
            MAILBOX,
            "delete",
            rule,
            record_id=link.record_id,
            mailbox=link.mailbox,
            item_id=i.id,
            before=dict(i.fields),
            reason=reason,
        )

    def uncategorize(self, link: Link, i: Item, rule: str, reason: str) -> Action:
        p = self.p
        ours = {p.item_category} | ({p.categories.unsync} if p.kind == "event" else set())
        return self.act(
            MAILBOX,
            "uncategorize",
            rule,
            record_id=link.record_id,
            mailbox=link.mailbox,
            item_id=i.id,
            fields={"categories": sorted(set(i.categories) - ours)},
            before={"categories": sorted(i.categories)},
            reason=reason,
        )

    def recreate_record(self, link: Link, i: Item, op: str, rule: str, reason: str) -> Action:
        fields = (
            salesforce_fields_from(i, self.p)
            | {
                "sobject": self.p.sobject,
                "owner_mailbox": link.mailbox,
                "CalSync_Event_Id__c": i.ical_uid,
            }
            | {f: link.preserve.get(f) for f in self.p.preserve_fields}
        )
        return self.act(
            SALESFORCE,
            op,
            rule,
            record_id=link.record_id,
            mailbox=link.mailbox,
            item_id=i.id,
            fields=fields,
            reason=reason,
        )

    def recreate_item(self, link: Link, r: Record, op: str, rule: str, reason: str) -> Action:
        fields = mailbox_fields_from(r, self.p) | {
            "categories": [self.p.item_category],
            "stamp": make_stamp(self.p.id, r.id, link.origin),
        }
        return self.act(
            MAILBOX,
            op,
            rule,
            record_id=r.id,
            mailbox=link.mailbox,
            item_id=link.item_id,
            fields=fields,
            reason=reason,
        )

    # ---- unlinked items: upsync creates and the unsync category ------------------------------------------

    def items(self) -> None:
        p = self.p
        if p.kind != "event":
            return  # object profiles never convey mailbox items (R-M1)
        for mailbox in sorted(self.w.mailboxes):
            if mailbox in self.ctx.unavailable_mailboxes:
                continue
            for i in sorted(self.w.mailboxes[mailbox].values(), key=lambda i: i.id):
                if not self.item_in_scope(i) or (mailbox, i.id) in self.adopted_items:
                    continue
                if p.categories.unsync in i.categories:
                    cats = set(i.categories)
                    self.emit(
                        [
                            self.act(
                                MAILBOX,
                                "uncategorize",
                                "R-X3",
                                mailbox=mailbox,
                                item_id=i.id,
                                fields={
                                    "categories": sorted(cats - {p.categories.opt_in, p.categories.unsync})
                                },
                                before={"categories": sorted(cats)},
                                reason="unsync on unlinked item",
                            )
                        ]
                    )
                    continue
                self.upsync(i)

    def upsync(self, i: Item) -> None:
        p = self.p
        keyed = self.record_with_key(i.ical_uid)
        if keyed is not None:
            if any(lk.record_id == keyed.id and lk.profile_id == p.id for lk in self.w.links):
                # R-O4 / R-M5: another copy of a meeting already synced: link, never a second record (N9)
                self.link_copy(keyed.id, i)
            return  # N29: an unlinked keyed record waits for its own mailbox's join; never a 2nd record
        if i.ical_uid in self.joined_uids:
            return  # N35: another copy is joined in this pass: this one links to its record next pass
        linked = self.live_record_of_meeting(i.ical_uid)
        if linked is not None:
            self.link_copy(linked, i)  # N35: the meeting's record carries no key (adopted by R-S7)
            return
        if self.meeting_synced_elsewhere(i.ical_uid):
            return  # N29: another copy of this meeting is linked (its record may be being restored)
        if p.direction == DOWN:
            return  # R-D3: new mailbox items are never conveyed
        if is_private(i) and p.private_items == "skip":
            return  # R-P1: not upsynced, issue
        if i.stamp is not None and i.stamp.split("|")[0] == p.id:
            return  # N11: stamped by this profile but its record is gone: not re-created by upsync
        if not i.is_organizer:
            if i.organizer is not None and i.organizer in self.w.mailboxes:
                return  # WAITING_FOR_ORGANIZER (R-O4)
            others = [
                m
                for m, items in self.w.mailboxes.items()
                if m < i.mailbox
                and m not in self.ctx.unavailable_mailboxes
                and any(o.ical_uid == i.ical_uid and self.item_in_scope(o) for o in items.values())
            ]
            if others:
                return  # the copy in the mailbox that sorts first is the one upsynced (R-O4)
        rule = "R-D2" if p.direction == UP else "R-D1"
        fields = salesforce_fields_from(i, p) | {
            "sobject": p.sobject,
            "owner_mailbox": i.mailbox,
            "CalSync_Event_Id__c": i.ical_uid,
        }
        self.emit(
            [
                self.act(
                    SALESFORCE,
                    "create",
                    rule,
                    mailbox=i.mailbox,
                    item_id=i.id,
                    fields=fields,
                    origin=MAILBOX,
                    reason="new item with the opt-in category",
                )
            ]
        )

    def link_copy(self, record_id: str, i: Item) -> None:
        """R-O4 (N9): link an unlinked copy of a meeting to its record as an attendee's copy, unless its
        mailbox already holds (or gets in this pass) a link for that record (R-O1)."""
        if (
            record_link(self.w, record_id, i.mailbox) is not None
            or (record_id, i.mailbox) in self.planned_pairs
        ):
            return
        self.planned_pairs.add((record_id, i.mailbox))
        self.emit(
            [
                self.act(
                    MAILBOX,
                    "link",
                    "R-O4",
                    record_id=record_id,
                    mailbox=i.mailbox,
                    item_id=i.id,
                    origin=MAILBOX,
                    organizer_copy=False,
                    reason="copy of a meeting already linked to a record",
                )
            ]
        )

    def live_record_of_meeting(self, ical_uid: str) -> str | None:
        """N35 (R-O4, R-M5, R-D5): the present record that a link of this profile holding a copy of this
        meeting points at (organizers' links first), whether or not the record carries the key: e.g. a
        record adopted by R-S7 in an earlier pass of this session (or an earlier session). A link whose
        record is confirmed deleted or cannot be read gives none (N29: the copy waits)."""
        mine = sorted(
            (lk for lk in self.w.links if lk.profile_id == self.p.id),
            key=lambda lk: (not lk.is_organizer_copy, lk.record_id, lk.mailbox),
        )
        for lk in mine:
            other = self.w.item(lk.mailbox, lk.item_id)
            if other is None or other.ical_uid != ical_uid:
                continue
            if record_state(self.w, lk.record_id, self.ctx) == PRESENT:
                return lk.record_id
        return None

    def meeting_synced_elsewhere(self, ical_uid: str) -> bool:
        """N29 (R-M5, R-O4, R-D6): a link of this profile holds another copy of this meeting. Such a copy's
        record may be confirmed deleted and restored from that copy in this pass (R-D6) or not be planned at
        all (unavailable mailbox, failed read, suspended link): the unlinked copy is then never upsynced (a
        second record with the same key); once the record is live again it links as a copy (N9)."""
        for lk in self.w.links:
            other = self.w.item(lk.mailbox, lk.item_id)
            if lk.profile_id == self.p.id and other is not None and other.ical_uid == ical_uid:
                return True
        return False

    def record_with_key(self, ical_uid: str) -> Record | None:
        """A present record of the profile's object whose CalSync_Event_Id__c is this iCalUId (R-M5)."""
        for r in self.w.records.values():
            if r.external_id == ical_uid and not r.deleted and r.sobject == self.p.sobject:
                return r
        return None
