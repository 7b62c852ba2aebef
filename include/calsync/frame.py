"""The common frame: normalisation and one 64-bit hash per synced field and row (R-C1, DESIGN "Why hashes").

Every side frame (schema.SIDE_COLUMNS) carries, per synced field ``f``, two hashes:

* ``h_f`` (schema.own_hash): the value in the side's **own** representation, compared with that side's
  baseline, so a lossy mapping never looks like an edit and calsync's own writes come back unchanged;
* ``x_f`` (schema.common_hash): the value mapped into the **common** form, compared across sides (is the
  pair in agreement? adoption, R-O3 rebuilds).

The frame's value columns hold what the side holds (raw text, HTML bodies); only the hashes are
normalised. Per field (own form | common form):

==========  ==========================================  ==========================================
field       own form (``h_``)                           common form (``x_``)
==========  ==========================================  ==========================================
subject     NFC, whitespace runs -> one space, trimmed,  own form of the value cut to 255 characters
            empty = null                                 (Salesforce's Subject limit, R-M4)
body        body type + own text form of the content     HTML -> text (bodies.html_to_text), cut to
            (HTML kept as HTML)                          32,000 characters, then whitespace collapsed
location    as subject                                   as subject, 255 characters
when        all-day: ``D|start date|end date`` (floating dates, R-M9); timed: ``T|start|end`` in UTC epoch
            seconds; the same in both forms
show_as     the side's value, lower-case (Graph names)   free | busy | oof: tentative, workingElsewhere,
                                                         unknown and null count as busy (Salesforce has
                                                         Busy, Free, OutOfOffice only)
reminder    minutes before start, null = no reminder     the same
sensitivity normal | personal | private | confidential   private or not (R-P1: only ``private`` is
                                                         private; IsPrivate carries one bit)
attendees   sorted, de-duplicated lower-case addresses   the same
==========  ==========================================  ==========================================

A field the profile does not map hashes as ``schema.UNSYNCED_HASH`` on both sides. Hashes are
``pandas.util.hash_array`` (SipHash with a fixed key) over UTF-8 strings: deterministic across
processes and machines, never Python's ``hash()``. Null is hashed as a sentinel that no text equals.

Pure: pandas, numpy, pyarrow and calsync.bodies; no SDK, database or Airflow import.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from calsync.bodies import html_to_text
from calsync.schema import FIELD_NAMES, STR, UNSYNCED_HASH, common_hash, own_hash

SUBJECT_LIMIT = 255
LOCATION_LIMIT = 255
DESCRIPTION_LIMIT = 32_000
TEXT_LIMITS = {"subject": SUBJECT_LIMIT, "location": LOCATION_LIMIT, "body": DESCRIPTION_LIMIT}

_NULL = "\x00null\x00"  # what a null value hashes as: no normalised text can equal it
_SEP = "\x1f"
_WS = r"[\s\p{Z}\x{200B}\x{FEFF}]+"  # ASCII and Unicode spaces, zero-width space, BOM

SHOW_AS_COMMON = {"free": "free", "oof": "oof", "busy": "busy", "tentative": "busy",
                  "workingelsewhere": "busy", "unknown": "busy"}


# --- normalisation -------------------------------------------------------------------------------------


def _arrow(values: pd.Series | pa.Array | Iterable[object]) -> pa.Array:
    if isinstance(values, pa.ChunkedArray):
        return values.combine_chunks()
    if isinstance(values, pa.Array):
        return values.cast(pa.string())
    if isinstance(values, pd.Series):
        if isinstance(values.dtype, pd.StringDtype | pd.ArrowDtype) and values.dtype != object:
            try:
                arr = pa.array(values.array)
            except (TypeError, pa.ArrowInvalid):
                arr = pa.array(values.astype("object").where(values.notna(), None).tolist(), type=pa.string())
            return arr.cast(pa.string()) if not pa.types.is_string(arr.type) else arr
        obj = values.astype("object")
        return pa.array(obj.where(obj.notna(), None).tolist(), type=pa.string())
    return pa.array(list(values), type=pa.string())


def normalize_text(values: pd.Series | pa.Array, *, limit: int | None = None,
                   keep_lines: bool = False) -> pa.Array:
    """NFC, whitespace runs -> one space (or one newline per line break with ``keep_lines``), trimmed,
    empty -> null, then cut to ``limit`` characters. Vectorised (Arrow compute kernels)."""
    arr = _arrow(values)
    if limit is not None:
        arr = pc.utf8_slice_codeunits(arr, 0, limit)
    arr = pc.utf8_normalize(arr, "NFC")
    if keep_lines:
        arr = pc.replace_substring_regex(arr, r"\r\n?", "\n")
        arr = pc.replace_substring_regex(arr, r"[^\S\n]+|[\p{Z}\x{200B}\x{FEFF}]+", " ")
        arr = pc.replace_substring_regex(arr, r" ?\n ?", "\n")
    else:
        arr = pc.replace_substring_regex(arr, _WS, " ")
    arr = pc.utf8_trim_whitespace(arr)
    return pc.if_else(pc.equal(arr, ""), pa.scalar(None, pa.string()), arr)


def body_text(content: pd.Series, body_type: pd.Series) -> pa.Array:
    """The text a reader sees: HTML bodies converted once per distinct value, text bodies as they are."""
    content_obj = content.astype("object")
    is_html = (body_type.astype("object").fillna("").str.lower() == "html").to_numpy(dtype=bool)
    out = content_obj.where(content_obj.notna(), None).to_numpy(dtype=object).copy()
    if is_html.any():
        html_values = out[is_html]
        uniques = {v: html_to_text(v) for v in set(html_values.tolist()) if v is not None}
        out[is_html] = [uniques.get(v) if v is not None else None for v in html_values]
    return pa.array(out.tolist(), type=pa.string())


def common_show_as(values: pd.Series | pa.Array) -> pa.Array:
    arr = pc.utf8_lower(_arrow(values))
    keys = pa.array(list(SHOW_AS_COMMON))
    mapped = pc.take(pa.array(list(SHOW_AS_COMMON.values())), pc.index_in(arr, value_set=keys))
    return pc.fill_null(mapped, "busy")


def when_key(df: pd.DataFrame) -> pa.Array:
    """``D|start_date|end_date`` for all-day rows, ``T|start|end`` (UTC epoch seconds) for timed rows,
    null when the row has no start."""
    n = len(df)
    flag = df["is_all_day"].astype("boolean").fillna(False)
    all_day = flag.to_numpy(dtype=bool) if n else np.zeros(0, bool)

    def epoch(col: str) -> pa.Array:
        if col not in df.columns:
            return pa.nulls(n, pa.string())
        ts = pd.to_datetime(df[col], utc=True).dt.floor("s")
        micros = pc.cast(pa.array(ts.astype("datetime64[us, UTC]").array), pa.int64())
        return pc.cast(pc.divide(micros, 1_000_000), pa.string())

    def day(col: str) -> pa.Array:
        if col not in df.columns or not n:
            return pa.nulls(n, pa.string())
        s = df[col]
        if isinstance(s.dtype, pd.ArrowDtype):
            arr = pa.array(s.array)
        else:
            days = pd.to_datetime(s.astype("object"), errors="coerce").dt.date.astype("object")
            arr = pa.array(days.where(s.notna(), None).tolist(), type=pa.date32())
        return pc.cast(arr, pa.string())

    timed = pc.binary_join_element_wise("T", epoch("start_utc"), epoch("end_utc"), "|") if n else pa.nulls(0)
    dated = pc.binary_join_element_wise("D", day("start_date"), day("end_date"), "|") if n else pa.nulls(0)
    return pc.if_else(pa.array(all_day), dated, timed) if n else pa.nulls(0, pa.string())


# --- hashing ---------------------------------------------------------------------------------------


def hash_strings(values: pa.Array | pd.Series) -> np.ndarray:
    """One int64 (the bit pattern of SipHash-64) per value; null hashes as a fixed sentinel."""
    arr = pc.fill_null(_arrow(values), _NULL)
    obj = np.asarray(arr.to_numpy(zero_copy_only=False), dtype=object)
    if not len(obj):
        return np.zeros(0, dtype="int64")
    return pd.util.hash_array(obj, categorize=True).view("int64")


def _join(*parts: pa.Array) -> pa.Array:
    return pc.binary_join_element_wise(*[pc.fill_null(p, _NULL) for p in parts], _SEP)


def _attendee_text(values: pd.Series) -> pa.Array:
    """Each row's addresses, trimmed, lower-cased, de-duplicated, sorted, joined by newlines."""
    n = len(values)
    arr = pa.array(values.array) if isinstance(values.dtype, pd.ArrowDtype) else pa.array(
        values.astype("object").where(values.notna(), None).tolist(), type=pa.list_(pa.string()))
    flat = pc.utf8_lower(pc.utf8_trim_whitespace(pc.list_flatten(arr)))
    rows = pc.list_parent_indices(arr)
    tbl = pa.table({"row": rows, "a": flat}).filter(pc.and_(pc.is_valid(flat), pc.not_equal(flat, "")))
    tbl = tbl.sort_by([("row", "ascending"), ("a", "ascending")])
    row_np = tbl["row"].to_numpy()
    a_col = tbl["a"].combine_chunks() if tbl.num_rows else pa.array([], pa.string())
    if tbl.num_rows > 1:
        # Sorted, so a duplicate address in a row sits right after its twin.
        same_row = np.concatenate([[False], row_np[1:] == row_np[:-1]])
        a_obj = np.asarray(a_col.to_numpy(zero_copy_only=False), dtype=object)
        same_val = np.concatenate([[False], a_obj[1:] == a_obj[:-1]])
        keep = ~(same_row & same_val)
        row_np, a_col = row_np[keep], a_col.filter(pa.array(keep))
    counts = np.bincount(row_np.astype("int64"), minlength=n) if len(row_np) else np.zeros(n, dtype="int64")
    offsets = pa.array(np.concatenate([[0], np.cumsum(counts)]).astype("int32"))
    lists = pa.ListArray.from_arrays(offsets, a_col)
    return pc.binary_join(lists, "\n")


