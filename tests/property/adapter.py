"""Translate between the reference model (tests/property/reference_model) and the real planner.

* :func:`plan_input`: a model ``World`` + ``Context`` + a real ``calsync.profiles.Profile`` -> ``PlanInput``
  (side frames with presence present / deleted / out_of_scope and hashes from ``calsync.frame``, the links
  frame with per-side baseline HASHES computed from the model's baseline VALUES through the same hashing,
  the reference time, unavailable mailboxes, quarantine). The model always reads the whole truth, so this
  is a full reconcile: every record and every item is a row.
* :func:`planner_actions`: ``PlanResult.actions`` -> model ``Action`` objects (values converted into each
  side's model vocabulary), so the planner's plan can be applied with the model's ``apply``.
* :func:`apply_planner_plan`: apply those actions one by one with the model's ``apply`` (resolving the ids
  the planner leaves null for rows a create of the same plan makes) and close the session.
* :func:`comparison_keys`: the R-S4 comparison key of a plan, exploded per written field, values in the
  common form (``reference_model.common``), ids made by the same plan replaced by ``<new>``, as a multiset.

The adapter never imports planner internals beyond the public ``plan`` types and ``calsync.frame``.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime
from typing import Any

import pandas as pd
from reference_model import PLANNED, SKIPPED, Action, Context, Link, Record, When, World, apply, common
from reference_model.world import to_salesforce

from calsync.bodies import html_to_text
from calsync.frame import add_hashes
from calsync.plan import PlanInput, PlanResult, plan
from calsync.profiles import Profile
from calsync.schema import (
    DELETED,
    FIELD_NAMES,
    LINK_COLUMNS,
    MAILBOX,
    OUT_OF_SCOPE,
    PRESENT,
    SALESFORCE,
    SIDE_COLUMNS,
    baseline,
    conform,
    own_hash,
)

NEW = "<new>"
STATE = "state"  # link / unlink write only the state store: their `side` is not compared

_SF_SHOW_AS = {"Free": "free", "Busy": "busy", "OutOfOffice": "oof"}
_GRAPH_TO_SF_SHOW_AS = {"free": "Free", "busy": "Busy", "oof": "OutOfOffice"}


def make_profile(**settings: Any) -> Profile:
    """A real calsync event profile (the model accepts it as is)."""
    return Profile.model_validate({"id": "events", "kind": "event", **settings})


# --- model values -> side-frame columns ------------------------------------------------------------------


def _when_cols(when: When | None) -> dict[str, Any]:
    if when is None:
        return {"start_utc": None, "end_utc": None, "is_all_day": False}
    return {"start_utc": pd.Timestamp(when.start), "end_utc": pd.Timestamp(when.end),
            "is_all_day": bool(when.all_day)}


def _sf_cols(fields: dict[str, Any]) -> dict[str, Any]:
    """Salesforce-vocabulary values (model) -> side-frame value columns."""
    out: dict[str, Any] = {}
    if "subject" in fields:
        out["subject"] = fields["subject"]
    if "body" in fields:
        out["body"], out["body_type"] = fields["body"], "text"
    if "location" in fields:
        out["location"] = fields["location"]
    if "when" in fields:
        out.update(_when_cols(fields["when"]))
    if "show_as" in fields:
        v = fields["show_as"]
        out["show_as"] = None if v is None else _SF_SHOW_AS.get(v, str(v).lower())
    if "reminder" in fields:
        out["reminder_minutes"] = fields["reminder"]
    if "sensitivity" in fields:
        private = fields["sensitivity"] == "private"
        out["sensitivity"], out["is_private"] = ("private" if private else "normal"), private
    if "attendees" in fields:
        out["attendees"] = sorted(fields["attendees"] or ())
    return out


def _mb_cols(fields: dict[str, Any]) -> dict[str, Any]:
    """Mailbox-vocabulary values (model) -> side-frame value columns."""
    out: dict[str, Any] = {}
    if "subject" in fields:
        out["subject"] = fields["subject"]
    if "body" in fields:
        out["body"], out["body_type"] = fields["body"], "html"
    if "location" in fields:
        out["location"] = fields["location"]
    if "when" in fields:
        out.update(_when_cols(fields["when"]))
    if "show_as" in fields:
        out["show_as"] = fields["show_as"]
    if "reminder" in fields:
        out["reminder_minutes"] = fields["reminder"]
    if "sensitivity" in fields:
        out["sensitivity"] = fields["sensitivity"]
        out["is_private"] = fields["sensitivity"] == "private"
    if "attendees" in fields:
        out["attendees"] = sorted(fields["attendees"] or ())
    return out


def _frame(rows: list[dict[str, Any]], profile: Profile) -> pd.DataFrame:
    df = conform(pd.DataFrame(rows), SIDE_COLUMNS) if rows else conform(pd.DataFrame(), SIDE_COLUMNS)
    df["profile_id"] = profile.id
    return add_hashes(df, profile.synced_fields)


def _in_window(when: When | None, profile: Profile, ref: datetime) -> bool:
    if when is None:
        return False
    lo = ref - pd.Timedelta(days=profile.window.past_days)
    hi = ref + pd.Timedelta(days=profile.window.future_days)
    return when.start < hi and when.end > lo


def _stamp_record(stamp: str | None, profile: Profile) -> str | None:
    if not stamp:
        return None
    parts = stamp.split("|")
    return parts[1] if len(parts) == 3 and parts[0] == profile.id else None


def _target(record: Record, world: World, profile: Profile) -> str | None:
    """R-M7 (mode owner / user_field): the resolved mailbox, None when it is not a synced mailbox."""
    if profile.mailboxes.mode == "user_field":
        m = record.user_fields.get(profile.mailboxes.user_field or "")
    else:
        m = record.owner_mailbox
    return m if m in world.mailboxes else None


def plan_input(world: World, profile: Profile, ctx: Context) -> PlanInput:
    """The planner's input for one full-reconcile session of `profile` on `world` (see module doc)."""
    ref = ctx.reference_time
    links = [lk for lk in world.links if lk.profile_id == profile.id]
    quarantined_records: set[str] = set()
    quarantined_items: set[str] = set()
    sf_rows: list[dict[str, Any]] = []
    for r in world.records.values():
        if r.sobject != profile.sobject or r.id in ctx.unreadable_records:
            continue
        when = r.fields.get("when")
        if r.deleted:
            presence = DELETED
        elif r.passes_filter and _in_window(when, profile, ref):
            presence = PRESENT
        else:
            presence = OUT_OF_SCOPE
        if not r.valid:
            quarantined_records.add(r.id)
        sf_rows.append({
            "presence": presence, "record_id": r.id, "mailbox": _target(r, world, profile),
            "owner_id": r.owner_mailbox, "external_id": r.external_id,
            "series_type": "master" if r.recurring else "single",
            "last_modified": pd.Timestamp(r.last_modified), "last_modified_by": r.last_modified_by,
            "preserve": json.dumps(r.preserve, sort_keys=True), **_sf_cols(r.fields),
        })
    known = {row["record_id"] for row in sf_rows}
    for lk in links:  # a record missing from the world is a confirmed delete (NOT_FOUND on a read by id)
        if lk.record_id not in world.records and lk.record_id not in known:
            known.add(lk.record_id)
            sf_rows.append({"presence": DELETED, "record_id": lk.record_id, **_sf_cols(lk.base_sf)})
    mb_rows: list[dict[str, Any]] = []
    seen_items: set[str] = set()
    for mailbox, items in world.mailboxes.items():
        for i in items.values():
            if (mailbox, i.id) in ctx.unreadable_items:
                continue
            when = i.fields.get("when")
            if i.cancelled:
                presence = DELETED
            elif _in_window(when, profile, ref):
                presence = PRESENT
            else:
                presence = OUT_OF_SCOPE
            if not i.valid:
                quarantined_items.add(i.id)
            seen_items.add(i.id)
            mb_rows.append({
                "presence": presence, "item_id": i.id, "mailbox": mailbox, "categories": sorted(i.categories),
                "record_id": _stamp_record(i.stamp, profile), "ical_uid": i.ical_uid, "stamp": i.stamp,
                "is_organizer": i.is_organizer, "organizer": (i.organizer or mailbox).lower(),
                "is_cancelled": i.cancelled, "series_type": i.series_type,
                "last_modified": pd.Timestamp(i.last_modified), **_mb_cols(i.fields),
            })
    for lk in links:
        if lk.item_id not in seen_items and (lk.mailbox, lk.item_id) not in ctx.unreadable_items:
            seen_items.add(lk.item_id)
            mb_rows.append({"presence": DELETED, "item_id": lk.item_id, "mailbox": lk.mailbox,
                            **_mb_cols(lk.base_mb)})
    return PlanInput(
        profile=profile,
        sf=_frame(sf_rows, profile),
        mb=_frame(mb_rows, profile),
        links=links_frame(world, links, profile),
        reference_time=pd.Timestamp(ref),
        full=True,
        unavailable_mailboxes=frozenset(ctx.unavailable_mailboxes),
        allow_mass_delete=ctx.allow_mass_delete,
        quarantined_records=frozenset(quarantined_records),
        quarantined_items=frozenset(quarantined_items),
        synced_mailboxes=frozenset(world.mailboxes),
    )


