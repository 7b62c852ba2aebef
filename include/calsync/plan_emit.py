"""Turning triage decisions into action rows and issues, on the subset of links that need one.

Only this module loops, and only over links that already have a decision: the values to write are
fetched for those rows (``plan_values.Values``) and serialised to the ``fields`` / ``before`` JSON.
"""

from __future__ import annotations

import gc
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from calsync.plan_align import Side
from calsync.plan_attendees import merge_subset
from calsync.plan_model import (
    NO_MAILBOX,
    OWNER_NOT_ORGANIZER,
    PRIVATE_SKIPPED,
    RECURRENCE,
    STEP_RECREATE,
    STEP_REMOVE,
    STEP_UPDATE,
)
from calsync.plan_triage import (
    CASE_INDEX,
    CASES,
    F_NONE,
    F_REVERT_MB,
    F_REVERT_SF,
    F_TO_MB,
    F_TO_SF,
    M2S,
    S2M,
    TWO_WAY,
    Triage,
    policy,
)
from calsync.plan_values import (
    ABSENT,
    VALUE_COLUMNS,
    Values,
    dumps,
    encode,
    encode_value,
    jsonable,
    take_list,
)
from calsync.schema import ACTION_COLUMNS, FIELD_NAMES, ISSUE_COLUMNS, MAILBOX, SALESFORCE, conform

# The order of Sink's action tuples (schema.ACTION_COLUMNS may grow; conform adds what is not here).
ACTION_ORDER = (
    "profile_id",
    "side",
    "operation",
    "link_id",
    "record_id",
    "mailbox",
    "item_id",
    "fields",
    "before",
    "reason",
    "rule",
    "conflict",
    "winner",
    "outcome",
    "step",
)
# Cases that write nothing by themselves (a pair writes per field).
SILENT_CASES = ("pair", "needs_read", "quarantined", "frozen", "copy")
GUARD_NOTE = "blocked by the mass-delete guard (R-X6); re-run with allow_mass_delete=true to apply"


def synced_fields(profile: object) -> list[str]:
    """The fields a profile writes on create (attendees only for event profiles, R-P2)."""
    mapped = getattr(profile, "synced_fields", None)
    if mapped is not None and not callable(mapped):
        return [f for f in FIELD_NAMES if f in set(mapped)]
    is_event = getattr(profile, "kind", "event") == "event"
    return [f for f in FIELD_NAMES if f != "attendees" or is_event]


def item_category(profile: object) -> str | None:
    cat = getattr(profile, "item_category", None)
    if cat:
        return str(cat)
    cats = getattr(profile, "categories", None)
    if getattr(profile, "kind", "event") == "object" and getattr(cats, "object_category", None):
        return str(cats.object_category)  # type: ignore[union-attr]
    return getattr(cats, "opt_in", None) or "Salesforce"


def unsync_category(profile: object) -> str | None:
    return getattr(getattr(profile, "categories", None), "unsync", None) or "Salesforce Unsync"