def field_hashes(df: pd.DataFrame, field: str) -> tuple[np.ndarray, np.ndarray]:
    """(own, common) hashes of one synced field for every row of a side frame."""
    if field in ("subject", "location"):
        own = normalize_text(df[field])
        common = normalize_text(df[field], limit=TEXT_LIMITS[field])
        return hash_strings(own), hash_strings(common)
    if field == "body":
        btype = df["body_type"] if "body_type" in df.columns else pd.Series("text", index=df.index)
        own = _join(pc.utf8_lower(pc.fill_null(_arrow(btype), "text")), normalize_text(df["body"]))
        text = body_text(df["body"], btype)
        common = normalize_text(pc.utf8_slice_codeunits(text, 0, DESCRIPTION_LIMIT))
        return hash_strings(own), hash_strings(common)
    if field == "when":
        h = hash_strings(when_key(df))
        return h, h.copy()
    if field == "show_as":
        own = pc.utf8_lower(_arrow(df["show_as"]))
        return hash_strings(own), hash_strings(common_show_as(df["show_as"]))
    if field == "reminder":
        mins = df["reminder_minutes"].astype("Int64")
        h = hash_strings(pa.array(mins.astype("object").where(mins.notna(), None).tolist(), type=pa.int64())
                         .cast(pa.string()))
        return h, h.copy()
    if field == "sensitivity":
        sens = pc.fill_null(pc.utf8_lower(_arrow(df["sensitivity"])), "normal")
        private = pc.if_else(pc.equal(sens, "private"), "private", "not_private")
        return hash_strings(sens), hash_strings(private)
    if field == "attendees":
        h = hash_strings(_attendee_text(df["attendees"]))
        return h, h.copy()
    raise ValueError(f"unknown synced field {field!r}; known: {', '.join(FIELD_NAMES)}")


