"""Perform actions on a world the way the real APIs would, and close the session (baselines, R-C1/R-C2)."""

from __future__ import annotations

from typing import Any

from calsync.schema import FIELD_NAMES, MAILBOX, SALESFORCE

from .actions import PLANNED, Action
from .world import Context, Item, Link, Record, World, common, in_window, make_stamp

_SF_EXTRA = ("sobject", "owner_mailbox", "CalSync_Event_Id__c")


def _find_link(w: World, a: Action) -> Link | None:
    for link in w.links:
        if link.profile_id != a.profile_id:
            continue
        if a.item_id is not None and link.mailbox == a.mailbox and link.item_id == a.item_id:
            return link
        if a.record_id is not None and link.record_id == a.record_id and link.mailbox == a.mailbox:
            return link
    return None


def _reset_baselines(w: World, link: Link, only_agreeing: bool = False) -> None:
    """R-C2 (N2): after an applied write each side's baseline is the value it now holds, for every field
    of the link; `only_agreeing`: only fields on which the sides agree (R-C1, also N3)."""
    r = w.records.get(link.record_id)
    i = w.item(link.mailbox, link.item_id)
    if r is None or r.deleted or i is None or i.cancelled:
        return
    for name in FIELD_NAMES:
        if name not in r.fields or name not in i.fields:
            continue
        agree = common(name, SALESFORCE, r.fields[name]) == common(name, MAILBOX, i.fields[name])
        if only_agreeing and not agree:
            continue
        link.base_sf[name] = r.fields[name]
        link.base_mb[name] = i.fields[name]


def _new_record(w: World, a: Action, now: Any) -> Record:
    synced = {k: v for k, v in a.fields.items() if k in FIELD_NAMES}
    preserve = {k: v for k, v in a.fields.items() if k not in FIELD_NAMES and k not in _SF_EXTRA}
    r = Record(
        id=w.new_id("r"),
        sobject=a.fields["sobject"],
        fields=synced,
        owner_mailbox=a.fields["owner_mailbox"],
        last_modified=now,
        last_modified_by="calsync",
        external_id=a.fields.get("CalSync_Event_Id__c"),
        preserve=preserve,
    )
    w.records[r.id] = r
    return r


def _new_item(w: World, a: Action, record_id: str, origin: str, now: Any) -> Item:
    assert a.mailbox is not None
    synced = {k: v for k, v in a.fields.items() if k in FIELD_NAMES}
    item = Item(
        mailbox=a.mailbox,
        id=w.new_id(f"{a.mailbox.split('@')[0]}-i"),
        fields=synced,
        categories=frozenset(a.fields.get("categories", ())),
        ical_uid=w.new_id("uid-"),
        last_modified=now,
        stamp=make_stamp(a.profile_id, record_id, origin),
        is_organizer=True,
    )
    w.mailboxes.setdefault(a.mailbox, {})[item.id] = item
    return item