def _baseline_hashes(values: list[dict[str, Any]], side: str, profile: Profile) -> pd.DataFrame:
    """Own hashes of baseline values, hashed exactly as a side frame would hash them (R-C1)."""
    cols = _sf_cols if side == SALESFORCE else _mb_cols
    return _frame([cols(v) for v in values], profile)


def links_frame(world: World, links: list[Link], profile: Profile) -> pd.DataFrame:
    if not links:
        return conform(pd.DataFrame(), LINK_COLUMNS)
    hashed = {SALESFORCE: _baseline_hashes([lk.base_sf for lk in links], SALESFORCE, profile),
              MAILBOX: _baseline_hashes([lk.base_mb for lk in links], MAILBOX, profile)}
    rows = []
    for n, lk in enumerate(links):
        item = world.item(lk.mailbox, lk.item_id)
        meeting = (bool(item.fields.get("attendees")) or not item.is_organizer) if item is not None else bool(
            lk.base_mb.get("attendees"))
        base_when = lk.base_sf.get("when") or lk.base_mb.get("when")
        row: dict[str, Any] = {
            "link_id": n + 1, "profile_id": lk.profile_id, "record_id": lk.record_id, "mailbox": lk.mailbox,
            "item_id": lk.item_id, "origin": lk.origin, "ical_uid": item.ical_uid if item else None,
            "base_start_utc": pd.Timestamp(base_when.start) if base_when else None,
            "base_end_utc": pd.Timestamp(base_when.end) if base_when else None,
            "base_sf_attendees_set": sorted(lk.base_sf["attendees"]) if "attendees" in lk.base_sf else None,
            "base_mb_attendees_set": sorted(lk.base_mb["attendees"]) if "attendees" in lk.base_mb else None,
            "preserve": json.dumps(lk.preserve, sort_keys=True), "is_organizer": lk.is_organizer_copy,
            "is_meeting": meeting, "by_backfill": lk.by_backfill, "in_window": lk.in_window,
            "dirty": lk.dirty,
        }
        for side, base in ((SALESFORCE, lk.base_sf), (MAILBOX, lk.base_mb)):
            for f in FIELD_NAMES:
                row[baseline(side, f)] = int(hashed[side][own_hash(f)].iloc[n]) if f in base else None
        rows.append(row)
    frame = pd.DataFrame(rows)
    # A baseline column with a null would become float64 and round the 64-bit hashes: keep it exact.
    for side in (SALESFORCE, MAILBOX):
        for f in FIELD_NAMES:
            col = baseline(side, f)
            frame[col] = pd.array([r[col] for r in rows], dtype="Int64")
    return conform(frame, LINK_COLUMNS)


