"""Unlinked rows: rebuild (R-O3), adoption (R-S7), and only then creates (R-D1..D3, R-M3, R-O4).

Works on the unlinked subset only (in an incremental session: the new rows and the adoption
candidates the caller read for them). Every match is a merge; ambiguity is a group count.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from calsync.plan_align import IN_SCOPE, Side
from calsync.plan_emit import Sink, item_category, synced_fields, unsync_category
from calsync.plan_model import (
    AMBIGUOUS_MATCH,
    NO_MAILBOX,
    PRIVATE_SKIPPED,
    RECURRENCE,
    STEP_FOLLOWER,
    STEP_LINK,
    STEP_RECREATE,
    STEP_REMOVE,
)
from calsync.plan_triage import M2S, S2M, TWO_WAY, policy
from calsync.plan_values import Values
from calsync.schema import MAILBOX, SALESFORCE


@dataclass
class Matched:
    """Pairs joined this session: planned like links with no baselines (R-O3) after their `link`."""

    links: pd.DataFrame  # LINK_COLUMNS subset, link_id null
    sf_pos: np.ndarray
    mb_pos: np.ndarray


def _norm_subject(s: pd.Series) -> pd.Series:
    # R-S7: equal after Unicode case-folding and collapsing whitespace.
    return s.astype("str").str.casefold().str.replace(r"\s+", " ", regex=True).str.strip()


def _col(frame: pd.DataFrame, name: str, pos: np.ndarray) -> pd.Series:
    if name not in frame.columns:
        return pd.Series([None] * len(pos), dtype="object")
    return frame[name].iloc[pos].reset_index(drop=True)


def _match(left: pd.DataFrame, right: pd.DataFrame, on: list[str]) -> tuple[pd.DataFrame, set[int], set[int]]:
    """Unique pairs, and the left / right rows that have more than one candidate (ambiguous)."""
    if left.empty or right.empty:
        return pd.DataFrame(columns=["ls", "rm", "target"]), set(), set()
    pairs = left.merge(right, on=on, how="inner", validate="many_to_many")
    if pairs.empty:
        return pd.DataFrame(columns=["ls", "rm", "target"]), set(), set()
    per_left = pairs.groupby(["ls", "target"])["rm"].transform("size")
    per_right = pairs.groupby("rm")["ls"].transform("size")
    ok = (per_left == 1) & (per_right == 1)
    amb = pairs[~ok]
    return pairs[ok], set(amb["ls"].tolist()), set(amb["rm"].tolist())


def plan_unlinked(
    sf: Side,
    mb: Side,
    sf_linked: np.ndarray,
    mb_linked: np.ndarray,
    profile: object,
    unavailable: frozenset[str],
    claimed_records: frozenset[str],
    claimed_items: frozenset[str],
    sfv: Values,
    mbv: Values,
    sink: Sink,
) -> Matched:
    pol = policy(profile)
    pid = str(profile.id)  # type: ignore[attr-defined]
    cat, unsync = item_category(profile), unsync_category(profile)
    fields_all = synced_fields(profile)
    s_ok = ~sf_linked & (sf.presence == IN_SCOPE) & ~sf.quarantined
    m_base = ~mb_linked & (mb.presence == IN_SCOPE) & ~mb.quarantined
    if claimed_records and len(sf.frame):
        s_ok &= ~sf.frame["record_id"].isin(claimed_records).to_numpy(bool)  # R-O2
    if claimed_items and len(mb.frame):
        m_base &= ~mb.frame["item_id"].isin(claimed_items).to_numpy(bool)
    if unavailable and len(mb.frame):
        m_base &= ~mb.frame["mailbox"].isin(unavailable).to_numpy(bool)  # R-X6
    # R-S3: an unlinked item is in scope only with calsync's category (when the categories were read).
    m_ok = m_base & ~(mb.categories_known & ~mb.has_item_category)
    # R-O3: "a session never creates a record or item for a pair that a stamp joins": an item stamped by
    # this profile is joined by its stamp even when its category was removed (the category is then put
    # back, R-X3); it is used for the stamp join only, never adopted or upsynced.
    stamped_only = m_base & ~m_ok & ~mb.series & ~mb.has_unsync & _own_stamp(mb.frame, pid)
    s_idx, m_idx = np.flatnonzero(s_ok), np.flatnonzero(m_ok)

    # R-M6: one issue per series, nothing synced.
    for side_name, side, idx in ((SALESFORCE, sf, s_idx), (MAILBOX, mb, m_idx)):
        rec = idx[side.series[idx]]
        if len(rec):
            key = _col(side.frame, "ical_uid", rec).fillna(
                _col(side.frame, "record_id" if side_name == SALESFORCE else "item_id", rec)
            )
            first = ~key.duplicated().to_numpy(bool)
            for p in rec[first].tolist():
                row = side.frame.iloc[p]
                sink.issue(
                    side_name,
                    RECURRENCE,
                    "recurring series are not synced (R-M6)",
                    record_id=row.get("record_id"),
                    mailbox=row.get("mailbox"),
                    item_id=row.get("item_id"),
                )
    s_idx, m_idx = s_idx[~sf.series[s_idx]], m_idx[~mb.series[m_idx]]

    # R-X3: the unsync category on an unlinked item: both categories go, nothing is synced.
    uns = m_idx[mb.has_unsync[m_idx]]
    for p in uns.tolist():
        row = mb.frame.iloc[p]
        sink.action(
            MAILBOX,
            "uncategorize",
            link_id=None,
            record_id=None,
            mailbox=row["mailbox"],
            item_id=row["item_id"],
            rule="R-X3",
            step=STEP_REMOVE,
            reason="unsync category on an unlinked item: categories removed, nothing synced",
            fields={"remove_categories": [c for c in (cat, unsync) if c], "remove_stamp": True},
        )
    m_idx = m_idx[~mb.has_unsync[m_idx]]

    # The record's target mailboxes: its resolved mailbox, or every mailbox of a fixed list (R-M7).
    mode = getattr(getattr(profile, "mailboxes", None), "mode", "owner")
    left = pd.DataFrame(
        {
            "ls": s_idx,
            "record_id": _col(sf.frame, "record_id", s_idx).astype("object"),
            "target": _col(sf.frame, "mailbox", s_idx).astype("object"),
            "external_id": _col(sf.frame, "external_id", s_idx).astype("object"),
            "subj": _norm_subject(_col(sf.frame, "subject", s_idx)).astype("object"),
            "start": _col(sf.frame, "start_utc", s_idx),
            "end": _col(sf.frame, "end_utc", s_idx),
        }
    )
    if mode == "fixed":
        fixed = [str(m).lower() for m in profile.mailboxes.fixed]  # type: ignore[attr-defined]
        left = left.assign(target=[fixed] * len(left)).explode("target", ignore_index=True)
    else:
        missing = left["target"].isna()
        for rid in left.loc[missing, "record_id"].tolist():
            sink.issue(SALESFORCE, NO_MAILBOX, "the record's owner has no mailbox (R-M7)", record_id=rid)
        left = left[~missing]
    if unavailable:
        left = left[~left["target"].isin(unavailable)]
    cat_ok = np.concatenate([np.ones(len(m_idx), bool), np.zeros(int(stamped_only.sum()), bool)])
    m_idx = np.concatenate([m_idx, np.flatnonzero(stamped_only)]).astype("int64")
    right = pd.DataFrame(
        {
            "rm": m_idx,
            "cat_ok": cat_ok,
            "target": _col(mb.frame, "mailbox", m_idx).astype("object"),
            "item_id": _col(mb.frame, "item_id", m_idx).astype("object"),
            "stamp_record": _col(mb.frame, "record_id", m_idx).astype("object"),
            "stamp": _col(mb.frame, "stamp", m_idx).astype("object"),
            "ical_uid": _col(mb.frame, "ical_uid", m_idx).astype("object"),
            "subj": _norm_subject(_col(mb.frame, "subject", m_idx)).astype("object"),
            "start": _col(mb.frame, "start_utc", m_idx),
            "end": _col(mb.frame, "end_utc", m_idx),
        }
    )
    stamp_origin = right["stamp"].str.split("|").str[2] if len(right) else pd.Series(dtype="object")
    stamp_profile = right["stamp"].str.split("|").str[0] if len(right) else pd.Series(dtype="object")
    right = right.assign(origin=stamp_origin.where(stamp_origin.isin(["salesforce", "mailbox"]), "mailbox"))
    own_stamp = right["stamp_record"].notna() & (stamp_profile.isna() | (stamp_profile == pid))

    matched: list[pd.DataFrame] = []
    amb_l: set[int] = set()
    amb_r: set[int] = set()
    steps = (
        # R-O3: a stamp joins the pair whatever the mailbox (an owner change then moves it, R-C4).
        (
            "R-O3",
            _stamp_side(left, mode),
            _stamp_side(right[own_stamp].rename(columns={"stamp_record": "record_id"}), mode),
            ["record_id", "target"],
        ),
        # R-O3: the key CalSync_Event_Id__c equals the item's iCalUId, same mailbox.
        (
            "R-O3",
            left[left["external_id"].notna()],
            right[right["cat_ok"]].rename(columns={"ical_uid": "external_id"}),
            ["external_id", "target"],
        ),
        # R-S7: records with no key: equal subject and the same start and end, same mailbox.
        (
            "R-S7",
            left[left["external_id"].isna() & left["start"].notna()],
            right[right["start"].notna() & right["cat_ok"]],
            ["subj", "start", "end", "target"],
        ),
    )
    for rule, lft, rgt, on in steps:
        lft = lft[~lft["ls"].isin(amb_l | _taken(matched, "ls"))]
        rgt = rgt[~rgt["rm"].isin(amb_r | _taken(matched, "rm"))]
        pairs, al, ar = _match(lft[["ls", *on]], rgt[["rm", *on]], on)
        amb_l |= al
        amb_r |= ar
        if len(pairs):
            matched.append(pairs[["ls", "rm"]].assign(rule=rule))
    for p in sorted(amb_l):
        sink.issue(
            SALESFORCE,
            AMBIGUOUS_MATCH,
            "more than one unlinked item matches this record; nothing is "
            "linked or created until one remains (R-S7)",
            record_id=sf.frame["record_id"].iat[p],
        )
    for p in sorted(amb_r):
        sink.issue(
            MAILBOX,
            AMBIGUOUS_MATCH,
            "more than one unlinked record matches this item; nothing is "
            "linked or created until one remains (R-S7)",
            mailbox=mb.frame["mailbox"].iat[p],
            item_id=mb.frame["item_id"].iat[p],
        )

    pairs = pd.concat(matched, ignore_index=True) if matched else pd.DataFrame(columns=["ls", "rm", "rule"])
    sp = pairs["ls"].to_numpy("int64")
    mp = pairs["rm"].to_numpy("int64")
    origin = (
        right.set_index("rm")["origin"].reindex(mp).fillna("mailbox").to_numpy(object)
        if len(mp)
        else np.empty(0, object)
    )
    origin = np.where(pairs["rule"].to_numpy(object) == "R-S7", "mailbox", origin) if len(mp) else origin
    pseudo = pd.DataFrame(
        {
            "link_id": pd.array([None] * len(mp), dtype="Int64"),
            "profile_id": pid,
            "record_id": _col(sf.frame, "record_id", sp).astype("object"),
            "mailbox": _col(mb.frame, "mailbox", mp).astype("object"),
            "item_id": _col(mb.frame, "item_id", mp).astype("object"),
            "origin": origin,
            "ical_uid": _col(mb.frame, "ical_uid", mp).astype("object"),
            "is_meeting": (
                _col(mb.frame, "attendees", mp).map(lambda a: a is not None and len(a) > 0)
                if len(mp)
                else pd.Series(dtype=bool)
            ).astype(bool),
            "is_organizer": _col(mb.frame, "is_organizer", mp),
            "in_window": True,
            "by_backfill": False,
        }
    )
    for j in range(len(mp)):
        row = pseudo.iloc[j]
        rule = pairs["rule"].iat[j]
        sink.action(
            MAILBOX,
            "link",
            link_id=None,
            record_id=row["record_id"],
            mailbox=row["mailbox"],
            item_id=row["item_id"],
            rule=rule,
            step=STEP_LINK,
            reason="joined by stamp or key (rebuild)"
            if rule == "R-O3"
            else "same event on both sides: adopted, not duplicated",
            fields={
                "origin": row["origin"],
                "stamp": f"{pid}|{row['record_id']}|{row['origin']}",
                "add_categories": [cat],
            },
        )

    # Creates: only rows that matched nothing and are not ambiguous (R-S7, R-O3).
    done_l = amb_l | set(sp.tolist())
    done_r = amb_r | set(mp.tolist())
    downsync = pol == S2M or bool(getattr(profile, "downsync", True))  # R-X4 / R-D2
    if downsync:
        rule = (
            "R-M3"
            if getattr(profile, "kind", "event") == "object"
            else {TWO_WAY: "R-D1", M2S: "R-D2", S2M: "R-D3"}[pol]
        )
        todo = left[~left["ls"].isin(done_l)]
        sfv.load(todo["ls"].to_numpy("int64"))
        for ls, target, rid in zip(
            todo["ls"].tolist(), todo["target"].tolist(), todo["record_id"].tolist(), strict=True
        ):
            values = {
                **sfv.fields(int(ls), fields_all),
                "categories": [cat],
                "stamp": f"{pid}|{rid}|salesforce",
            }
            sink.action(
                MAILBOX,
                "create",
                link_id=None,
                record_id=rid,
                mailbox=target,
                item_id=None,
                rule=rule,
                step=STEP_RECREATE,
                fields=values,
                reason="created in Salesforce: downsynced",
            )
    if pol in (TWO_WAY, M2S):
        todo_r = right[~right["rm"].isin(done_r) & right["cat_ok"]]
        _upsync_creates(todo_r, mb, mbv, profile, pol, sink, fields_all)
    return Matched(pseudo, sp, mp)


def _own_stamp(frame: pd.DataFrame, pid: str) -> np.ndarray:
    """Rows whose stamp names a record of this profile (R-M8)."""
    if not len(frame) or "stamp" not in frame.columns or "record_id" not in frame.columns:
        return np.zeros(len(frame), bool)
    stamp = frame["stamp"].astype("object")
    owner = stamp.str.split("|").str[0]
    return (frame["record_id"].notna() & stamp.notna() & (owner == pid)).to_numpy(bool)


def _stamp_side(frame: pd.DataFrame, mode: str) -> pd.DataFrame:
    # A fixed list links one record in several mailboxes: there the stamp joins per mailbox.
    if mode == "fixed":
        return frame
    out = frame.assign(target="*")
    return out.drop_duplicates("ls") if "ls" in out.columns else out


def _taken(matched: list[pd.DataFrame], col: str) -> set[int]:
    return {int(v) for m in matched for v in m[col].tolist()}


def _upsync_creates(
    right: pd.DataFrame, mb: Side, mbv: Values, profile: object, pol: str, sink: Sink, fields_all: list[str]
) -> None:
    """New mailbox items become records; one record per meeting (R-O4), private items per R-P1."""
    if right.empty:
        return
    rm = right["rm"].to_numpy("int64")
    private = mb.private[rm]
    mode = getattr(profile, "private_items", "skip")
    if mode == "skip":
        for p in rm[private].tolist():
            sink.issue(
                MAILBOX,
                PRIVATE_SKIPPED,
                "private item not upsynced (private_items: skip, R-P1)",
                mailbox=mb.frame["mailbox"].iat[p],
                item_id=mb.frame["item_id"].iat[p],
            )
        right = right[~private]
    if right.empty:
        return
    # R-O4: one record per meeting; the organizer's copy is upsynced, else the first mailbox's.
    org = _col(mb.frame, "is_organizer", right["rm"].to_numpy("int64")).fillna(False).astype(bool).to_numpy()
    right = right.assign(org=~org, key=right["ical_uid"].fillna(right["item_id"]))
    right = right.sort_values(["key", "org", "target"], kind="stable")
    leader = ~right["key"].duplicated().to_numpy(bool)
    mbv.load(right["rm"].to_numpy("int64"))
    rule = "R-D2" if pol == M2S else "R-D1"
    for rm_, target, item, ical, lead in zip(
        right["rm"].tolist(),
        right["target"].tolist(),
        right["item_id"].tolist(),
        right["ical_uid"].tolist(),
        leader.tolist(),
        strict=True,
    ):
        if lead:
            values = mbv.fields(int(rm_), fields_all)
            if mode == "sync_without_flag":
                values.pop("is_private", None)
                values.pop("sensitivity", None)
            values["external_id"] = ical
            sink.action(
                SALESFORCE,
                "create",
                link_id=None,
                record_id=None,
                mailbox=target,
                item_id=item,
                rule=rule,
                step=STEP_RECREATE,
                fields=values,
                reason="created in the mailbox: upsynced",
            )
        else:
            sink.action(
                MAILBOX,
                "link",
                link_id=None,
                record_id=None,
                mailbox=target,
                item_id=item,
                rule="R-O4",
                step=STEP_FOLLOWER,
                fields={"external_id": ical, "origin": MAILBOX},
                reason="an attendee's copy of a meeting upsynced from another mailbox: linked to "
                "the same record, not upsynced",
            )