class Sink:
    """Collects action rows (tuples in ACTION_ORDER) and issues; turned into frames once at the end."""

    def __init__(self, profile: object) -> None:
        self.profile_id = str(profile.id)  # type: ignore[attr-defined]
        self.actions: list[tuple[Any, ...]] = []
        self.issues: list[dict[str, Any]] = []

    def action(
        self,
        side: str,
        operation: str,
        *,
        link_id: Any,
        record_id: Any,
        mailbox: Any,
        item_id: Any,
        rule: str,
        reason: str,
        step: int,
        fields: dict[str, Any] | None = None,
        before: dict[str, Any] | None = None,
        conflict: bool = False,
        winner: str | None = None,
    ) -> None:
        # A tuple in ACTION_COLUMNS order: tens of thousands of these per session.
        self.actions.append(
            (
                self.profile_id,
                side,
                operation,
                _int(link_id),
                _str(record_id),
                _str(mailbox),
                _str(item_id),
                dumps(fields),
                dumps(before),
                reason,
                rule,
                conflict,
                winner,
                "pending",
                step,
            )
        )

    def issue(
        self,
        side: str,
        code: str,
        message: str,
        *,
        record_id: Any = None,
        mailbox: Any = None,
        item_id: Any = None,
    ) -> None:
        self.issues.append(
            {
                "profile_id": self.profile_id,
                "side": side,
                "record_id": _str(record_id),
                "mailbox": _str(mailbox),
                "item_id": _str(item_id),
                "code": code,
                "message": message,
                "quarantine": False,
            }
        )

    def frames(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        actions = conform(pd.DataFrame(self.actions, columns=list(ACTION_ORDER)), ACTION_COLUMNS)
        issues = pd.DataFrame(self.issues, columns=list(ISSUE_COLUMNS))
        issues = conform(issues.drop_duplicates(ignore_index=True), ISSUE_COLUMNS)
        return actions, issues


def _int(value: Any) -> int | None:
    return None if value is None or pd.isna(value) else int(value)


def _str(value: Any) -> str | None:
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return None
    return str(value)


def _audit(values: dict[str, Any], side: Side, pos: int) -> dict[str, Any]:
    """R-D4: who last modified the overwritten value, and when, as that side says."""
    out = dict(values)
    for col in ("last_modified", "last_modified_by"):
        if col in side.frame.columns and pos >= 0:
            out[f"_{col}"] = jsonable(side.frame[col].iat[pos])
    return out


def check_ids(links: pd.DataFrame, idx: np.ndarray, tri: Triage, sf: Side, mb: Side) -> None:
    """The key-hash join is verified on every link that leads to an action (a collision would raise)."""
    if not len(idx):
        return
    sp, mp = tri.sf_pos[idx], tri.mb_pos[idx]
    for pos, side, col in ((sp, sf, "record_id"), (mp, mb, "item_id")):
        ok = pos >= 0
        if not ok.any() or col not in side.frame.columns:
            continue
        have = take_list(links[col], idx[ok])
        got = take_list(side.frame[col], pos[ok])
        # A null id never matches (as the string comparison of two nulls does not).
        if any(_null(a) or _null(b) or str(a) != str(b) for a, b in zip(have, got, strict=True)):
            raise RuntimeError(f"key hash collision on {col}: refusing to plan (report this)")


def _null(value: Any) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value))


def emit_linked(
    links: pd.DataFrame,
    tri: Triage,
    sf: Side,
    mb: Side,
    sfv: Values,
    mbv: Values,
    profile: object,
    sink: Sink,
) -> None:
    """The action rows and issues of the links ``tri`` decided, appended to ``sink`` in link order."""
    # Tens of thousands of small lists, tuples and strings, none of them cyclic: the collector's passes
    # over them cost more than building them (measured: 0.05 s of 0.1 s for the plain updates at 10^6).
    collecting = gc.isenabled()
    gc.disable()
    try:
        _emit_linked(links, tri, sf, mb, sfv, mbv, profile, sink)
    finally:
        if collecting:
            gc.enable()
    # The rows are JSON now; the values behind them (about 20 MB at 10^6) are not needed again.
    sfv.release()
    mbv.release()