def add_hashes(df: pd.DataFrame, fields: Iterable[str] | None = None) -> pd.DataFrame:
    """The frame with ``h_<f>`` and ``x_<f>`` for every synced field; fields not in ``fields`` (the
    profile's synced_fields) get schema.UNSYNCED_HASH on both, so they never differ or change."""
    wanted = set(FIELD_NAMES if fields is None else fields)
    out = df.copy()
    n = len(out)
    for field in FIELD_NAMES:
        if field in wanted and n:
            own, common = field_hashes(out, field)
        else:
            own = common = np.full(n, UNSYNCED_HASH, dtype="int64")
        out[own_hash(field)] = own
        out[common_hash(field)] = common
    return out


# --- adoption (R-S7) -------------------------------------------------------------------------------


def adoption_key(df: pd.DataFrame) -> pd.Series:
    """Case-folded, whitespace-collapsed subject + start + end: equal keys are the same event (R-S7).

    Case folding is Unicode's full ``str.casefold`` (``Straße`` = ``STRASSE``), done once per distinct
    subject; everything else is vectorised.
    """
    subject = normalize_text(df["subject"]) if len(df) else pa.array([], pa.string())
    uniq = pc.unique(subject).to_pylist()
    folded_map = {s: " ".join(s.casefold().split()) for s in uniq if s is not None}
    folded = pa.array([folded_map.get(s) if s is not None else None for s in subject.to_pylist()],
                      type=pa.string())
    key = _join(folded, pc.fill_null(when_key(df), _NULL)) if len(df) else pa.array([], pa.string())
    return pd.Series(key.to_pylist(), index=df.index, dtype=STR)


def adoption_hash(df: pd.DataFrame) -> np.ndarray:
    """int64 hash of adoption_key, for joins on large frames."""
    return hash_strings(pa.array(adoption_key(df).array)) if len(df) else np.zeros(0, dtype="int64")
