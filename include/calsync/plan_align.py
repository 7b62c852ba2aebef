"""Aligning links with the side rows read this session: positions, presence codes, row flags.

The join is by 64-bit key hashes (``k_record`` / ``k_item`` columns when the stager wrote them, else
computed here) and ``pd.Index.get_indexer``, which refuses duplicate keys: that is the
``validate="one_to_one"`` of a merge at a fifth of its cost on a million links (measured: merge with
validate 0.65 s, get_indexer 0.09 s on this 2-core machine). A hash collision cannot make a silent
wrong join: every link that leads to an action has its string ids compared in ``plan_emit``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from calsync.schema import DELETED, OUT_OF_SCOPE, PRESENT

# Presence codes per link and side. ABSENT: the row was not read this session (R-S4: "unchanged").
ABSENT, IN_SCOPE, OUT, GONE = 0, 1, 2, 3

RECORD_KEY, ITEM_KEY = "k_record", "k_item"


def key_hash(values: pd.Series) -> np.ndarray:
    """The int64 key hash of string ids; stagers may precompute it as ``k_record`` / ``k_item``."""
    return pd.util.hash_pandas_object(values.astype("str"), index=False).to_numpy().view("int64")


def keys_of(frame: pd.DataFrame, key_column: str, id_column: str) -> np.ndarray:
    if key_column in frame.columns:
        return frame[key_column].to_numpy("int64")
    if not len(frame):
        return np.empty(0, "int64")
    return key_hash(frame[id_column])


def positions(row_keys: np.ndarray, link_keys: np.ndarray, what: str) -> np.ndarray:
    """Position of each link's row in the side frame, -1 when not read; duplicate rows are refused."""
    if not len(row_keys):
        return np.full(len(link_keys), -1, "int64")
    index = pd.Index(row_keys)
    if not index.is_unique:
        raise ValueError(f"{what}: the side frame holds the same id twice (R-V1 must reject it)")
    return index.get_indexer(link_keys).astype("int64")


def presence_codes(frame: pd.DataFrame) -> np.ndarray:
    """One int8 code per side row (IN_SCOPE / OUT / GONE)."""
    if not len(frame):
        return np.empty(0, "int8")
    p = frame["presence"]
    return np.select(
        [(p == PRESENT).to_numpy(bool), (p == OUT_OF_SCOPE).to_numpy(bool), (p == DELETED).to_numpy(bool)],
        [IN_SCOPE, OUT, GONE],
        ABSENT,
    ).astype("int8")


def gather(values: np.ndarray, pos: np.ndarray, fill: object = 0) -> np.ndarray:
    """values[pos] with ``fill`` where pos is -1."""
    if not len(values):
        return np.full(len(pos), fill, dtype=values.dtype if len(pos) == 0 else object)
    # take(mode="clip") reads row 0 for -1 without a clipped copy of pos, and its result is already a
    # new array (measured: a third less time and 8 MB less per call on a million links).
    out = values.take(pos, mode="clip")
    missing = pos < 0
    if missing.any():
        out[missing] = fill
    return out


def has_category(frame: pd.DataFrame, name: str | None) -> np.ndarray:
    """Whether each row's ``categories`` list holds ``name`` (False where unknown)."""
    n = len(frame)
    if not name or "categories" not in frame.columns or not n:
        return np.zeros(n, bool)
    arr = pa.chunked_array([pa.array(frame["categories"].array, type=pa.list_(pa.string()))]).combine_chunks()
    flat = pc.equal(pc.list_flatten(arr), pa.scalar(name)).to_numpy(zero_copy_only=False)
    parents = pc.list_parent_indices(arr).to_numpy()
    out = np.zeros(n, bool)
    out[parents[flat]] = True
    return out


def categories_known(frame: pd.DataFrame) -> np.ndarray:
    if "categories" not in frame.columns:
        return np.zeros(len(frame), bool)
    return frame["categories"].notna().to_numpy(bool)


def window_overlap(
    start: pd.Series, end: pd.Series, ref: pd.Timestamp, past_days: int, future_days: int
) -> np.ndarray:
    """[start, end) overlaps the window around the reference time (R-S2); False where unknown."""
    lo = ref - pd.Timedelta(days=past_days)
    hi = ref + pd.Timedelta(days=future_days)
    s = pd.to_datetime(start, utc=True)
    e = pd.to_datetime(end, utc=True)
    return ((s < hi) & (e > lo)).fillna(False).to_numpy(bool)


@dataclass
class Side:
    """A side frame with the per-row codes the triage reads."""

    frame: pd.DataFrame
    keys: np.ndarray
    presence: np.ndarray
    in_window: np.ndarray  # times overlap the window (tells a filter/category exit from a window exit)
    private: np.ndarray
    series: np.ndarray  # recurring (R-M6)
    quarantined: np.ndarray
    has_item_category: np.ndarray
    has_unsync: np.ndarray
    categories_known: np.ndarray


def side_rows(
    frame: pd.DataFrame,
    key_column: str,
    id_column: str,
    ref: pd.Timestamp,
    profile: object,
    quarantined: frozenset[str],
    item_category: str | None,
    unsync: str | None,
) -> Side:
    n = len(frame)
    window = profile.window  # type: ignore[attr-defined]
    if {"start_utc", "end_utc"} <= set(frame.columns) and n:
        in_window = window_overlap(
            frame["start_utc"], frame["end_utc"], ref, window.past_days, window.future_days
        )
    else:
        in_window = np.zeros(n, bool)
    private = np.zeros(n, bool)
    if "is_private" in frame.columns:
        private |= frame["is_private"].fillna(False).to_numpy(bool)
    if "sensitivity" in frame.columns:
        private |= (frame["sensitivity"] == "private").fillna(False).to_numpy(bool)
    series = np.zeros(n, bool)
    if "series_type" in frame.columns:
        st = frame["series_type"]
        series = (st.notna() & (st != "single")).to_numpy(bool)
    quar = frame[id_column].isin(quarantined).to_numpy(bool) if quarantined and n else np.zeros(n, bool)
    return Side(
        frame,
        keys_of(frame, key_column, id_column),
        presence_codes(frame),
        in_window,
        private,
        series,
        quar,
        has_category(frame, item_category),
        has_category(frame, unsync),
        categories_known(frame),
    )