def run_planner(world: World, profile: Profile, ctx: Context) -> PlanResult:
    return plan(plan_input(world, profile, ctx))


# --- planner actions -> model actions ----------------------------------------------------------------------


def _text(value: Any, body_type: Any) -> str | None:
    if value is None:
        return None
    return html_to_text(value).strip() if str(body_type or "text").lower() == "html" else str(value)


def model_values(cols: dict[str, Any], side: str, profile: Profile) -> dict[str, Any]:
    """Planner `fields` JSON (side-frame columns) -> synced fields in the written side's model vocabulary."""
    out: dict[str, Any] = {}
    if "subject" in cols:
        out["subject"] = cols["subject"]
    if "body" in cols:
        btype = cols.get("body_type")
        if side == SALESFORCE:
            out["body"] = _text(cols["body"], btype)
        else:
            body = cols["body"]
            out["body"] = body if str(btype or "").lower() == "html" or body is None else f"<p>{body}</p>"
    if "location" in cols:
        out["location"] = cols["location"]
    if "start_utc" in cols or "end_utc" in cols:
        start, end = cols.get("start_utc"), cols.get("end_utc")
        out["when"] = None if start is None else When(pd.Timestamp(start).to_pydatetime(),
                                                      pd.Timestamp(end).to_pydatetime(),
                                                      bool(cols.get("is_all_day")))
    if "show_as" in cols:
        v = cols["show_as"]
        if side == SALESFORCE:
            out["show_as"] = None if v is None else _GRAPH_TO_SF_SHOW_AS.get(v) or to_salesforce("show_as", v)
        else:
            out["show_as"] = v
    if "reminder_minutes" in cols:
        v = cols["reminder_minutes"]
        out["reminder"] = None if v is None else int(v)
    if "sensitivity" in cols or "is_private" in cols:
        if side == SALESFORCE:
            private = cols["is_private"] if "is_private" in cols else cols.get("sensitivity") == "private"
            out["sensitivity"] = "private" if private else "normal"
        else:
            fallback = "private" if cols.get("is_private") else "normal"
            out["sensitivity"] = cols.get("sensitivity") or fallback
    if "attendees" in cols and profile.kind == "event":
        out["attendees"] = frozenset(a.lower() for a in (cols["attendees"] or ()))
    return out


