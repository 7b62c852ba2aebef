"""The state store: schema and migrations, locks, ledger, cursors, sessions, issues, caches."""

from __future__ import annotations

import datetime as dt
import threading
import time
from typing import TYPE_CHECKING

import pandas as pd
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from calsync.errors import LockTimeout
from calsync.schema import ACTION_COLUMNS, OUTCOMES, conform
from calsync.state import TRANSITIONS, IllegalTransition, StateStore
from calsync.state.engine import default_url, make_engine
from calsync.state.models import Base

if TYPE_CHECKING:
    from conftest_state import FakeClock

pytest_plugins = ["conftest_state"]  # the store/state_url/clock fixtures

REF = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)


def _session(store: StateStore, profile: str = "p1", **kw: object) -> int:
    args = {"kind": "scheduled", "reference_time": REF, "full": False, "settings_hash": "h1", **kw}
    return store.start_session(profile, **args)  # type: ignore[arg-type]


# --- schema ---------------------------------------------------------------------------------------


def test_migrations_create_schema_from_empty_without_drift(state_url: str) -> None:
    s = StateStore(state_url)
    s.migrate()
    tables = set(inspect(s.engine).get_table_names())
    assert set(Base.metadata.tables) <= tables
    assert "alembic_version" in tables
    # `alembic check`: autogenerate finds nothing between the models and the migrated database.
    with s.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    assert diff == []
    s.migrate()  # idempotent
    s.dispose()