def _emit_linked(
    links: pd.DataFrame,
    tri: Triage,
    sf: Side,
    mb: Side,
    sfv: Values,
    mbv: Values,
    profile: object,
    sink: Sink,
) -> None:
    pol = policy(profile)
    fields_all = synced_fields(profile)
    cat, unsync = item_category(profile), unsync_category(profile)
    n = len(links)
    # Per-field masks are folded one field at a time: no (links x fields) temporaries on a million links.
    coded = np.zeros(n, bool)
    sf_src = np.zeros(n, bool)
    mb_src = np.zeros(n, bool)
    for f in FIELD_NAMES:
        c = tri.codes[f]
        coded |= c != 0
        sf_src |= (c == F_TO_MB) | (c == F_REVERT_MB) | (c == F_REVERT_SF)
        mb_src |= (c == F_TO_SF) | (c == F_REVERT_SF) | (c == F_REVERT_MB)
    # downsync_off conveys the pair's mailbox edits before the item goes (R-X4 "upsync continues").
    pair_like = tri.mask("pair") | tri.mask("move") | tri.mask("downsync_off") | tri.mask("copy")
    writes = pair_like & (coded | tri.attendees_changed | tri.restore_category)
    # A lookup by case code (NO_CASE, -1, reads the last, False): np.isin sorts a million codes.
    simple_case = np.zeros(len(CASES) + 1, bool)
    simple_case[[i for i, (c, _, _) in enumerate(CASES) if c not in SILENT_CASES]] = True
    simple = simple_case[tri.case]
    todo = np.flatnonzero(writes | simple)
    check_ids(links, todo, tri, sf, mb)
    codes = np.stack([tri.codes[f][todo] for f in FIELD_NAMES], axis=1)
    no_conflict = np.zeros(len(todo), bool)
    conflicts = np.stack(
        [tri.conflict[f][todo] if f in tri.conflict else no_conflict for f in FIELD_NAMES],
        axis=1,
    )
    # Values are read per side only where that side's values are written or recorded (DESIGN step 5).
    contested = np.zeros(n, bool)
    for f in tri.conflict:
        contested |= tri.conflict[f]
    with_before = contested | tri.attendees_changed | simple | tri.mask("move")
    sfv.load(tri.sf_pos[np.flatnonzero((sf_src | with_before) & (writes | simple))])
    mbv.load(tri.mb_pos[np.flatnonzero((mb_src | with_before) & (writes | simple))])
    del coded, sf_src, mb_src, contested, with_before

    # Only the links that need a row or an issue are read out of the (possibly million-row) frame.
    flagged = np.flatnonzero((tri.no_mailbox | tri.meeting_owner_moved) & (tri.case >= 0))
    need = np.union1d(todo, flagged)
    link_id = _take(links, "link_id", need)
    rec, mbox, item = (
        _take(links, "record_id", need),
        _take(links, "mailbox", need),
        _take(links, "item_id", need),
    )
    preserve, ical, origin = (
        _take(links, "preserve", need),
        _take(links, "ical_uid", need),
        _take(links, "origin", need),
    )

    # R-P2: the attendee set merge on the changed subset.
    att_sf: dict[int, list[str] | None] = {}
    att_mb: dict[int, list[str] | None] = {}
    att_idx = np.flatnonzero(tri.attendees_changed & pair_like)
    if len(att_idx) and "attendees" in fields_all:
        sfv.load(tri.sf_pos[att_idx])
        mbv.load(tri.mb_pos[att_idx])
        s_vals = [sfv.fields(int(p), ["attendees"]).get("attendees") for p in tri.sf_pos[att_idx]]
        m_vals = [mbv.fields(int(p), ["attendees"]).get("attendees") for p in tri.mb_pos[att_idx]]
        b_sf = _column_values(links, "base_sf_attendees_set", att_idx)
        b_mb = _column_values(links, "base_mb_attendees_set", att_idx)
        to_sf, to_mb = merge_subset(s_vals, m_vals, b_sf, b_mb)
        att_sf = dict(zip(att_idx.tolist(), to_sf, strict=True))
        att_mb = dict(zip(att_idx.tolist(), to_mb, strict=True))

    # Plain updates (a pair, no conflict, no revert, no attendee merge, no category to put back) are most
    # rows of a session: they are built column by column; every other link goes through the loop below.
    plain = (
        (tri.case[todo] == CASE_INDEX["pair"])
        & ~conflicts.any(axis=1)
        & ((codes == F_NONE) | (codes == F_TO_MB) | (codes == F_TO_SF)).all(axis=1)
        & ~tri.restore_category[todo]
        & ~np.isin(todo, att_idx)
    )
    slow = np.flatnonzero(~plain)
    rows = dict(
        zip(
            todo[slow].tolist(), zip(codes[slow].tolist(), conflicts[slow].tolist(), strict=True), strict=True
        )
    )
    out = sink.actions
    fast = _plain_updates(todo[plain], codes[plain], tri, sfv, mbv, pol, sink, link_id, rec, mbox, item)
    sink.actions = []  # the loop's rows, put in link order with the plain ones below
    spans: dict[int, tuple[int, int]] = {}
    for i in todo[~plain].tolist():
        start = len(sink.actions)
        _emit_one(
            i,
            links,
            rows,
            tri,
            sf,
            mb,
            sfv,
            mbv,
            profile,
            pol,
            sink,
            att_sf,
            att_mb,
            link_id,
            rec,
            mbox,
            item,
            preserve,
            ical,
            origin,
            cat,
            unsync,
            fields_all,
        )
        spans[i] = (start, len(sink.actions))
    looped, sink.actions = sink.actions, out
    for i in todo.tolist():
        got = fast.get(i)
        if got is not None:
            out.extend(got)
        else:
            start, end = spans[i]
            out.extend(looped[start:end])

    # R-O4 with R-D5: a record this plan deletes (R-X2, R-X3) takes its attendees' copies out of sync in
    # the same session, as its deletion would at the next one.
    copies = np.flatnonzero(tri.mask("copy"))
    if len(copies):
        deleted = {a[4] for a in out if a[1] == SALESFORCE and a[2] == "delete"}
        for i in copies.tolist() if deleted else []:
            rid = links["record_id"].iat[i]
            if rid in deleted:
                ids = {
                    "link_id": links["link_id"].iat[i] if "link_id" in links.columns else None,
                    "record_id": rid,
                    "mailbox": links["mailbox"].iat[i],
                    "item_id": links["item_id"].iat[i],
                }
                uncategorize(
                    sink, ids, "R-O4", "its record is deleted in this session: the attendee's copy is "
                    "uncategorized and unlinked", cat, unsync,
                )

    # Issues that do not stop the pair being planned.
    for i in np.flatnonzero(tri.no_mailbox & (tri.case >= 0)).tolist():
        sink.issue(
            SALESFORCE,
            NO_MAILBOX,
            "the record's owner has no mailbox; the existing link stays (R-C4)",
            record_id=rec[i],
            mailbox=mbox[i],
            item_id=item[i],
        )
    for i in np.flatnonzero(tri.meeting_owner_moved & (tri.case >= 0)).tolist():
        sink.issue(
            SALESFORCE,
            OWNER_NOT_ORGANIZER,
            "the meeting's owner changed; its item stays in the organizer's mailbox (R-C4)",
            record_id=rec[i],
            mailbox=mbox[i],
            item_id=item[i],
        )