def _json(value: Any) -> dict[str, Any]:
    if value is None or (isinstance(value, float) and pd.isna(value)) or value is pd.NA:
        return {}
    return json.loads(value) if isinstance(value, str) else dict(value)


def _opt(value: Any) -> Any:
    return None if value is None or value is pd.NA or (isinstance(value, float) and pd.isna(value)) else value


def planner_actions(result: PlanResult, world: World, profile: Profile) -> list[Action]:
    """Every planner action (pending and skipped) as a model Action in the same order.

    Ids the planner leaves null (the row a create of the same plan makes) stay None here; categories are
    given as the item's full list after the write (the model's form) where the planner gives add/remove.
    """
    out: list[Action] = []
    for row in result.actions.to_dict("records"):
        side, op = row["side"], row["operation"]
        cols = _json(row["fields"])
        a = Action(profile_id=profile.id, side=side, operation=op, rule=_opt(row["rule"]) or "",
                   record_id=_opt(row["record_id"]), mailbox=_opt(row["mailbox"]),
                   item_id=_opt(row["item_id"]),
                   reason=_opt(row["reason"]) or "", conflict=bool(_opt(row["conflict"]) or False),
                   winner=_opt(row["winner"]), outcome=PLANNED if row["outcome"] == "pending" else SKIPPED)
        fields: dict[str, Any] = {}
        if op in ("update", "revert_update", "create", "restore", "revert_delete"):
            fields = model_values(cols, side, profile)
        if op in ("create", "restore", "revert_delete"):
            if side == MAILBOX:
                fields["categories"] = list(cols.get("categories") or [profile.item_category])
                if cols.get("stamp"):
                    fields["stamp"] = cols["stamp"]
                a.origin = cols.get("origin") or SALESFORCE
            else:
                fields["sobject"] = profile.sobject
                fields["owner_mailbox"] = a.mailbox
                item = world.item(a.mailbox or "", a.item_id or "")
                fields["CalSync_Event_Id__c"] = cols.get("external_id") or (item.ical_uid if item else None)
                fields.update(_json(cols.get("preserve")))
                a.origin = MAILBOX
        if op in ("update", "revert_update", "restore_category", "uncategorize", "stamp") and side == MAILBOX:
            cats = _categories_after(cols, world.item(a.mailbox or "", a.item_id or ""))
            if cats is not None:
                fields["categories"] = cats
        if op == "stamp" and cols.get("stamp"):
            fields["stamp"] = cols["stamp"]
        if op == "link":  # the planner's link also writes the stamp and the category on the item
            if cols.get("stamp"):
                fields["stamp"] = cols["stamp"]
            cats = _categories_after(cols, world.item(a.mailbox or "", a.item_id or ""))
            if cats is not None:
                fields["categories"] = cats
            a.origin = cols.get("origin") or MAILBOX
            item = world.item(a.mailbox or "", a.item_id or "")
            a.organizer_copy = bool(cols.get("organizer_copy", item.is_organizer if item else True))
        a.fields = fields
        out.append(a)
    return out


