"""Unlinked rows: rebuild (R-O3), adoption (R-S7), and only then creates (R-D1..D3, R-M3, R-O4).

Works on the unlinked subset only (in an incremental session: the new rows and the adoption
candidates the caller read for them). Every match is a merge; ambiguity is a group count.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from calsync.plan_align import IN_SCOPE, OUT, Side
from calsync.plan_emit import Settled, Sink, item_category, synced_fields, uncategorize, unsync_category
from calsync.plan_model import (
    AMBIGUOUS_MATCH,
    NO_MAILBOX,
    PRIVATE_SKIPPED,
    RECURRENCE,
    STEP_FOLLOWER,
    STEP_LINK,
    STEP_RECREATE,
    STEP_REMOVE,
    WAITING_FOR_ORGANIZER,
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
    links: pd.DataFrame | None = None,
    link_sf_pos: np.ndarray | None = None,
    synced_mailboxes: frozenset[str] = frozenset(),
    after: Settled = Settled(),
) -> Matched:
    """``links`` / ``link_sf_pos``: all of the profile's links and the Salesforce row of each (R-O4 copies
    link to a record another link holds); ``synced_mailboxes``: every mailbox the profile syncs
    (an attendee's copy waits for a synced organizer, R-O4); ``after``: what the linked pass's plan does
    to links and records (R-D5)."""
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
    own = _own_stamp(mb.frame, pid)
    # An unsync category on a stamped item joins it first (R-O3), so R-X3 then removes the record too.
    rejoin_unsync = mb.has_unsync & own & (pol != S2M)
    stamped_only = m_base & ~mb.series & own & ((~m_ok & ~mb.has_unsync) | rejoin_unsync)
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
    uns = m_idx[mb.has_unsync[m_idx] & ~rejoin_unsync[m_idx]]
    for p in uns.tolist():
        _uncategorize_unlinked(sink, mb, p, cat, unsync)
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
            # The organizer's item of a meeting (an item with attendees whose organizer is its mailbox).
            "is_org": (
                _col(mb.frame, "is_organizer", m_idx).astype("boolean").fillna(False).to_numpy(bool)
                & _has_attendees(mb.frame, m_idx)
            ),
            "is_copy": (
                ~_col(mb.frame, "is_organizer", m_idx).astype("boolean").fillna(True).to_numpy(bool)
                & _has_attendees(mb.frame, m_idx)
            ),
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
    stamped = right[own_stamp].rename(columns={"stamp_record": "record_id"})
    steps = (
        # R-O3: a stamp joins a meeting's organizer item first, whatever the mailbox (attendees' copies of a
        # meeting carry the organizer's stamp too and link as copies below, R-O4; a meeting stays in its
        # organizer's mailbox when its owner changes, R-C4) ...
        (
            "R-O3",
            _stamp_side(left, mode),
            _stamp_side(stamped[stamped["is_org"]], mode),
            ["record_id", "target"],
        ),
        # ... then the item in the record's mailbox ...
        ("R-O3", left, stamped, ["record_id", "target"]),
        # ... then whatever the mailbox (an owner change then moves it, R-C4); an attendee's copy of a
        # meeting is never the record's own link this way: it links as a copy below (R-O4).
        (
            "R-O3",
            _stamp_side(left, mode),
            _stamp_side(stamped[~stamped["is_copy"]], mode),
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
            "is_meeting": _has_attendees(mb.frame, mp),
            # The record's own link (organizer's copy or its stand-in, R-O4), not an attendee's copy.
            "is_organizer": True,
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
                "organizer_copy": True,
                "stamp": f"{pid}|{row['record_id']}|{row['origin']}",
                "add_categories": [cat],
            },
        )

    done_r = amb_r | set(mp.tolist())
    # Its stamp joined nothing: R-X3 on an unlinked item when it is in scope (it has calsync's category);
    # without that category it is none of this profile's business (R-S3) and is left as it is.
    for p in sorted(set(np.flatnonzero(stamped_only & rejoin_unsync).tolist()) - done_r):
        if m_ok[p]:
            _uncategorize_unlinked(sink, mb, p, cat, unsync)
        done_r.add(p)
    # Records downsynced in this plan count as linked in their mailbox for the copies below (R-D5).
    downsync = pol == S2M or bool(getattr(profile, "downsync", True))  # R-X4 / R-D2
    made = left[~left["ls"].isin(amb_l | set(sp.tolist())) & ~left["target"].isin(unavailable)]
    made = made if downsync else made[:0]
    # A stamp join of an item with the unsync category deletes its record in this plan (R-X3): its
    # copies go with it in the same plan, as copies of a record the linked pass deletes do (R-D5).
    unsynced = mb.has_unsync[mp] if len(mp) else np.zeros(0, bool)
    if unsynced.any():
        gone = _col(sf.frame, "record_id", sp[unsynced]).astype("str").tolist()
        after = replace(after, deleted_records=after.deleted_records | frozenset(gone))
    held = _attendee_copies(
        right[~right["rm"].isin(done_r) & right["cat_ok"]],
        sf,
        sf_linked,
        np.concatenate([sp, made["ls"].to_numpy("int64")]),
        _col(mb.frame, "mailbox", mp).tolist() + made["target"].tolist(),
        _col(mb.frame, "ical_uid", mp).tolist() + [None] * len(made),
        links,
        link_sf_pos,
        pid,
        cat,
        unsync,
        sink,
        after,
    )

    # Creates: only rows that matched nothing and are not ambiguous (R-S7, R-O3).
    # R-O3: an item stamped for a record of this profile that joined nothing is never upsynced: its record
    # was deleted (re-creating it would undo that delete) or is out of scope (it would be a duplicate).
    held |= set(right.loc[own_stamp & ~right["rm"].isin(done_r), "rm"].tolist())
    done_l = amb_l | set(sp.tolist())
    done_r |= held
    if downsync:
        rule = (
            "R-M3"
            if getattr(profile, "kind", "event") == "object"
            else {TWO_WAY: "R-D1", M2S: "R-D2", S2M: "R-D3"}[pol]
        )
        # R-X6: nothing is created in an unavailable mailbox (a stamp may still join there, R-O3).
        todo = left[~left["ls"].isin(done_l) & ~left["target"].isin(unavailable)]
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
        _upsync_creates(todo_r, mb, mbv, profile, pol, sink, fields_all, synced_mailboxes)
    return Matched(pseudo, sp, mp)


def _uncategorize_unlinked(sink: Sink, mb: Side, p: int, cat: str | None, unsync: str | None) -> None:
    """R-X3 on an unlinked item: both categories go (and the stamp, R-M8), nothing is synced."""
    sink.action(
        MAILBOX,
        "uncategorize",
        link_id=None,
        record_id=None,
        mailbox=mb.frame["mailbox"].iat[p],
        item_id=mb.frame["item_id"].iat[p],
        rule="R-X3",
        step=STEP_REMOVE,
        reason="unsync category on an unlinked item: categories removed, nothing synced",
        fields={"remove_categories": [c for c in (cat, unsync) if c], "remove_stamp": True},
    )


def _has_attendees(frame: pd.DataFrame, pos: np.ndarray) -> np.ndarray:
    return _col(frame, "attendees", pos).map(lambda a: a is not None and len(a) > 0).to_numpy(bool)


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


def _attendee_copies(
    rest: pd.DataFrame,
    sf: Side,
    sf_linked: np.ndarray,
    matched_sp: np.ndarray,
    matched_mailboxes: list[str],
    matched_uids: list[object],
    links: pd.DataFrame | None,
    link_sf_pos: np.ndarray | None,
    pid: str,
    cat: str | None,
    unsync: str | None,
    sink: Sink,
    after: Settled,
) -> set[int]:
    """R-O4 / R-M5: the unmatched items (``rest``) whose iCalUId is the key of a live record are never
    upsynced (the upsert would land on that record). An item links to that record as an attendee's copy
    when this profile links the record and not yet in the item's mailbox; otherwise it waits (the record
    is joined in its own mailbox first, R-O3). Items of a meeting another link of this profile holds wait
    too, and link to the record when this plan re-creates it from that link (R-D6 / R-D2, then R-O4 in
    the same session, R-D5); a link this plan drops holds nothing back. Returns the held rows."""
    rest = rest[rest["ical_uid"].notna()]
    if rest.empty:
        return set()
    uids = pa.array(rest["ical_uid"].astype("str").unique().tolist(), pa.string())
    held: set[int] = set()
    at_links = np.empty(0, "int64")
    if links is not None and len(links) and "ical_uid" in links.columns:
        in_links = pc.fill_null(pc.is_in(_strings(links["ical_uid"]), value_set=uids), False)
        at = np.flatnonzero(np.asarray(in_links))
        if after.dropped_links and "link_id" in links.columns:
            at = at[~links["link_id"].iloc[at].isin(after.dropped_links).to_numpy(bool)]
        known = set(links["ical_uid"].iloc[at].astype("str"))
        if "is_organizer" in links.columns:  # the records' own links, not attendees' copies
            at_links = at[links["is_organizer"].iloc[at].fillna(True).to_numpy(bool)]
        else:
            at_links = at
        held |= set(rest.loc[rest["ical_uid"].isin(known), "rm"].tolist())
        for rm, uid, target, item in zip(
            rest["rm"].tolist(),
            rest["ical_uid"].astype("str"),
            rest["target"].tolist(),
            rest["item_id"].tolist(),
            strict=True,
        ):
            boxes_of = {box for u, box in after.recreated if u == uid}
            if boxes_of and str(target) not in boxes_of:
                # The record is re-created from another copy in this plan: link by its key at apply.
                sink.action(
                    MAILBOX,
                    "link",
                    link_id=None,
                    record_id=None,
                    mailbox=target,
                    item_id=item,
                    rule="R-O4",
                    step=STEP_FOLLOWER,
                    reason="an attendee's copy of a meeting whose record is re-created in this session: "
                    "linked to it, not upsynced",
                    fields={"external_id": uid, "origin": MAILBOX, "organizer_copy": False},
                )
                held.add(rm)
    # The live records each copy's meeting belongs to, by iCalUId (R-O4, R-M5): by the record's key ...
    by_uid: dict[str, set[int]] = {}
    live = (sf.presence == IN_SCOPE) | (sf.presence == OUT)
    if "external_id" in sf.frame.columns and len(sf.frame):
        keyed = np.asarray(pc.fill_null(pc.is_in(_strings(sf.frame["external_id"]), value_set=uids), False))
        hits = np.flatnonzero(keyed & live)
        for p, uid in zip(hits.tolist(), sf.frame["external_id"].iloc[hits].astype("str"), strict=True):
            by_uid.setdefault(uid, set()).add(p)
    # ... by an item joined to the record in this plan (its key is written with the link) ...
    wanted = set(uids.to_pylist())
    for p, uid in zip(matched_sp.tolist(), matched_uids, strict=True):
        if uid is not None and not pd.isna(uid) and str(uid) in wanted:
            by_uid.setdefault(str(uid), set()).add(p)
    # ... and by the record's own link holding an item of that meeting (an adopted copy leaves the record
    # without a key), when the record was read.
    if link_sf_pos is not None and links is not None and len(at_links):
        link_uids = links["ical_uid"].iloc[at_links].astype("str")
        for p, uid in zip(link_sf_pos[at_links].tolist(), link_uids, strict=True):
            if p >= 0 and live[p]:
                by_uid.setdefault(uid, set()).add(p)
    if not by_uid:
        return held
    hits = np.asarray(sorted({p for ps in by_uid.values() for p in ps}), "int64")
    # The mailboxes each of those records is linked in already (stored links and this session's joins).
    boxes: dict[int, set[str]] = {p: set() for p in hits.tolist()}
    if link_sf_pos is not None and links is not None and len(links):
        at = np.flatnonzero(np.isin(link_sf_pos, hits))
        for p, box in zip(link_sf_pos[at].tolist(), links["mailbox"].iloc[at].astype("str"), strict=True):
            boxes[p].add(box)
    for p, box in zip(matched_sp.tolist(), matched_mailboxes, strict=True):
        if p in boxes:
            boxes[p].add(str(box))
    for rm, uid, target, item in zip(
        rest["rm"].tolist(),
        rest["ical_uid"].astype("str"),
        rest["target"].tolist(),
        rest["item_id"].tolist(),
        strict=True,
    ):
        records = by_uid.get(uid)
        if not records:
            continue
        held.add(rm)
        if len(records) != 1:  # two live records with one key (R-M5): nothing is linked to either
            continue
        (p,) = records
        if not (sf_linked[p] or boxes[p]) or str(target) in boxes[p]:
            continue
        boxes[p].add(str(target))
        rid = sf.frame["record_id"].iat[p]
        ids = {"link_id": None, "record_id": rid, "mailbox": target, "item_id": item}
        sink.action(
            MAILBOX,
            "link",
            **ids,
            rule="R-O4",
            step=STEP_LINK,
            reason="an attendee's copy of a meeting already synced: linked to the same record, not upsynced",
            fields={
                "origin": MAILBOX,
                "organizer_copy": False,
                "stamp": f"{pid}|{rid}|{MAILBOX}",
                "add_categories": [cat],
            },
        )
        if rid in after.deleted_records:
            # This plan deletes the record (R-X2, R-X3): the copy just linked goes as its record's copies
            # do (R-O4), rather than waiting for an organizer whose item is gone.
            reason = "its meeting's record is deleted in this session: the copy is uncategorized"
            uncategorize(sink, ids, "R-O4", reason, cat, unsync)
    return held


def _strings(series: pd.Series) -> pa.Array:
    arr = pa.array(series.astype("object").array if series.dtype == object else series.array)
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    return arr if arr.type == pa.string() else pc.cast(arr, pa.string())


def _upsync_creates(
    right: pd.DataFrame,
    mb: Side,
    mbv: Values,
    profile: object,
    pol: str,
    sink: Sink,
    fields_all: list[str],
    synced_mailboxes: frozenset[str],
) -> None:
    """New mailbox items become records; one record per meeting (R-O4), private items per R-P1."""
    if right.empty:
        return
    mode = getattr(profile, "private_items", "skip")
    # R-O4: one record per meeting; the organizer's copy is upsynced, else the first mailbox's.
    org = _col(mb.frame, "is_organizer", right["rm"].to_numpy("int64")).fillna(False).astype(bool).to_numpy()
    right = right.assign(org=~org, key=right["ical_uid"].fillna(right["item_id"]))
    right = right.sort_values(["key", "org", "target"], kind="stable")
    leader = ~right["key"].duplicated().to_numpy(bool)
    keys = right["key"].to_numpy()
    rm = right["rm"].to_numpy("int64")
    if synced_mailboxes:
        # R-O4: the organizer's mailbox is synced but its copy is not in scope: the copies wait for it.
        organizer = _col(mb.frame, "organizer", rm).astype("object")
        synced = {m.lower() for m in synced_mailboxes}
        orphan = right["org"].to_numpy(bool) & organizer.str.lower().isin(synced).to_numpy(bool)
        waiting = pd.Series(leader & orphan).groupby(keys).transform("any").to_numpy(bool)
        for p in rm[waiting].tolist():
            sink.issue(
                MAILBOX,
                WAITING_FOR_ORGANIZER,
                "an attendee's copy of a meeting whose organizer's mailbox is synced: it waits until the "
                "organizer's item is in scope (R-O4)",
                mailbox=mb.frame["mailbox"].iat[p],
                item_id=mb.frame["item_id"].iat[p],
            )
        right, leader, keys, rm = right[~waiting], leader[~waiting], keys[~waiting], rm[~waiting]
    if mode == "skip" and len(rm):
        # R-P1: a private item is not upsynced; when it is the meeting's upsynced copy (R-O4), the other
        # copies are not upsynced in its stead (they are copies of what its owner keeps private).
        private = mb.private[rm] & leader
        for p in rm[private].tolist():
            sink.issue(
                MAILBOX,
                PRIVATE_SKIPPED,
                "private item not upsynced (private_items: skip, R-P1)",
                mailbox=mb.frame["mailbox"].iat[p],
                item_id=mb.frame["item_id"].iat[p],
            )
        blocked = pd.Series(private).groupby(keys).transform("any").to_numpy(bool)
        right, leader = right[~blocked], leader[~blocked]
    if right.empty:
        return
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
                fields={"external_id": ical, "origin": MAILBOX, "organizer_copy": False},
                reason="an attendee's copy of a meeting upsynced from another mailbox: linked to "
                "the same record, not upsynced",
            )