def _emit_one(
    i: int,
    links: pd.DataFrame,
    rows: dict[int, tuple[list[int], list[bool]]],
    tri: Triage,
    sf: Side,
    mb: Side,
    sfv: Values,
    mbv: Values,
    profile: object,
    pol: str,
    sink: Sink,
    att_sf: dict[int, list[str] | None],
    att_mb: dict[int, list[str] | None],
    link_id: dict[int, Any],
    rec: dict[int, Any],
    mbox: dict[int, Any],
    item: dict[int, Any],
    preserve: dict[int, Any],
    ical: dict[int, Any],
    origin: dict[int, Any],
    cat: str | None,
    unsync: str | None,
    fields_all: list[str],
) -> None:
    """The action rows and issues of one link (every case but the plain updates)."""
    case, rule, reason = CASES[int(tri.case[i])]
    sp, mp = int(tri.sf_pos[i]), int(tri.mb_pos[i])
    ids = {"link_id": link_id[i], "record_id": rec[i], "mailbox": mbox[i], "item_id": item[i]}

    def sf_full(i: int = i, sp: int = sp) -> dict[str, Any]:
        return {**sfv.fields(sp, fields_all), "categories": [cat]}

    def mb_full(i: int = i, mp: int = mp) -> dict[str, Any]:
        out = mbv.fields(mp, fields_all)
        if _str(ical[i]):
            out["external_id"] = _str(ical[i])
        if _str(preserve[i]):
            out["preserve"] = _str(preserve[i])
        return out

    if case == "both_deleted":
        sink.action(MAILBOX, "unlink", **ids, rule=rule, reason=reason, step=STEP_REMOVE)
    elif case in ("leave_window_delete", "sf_deleted_delete_item"):
        sink.action(
            MAILBOX,
            "delete",
            **ids,
            rule=rule,
            reason=reason,
            step=STEP_REMOVE,
            before=mbv.fields(mp, fields_all),
        )
    elif case == "sf_deleted_uncategorize":
        uncategorize(sink, ids, rule, reason, cat, unsync)
    elif case in ("sf_deleted_restore", "sf_deleted_revert", "mb_deleted_restore", "mb_deleted_recreate"):
        # The deleted side is re-created from the other one: a `restore` when that side was edited
        # (R-D6, a conflict the surviving side won), a `revert_delete` under a one-way policy.
        gone = SALESFORCE if case.startswith("sf_") else MAILBOX
        survivor = MAILBOX if gone == SALESFORCE else SALESFORCE
        op = "restore" if case.endswith("_restore") else "revert_delete"
        sink.action(
            gone,
            op,
            **ids,
            rule=rule,
            reason=reason,
            step=STEP_RECREATE,
            fields=mb_full() if gone == SALESFORCE else sf_full(),
            conflict=op == "restore",
            winner=survivor if op == "restore" else None,
        )
        if gone == SALESFORCE and tri.pushed_unwanted[i]:
            # R-D5: the re-created record's link is planned again: R-X4 removes the pushed item.
            _remove_pushed(sink, ids, mbv.fields(mp, fields_all))
    elif case == "move_gone":
        _emit_move_create(i, ids, tri, sfv, mbv, sink, [], cat, fields_all)
        sink.action(
            MAILBOX,
            "unlink",
            **ids,
            rule=rule,
            step=STEP_REMOVE,
            reason="moved to another mailbox; the old item was already deleted",
        )
    elif case == "copy_deleted":
        sink.action(MAILBOX, "unlink", **ids, rule=rule, reason=reason, step=STEP_REMOVE)
    elif case == "copy_uncategorize":
        uncategorize(sink, ids, rule, reason, cat, unsync)
    elif case == "downsync_off_gone":
        sink.action(MAILBOX, "unlink", **ids, rule=rule, reason=reason, step=STEP_REMOVE)
    elif case == "mb_deleted_delete_record":
        sink.action(
            SALESFORCE,
            "delete",
            **ids,
            rule=rule,
            reason=reason,
            step=STEP_REMOVE,
            before=sfv.fields(sp, fields_all),
        )
    elif case == "unsync":
        sink.action(
            SALESFORCE,
            "delete",
            **ids,
            rule=rule,
            reason=reason,
            step=STEP_REMOVE,
            before=sfv.fields(sp, fields_all),
        )
        uncategorize(sink, ids, rule, reason, cat, unsync)
    elif case == "recurring":
        side = SALESFORCE if sp >= 0 and sf.series[sp] else MAILBOX
        sink.issue(
            side,
            RECURRENCE,
            "recurring records and series are not synced (R-M6); the link is frozen",
            record_id=rec[i],
            mailbox=mbox[i],
            item_id=item[i],
        )
    elif case == "private_suspended":
        sink.issue(
            SALESFORCE,
            PRIVATE_SKIPPED,
            "the item is private and private_items is skip: "
            "the link is suspended until it is no longer private (R-P1)",
            record_id=rec[i],
            mailbox=mbox[i],
            item_id=item[i],
        )
    elif case in ("pair", "move", "downsync_off", "copy"):
        _emit_pair(
            i,
            rows,
            case,
            ids,
            tri,
            sf,
            mb,
            sfv,
            mbv,
            profile,
            pol,
            sink,
            att_sf.get(i),
            att_mb.get(i),
            origin[i],
            cat,
            unsync,
            fields_all,
        )