def _categories_after(cols: dict[str, Any], item: Any) -> list[str] | None:
    if "categories" in cols and cols["categories"] is not None:
        return sorted(cols["categories"])
    if "add_categories" in cols or "remove_categories" in cols:
        current = set(item.categories) if item is not None else set()
        current -= set(cols.get("remove_categories") or ())
        current |= set(cols.get("add_categories") or ())
        return sorted(current)
    return None


def _fresh(before: World, after: World) -> tuple[set[str], set[tuple[str, str]]]:
    records = set(after.records) - set(before.records)
    items = {(m, i) for m, its in after.mailboxes.items() for i in its} - {
        (m, i) for m, its in before.mailboxes.items() for i in its}
    return records, items


def apply_planner_plan(world: World, actions: list[Action], profile: Profile, ctx: Context) -> World:
    """Apply the planner's translated plan with the model's apply, one action at a time, and close.

    A null record id after a Salesforce create (a `stamp` or a copy's `link`) is resolved to the record
    that create made for the same item / iCalUId; a null item id after a mailbox create to the item made
    for the same record and mailbox (what the real apply does with the ids Graph and Salesforce return).
    """
    w = world
    made_record: dict[tuple[str, str], str] = {}  # (mailbox, item id) -> record created for it
    made_item: dict[tuple[str, str], str] = {}  # (record id, mailbox) -> item created for it
    for a in actions:
        if a.outcome != PLANNED:
            continue
        a = Action(**{**a.__dict__, "fields": dict(a.fields)})
        if (a.record_id is None and a.operation not in ("create",)) or (
                a.record_id is None and a.side == MAILBOX):
            key = (a.mailbox or "", a.item_id or "")
            a.record_id = made_record.get(key) or _record_by_uid(w, a)
        if (a.item_id is None and a.operation != "create") or (a.item_id is None and a.side == SALESFORCE):
            a.item_id = made_item.get((a.record_id or "", a.mailbox or ""))
        if a.operation == "stamp" and a.record_id is not None:
            a.fields["stamp"] = f"{profile.id}|{a.record_id}|{(a.fields.get('stamp') or '||').split('|')[2]}"
        try:
            nxt = apply(w, [a], close=False)
        except (AssertionError, KeyError) as exc:
            raise AssertionError(f"the planner's action cannot be applied: {a}") from exc
        recs, items = _fresh(w, nxt)
        if a.side == SALESFORCE and a.operation in ("create", "restore", "revert_delete") and recs:
            made_record[(a.mailbox or "", a.item_id or "")] = next(iter(recs))
        if a.side == MAILBOX and a.operation in ("create", "restore", "revert_delete") and items:
            made_item[(a.record_id or "", a.mailbox or "")] = next(iter(items))[1]
        follow: dict[str, Any] = {}
        remade = a.operation in ("create", "restore", "revert_delete")
        if a.side == SALESFORCE and remade and recs and a.item_id:
            # R-M8: the item gets the new record id in its stamp (apply does it after the upsert)
            rid = next(iter(recs))
            it = nxt.item(a.mailbox or "", a.item_id)
            if it is not None:
                origin = (it.stamp or "||mailbox").split("|")[2] if a.operation != "create" else MAILBOX
                follow = {"stamp": f"{profile.id}|{rid}|{origin}"}
        if a.operation == "link" and (a.fields.get("stamp") or a.fields.get("categories") is not None):
            follow = {k: a.fields[k] for k in ("stamp", "categories") if k in a.fields}
        if follow:
            it = nxt.item(a.mailbox or "", a.item_id or "")
            follow.setdefault("stamp", it.stamp if it else None)
            nxt = apply(nxt, [Action(profile.id, MAILBOX, "stamp", "R-M8", record_id=a.record_id,
                                     mailbox=a.mailbox, item_id=a.item_id, fields=follow)], close=False)
        w = nxt
    return apply(w, [a for a in actions if a.outcome != PLANNED], profile, ctx)


