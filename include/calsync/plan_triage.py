"""The vectorised triage of linked pairs: one case per link (np.select over named masks) and one
decision per link and synced field, computed on the int64 hash columns with no loop over links.

Read the case table top to bottom: the first case whose mask holds wins. docs/planner.md prints it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from calsync.plan_align import ABSENT, GONE, IN_SCOPE, OUT, Side, gather, window_overlap
from calsync.schema import FIELD_NAMES, MAILBOX, SALESFORCE, baseline, common_hash, own_hash

TWO_WAY, M2S, S2M = "two_way", "mailbox_to_salesforce", "salesforce_to_mailbox"

# Per-field decisions (int8 codes). TO_MB: Salesforce's value is written to the item, and so on.
F_NONE, F_TO_MB, F_TO_SF, F_REVERT_MB, F_REVERT_SF = 0, 1, 2, 3, 4

# (case, rule, reason) in priority order; the masks are built in `classify`.
CASES: tuple[tuple[str, str, str], ...] = (
    ("needs_read", "R-C3", "a linked row was not read this session: read it by id before deciding"),
    ("quarantined", "R-V2", "a row of the pair is quarantined: nothing flows from it"),
    ("recurring", "R-M6", "the record or item is recurring: frozen with an issue"),
    ("both_deleted", "R-C3", "both sides confirmed deleted: the link is dropped"),
    ("leave_window_delete", "R-X5", "left the window: on_leave_window deletes the item calsync created"),
    ("frozen", "R-X5", "record and item are outside the window (or the record fails the filter)"),
    ("copy_deleted", "R-O4", "an attendee's copy was deleted or cancelled: only that link goes"),
    ("copy_uncategorize", "R-O4", "an attendee's copy got the unsync category or its record was deleted: "
     "the copy is uncategorized and unlinked, the record stays"),
    ("copy", "R-O4", "an attendee's copy: nothing is read from it or written to it but calsync's category"),
    ("private_suspended", "R-P1", "the item is private and private_items is skip: the link is suspended"),
    ("sf_deleted_restore", "R-D6", "deleted in Salesforce but edited in the mailbox: the edit wins"),
    ("sf_deleted_revert", "R-D2", "deleted in Salesforce under mailbox_to_salesforce: re-created"),
    ("sf_deleted_delete_item", "R-X1", "deleted in Salesforce: the linked item is deleted"),
    ("sf_deleted_uncategorize", "R-X1", "deleted in Salesforce: the item is kept, uncategorized, unlinked"),
    ("move_gone", "R-C4", "the record's mailbox changed and its old item was deleted: it moves all the same"),
    ("downsync_off_gone", "R-X4", "downsync is off and the pushed item was deleted while the record was "
     "edited: the record is kept, the item is not re-created, the link goes"),
    ("mb_deleted_restore", "R-D6", "deleted in the mailbox but edited in Salesforce: the edit wins"),
    ("mb_deleted_recreate", "R-D3", "deleted in the mailbox under a Salesforce-authoritative policy"),
    ("mb_deleted_delete_record", "R-X2", "deleted in the mailbox: the record is deleted"),
    ("unsync", "R-X3", "the item carries the unsync category"),
    ("downsync_off", "R-X4", "downsync is off: items pushed from Salesforce are removed"),
    ("move", "R-C4", "the record's mailbox changed: the appointment moves"),
    ("pair", "R-D1", "both sides present: field-by-field"),
)
CASE_INDEX = {name: i for i, (name, _, _) in enumerate(CASES)}
NO_CASE = -1  # links not planned (not read at all)


def policy(profile: object) -> str:
    """The effective direction: object profiles are Salesforce -> mailbox only (R-M1)."""
    if getattr(profile, "kind", "event") == "object":
        return S2M
    return str(profile.direction)  # type: ignore[attr-defined]


@dataclass
class Triage:
    case: np.ndarray  # index into CASES, or NO_CASE
    codes: dict[str, np.ndarray]  # field -> F_* per link
    conflict: dict[str, np.ndarray]  # field -> a both-sides (or baseline-less) difference resolved by winner
    winner_sf: dict[str, np.ndarray]  # field -> True where Salesforce won that conflict
    attendees_changed: np.ndarray  # two_way event profiles: per-record set merge needed (R-P2)
    restore_category: np.ndarray  # the item lost calsync's category (or got unsync under one-way)
    agreed_without_baseline: np.ndarray  # R-C1: a baseline-less field whose sides agree
    no_mailbox: np.ndarray
    meeting_owner_moved: np.ndarray
    sf_pos: np.ndarray
    mb_pos: np.ndarray
    new_mailbox: np.ndarray = field(default_factory=lambda: np.empty(0, object))  # for moves
    pushed_unwanted: np.ndarray = field(default_factory=lambda: np.empty(0, bool))  # R-X4 removes the item

    def mask(self, name: str) -> np.ndarray:
        return self.case == CASE_INDEX[name]


def _bool(links: pd.DataFrame, column: str, default: bool) -> np.ndarray:
    if column not in links.columns:
        return np.full(len(links), default)
    return links[column].fillna(default).to_numpy(bool)


def _baseline(links: pd.DataFrame, column: str) -> tuple[np.ndarray, np.ndarray]:
    """(values, is_null) of a nullable hash baseline column."""
    if column not in links.columns:
        return np.zeros(len(links), "int64"), np.ones(len(links), bool)
    col = links[column]
    if col.dtype == "int64":
        return col.to_numpy(), np.zeros(len(links), bool)
    null = col.isna().to_numpy(bool)
    return col.to_numpy("int64", na_value=0), null


def _hashes(side: Side, column: str, pos: np.ndarray) -> np.ndarray:
    if column not in side.frame.columns:
        return np.zeros(len(pos), "int64")
    return gather(side.frame[column].to_numpy("int64"), pos, 0)


def _newest_is_salesforce(sf: Side, mb: Side, sp: np.ndarray, mp: np.ndarray, skew: float) -> np.ndarray:
    """R-D1 `newest`: Salesforce wins only when later than the mailbox by more than the clock skew."""
    if "last_modified" not in sf.frame.columns or "last_modified" not in mb.frame.columns:
        return np.zeros(len(sp), bool)
    s = pd.to_datetime(sf.frame["last_modified"].iloc[sp].reset_index(drop=True), utc=True)
    m = pd.to_datetime(mb.frame["last_modified"].iloc[mp].reset_index(drop=True), utc=True)
    return (s > m + pd.Timedelta(seconds=skew)).fillna(False).to_numpy(bool)


def _mailbox_changed(
    sf_mailbox: pd.Series, link_mailbox: pd.Series, sp: np.ndarray
) -> tuple[np.ndarray, ...]:
    """(the record resolves to another mailbox than its link's, the record resolves to one) per link."""
    read = sp >= 0
    if isinstance(sf_mailbox.dtype, pd.CategoricalDtype) and isinstance(
        link_mailbox.dtype, pd.CategoricalDtype
    ):
        # Compare category codes, translated into the links' categories: no million-string copies.
        translate = link_mailbox.cat.categories.get_indexer(sf_mailbox.cat.categories.astype("str"))
        codes = sf_mailbox.cat.codes.to_numpy()
        taken = np.where(read, codes[np.where(read, sp, 0)], -1)
        resolved = taken >= 0
        mapped = np.where(resolved, translate[np.clip(taken, 0, None)], -2)
        mapped[resolved & (mapped < 0)] = -3  # a mailbox no link uses: a change
        return resolved & (mapped != link_mailbox.cat.codes.to_numpy()), resolved
    taken_arr = pc.take(_strings(sf_mailbox), pa.array(np.where(read, sp, 0)))
    taken_arr = pc.if_else(pa.array(read), taken_arr, pa.scalar(None, pa.string()))
    resolved = pc.is_valid(taken_arr).to_numpy(zero_copy_only=False)
    return _differs(taken_arr, _strings(link_mailbox)) & resolved, resolved


def _strings(series: pd.Series) -> pa.Array:
    """A string, Arrow-string or categorical column as one Arrow string array."""
    arr = pa.array(series.array)
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    return arr if arr.type == pa.string() else pc.cast(arr, pa.string())


def _differs(left: pa.ChunkedArray | pa.Array, right: pa.ChunkedArray | pa.Array) -> np.ndarray:
    return pc.fill_null(pc.not_equal(left, right), False).to_numpy(zero_copy_only=False)


def classify(
    links: pd.DataFrame,
    sp: np.ndarray,
    mp: np.ndarray,
    sf: Side,
    mb: Side,
    profile: object,
    ref: pd.Timestamp,
    force_read: np.ndarray | None = None,
    unavailable: frozenset[str] = frozenset(),
) -> Triage:
    n = len(links)
    pol = policy(profile)
    upsync = pol in (TWO_WAY, M2S)
    s = gather(sf.presence, sp, ABSENT).astype("int8")
    m = gather(mb.presence, mp, ABSENT).astype("int8")
    s_has = (s == IN_SCOPE) | (s == OUT)
    m_has = (m == IN_SCOPE) | (m == OUT)
    origin_sf = (links["origin"] == SALESFORCE).fillna(False).to_numpy(bool)
    is_meeting = _bool(links, "is_meeting", False)
    attendee_copy = ~_bool(links, "is_organizer", True)
    sf_q = gather(sf.quarantined, sp, False).astype(bool)
    mb_q = gather(mb.quarantined, mp, False).astype(bool)
    # R-V2 one-way: an invalid non-authoritative row is reverted from the authoritative side as usual.
    nonauth_q = (
        (mb_q & ~sf_q & s_has) if pol == S2M else (sf_q & ~mb_q & m_has) if pol == M2S else np.zeros(n, bool)
    )
    quarantined = (sf_q | mb_q) & ~nonauth_q & ~attendee_copy  # nothing flows from a copy anyway

    # --- per-field change detection (R-C1, R-C2) --------------------------------------------------
    codes: dict[str, np.ndarray] = {}
    conflict: dict[str, np.ndarray] = {}
    winner_sf: dict[str, np.ndarray] = {}
    sf_edited = np.zeros(n, bool)
    mb_edited = np.zeros(n, bool)
    agreed_nb = np.zeros(n, bool)
    att_changed = np.zeros(n, bool)
    mb_private = gather(mb.private, mp, False).astype(bool)
    private_mode = getattr(profile, "private_items", "skip")
    is_event = getattr(profile, "kind", "event") == "event"
    upsync_ok = set(getattr(profile, "upsync_fields", FIELD_NAMES)) if upsync else set(FIELD_NAMES)
    for f in FIELD_NAMES:
        if f == "attendees" and not is_event:
            codes[f] = np.zeros(n, "int8")
            continue
        bs, bs_null = _baseline(links, baseline(SALESFORCE, f))
        bm, bm_null = _baseline(links, baseline(MAILBOX, f))
        cs = s_has & ~bs_null & (_hashes(sf, own_hash(f), sp) != bs)  # R-C1: own hash vs own baseline
        cm = m_has & ~bm_null & (_hashes(mb, own_hash(f), mp) != bm)
        d = _hashes(sf, common_hash(f), sp) != _hashes(mb, common_hash(f), mp)  # cross-side, common form
        nb = (bs_null | bm_null) & s_has & m_has  # R-C1: no baseline is no evidence of an edit
        sf_edited |= cs
        mb_edited |= cm
        agreed_nb |= nb & ~d
        code = np.zeros(n, "int8")
        if pol == TWO_WAY:
            both = cs & cm & d  # R-D1: changed on both sides to different values -> conflict
            unbased = nb & ~cs & ~cm & d  # R-O3 / R-C1: differing without baseline, resolved as a conflict
            contested = both | unbased
            winner = _conflict_winner(profile, contested, sf, mb, sp, mp)
            if f == "sensitivity":
                winner &= ~mb_private  # R-C1: a private item is never made non-private
            code[cs & ~cm & d] = F_TO_MB  # R-D1: changed in Salesforce only
            code[cm & ~cs & d] = F_TO_SF  # R-D1: changed in the mailbox only
            code[contested & winner] = F_TO_MB
            code[contested & ~winner] = F_TO_SF
            conflict[f] = contested
            winner_sf[f] = contested & winner
            if f == "attendees":  # R-P2: the set merge decides per record on this subset
                att_changed = cs | cm | (nb & d)
                code[:] = F_NONE
        elif pol == M2S:
            code[cm & ~cs & d] = F_TO_SF  # R-D2: mailbox changes go up
            code[nb & ~cs & ~cm & d] = F_TO_SF  # R-O3: the authoritative side resolves a missing baseline
            code[cs & d] = F_REVERT_SF  # R-D2/R-D4: a Salesforce edit is reverted, even if both changed
            code[sf_q & m_has & (d | cs)] = F_REVERT_SF  # R-V2: invalid non-authoritative row reverted
        else:
            code[cs & ~cm & d] = F_TO_MB  # R-D3: Salesforce changes go down
            unbased = nb & ~cs & ~cm & d
            if f == "sensitivity":
                unbased &= ~mb_private  # R-C1: never make a private item non-private
            code[unbased] = F_TO_MB  # R-O3 by the authoritative side
            code[cm & d] = F_REVERT_MB  # R-D3/R-D4: a mailbox edit of a synced field is reverted
            code[mb_q & s_has & (d | cm)] = F_REVERT_MB  # R-V2
        if attendee_copy.any():  # R-O4: an attendee's copy is passive: nothing is read from or written to it
            code[attendee_copy] = F_NONE
            if f in conflict:
                conflict[f] &= ~attendee_copy
                winner_sf[f] &= ~attendee_copy
            if f == "attendees":
                att_changed &= ~attendee_copy
        if f not in upsync_ok:  # templated fields are written to the mailbox only (profiles.upsync_fields)
            code[(code == F_TO_SF) | (code == F_REVERT_SF)] = F_NONE
        if f == "sensitivity" and private_mode == "sync_without_flag":  # R-P1: IsPrivate is not set
            code[mb_private & (code == F_TO_SF)] = F_NONE
        codes[f] = code

    # --- scope and window (R-X5), with deleted sides judged by the agreed times -------------------
    window = profile.window  # type: ignore[attr-defined]
    if {"base_start_utc", "base_end_utc"} <= set(links.columns):
        base_in = window_overlap(
            links["base_start_utc"], links["base_end_utc"], ref, window.past_days, window.future_days
        )
    else:
        base_in = np.ones(n, bool)
    sf_win = gather(sf.in_window, sp, False).astype(bool)
    mb_win = gather(mb.in_window, mp, False).astype(bool)
    sf_filter_fail = (s == OUT) & sf_win  # out of scope though in the window: fails the filter
    sf_live = (s == IN_SCOPE) | ((s == GONE) & base_in)
    mb_live = (m == IN_SCOPE) | ((m == OUT) & mb_win) | ((m == GONE) & base_in)  # lost category != left
    frozen = (~sf_live & ~mb_live) | sf_filter_fail
    leave_delete = (
        frozen
        & ~sf_filter_fail
        & m_has
        & origin_sf
        & ~is_meeting
        & ~_bool(links, "by_backfill", False)
        & _bool(links, "in_window", False)
        & (getattr(profile, "on_leave_window", "keep") == "delete_salesforce_created")
    )

    series = (s_has & gather(sf.series, sp, False).astype(bool)) | (
        m_has & gather(mb.series, mp, False).astype(bool)
    )
    # R-P1: a linked item private while its record is not is suspended; a record that is itself private
    # already holds the item's privacy (synced earlier under `sync`), so nothing is withheld from it.
    sf_private = s_has & gather(sf.private, sp, False).astype(bool)
    private_suspended = upsync & (private_mode == "skip") & m_has & mb_private & ~sf_private
    sf_gone = (s == GONE) & m_has
    mb_gone = (m == GONE) & s_has
    deletion = getattr(profile, "salesforce_deletion", "delete_appointments")
    appointment_from_sf = origin_sf & ~is_meeting
    sf_del_item = np.zeros(n, bool)
    sf_del_uncat = np.zeros(n, bool)
    if pol == TWO_WAY:
        if deletion == "delete":
            sf_del_item = sf_gone
        elif deletion == "delete_appointments":
            sf_del_item = sf_gone & appointment_from_sf
        sf_del_uncat = sf_gone & ~sf_del_item
    elif pol == S2M:
        sf_del_item = sf_gone
    unsync = upsync & m_has & gather(mb.has_unsync, mp, False).astype(bool)
    downsync = bool(getattr(profile, "downsync", True))
    downsync_off = (upsync and not downsync) & origin_sf & m_has

    # R-C4: owner moves (owner / user_field resolution only; fixed lists never move).
    mode = getattr(getattr(profile, "mailboxes", None), "mode", "owner")
    new_mailbox = np.empty(n, object)
    moved = np.zeros(n, bool)
    move_gone = np.zeros(n, bool)
    no_mailbox = np.zeros(n, bool)
    meeting_moved = np.zeros(n, bool)
    if mode != "fixed" and "mailbox" in sf.frame.columns and len(sf.frame):
        changed, resolved = _mailbox_changed(sf.frame["mailbox"], links["mailbox"], sp)
        no_mailbox = (s == IN_SCOPE) & ~resolved
        movable = (s == IN_SCOPE) & changed & (downsync or pol == S2M)
        if unavailable:
            # R-X6: nothing is created in an unavailable mailbox; the move waits, the old link stays.
            target = gather(sf.frame["mailbox"].astype("object").to_numpy(object), sp, None)
            movable &= ~pd.Series(target, dtype="object").isin(unavailable).to_numpy(bool)
        m_att = np.zeros(n, bool)
        if "attendees" in mb.frame.columns and len(mb.frame):
            m_att = gather(mb.frame["attendees"].list.len().fillna(0).to_numpy("int64") > 0, mp, False)
        meeting = is_meeting | m_att.astype(bool)
        moved = movable & ~meeting & m_has & ~attendee_copy
        # R-C4 "even if it was deleted meanwhile (a move is not an R-X2 delete)".
        move_gone = movable & ~meeting & (m == GONE) & ~attendee_copy
        meeting_moved = movable & meeting & ~attendee_copy
        both = moved | move_gone
        if both.any():
            new_mailbox[both] = sf.frame["mailbox"].iloc[sp[both]].astype("str").to_numpy(object)

    needs_read = (s == ABSENT) | (m == ABSENT)
    if force_read is not None:
        needs_read |= force_read
    conditions = {
        "needs_read": needs_read,
        "quarantined": quarantined,
        "recurring": series,
        "both_deleted": (s == GONE) & (m == GONE),
        "leave_window_delete": leave_delete,
        "frozen": frozen,
        "copy_deleted": attendee_copy & (m == GONE),  # R-O4
        "copy_uncategorize": attendee_copy & (sf_gone | unsync),  # R-O4
        "copy": attendee_copy & m_has,  # R-O4
        "private_suspended": private_suspended,
        "sf_deleted_restore": sf_gone & (pol == TWO_WAY) & mb_edited,  # R-D6: the edit wins
        "sf_deleted_revert": sf_gone & (pol == M2S),  # R-D2
        "sf_deleted_delete_item": sf_del_item,  # R-X1
        "sf_deleted_uncategorize": sf_del_uncat,  # R-X1 keep / meetings and mailbox-made items
        "move_gone": move_gone,  # R-C4
        "downsync_off_gone": mb_gone & (pol == TWO_WAY) & sf_edited & origin_sf & (not downsync),  # R-X4
        "mb_deleted_restore": mb_gone & (pol == TWO_WAY) & sf_edited,  # R-D6
        "mb_deleted_recreate": mb_gone & (pol == S2M),  # R-D3: re-created in the window
        "mb_deleted_delete_record": mb_gone & upsync,  # R-X2
        "unsync": unsync,  # R-X3
        "downsync_off": downsync_off,  # R-X4
        "move": moved,  # R-C4
        "pair": s_has & m_has,
    }
    assert tuple(conditions) == tuple(c for c, _, _ in CASES)
    case = np.select(list(conditions.values()), list(range(len(CASES))), NO_CASE).astype("int16")

    mb_cat_known = gather(mb.categories_known, mp, False).astype(bool)
    lost_category = m_has & mb_cat_known & ~gather(mb.has_item_category, mp, False).astype(bool)
    reverted_unsync = (not upsync) & m_has & gather(mb.has_unsync, mp, False).astype(bool)  # R-X3 one-way
    restore_cat = lost_category | reverted_unsync
    return Triage(
        case,
        codes,
        conflict,
        winner_sf,
        att_changed,
        restore_cat,
        agreed_nb,
        no_mailbox,
        meeting_moved,
        sp,
        mp,
        new_mailbox,
        downsync_off,
    )


def _conflict_winner(
    profile: object, contested: np.ndarray, sf: Side, mb: Side, sp: np.ndarray, mp: np.ndarray
) -> np.ndarray:
    """True where Salesforce wins a conflict (R-D1 conflict_winner; ties and unknown times: mailbox)."""
    n = len(contested)
    rule = getattr(profile, "conflict_winner", "newest")
    if rule == SALESFORCE:
        return np.ones(n, bool)
    if rule == MAILBOX or not contested.any():
        return np.zeros(n, bool)
    out = np.zeros(n, bool)
    idx = np.flatnonzero(contested)
    skew = float(getattr(profile, "clock_skew_seconds", 60))
    out[idx] = _newest_is_salesforce(sf, mb, sp[idx], mp[idx], skew)
    return out