@dataclass(frozen=True)
class Settled:
    """What the linked pass's plan does to links and records, for the unlinked rows planned after it: a
    session applies the rules until none applies (R-D5), so a copy of a meeting whose only link this plan
    drops, or whose record it deletes or re-creates, is treated as the next pass would treat it."""

    dropped_links: frozenset[int] = frozenset()
    deleted_records: frozenset[str] = frozenset()
    recreated: frozenset[tuple[str, str]] = frozenset()  # (iCalUId, mailbox) of links whose record is re-made


def settled(sink: Sink, tri: Triage, links: pd.DataFrame) -> Settled:
    dropped: set[int] = set()
    deleted: set[str] = set()
    for a in sink.actions:
        side, op, link_id, rec, rule = a[1], a[2], a[3], a[4], a[10]
        if rule == "R-C4" or link_id is None:
            continue  # a move re-points its link
        if op in ("unlink", "uncategorize") or op == "delete":
            dropped.add(int(link_id))
        if op == "delete" and side == SALESFORCE and rec is not None:
            deleted.add(str(rec))
    remade = np.flatnonzero(tri.mask("sf_deleted_restore") | tri.mask("sf_deleted_revert"))
    recreated: set[tuple[str, str]] = set()
    if len(remade) and "ical_uid" in links.columns:
        uids, boxes = take_list(links["ical_uid"], remade), take_list(links["mailbox"], remade)
        for uid, box in zip(uids, boxes, strict=True):
            if not _null(uid):
                recreated.add((str(uid), str(box)))
    return Settled(frozenset(dropped), frozenset(deleted), frozenset(recreated))


