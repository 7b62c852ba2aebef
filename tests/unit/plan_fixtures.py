"""Tiny worlds for planner tests: rows on both sides, links with baselines, and a toy apply.

A ``World`` holds Salesforce records and mailbox items as dicts of side-frame values. ``frames()`` turns
them into side frames hashed by ``calsync.frame.add_hashes`` (the real hashing), ``plan()`` plans, and
``apply()`` plays the plan back the way apply + close would (R-C2: an applied action moves both
baselines of its link to what the sides now hold), so "apply, then plan again" can check R-D5.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

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

REF = pd.Timestamp("2026-03-02 12:00", tz="UTC")
START = pd.Timestamp("2026-03-05 09:00", tz="UTC")
END = pd.Timestamp("2026-03-05 10:00", tz="UTC")
A, B = "alice@example.test", "bob@example.test"


def event_profile(**overrides: Any) -> Profile:
    return Profile.model_validate({"id": "events", "kind": "event", **overrides})


def object_profile(**overrides: Any) -> Profile:
    return Profile.model_validate(
        {
            "id": "milestones",
            "kind": "object",
            "sobject": "Project_Milestone__c",
            "date_fields": {"start": "Start__c", "end": "End__c"},
            **overrides,
        }
    )


def values(**kw: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "subject": "Quarterly review",
        "body": "Agenda",
        "body_type": "text",
        "location": "Room 1",
        "start_utc": START,
        "end_utc": END,
        "is_all_day": False,
        "show_as": "busy",
        "sensitivity": "normal",
        "is_private": False,
        "reminder_minutes": 15,
        "attendees": [],
        "series_type": "single",
        "last_modified": REF - pd.Timedelta(days=1),
    }
    base.update(kw)
    return base


@dataclass
class World:
    profile: Profile
    sf: dict[str, dict[str, Any]] = field(default_factory=dict)  # record id -> row
    mb: dict[str, dict[str, Any]] = field(default_factory=dict)  # item id -> row
    links: list[dict[str, Any]] = field(default_factory=list)
    ids: itertools.count = field(default_factory=lambda: itertools.count(1))
    quarantined_records: frozenset[str] = frozenset()
    quarantined_items: frozenset[str] = frozenset()

    # --- building ---------------------------------------------------------------------------------
    def record(self, rid: str, mailbox: str = A, **kw: Any) -> dict[str, Any]:
        row = {
            "presence": PRESENT,
            "record_id": rid,
            "mailbox": mailbox,
            "owner_id": "005" + mailbox[:3],
            "external_id": None,
            **values(**kw),
        }
        self.sf[rid] = row
        return row

    def item(
        self, iid: str, mailbox: str = A, categories: list[str] | None = None, **kw: Any
    ) -> dict[str, Any]:
        cats = [self.profile.item_category] if categories is None else categories
        row = {
            "presence": PRESENT,
            "item_id": iid,
            "mailbox": mailbox,
            "categories": cats,
            "record_id": None,
            "ical_uid": f"uid-{iid}",
            "is_organizer": True,
            **values(**kw),
        }
        self.mb[iid] = row
        return row

    def pair(
        self, rid: str, iid: str, mailbox: str = A, origin: str = SALESFORCE, **kw: Any
    ) -> dict[str, Any]:
        """A record and an item in agreement, linked, baselines at their current values."""
        self.record(rid, mailbox, **kw)
        self.item(iid, mailbox, **kw)
        return self.link(rid, iid, mailbox, origin)

    def link(self, rid: str, iid: str, mailbox: str = A, origin: str = SALESFORCE) -> dict[str, Any]:
        link = {
            "link_id": next(self.ids),
            "profile_id": self.profile.id,
            "record_id": rid,
            "mailbox": mailbox,
            "item_id": iid,
            "origin": origin,
            "ical_uid": self.mb[iid].get("ical_uid"),
            "is_meeting": bool(self.mb[iid].get("attendees")),
            "by_backfill": False,
            "in_window": True,
            "dirty": False,
            "preserve": json.dumps({"WhoId": "003X", "WhatId": None}),
            "is_organizer": self.mb[iid].get("is_organizer", True),
        }
        self.links.append(link)
        self.rebase(link)
        return link

    def rebase(self, link: dict[str, Any]) -> None:
        """Both baselines := what the sides hold now (R-C2 after an applied action)."""
        sf, mb = self.side_frame(SALESFORCE), self.side_frame(MAILBOX)
        srow = sf[sf["record_id"] == link["record_id"]]
        mrow = mb[mb["item_id"] == link["item_id"]]
        for f in FIELD_NAMES:
            if len(srow):
                link[baseline(SALESFORCE, f)] = int(srow[own_hash(f)].iloc[0])
            if len(mrow):
                link[baseline(MAILBOX, f)] = int(mrow[own_hash(f)].iloc[0])
        if len(srow):
            link["base_start_utc"], link["base_end_utc"] = srow["start_utc"].iloc[0], srow["end_utc"].iloc[0]
            link["base_sf_attendees_set"] = list(self.sf[link["record_id"]].get("attendees") or [])
        if len(mrow):
            link["base_mb_attendees_set"] = list(self.mb[link["item_id"]].get("attendees") or [])

    # --- frames -----------------------------------------------------------------------------------
    def side_frame(self, side: str, only: set[str] | None = None) -> pd.DataFrame:
        rows = self.sf if side == SALESFORCE else self.mb
        data = [r for k, r in rows.items() if only is None or k in only]
        df = conform(pd.DataFrame(data), SIDE_COLUMNS) if data else conform(pd.DataFrame(), SIDE_COLUMNS)
        df["profile_id"] = self.profile.id
        return add_hashes(df, self.profile.synced_fields)

    def links_frame(self) -> pd.DataFrame:
        return (
            conform(pd.DataFrame(self.links), LINK_COLUMNS)
            if self.links
            else conform(pd.DataFrame(), LINK_COLUMNS)
        )

    def plan(
        self, *, only_sf: set[str] | None = None, only_mb: set[str] | None = None, **kw: Any
    ) -> PlanResult:
        kw.setdefault("quarantined_records", self.quarantined_records)
        kw.setdefault("quarantined_items", self.quarantined_items)
        return plan(
            PlanInput(
                profile=self.profile,
                sf=self.side_frame(SALESFORCE, only_sf),
                mb=self.side_frame(MAILBOX, only_mb),
                links=self.links_frame(),
                reference_time=REF,
                full=only_sf is None and only_mb is None,
                **kw,
            )
        )

    # --- a toy apply ------------------------------------------------------------------------------
    def apply(self, result: PlanResult) -> None:
        touched: set[int] = set()
        by_id = {link["link_id"]: link for link in self.links}
        new_links: list[dict[str, Any]] = []
        for a in result.for_apply().to_dict("records"):
            fields = json.loads(a["fields"]) if isinstance(a["fields"], str) else {}
            link = by_id.get(a["link_id"]) if not pd.isna(a["link_id"]) else None
            op, side = a["operation"], a["side"]
            if op in ("update", "revert_update"):
                row = self.sf[a["record_id"]] if side == SALESFORCE else self.mb[a["item_id"]]
                row.update(_decode(fields))
            elif op in ("create", "restore", "revert_delete") and side == MAILBOX:
                iid = f"new-{next(self.ids)}"
                self.item(
                    iid,
                    a["mailbox"],
                    categories=fields.get("categories"),
                    **_decode({k: v for k, v in fields.items() if k not in ("categories", "stamp")}),
                )
                if link is not None:
                    if op == "create":  # a move (R-C4)
                        link.update(mailbox=a["mailbox"], origin=SALESFORCE)
                    link["item_id"] = iid
                else:
                    new_links.append(
                        {
                            "record_id": a["record_id"],
                            "item_id": iid,
                            "mailbox": a["mailbox"],
                            "origin": SALESFORCE,
                        }
                    )
            elif op in ("create", "restore", "revert_delete") and side == SALESFORCE:
                rid = f"a0N{next(self.ids)}"
                kept = {k: v for k, v in fields.items() if k in SIDE_COLUMNS}
                self.record(rid, a["mailbox"], **_decode(kept))
                if link is not None:
                    link["record_id"] = rid
                else:
                    new_links.append(
                        {
                            "record_id": rid,
                            "item_id": a["item_id"],
                            "mailbox": a["mailbox"],
                            "origin": MAILBOX,
                        }
                    )
            elif op == "delete":
                rows = self.sf if side == SALESFORCE else self.mb
                key = a["record_id"] if side == SALESFORCE else a["item_id"]
                rows.pop(key, None)
                if (link is not None and side == MAILBOX and a["rule"] != "R-C4") or (
                    link is not None and side == SALESFORCE
                ):
                    self.links.remove(link)
                    by_id.pop(link["link_id"])
            elif op == "uncategorize":
                # Without calsync's category the item leaves the profile's scope (R-S3).
                self.mb[a["item_id"]].update(categories=[], presence=OUT_OF_SCOPE)
            elif op == "restore_category":
                cats = [
                    c
                    for c in self.mb[a["item_id"]]["categories"] or []
                    if c not in fields.get("remove_categories", [])
                ]
                self.mb[a["item_id"]]["categories"] = [*cats, *fields.get("add_categories", [])]
                self.mb[a["item_id"]]["presence"] = PRESENT
            elif op == "unlink" and link is not None and link in self.links and a["rule"] != "R-C4":
                # R-C4's create re-pointed the link to the new item: the old item's unlink leaves it.
                self.links.remove(link)
                by_id.pop(link["link_id"])
            elif op == "link" and a["record_id"] is not None:
                new_links.append(
                    {
                        "record_id": a["record_id"],
                        "item_id": a["item_id"],
                        "mailbox": a["mailbox"],
                        "origin": fields.get("origin", MAILBOX),
                    }
                )
            if link is not None and link["link_id"] in by_id:
                touched.add(link["link_id"])
        # Confirmed-deleted rows that nothing keeps are forgotten by the sides.
        for rows in (self.sf, self.mb):
            for key in [k for k, r in rows.items() if r["presence"] == DELETED]:
                if not any(key in (lk["record_id"], lk["item_id"]) for lk in self.links):
                    rows.pop(key)
        for nl in new_links:
            self.link(nl["record_id"], nl["item_id"], nl["mailbox"], nl["origin"])
        for link in self.links:
            if link["link_id"] in touched:
                self.rebase(link)

    # --- edits as a person ------------------------------------------------------------------------
    def edit_sf(self, rid: str, **kw: Any) -> None:
        self.sf[rid].update(kw)
        self.sf[rid].setdefault("last_modified", REF)

    def edit_mb(self, iid: str, **kw: Any) -> None:
        self.mb[iid].update(kw)

    def delete_sf(self, rid: str) -> None:
        self.sf[rid]["presence"] = DELETED

    def delete_mb(self, iid: str) -> None:
        self.mb[iid]["presence"] = DELETED

    def leave_scope(self, side: str, key: str) -> None:
        (self.sf if side == SALESFORCE else self.mb)[key]["presence"] = OUT_OF_SCOPE


def _decode(fields: dict[str, Any]) -> dict[str, Any]:
    out = dict(fields)
    for col in ("start_utc", "end_utc", "last_modified"):
        if isinstance(out.get(col), str):
            out[col] = pd.Timestamp(out[col])
    out.pop("external_id", None)
    out.pop("preserve", None)
    return {k: v for k, v in out.items() if v is not None or k in ("subject", "body", "location")}


def ops(result: PlanResult) -> list[tuple[str, str, str]]:
    """(side, operation, rule) of the pending actions, sorted."""
    a = result.for_apply()
    return sorted(zip(a["side"], a["operation"], a["rule"], strict=True))


def fields_of(result: PlanResult, operation: str, side: str) -> dict[str, Any]:
    a = result.actions
    row = a[(a["operation"] == operation) & (a["side"] == side)]
    assert len(row) == 1, result.actions[["side", "operation", "rule", "reason"]]
    return json.loads(row["fields"].iloc[0])


def before_of(result: PlanResult, operation: str, side: str) -> dict[str, Any]:
    a = result.actions
    row = a[(a["operation"] == operation) & (a["side"] == side)]
    return json.loads(row["before"].iloc[0])


def action_set(result: PlanResult) -> set[tuple[Any, ...]]:
    """What R-S4 compares: side, operation, record, item, fields and values (not reason or order)."""
    a = result.for_apply()
    return {
        (r["side"], r["operation"], r["record_id"], r["item_id"], r["fields"]) for r in a.to_dict("records")
    }


_ = np