def _apply_one(w: World, a: Action, now: Any) -> None:
    op, side = a.operation, a.side
    link = _find_link(w, a)
    if op == "create" and side == MAILBOX:
        assert a.record_id is not None
        item = _new_item(w, a, a.record_id, a.origin or SALESFORCE, now)
        r = w.records[a.record_id]
        if r.external_id is None:
            r.external_id = item.ical_uid  # N13: the create also sets CalSync_Event_Id__c (R-M5)
        new = Link(
            a.profile_id, r.id, item.mailbox, item.id, a.origin or SALESFORCE, preserve=dict(r.preserve)
        )
        w.links.append(new)
        _reset_baselines(w, new)
    elif op == "create" and side == SALESFORCE:
        assert a.mailbox is not None and a.item_id is not None
        r = _new_record(w, a, now)  # the item is not written here: its stamp comes in a `stamp` action
        new = Link(a.profile_id, r.id, a.mailbox, a.item_id, MAILBOX, is_organizer_copy=True)
        w.links.append(new)
        _reset_baselines(w, new)
    elif op in ("update", "revert_update"):
        if side == SALESFORCE:
            assert a.record_id is not None
            r = w.records[a.record_id]
            r.fields.update(a.fields)
            r.last_modified, r.last_modified_by = now, "calsync"
        else:
            assert a.mailbox is not None and a.item_id is not None
            item = w.mailboxes[a.mailbox][a.item_id]
            for k, v in a.fields.items():
                if k == "categories":
                    item.categories = frozenset(v)
                else:
                    item.fields[k] = v
            item.last_modified = now
        if link is not None:
            _reset_baselines(w, link)
    elif op == "delete":
        if side == SALESFORCE:
            assert a.record_id is not None
            w.records[a.record_id].deleted = True  # to the recycle bin
        else:
            assert a.mailbox is not None and a.item_id is not None
            w.mailboxes[a.mailbox].pop(a.item_id, None)
        if link is not None:
            w.links.remove(link)
    elif op in ("restore", "revert_delete"):
        assert link is not None, a
        if side == SALESFORCE:
            r = _new_record(w, a, now)
            old = link.record_id
            for lk in w.links:  # the link (and the attendees' copies) move to the new id (R-D2)
                if lk.profile_id == link.profile_id and lk.record_id == old:
                    lk.record_id = r.id
        else:
            assert link.record_id is not None
            item = _new_item(w, a, link.record_id, link.origin, now)
            link.item_id = item.id
        _reset_baselines(w, link)
    elif op in ("restore_category", "uncategorize", "stamp"):
        assert a.mailbox is not None and a.item_id is not None
        item = w.mailboxes[a.mailbox][a.item_id]
        if "categories" in a.fields:
            item.categories = frozenset(a.fields["categories"])
        if op == "stamp":
            item.stamp = a.fields["stamp"]
        item.last_modified = now
        if op == "uncategorize":
            item.stamp = None  # R-M8: the stamp goes in the same request
            if link is not None:
                w.links.remove(link)
        elif link is not None:
            _reset_baselines(w, link)
    elif op == "link":
        assert a.record_id is not None and a.mailbox is not None and a.item_id is not None
        r = w.records[a.record_id]
        assert a.item_id in w.mailboxes[a.mailbox]
        new = Link(
            a.profile_id,
            a.record_id,
            a.mailbox,
            a.item_id,
            a.origin or MAILBOX,
            preserve=dict(r.preserve),
            is_organizer_copy=a.organizer_copy,
        )
        w.links.append(new)
        _reset_baselines(w, new, only_agreeing=True)  # R-O3: differing fields have no baseline
    elif op == "unlink":
        if link is not None:
            w.links.remove(link)
    else:
        raise AssertionError(f"unknown operation {op}")


def apply(
    world: World, actions: list[Action], profile: Any = None, ctx: Context | None = None, close: bool = True
) -> World:
    """A new world with the planned actions performed in order (skipped ones are not), as the APIs would.

    With `profile` and `ctx`, the session is also closed (`close=True`): for every readable link of the
    profile, fields on which the sides agree get baselines (R-C1, N3), `in_window` records whether the item
    is in the scheduled window (R-X5), `preserve` takes the record's current preserve_fields (R-D2), and
    `dirty` marks links with a skipped action (R-K2).
    """
    w = world.copy()
    now = ctx.reference_time if ctx is not None else None
    for a in actions:
        if a.outcome == PLANNED:
            _apply_one(w, a, now if now is not None else _latest(w))
    if profile is not None and ctx is not None and close:
        skipped = {(a.record_id, a.mailbox) for a in actions if a.outcome != PLANNED}
        for link in w.links_of(profile.id):
            link.dirty = (link.record_id, link.mailbox) in skipped
            if link.mailbox in ctx.unavailable_mailboxes or link.record_id in ctx.unreadable_records:
                continue
            if (link.mailbox, link.item_id) in ctx.unreadable_items:
                continue
            _reset_baselines(w, link, only_agreeing=True)
            item = w.item(link.mailbox, link.item_id)
            if item is not None and not ctx.backfill:
                link.in_window = in_window(item.fields.get("when"), profile, ctx.reference_time)
            r = w.records.get(link.record_id)
            if r is not None and not r.deleted:
                link.preserve = {f: r.preserve.get(f) for f in profile.preserve_fields}
    return w


def _latest(w: World) -> Any:
    stamps = [r.last_modified for r in w.records.values()]
    stamps += [i.last_modified for items in w.mailboxes.values() for i in items.values()]
    return max(stamps) if stamps else None