def _take(links: pd.DataFrame, column: str, idx: np.ndarray) -> dict[int, Any]:
    if column not in links.columns:
        return dict.fromkeys(idx.tolist())
    return dict(zip(idx.tolist(), take_list(links[column], idx), strict=True))


def _plain_updates(
    idx: np.ndarray,
    codes: np.ndarray,
    tri: Triage,
    sfv: Values,
    mbv: Values,
    pol: str,
    sink: Sink,
    link_id: dict[int, Any],
    rec: dict[int, Any],
    mbox: dict[int, Any],
    item: dict[int, Any],
) -> dict[int, list[tuple[Any, ...]]]:
    """The update rows of links whose decisions are plain copies (``codes``: F_NONE / F_TO_MB / F_TO_SF
    per field), keyed by link, in the order ``_emit_pair`` writes them: Salesforce first, then the
    mailbox. The ``fields`` JSON is assembled from per-value fragments, field by field over all links,
    and is the same text ``dumps`` gives for the dict ``_emit_pair`` would build."""
    out: dict[int, list[tuple[Any, ...]]] = {i: [] for i in idx.tolist()}
    if not len(idx):
        return out
    links_of = idx.tolist()
    per_side = (
        (
            SALESFORCE,
            F_TO_SF,
            mbv,
            tri.mb_pos[idx],
            "R-D2" if pol == M2S else "R-D1",
            "changed in the mailbox",
        ),
        (MAILBOX, F_TO_MB, sfv, tri.sf_pos[idx], "R-D3" if pol == S2M else "R-D1", "changed in Salesforce"),
    )
    for side, code, src, src_pos, rule, reason in per_side:
        hit = codes == code
        parts: list[list[str]] = [[] for _ in links_of]
        for j, f in enumerate(FIELD_NAMES):
            sel = np.flatnonzero(hit[:, j]).tolist()
            if not sel:
                continue
            pos = src_pos[sel].tolist()
            for c in VALUE_COLUMNS[f]:
                key = encode(c) + ": "
                for r, v in zip(sel, src.column(c, pos), strict=True):
                    if v is not ABSENT:
                        parts[r].append(key + encode_value(v))
        for r in np.flatnonzero(hit.any(axis=1)).tolist():
            i = links_of[r]
            out[i].append(
                (
                    sink.profile_id,
                    side,
                    "update",
                    lid if type(lid := link_id[i]) is int else _int(lid),
                    r_id if type(r_id := rec[i]) is str else _str(r_id),
                    box if type(box := mbox[i]) is str else _str(box),
                    i_id if type(i_id := item[i]) is str else _str(i_id),
                    "{" + ", ".join(parts[r]) + "}",
                    None,  # plain updates: the ledger's before comes from apply's read-back (R-A1)
                    reason,
                    rule,
                    False,
                    None,
                    "pending",
                    STEP_UPDATE,
                )
            )
    return out