def test_default_url_follows_airflow_home(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.delenv("CALSYNC_STATE_URL", raising=False)
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    assert default_url() == f"sqlite:///{tmp_path}/calsync/state.db"
    monkeypatch.setenv("CALSYNC_STATE_URL", "postgresql://u@h/db")
    assert default_url() == "postgresql://u@h/db"
    assert make_engine("postgresql://u@h/db").dialect.driver == "psycopg"


def test_sqlite_uses_wal_and_busy_timeout(tmp_path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'x' / 's.db'}")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 1000
    engine.dispose()


# --- locks (R-S1) ---------------------------------------------------------------------------------


def test_lock_second_acquirer_waits_then_fails_naming_holder(store: StateStore) -> None:
    store.acquire_lock("p1", "session 1 (scheduled run r1)")
    t0 = time.monotonic()
    with pytest.raises(LockTimeout) as err:
        store.acquire_lock("p1", "session 2 (cli)", timeout=0.6, poll=0.1)
    assert time.monotonic() - t0 >= 0.5  # it waited
    assert err.value.profile == "p1" and "session 1 (scheduled run r1)" in err.value.holder
    assert "session 1" in str(err.value)
    store.acquire_lock("p2", "session 3")  # another profile is not blocked
    assert store.release_lock("p1", "session 1 (scheduled run r1)")
    store.acquire_lock("p1", "session 2 (cli)", timeout=0)
    assert store.lock_holder("p1") == "session 2 (cli)"


def test_lock_waiter_gets_it_when_released(store: StateStore) -> None:
    store.acquire_lock("p1", "a")
    threading.Timer(0.3, lambda: store.release_lock("p1", "a")).start()
    store.acquire_lock("p1", "b", timeout=5, poll=0.05)
    assert store.lock_holder("p1") == "b"


def test_expired_lock_is_taken_over_and_heartbeat_extends(store: StateStore, clock: FakeClock) -> None:
    ttl = dt.timedelta(minutes=5)
    store.acquire_lock("p1", "dead worker", ttl=ttl)
    clock.advance(minutes=4)
    assert store.heartbeat_lock("p1", "dead worker", ttl=ttl)  # now expires at +9 min
    clock.advance(minutes=4)
    with pytest.raises(LockTimeout):
        store.acquire_lock("p1", "new", timeout=0, ttl=ttl)
    clock.advance(minutes=2)  # past the expiry: the holder died
    store.acquire_lock("p1", "new", timeout=0, ttl=ttl)
    assert store.lock_holder("p1") == "new"
    assert not store.heartbeat_lock("p1", "dead worker")  # it knows it lost the lock
    assert not store.release_lock("p1", "dead worker")  # and cannot release another's lock
    with store.lock("p2", "ctx"):
        assert store.lock_holder("p2") == "ctx"
    assert store.lock_holder("p2") is None


def test_lock_is_atomic_under_contention(store: StateStore) -> None:
    winners: list[str] = []
    errors: list[BaseException] = []

    def grab(name: str) -> None:
        try:
            store.acquire_lock("p1", name, timeout=0)
            winners.append(name)
        except LockTimeout:
            pass
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=grab, args=(f"w{i}",)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and len(winners) == 1


# --- ledger (R-A1, R-K4; STYLE 13) ----------------------------------------------------------------


def _actions(n: int, operation: str = "create") -> pd.DataFrame:
    df = pd.DataFrame({
        "profile_id": "p1", "side": "mailbox", "operation": operation, "link_id": [pd.NA] * n,
        "record_id": [f"00U{i}" for i in range(n)], "mailbox": "a@contoso.example", "item_id": pd.NA,
        "fields": '{"subject": "Hi"}', "before": pd.NA, "reason": "new record", "rule": "R-D3",
        "conflict": False, "winner": pd.NA,
    })
    return conform(df, ACTION_COLUMNS)


def test_transition_table_is_data() -> None:
    assert set(TRANSITIONS) == set(OUTCOMES)
    assert TRANSITIONS["pending"] == {"applied", "failed", "skipped"}
    assert TRANSITIONS["failed"] == {"pending"} and TRANSITIONS["skipped"] == {"pending"}
    assert TRANSITIONS["applied"] == frozenset()


def test_pending_before_send_and_findable(store: StateStore) -> None:
    # R-A1: the row exists, pending, before the request; R-K4 finds this session's pending creates.
    sid = _session(store)
    ids = store.record_pending(sid, _actions(3))
    other = store.record_pending(sid, _actions(1, "update"))
    assert len(ids) == 3 and len(set(ids)) == 3
    pending = store.pending_creates("p1", sid)
    assert list(pending["id"]) == ids
    assert (pending["outcome"] == "pending").all() and (pending["attempt"] == 1).all()
    assert pending["fields_after"].iloc[0] == '{"subject": "Hi"}'
    assert other[0] not in set(pending["id"])
    assert len(store.pending_creates("p1", sid + 1)) == 0
    assert len(store.pending_creates("p2")) == 0


def test_legal_transitions_and_retry(store: StateStore) -> None:
    sid = _session(store)
    a, b, c = store.record_pending(sid, _actions(3))
    store.mark_applied([a], results={a: {"item_id": "AAMk1"}})
    store.mark_failed([b], errors={b: "503 after 5 tries"})
    store.mark_skipped([c])
    led = store.ledger(session_id=sid).set_index("id")
    assert list(led["outcome"]) == ["applied", "failed", "skipped"]
    assert led.loc[b, "error"] == "503 after 5 tries" and "AAMk1" in led.loc[a, "result"]
    assert store.retry([b, c]) == 2
    led = store.ledger(ids=[b, c]).set_index("id")
    assert list(led["outcome"]) == ["pending", "pending"] and list(led["attempt"]) == [2, 2]
    assert led.loc[b, "error"] is None
    assert store.mark_applied([b, c]) == 2


def test_illegal_transition_raises_and_changes_nothing(store: StateStore) -> None:
    sid = _session(store)
    a, b = store.record_pending(sid, _actions(2))
    store.mark_applied([a])
    before = store.ledger(session_id=sid)
    with pytest.raises(IllegalTransition) as err:
        store.mark_failed([b, a])  # b may fail, a may not (applied is final): neither changes
    assert a in err.value.bad
    with pytest.raises(IllegalTransition):
        store.retry([b])  # pending -> pending is not a transition
    with pytest.raises(IllegalTransition):
        store.mark_applied([999_999])  # unknown row
    pd.testing.assert_frame_equal(store.ledger(session_id=sid), before)


def test_ledger_refuses_unknown_operation(store: StateStore) -> None:
    with pytest.raises(ValueError):
        store.record_pending(_session(store), _actions(1, "explode"))


# --- cursors (R-K1, R-K3; STYLE 11) ---------------------------------------------------------------


def test_staged_cursor_invisible_until_promoted(store: StateStore) -> None:
    s1 = _session(store)
    window = (REF - dt.timedelta(days=14), REF + dt.timedelta(days=60))
    store.stage_cursor(s1, "p1", "mailbox", "a@contoso.example", "https://graph/delta?token=1", window=window)
    assert store.get_cursor("p1", "mailbox", "a@contoso.example") is None
    store.promote(s1, status="succeeded")
    cur = store.get_cursor("p1", "mailbox", "a@contoso.example")
    assert cur is not None and cur.value.endswith("token=1")
    assert (cur.window_start, cur.window_end) == window  # R-K3: the window it was made for
    assert cur.session_id == s1
    s2 = _session(store)
    store.stage_cursor(s2, "p1", "mailbox", "a@contoso.example", "https://graph/delta?token=2")
    assert store.get_cursor("p1", "mailbox", "a@contoso.example").value.endswith("token=1")
    store.finish_session(s2, "failed", error_category="graph", error_message="boom")
    # A failed session promotes nothing; its staged value is discarded.
    assert store.get_cursor("p1", "mailbox", "a@contoso.example").value.endswith("token=1")
    s3 = _session(store)
    store.promote(s3, status="succeeded")
    assert store.get_cursor("p1", "mailbox", "a@contoso.example").value.endswith("token=1")


def test_incomplete_extract_not_promoted_and_partitions_independent(store: StateStore) -> None:
    s1 = _session(store)
    store.stage_cursor(s1, "p1", "salesforce", "Event", "2026-03-02T08:00:00Z")
    store.stage_cursor(s1, "p1", "mailbox", "a@x.example", "d-a")
    store.stage_cursor(s1, "p1", "mailbox", "b@x.example", "d-b", complete=False)
    assert store.promote(s1, status="succeeded").cursors_promoted == 2
    assert set(store.cursors("p1")) == {("salesforce", "Event"), ("mailbox", "a@x.example")}
    store.drop_cursor("p1", "mailbox", "a@x.example")  # 410 SyncStateNotFound (R-K3)
    assert store.get_cursor("p1", "mailbox", "a@x.example") is None


# --- sessions (R-A3, R-S4) ------------------------------------------------------------------------


def test_session_record_and_full_reconcile_reasons(store: StateStore, clock: FakeClock) -> None:
    assert store.full_reconcile_reason("p1", "h1", REF) == "first session of the profile"
    s1 = _session(store, full=True, run_id="scheduled__2026-03-02T09:00")
    store.finish_session(s1, "succeeded", stats={"scope": 10, "writes": {"create": 2}})
    info = store.session(s1)
    assert info.kind == "scheduled" and info.full and info.reference_time == REF
    assert info.ended_at is not None and info.stats["writes"] == {"create": 2}
    assert store.last_settings_hash("p1") == "h1"
    assert store.full_reconcile_reason("p1", "h1", REF + dt.timedelta(minutes=30)) is None
    assert "settings changed" in store.full_reconcile_reason("p1", "h2", REF)
    assert "UTC day" in store.full_reconcile_reason("p1", "h1", REF + dt.timedelta(days=1))
    # A failed session with new settings does not count: the next one must still be full.
    s2 = _session(store, settings_hash="h2", full=True)
    store.finish_session(s2, "failed", error_category="quota", error_message="below min_api_remaining")
    assert store.last_settings_hash("p1") == "h1"
    assert store.session(s2).error_category == "quota"
    assert [s.id for s in store.sessions("p1")] == [s2, s1]


# --- issues (R-V3) --------------------------------------------------------------------------------


def _obs(*rows: tuple[str, str, str]) -> pd.DataFrame:
    return pd.DataFrame([("record", k, c, m) for k, c, m in rows],
                        columns=["key_kind", "key", "code", "message"])


def test_issues_open_touch_resolve_and_reopen(store: StateStore, clock: FakeClock) -> None:
    s1 = _session(store)
    got = store.observe_issues(s1, "p1", _obs(("r1", "NO_MAILBOX", "owner has none"),
                                              ("r2", "PRIVATE_SKIPPED", "private item")))
    assert got == {"opened": 2, "touched": 0, "resolved": 0}
    t1 = clock.now
    clock.advance(minutes=30)
    s2 = _session(store)
    got = store.observe_issues(s2, "p1", _obs(("r1", "NO_MAILBOX", "owner has none")))
    assert got == {"opened": 0, "touched": 1, "resolved": 1}
    open_ = store.open_issues("p1")
    assert list(open_["key"]) == ["r1"]
    assert open_["first_seen"].iloc[0] == t1 and open_["last_seen"].iloc[0] == clock.now
    # An incremental session that did not re-check r1 leaves it open.
    s3 = _session(store)
    checked = pd.DataFrame({"key_kind": ["record"], "key": ["r9"]})
    got = store.observe_issues(s3, "p1", _obs(), checked=checked)
    assert got["resolved"] == 0 and len(store.open_issues("p1")) == 1
    # r2's condition comes back: the issue re-opens with a new first-seen.
    clock.advance(minutes=30)
    store.observe_issues(s3, "p1", _obs(("r1", "NO_MAILBOX", "owner has none"),
                                        ("r2", "PRIVATE_SKIPPED", "again")))
    r2 = store.open_issues("p1").set_index("key").loc["r2"]
    assert r2["first_seen"] == clock.now and r2["occurrences"] == 2 and r2["message"] == "again"
    assert len(store.issues("p1")) == 2  # one row per (profile, key, code)
    store.observe_issues(s3, "p2", _obs(("r1", "NO_MAILBOX", "other profile")))
    assert len(store.open_issues("p1")) == 2  # profiles are separate


def test_status_text_latest_first_seen_ties_by_code(store: StateStore, clock: FakeClock) -> None:
    s = _session(store)
    store.observe_issues(s, "p1", _obs(("r1", "NO_MAILBOX", "old"), ("r2", "ZETA", "z"),
                                       ("r2", "ALPHA", "a")))
    clock.advance(minutes=5)
    store.observe_issues(s, "p1", _obs(("r1", "NO_MAILBOX", "old"), ("r1", "UNKNOWN_TIME_ZONE", "x" * 400),
                                       ("r2", "ZETA", "z"), ("r2", "ALPHA", "a")))
    st = store.status_texts("p1").set_index("key")
    assert st.loc["r1", "code"] == "UNKNOWN_TIME_ZONE"  # latest first-seen
    assert len(st.loc["r1", "status"]) == 255  # CalSync_Sync_Status__c is Text(255)
    assert st.loc["r2", "status"] == "ALPHA: a"  # same first-seen: ties by code
    assert list(store.status_texts("p1", keys=["r2", "r3"])["key"]) == ["r2"]


# --- quarantine (R-V2, R-Z2) and caches (R-M5, R-M7, R-M9) ----------------------------------------


def test_quarantine_keeps_hashes_not_values(store: StateStore) -> None:
    s = _session(store)
    rows = pd.DataFrame({"side": ["mailbox"], "key": ["AAMk1"], "code": ["MISSING_DATE"],
                         "payload_hash": [-42], "message": ["no start"]})
    assert store.quarantine(s, "p1", rows) == 1
    q = store.quarantined("p1", s)
    assert list(q["code"]) == ["MISSING_DATE"] and q["payload_hash"].iloc[0] == -42
    assert "subject" not in q.columns and "body" not in q.columns


def test_caches(store: StateStore, clock: FakeClock) -> None:
    store.put_owners(pd.DataFrame({"owner_id": ["005A", "005B"], "email": ["a@x.example", None],
                                   "time_zone": ["Europe/Paris", None]}))
    got = store.owners(["005A", "005B", "005C"]).set_index("owner_id")
    assert got.loc["005A", "email"] == "a@x.example" and pd.isna(got.loc["005B", "email"])
    assert "005C" not in got.index
    clock.advance(days=2)
    assert len(store.owners(["005A"], max_age=dt.timedelta(days=1))) == 0
    store.put_describe("salesforce_default", "Event", {"missing": []}, describe_hash="abc")
    assert store.get_describe("salesforce_default", "Event") == {"missing": []}
    assert store.get_describe("salesforce_default", "Event", clock.now.date() + dt.timedelta(days=1)) is None
    store.put_describe("salesforce_default", "Event", {"missing": ["CalSync_Event_Id__c"]})
    assert store.get_describe("salesforce_default", "Event") == {"missing": ["CalSync_Event_Id__c"]}
    store.put_mailbox_time_zones({"a@x.example": "W. Europe Standard Time"})
    zones = store.mailbox_time_zones(["a@x.example", "b@x.example"])
    assert zones == {"a@x.example": "W. Europe Standard Time"}
    assert store.mailbox_time_zones(["a@x.example"], clock.now.date() - dt.timedelta(days=1)) == {}


def test_guard_blocked_actions_are_born_skipped(store: StateStore) -> None:
    # R-X6: blocked deletes are recorded as skipped, never sent; R-K2 retries them later.
    actions = _actions(2, "delete").assign(outcome=["pending", "skipped"])
    a, b = store.record_pending(_session(store), actions)
    led = store.ledger(ids=[a, b]).set_index("id")
    assert list(led["outcome"]) == ["pending", "skipped"]
    with pytest.raises(ValueError):
        store.record_pending(_session(store), _actions(1).assign(outcome="applied"))


def test_issues_from_transform_frame(store: StateStore) -> None:
    from calsync.schema import ISSUE_COLUMNS

    frame = conform(pd.DataFrame({
        "profile_id": ["p1", "p1"], "side": ["salesforce", "mailbox"], "record_id": ["00U1", None],
        "mailbox": [None, "a@x.example"], "item_id": [None, "AAMk1"], "code": ["TEXT_TRUNCATED", "SERIES"],
        "message": ["subject cut", "series"], "quarantine": [False, False]}), ISSUE_COLUMNS)
    assert store.observe_issues(_session(store), "p1", frame)["opened"] == 2
    got = store.open_issues("p1").set_index("key")
    assert got.loc["00U1", "key_kind"] == "record" and got.loc["AAMk1", "key_kind"] == "item"
