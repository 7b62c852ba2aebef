"""Full values for the few rows that need a write: which columns carry each synced field, and JSON.

The triage works on hashes only; values are fetched here for the changed subset (DESIGN step 5),
either from the side frame itself or through the caller's ``read_values``.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from calsync.plan_model import ValueReader
from calsync.schema import SALESFORCE

# The side-frame columns that carry each synced field's value. Action `fields` JSON is keyed by these
# column names (flat), so apply maps them exactly as transform reads them.
VALUE_COLUMNS: dict[str, tuple[str, ...]] = {
    "subject": ("subject",),
    "body": ("body", "body_type"),
    "location": ("location",),
    "when": ("start_utc", "end_utc", "is_all_day", "start_date", "end_date", "time_zone"),
    "show_as": ("show_as",),
    "reminder": ("reminder_minutes",),
    "sensitivity": ("sensitivity", "is_private"),
    "attendees": ("attendees",),
}
ALL_VALUE_COLUMNS: tuple[str, ...] = tuple(c for cols in VALUE_COLUMNS.values() for c in cols)


def side_key(side: str) -> str:
    return "record_id" if side == SALESFORCE else "item_id"


def jsonable(value: Any) -> Any:
    """A value as JSON can hold it; NA and NaN become null, times ISO 8601."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, pd.Timestamp | dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, list | tuple | np.ndarray):
        return [jsonable(v) for v in value]
    return value


# json.dumps(obj, default=str) builds an encoder per call; one shared encoder gives the same text.
_ENCODER = json.JSONEncoder(default=str)
encode = _ENCODER.encode
_ESCAPE = json.encoder.encode_basestring_ascii  # what the encoder writes for a str (ensure_ascii)


def encode_value(value: Any) -> str:
    """``encode(value)`` for one JSON value, with the common scalars written directly: encoding a
    non-string builds a new C encoder each time (measured: 3 us a value)."""
    kind = type(value)
    if kind is str:
        return _ESCAPE(value)
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if kind is int:
        return int.__repr__(value)
    return encode(value)


def dumps(obj: dict[str, Any] | None) -> str | None:
    return None if obj is None else encode(obj)  # key order is field order


def take_list(series: pd.Series, idx: np.ndarray) -> list[Any]:
    """series.iloc[idx].tolist() (nulls as None where Arrow holds the column) without concatenating a
    chunked Arrow column: Arrow's take on a chunked string column copies the whole column first
    (measured: 44 MB and up to 0.1 s per million-row id column, for 20,000 rows)."""
    arr = series.array
    chunked = arr.__arrow_array__() if hasattr(arr, "__arrow_array__") else None
    if not isinstance(chunked, pa.ChunkedArray) or chunked.num_chunks < 2 or not len(idx):
        return series.iloc[idx].tolist()
    bounds = np.cumsum([len(c) for c in chunked.chunks])
    which = np.searchsorted(bounds, idx, side="right")
    starts = bounds - np.array([len(c) for c in chunked.chunks])
    out: list[Any] = [None] * len(idx)
    for k in np.unique(which).tolist():
        sel = np.flatnonzero(which == k)
        got = chunked.chunk(k).take(pa.array(idx[sel] - starts[k])).to_pylist()
        for j, v in zip(sel.tolist(), got, strict=True):
            out[j] = v
    return out


def _py_column(arr: pa.Array | pa.ChunkedArray) -> list[Any]:
    """One Arrow column as JSON-ready Python values (times ISO 8601 in UTC), converted in C."""
    t = arr.type
    if pa.types.is_timestamp(t):
        if t.tz is None:
            arr = pc.assume_timezone(arr, "UTC")
        arr = pc.strftime(pc.cast(arr, pa.timestamp("s", "UTC")), format="%Y-%m-%dT%H:%M:%S+00:00")
    elif pa.types.is_date(t):
        arr = pc.cast(arr, pa.string())
    return arr.to_pylist()


def _arrow(series: pd.Series) -> pa.Array:
    try:
        return pa.array(series.array)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError):
        return pa.array([jsonable(v) for v in series.tolist()])


def _id(value: Any) -> Any:
    """An id as ``Series.astype("str")`` gives it: text, or NaN where null."""
    if isinstance(value, str):
        return value
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return np.nan
    return str(value)


class Values:
    """Row values of one side, fetched once (column-wise) for the positions that need a write."""

    def __init__(self, frame: pd.DataFrame, side: str, reader: ValueReader | None) -> None:
        self.frame, self.side, self.reader = frame, side, reader
        self._row: dict[int, int] = {}  # position in the side frame -> row in self._cols
        self._cols: dict[str, list[Any]] = {c: [] for c in ALL_VALUE_COLUMNS}

    def load(self, positions: np.ndarray) -> None:
        todo = np.unique(positions[positions >= 0])
        if self._row:
            todo = todo[~np.isin(todo, np.fromiter(self._row, "int64", len(self._row)))]
        if not len(todo):
            return
        present = [c for c in ALL_VALUE_COLUMNS if c in self.frame.columns]
        got: dict[str, list[Any]] = {c: _py_column(_arrow(self.frame[c].iloc[todo])) for c in present}
        missing = [c for c in ALL_VALUE_COLUMNS if c not in present]
        if self.reader is not None and missing:
            ids = [_id(v) for v in take_list(self.frame[side_key(self.side)], todo)]
            read = self.reader(self.side, todo, ids)
            for c in missing:
                if c in read.columns:
                    got[c] = _py_column(_arrow(read[c].reset_index(drop=True)))
        base = len(self._row)
        for j, pos in enumerate(todo.tolist()):
            self._row[pos] = base + j
        for c in ALL_VALUE_COLUMNS:
            self._cols[c].extend(got.get(c, [ABSENT] * len(todo)))

    def release(self) -> None:
        """Drop the values held (a later ``load`` reads them again): the emit keeps only their JSON."""
        self._row = {}
        self._cols = {c: [] for c in ALL_VALUE_COLUMNS}

    def column(self, name: str, positions: list[int]) -> list[Any]:
        """One value column at several rows (``ABSENT`` where the column or the row is not held)."""
        rows, col = self._row, self._cols[name]
        return [ABSENT if (r := rows.get(p)) is None else col[r] for p in positions]

    def fields(self, position: int, names: list[str]) -> dict[str, Any]:
        """The value columns of ``names`` (synced fields) at one row, JSON-ready."""
        row = self._row.get(position)
        if row is None:
            return {}
        out: dict[str, Any] = {}
        for n in names:
            for c in VALUE_COLUMNS[n]:
                v = self._cols[c][row]
                if v is not ABSENT:
                    out[c] = v
        return out


ABSENT: Any = object()  # a column neither the frame nor the reader has