def _column_values(links: pd.DataFrame, column: str, idx: np.ndarray) -> list[object]:
    if column not in links.columns:
        return [None] * len(idx)
    return links[column].iloc[idx].tolist()


def _remove_pushed(sink: Sink, ids: dict[str, Any], before: dict[str, Any]) -> None:
    sink.action(
        MAILBOX,
        "delete",
        **ids,
        rule="R-X4",
        step=STEP_REMOVE,
        before=before,
        reason="downsync is off: items pushed from Salesforce are removed",
    )


def uncategorize(
    sink: Sink, ids: dict[str, Any], rule: str, reason: str, cat: str | None, unsync: str | None
) -> None:
    """An item that stays but leaves calsync: both categories and the stamp go (R-M8: in one request),
    then its link."""
    sink.action(
        MAILBOX,
        "uncategorize",
        **ids,
        rule=rule,
        reason=reason,
        step=STEP_REMOVE,
        fields={"remove_categories": [c for c in (cat, unsync) if c], "remove_stamp": True},
    )
    sink.action(MAILBOX, "unlink", **ids, rule=rule, reason=reason, step=STEP_REMOVE)


def _emit_pair(
    i: int,
    rows: dict[int, tuple[list[int], list[bool]]],
    case: str,
    ids: dict[str, Any],
    tri: Triage,
    sf: Side,
    mb: Side,
    sfv: Values,
    mbv: Values,
    profile: object,
    pol: str,
    sink: Sink,
    att_sf: list[str] | None,
    att_mb: list[str] | None,
    origin: Any,
    cat: str | None,
    unsync: str | None,
    fields_all: list[str],
) -> None:
    sp, mp = int(tri.sf_pos[i]), int(tri.mb_pos[i])
    groups: dict[int, list[str]] = {F_TO_MB: [], F_TO_SF: [], F_REVERT_MB: [], F_REVERT_SF: []}
    row_codes, row_conflicts = rows[i]
    for f, c in zip(FIELD_NAMES, row_codes, strict=True):
        if c:
            groups[c].append(f)
    conflicted = [f for f, hit in zip(FIELD_NAMES, row_conflicts, strict=True) if hit]

    def write(
        side: str, op: str, names: list[str], rule: str, reason: str, extra: dict[str, Any] | None = None
    ) -> None:
        src_v, src_p = (sfv, sp) if side == MAILBOX else (mbv, mp)
        dst_v, dst_p, dst_side = (mbv, mp, mb) if side == MAILBOX else (sfv, sp, sf)
        fields = {**src_v.fields(src_p, names), **(extra or {})}
        hit = [f for f in names if f in conflicted]
        before = None  # plain updates: the ledger's before comes from apply's read-back (R-A1)
        if op == "revert_update" or hit:  # R-D4 / R-D1: the overwritten values travel with the action
            before = dst_v.fields(dst_p, names + (["attendees"] if extra and "attendees" in extra else []))
            before = _audit(before, dst_side, dst_p) if op == "revert_update" else before
        winner = (SALESFORCE if side == MAILBOX else MAILBOX) if hit else None
        if hit:
            reason = f"{reason}; conflict on {', '.join(hit)}, {winner} wins ({profile.conflict_winner})"  # type: ignore[attr-defined]
        sink.action(
            side,
            op,
            **ids,
            rule=rule,
            reason=reason,
            step=STEP_UPDATE,
            fields=fields,
            before=before,
            conflict=bool(hit),
            winner=winner,
        )

    to_sf_extra = {"attendees": att_sf} if att_sf is not None else None
    to_mb_extra = {"attendees": att_mb} if att_mb is not None else None
    if groups[F_TO_SF] or to_sf_extra:
        rule = "R-D2" if pol == M2S else ("R-P2" if not groups[F_TO_SF] else "R-D1")
        write(SALESFORCE, "update", groups[F_TO_SF], rule, "changed in the mailbox", to_sf_extra)
    if groups[F_REVERT_SF]:
        write(
            SALESFORCE,
            "revert_update",
            groups[F_REVERT_SF],
            "R-D2",
            "Salesforce edit reverted to the mailbox value (mailbox_to_salesforce)",
        )
    if case == "move":
        _emit_move(i, ids, tri, sfv, mbv, profile, pol, sink, groups, origin, cat, unsync, fields_all)
        return
    if case == "downsync_off":
        # R-X4: the item pushed from Salesforce is removed; nothing is written to it first (R-D5).
        _remove_pushed(sink, ids, mbv.fields(mp, fields_all))
        return
    if groups[F_TO_MB] or to_mb_extra:
        rule = "R-D3" if pol == S2M else ("R-P2" if not groups[F_TO_MB] else "R-D1")
        write(MAILBOX, "update", groups[F_TO_MB], rule, "changed in Salesforce", to_mb_extra)
    if groups[F_REVERT_MB]:
        write(
            MAILBOX,
            "revert_update",
            groups[F_REVERT_MB],
            "R-D3",
            "mailbox edit reverted to the Salesforce value (salesforce_to_mailbox)",
        )
    if tri.restore_category[i]:
        sink.action(
            MAILBOX,
            "restore_category",
            **ids,
            rule="R-X3",
            step=STEP_UPDATE,
            reason="calsync's category was removed (or unsync set under a one-way policy): put back",
            fields={
                "add_categories": [cat],
                "remove_categories": [unsync] if pol != TWO_WAY and pol != M2S else [],
            },
        )


