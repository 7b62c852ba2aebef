"""Links as frames: dtype-exact round trips, R-O1 constraints, set-based promotion (R-C2, R-K2)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pandas.testing as pdt
import pytest

from calsync.schema import LINK_COLUMNS, STR_LIST, conform
from calsync.state import LinkConflict, StateStore, StateStoreError

pytest_plugins = ["conftest_state"]  # the store/state_url/clock fixtures


def make_links(n: int, profile_id: str = "p1", **kw: int) -> pd.DataFrame:
    from conftest_state import make_links as factory  # imported after pytest registered the plugin

    return factory(n, profile_id, **kw)

REF = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)


def _session(store: StateStore, profile: str = "p1", **kw: object) -> int:
    args = {"kind": "scheduled", "reference_time": REF, "full": False, "settings_hash": "h1", **kw}
    return store.start_session(profile, **args)  # type: ignore[arg-type]


def test_round_trip_keeps_every_dtype_and_null(store: StateStore) -> None:
    df = make_links(6)
    # Nullable hashes stay null (R-C1: no baseline yet), lists may be empty or null, texts may be ''.
    df.loc[1, "base_sf_body"] = pd.NA
    df.loc[2, "base_mb_when"] = pd.NA
    sf_sets = df["base_sf_attendees_set"].tolist()
    sf_sets[2] = None
    df["base_sf_attendees_set"] = pd.Series(sf_sets, dtype=STR_LIST)
    df.loc[3, "item_id"] = pd.NA
    df.loc[3, "base_start_utc"] = pd.NaT
    df.loc[4, "dirty"] = pd.NA
    df.loc[4, "preserve"] = ""
    df.loc[5, "ical_uid"] = 'quote " comma , newline \n backslash \\ unicode é'
    mb_sets = [None if v is None else list(v) for v in df["base_mb_attendees_set"].tolist()]
    mb_sets[5] = ['odd"name@x.example', "é@x.example", "back\\slash", "ctl\x01"]
    df["base_mb_attendees_set"] = pd.Series(mb_sets, dtype=STR_LIST)
    df.loc[0, "base_start_utc"] = pd.Timestamp("2026-03-01 10:00:00.123456", tz="UTC")
    store.save_links(df)
    back = store.load_links("p1")
    assert list(back.columns) == list(LINK_COLUMNS)
    for name in LINK_COLUMNS:
        assert str(back[name].dtype) == str(conform(df, LINK_COLUMNS)[name].dtype), name
    pdt.assert_frame_equal(back, df, check_dtype=True)
    assert back["base_start_utc"].dt.tz is not None


def test_load_filters_by_profile_and_all(store: StateStore) -> None:
    store.save_links(make_links(3, "p1"))
    store.save_links(make_links(2, "p2", start_id=100))
    assert len(store.load_links("p1")) == 3
    assert len(store.load_links("p2")) == 2
    assert len(store.load_links()) == 5  # R-O2 needs every profile's links
    assert len(store.load_links("nobody")) == 0
    assert list(store.load_links("nobody").columns) == list(LINK_COLUMNS)


def test_new_links_get_ids_and_upsert_updates(store: StateStore) -> None:
    df = make_links(3).drop(columns=["link_id"])
    saved = store.upsert_links(df)
    assert saved["link_id"].is_unique and (saved["link_id"] > 0).all()
    more = store.upsert_links(make_links(2, start_id=50).assign(link_id=pd.NA))
    assert set(more["link_id"]).isdisjoint(saved["link_id"])
    changed = saved.copy()
    changed["base_sf_subject"] = 7
    store.upsert_links(changed)
    back = store.load_links("p1")
    assert len(back) == 5
    assert (back.set_index("link_id").loc[list(saved["link_id"]), "base_sf_subject"] == 7).all()


@pytest.mark.parametrize("clash", ["record_mailbox", "mailbox_item"])
def test_r_o1_unique_across_profiles(store: StateStore, clash: str) -> None:
    # R-O1: a record has at most one link per mailbox and an item one link, across ALL profiles.
    first = make_links(1, "p1")
    store.save_links(first)
    other = make_links(1, "p2", start_id=999)
    other["mailbox"] = first["mailbox"].iloc[0]
    if clash == "record_mailbox":
        other["record_id"] = first["record_id"].iloc[0]
    else:
        other["item_id"] = first["item_id"].iloc[0]
    with pytest.raises(LinkConflict):
        store.save_links(other)
    assert len(store.load_links()) == 1  # nothing of the refused batch was saved


def test_r_o1_large_batch_refused_whole(store: StateStore) -> None:
    # The PostgreSQL COPY path (large batches) enforces R-O1 just as the executemany path does.
    store.save_links(make_links(1))
    batch = make_links(3000, start_id=10)
    batch.loc[2999, ["record_id", "mailbox"]] = store.load_links().loc[0, ["record_id", "mailbox"]].tolist()
    with pytest.raises(LinkConflict):
        store.save_links(batch)
    assert len(store.load_links()) == 1


def test_large_update_goes_through_bulk_path(store: StateStore) -> None:
    # 3,000 rows: PostgreSQL's COPY path, first straight into links, then via the temporary table.
    df = make_links(3000)
    store.save_links(df)
    changed = df.copy()
    changed["base_mb_body"] = pd.array([pd.NA] * len(df), dtype="Int64")
    changed["dirty"] = True
    store.save_links(pd.concat([changed, make_links(10, start_id=5000)], ignore_index=True))
    back = store.load_links("p1")
    assert len(back) == 3010
    assert back["base_mb_body"].iloc[:3000].isna().all() and back["dirty"].iloc[:3000].all()
    pdt.assert_frame_equal(back.iloc[:3000].reset_index(drop=True), conform(changed, LINK_COLUMNS))


def test_delete_and_dirty_flags(store: StateStore) -> None:
    store.save_links(make_links(5))
    assert store.delete_links([1, 2]) == 2
    assert store.mark_dirty([3, 5]) == 2
    back = store.load_links("p1")
    assert list(back["link_id"]) == [3, 4, 5]
    assert list(store.load_links("p1", dirty_only=True)["link_id"]) == [3, 5]


def test_twenty_thousand_links_round_trip(store: StateStore) -> None:
    df = make_links(20_000)
    store.save_links(df)
    back = store.load_links("p1")
    pdt.assert_frame_equal(back, df)


def test_promote_moves_baselines_cursors_and_flags_in_one_transaction(store: StateStore) -> None:
    # R-C2 / R-K1 / R-K2: at close, applied links get new baselines, the rest are dirty, completed
    # extracts' cursors advance; all in one transaction.
    store.save_links(make_links(4))
    sid = _session(store)
    store.stage_cursor(sid, "p1", "salesforce", "Event", "2026-03-02T08:59:00Z")
    store.stage_cursor(sid, "p1", "mailbox", "user0001@contoso.example", "delta-1", complete=False)
    applied = store.load_links("p1").iloc[[0]].assign(base_mb_subject=42, dirty=False)
    new = make_links(1, start_id=500).assign(link_id=pd.NA, record_id="00UNEW", item_id="AAMkNEW")
    res = store.promote(sid, links=pd.concat([applied, new]), deleted_link_ids=[2], dirty_link_ids=[3],
                        in_window_ids=[1, 3], status="succeeded", stats={"writes": 2})
    assert res.links_saved == 2 and res.links_deleted == 1 and res.cursors_promoted == 1
    back = store.load_links("p1").set_index("link_id")
    assert back.loc[1, "base_mb_subject"] == 42
    assert 2 not in back.index
    assert bool(back.loc[3, "dirty"]) and not bool(back.loc[1, "dirty"])
    assert bool(back.loc[1, "in_window"]) and not bool(back.loc[4, "in_window"])
    assert res.link_ids[1] in back.index
    assert store.get_cursor("p1", "salesforce", "Event").value == "2026-03-02T08:59:00Z"
    assert store.get_cursor("p1", "mailbox", "user0001@contoso.example") is None  # extract failed
    info = store.session(sid)
    assert info.status == "succeeded" and info.stats == {"writes": 2}


def test_promote_crash_before_commit_leaves_old_state(store: StateStore) -> None:
    # A crash before commit leaves old baselines and cursors: the next session re-plans (STYLE 3).
    store.save_links(make_links(3))
    sid = _session(store)
    store.stage_cursor(sid, "p1", "salesforce", "Event", "wm-2")
    bad = make_links(2, start_id=1).assign(base_sf_subject=99)
    bad.loc[1, "record_id"] = bad.loc[0, "record_id"]  # same record + mailbox twice: R-O1 refuses
    bad.loc[1, "mailbox"] = bad.loc[0, "mailbox"]
    with pytest.raises(LinkConflict):
        store.promote(sid, links=bad, dirty_link_ids=[3], status="succeeded")
    back = store.load_links("p1")
    pdt.assert_frame_equal(back, make_links(3))
    assert store.get_cursor("p1", "salesforce", "Event") is None
    assert store.session(sid).status == "running"


def test_dry_run_and_backfill_move_no_cursor(store: StateStore) -> None:
    dry = _session(store, dry_run=True)
    store.stage_cursor(dry, "p1", "salesforce", "Event", "wm-dry")
    with pytest.raises(StateStoreError):  # R-S6
        store.promote(dry, dirty_link_ids=[1])
    store.promote(dry, status="succeeded")
    assert store.get_cursor("p1", "salesforce", "Event") is None
    back = _session(store, kind="backfill", full=True)
    store.stage_cursor(back, "p1", "salesforce", "Event", "wm-backfill")
    assert store.promote(back, status="succeeded").cursors_promoted == 0  # R-S5
    assert store.get_cursor("p1", "salesforce", "Event") is None


def test_list_columns_stay_lists(store: StateStore) -> None:
    df = make_links(2)
    df["base_sf_attendees_set"] = pd.Series([["x@y.example"], []], dtype=STR_LIST)
    store.save_links(df)
    got = store.load_links("p1")["base_sf_attendees_set"]
    assert list(got.iloc[0]) == ["x@y.example"] and len(got.iloc[1]) == 0
    assert np.asarray(store.load_links("p1")["link_id"]).dtype == np.int64


def test_links_table_is_the_link_columns_contract() -> None:
    from calsync.state.models import links

    assert [c.name for c in links.columns] == list(LINK_COLUMNS)