def _record_by_uid(w: World, a: Action) -> str | None:
    item = w.item(a.mailbox or "", a.item_id or "")
    if item is None:
        return None
    for r in w.records.values():
        if not r.deleted and r.external_id == item.ical_uid:
            return r.id
    return None


# --- the comparison key ---------------------------------------------------------------------------------


def _norm(value: Any) -> str:
    if isinstance(value, frozenset | set):
        return repr(sorted(value))
    return repr(value)


def comparison_keys(actions: list[Action], world: World, profile: Profile, *,
                    only_planned: bool = True) -> Counter:
    """The R-S4 key (side, operation, record, mailbox, item, field, value) of every write, as a multiset.

    Per written synced field (updates carry one or several), values in the common form; ids that the
    world before the session does not know are `<new>`; link / unlink are state-only (side `state`).
    Creates, restores and re-creates give one key per synced field plus their categories. Only the
    fields the profile maps (``Profile.synced_fields``) are compared: the model syncs every field.
    """
    synced = set(profile.synced_fields)
    records = set(world.records)
    items = {i for its in world.mailboxes.values() for i in its}
    keys: Counter = Counter()
    uncategorized = {(a.record_id, a.mailbox, a.item_id) for a in actions if a.operation == "uncategorize"}
    for a in actions:
        if a.operation == "unlink" and (a.record_id, a.mailbox, a.item_id) in uncategorized:
            continue  # the model's uncategorize drops the link itself: D2
        if only_planned and a.outcome != PLANNED:
            continue
        rec = a.record_id if a.record_id in records else NEW
        item = a.item_id if a.item_id in items else NEW
        if a.operation == "stamp":
            continue  # R-M8 bookkeeping: see docs/planner-vs-model.md D1
        side = STATE if a.operation in ("link", "unlink") else a.side
        if side == MAILBOX and item != NEW and side != STATE:
            rec = "*"  # a write to an existing item is named by the item; the record may be re-created: D17
        if side == STATE:
            keys[(side, a.operation, rec, a.mailbox, item, None, None)] += 1
            continue
        base = (side, a.operation, rec, a.mailbox, item)
        written = False
        for name, value in sorted(a.fields.items()):
            if name in synced:
                keys[(*base, name, _norm(common(name, a.side, value)))] += 1
                written = True
            elif name == "categories":
                # Which write carries a category fix (restore_category, or a revert's request) is
                # representation: compared as one kind of write (D25).
                fix = a.operation in ("update", "revert_update", "restore_category")
                keys[(side, "categories" if fix else a.operation, rec, a.mailbox, item, name,
                      repr(sorted(value)))] += 1
                written = True
        if not written:
            keys[(*base, None, None)] += 1
    return keys