def _emit_move_create(
    i: int,
    ids: dict[str, Any],
    tri: Triage,
    sfv: Values,
    mbv: Values,
    sink: Sink,
    from_item: list[str],
    cat: str | None,
    fields_all: list[str],
) -> None:
    """R-C4: the new item in the new mailbox, from the record (and ``from_item`` fields of the old item)."""
    sp, mp = int(tri.sf_pos[i]), int(tri.mb_pos[i])
    values = sfv.fields(sp, fields_all)
    if from_item:
        values.update(mbv.fields(mp, from_item))
    values["categories"] = [cat]
    values["stamp"] = f"{sink.profile_id}|{ids['record_id']}|salesforce"
    sink.action(
        MAILBOX,
        "create",
        **{**ids, "mailbox": tri.new_mailbox[i], "item_id": None},
        rule="R-C4",
        step=STEP_RECREATE,
        fields=values,
        reason=f"the record's mailbox changed from {ids['mailbox']}: the link moves to a new item",
    )


def _emit_move(
    i: int,
    ids: dict[str, Any],
    tri: Triage,
    sfv: Values,
    mbv: Values,
    profile: object,
    pol: str,
    sink: Sink,
    groups: dict[int, list[str]],
    origin: Any,
    cat: str | None,
    unsync: str | None,
    fields_all: list[str],
) -> None:
    """R-C4: a new item in the new mailbox (merged values), then the old item as if deleted there."""
    mp = int(tri.mb_pos[i])
    # The mailbox values this session writes to the record travel with it: its edits won (R-D1, R-D2)
    # and, under mailbox_to_salesforce, the values the record's own edits are reverted to (R-D2).
    _emit_move_create(i, ids, tri, sfv, mbv, sink, groups[F_TO_SF] + groups[F_REVERT_SF], cat, fields_all)
    deletion = getattr(profile, "salesforce_deletion", "delete_appointments")
    delete_old = (
        pol == S2M or deletion == "delete" or (deletion == "delete_appointments" and origin == SALESFORCE)
    )
    if delete_old:
        sink.action(
            MAILBOX,
            "delete",
            **ids,
            rule="R-C4",
            step=STEP_REMOVE,
            before=mbv.fields(mp, fields_all),
            reason="moved to another mailbox: the old item is removed as if the record were deleted",
        )
    else:
        sink.action(
            MAILBOX,
            "uncategorize",
            **ids,
            rule="R-C4",
            step=STEP_REMOVE,
            reason="moved to another mailbox: the old item is kept without calsync's categories",
            fields={"remove_categories": [c for c in (cat, unsync) if c], "remove_stamp": True},
        )
