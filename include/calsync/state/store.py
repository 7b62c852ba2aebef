"""StateStore: the one object the session, planner and CLI talk to (DESIGN "One session, as data").

Takes profile ids and settings hashes as arguments; imports nothing from calsync.profiles.
Every method opens its own short transaction, except ``promote``, which does the whole close of a
session in one: new baselines, dropped links, dirty flags, cursor promotion and the session's end.
A crash before its commit leaves the old baselines and cursors (the next session re-plans the same
changes); a crash after leaves the new ones (STYLE 3, 11).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pandas as pd
from sqlalchemy import Engine, and_, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite

from calsync.errors import CalsyncError
from calsync.schema import SIDES
from calsync.state import caches, issues, ledger, linkio, locks, migrate
from calsync.state.engine import make_engine, normalise_url, read_tx, write_tx
from calsync.state.models import Cursor, QuarantineRow, Session

SESSION_KINDS = ("scheduled", "backfill", "cli")
SESSION_STATUSES = ("running", "succeeded", "failed")
DEFAULT_LOCK_TIMEOUT = 300.0  # seconds a second session waits for the profile (R-S1)
DEFAULT_LOCK_TTL = dt.timedelta(minutes=30)  # a holder that stops heartbeating loses the lock after this

_SESSIONS = Session.__table__
_CURSORS = Cursor.__table__
_QUARANTINE = QuarantineRow.__table__


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class SessionInfo:
    id: int
    profile_id: str
    kind: str
    reference_time: dt.datetime
    full: bool
    full_reason: str | None
    settings_hash: str
    dry_run: bool
    started_at: dt.datetime
    ended_at: dt.datetime | None
    status: str
    stats: dict[str, Any] | None
    error_category: str | None
    error_message: str | None
    run_id: str | None


@dataclass(frozen=True)
class CursorValue:
    """A committed cursor: the watermark or delta link, and the window it was made for (R-K3)."""

    value: str
    window_start: dt.datetime | None
    window_end: dt.datetime | None
    committed_at: dt.datetime | None
    session_id: int | None


@dataclass(frozen=True)
class PromoteResult:
    links_saved: int
    links_deleted: int
    cursors_promoted: int
    link_ids: list[int]  # ids of the saved rows, in frame order (new links got theirs here)


class StateStoreError(CalsyncError):
    """Misuse of the state store that would break a rule (e.g. a dry run moving a baseline, R-S6)."""


class StateStore:
    """Links, baselines, cursors, sessions, locks, ledger, issues, quarantine and caches."""

    def __init__(self, url: str | None = None, *, engine: Engine | None = None,
                 clock: Callable[[], dt.datetime] = utcnow) -> None:
        self.engine = engine if engine is not None else make_engine(url)
        self.clock = clock

    @property
    def url(self) -> str:
        return self.engine.url.render_as_string(hide_password=True)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def migrate(self, revision: str = "head") -> None:
        """Bring the schema to ``revision`` (Alembic ``upgrade``), configured in code."""
        migrate.upgrade(self.engine, revision)

    def dispose(self) -> None:
        self.engine.dispose()

    # --- links ------------------------------------------------------------------------------------

    def load_links(self, profile_id: str | None = None, *, dirty_only: bool = False) -> pd.DataFrame:
        """All links (of one profile, or of all for R-O2's "linked by another profile"), one query."""
        with read_tx(self.engine) as conn:
            return linkio.load(conn, profile_id, dirty_only=dirty_only)

    def upsert_links(self, df: pd.DataFrame) -> pd.DataFrame:
        """Insert or update links by link_id; rows without one get a new id. Returns the frame with ids.

        Raises LinkConflict (nothing saved) when a row would break R-O1.
        """
        with write_tx(self.engine) as conn:
            out = linkio.assign_link_ids(conn, df)
            linkio.upsert(conn, out)
        return out

    save_links = upsert_links

    def delete_links(self, link_ids: Iterable[int]) -> int:
        with write_tx(self.engine) as conn:
            return linkio.delete(conn, link_ids)

    def mark_dirty(self, link_ids: Iterable[int], dirty: bool = True) -> int:
        """R-K2 outside a close (e.g. a guard decided early). Normally part of ``promote``."""
        with write_tx(self.engine) as conn:
            return linkio.set_flag(conn, "dirty", link_ids, dirty)

    def promote(self, session_id: int, *, links: pd.DataFrame | None = None,
                deleted_link_ids: Iterable[int] = (), dirty_link_ids: Iterable[int] = (),
                clean_link_ids: Iterable[int] = (), in_window_ids: Iterable[int] | None = None,
                status: str | None = None, stats: Mapping[str, Any] | None = None,
                error_category: str | None = None, error_message: str | None = None) -> PromoteResult:
        """Close a session in one transaction.

        * ``links``: rows to save (LINK_COLUMNS; new links without link_id): the new baselines of
          links whose actions were applied, and new links (R-C2: only applied actions move baselines);
        * ``deleted_link_ids``: links dropped by applied unlink/delete actions;
        * ``dirty_link_ids`` / ``clean_link_ids``: R-K2 (dirty wins when an id is in both);
        * ``in_window_ids``: when given, exactly these links of the profile are ``in_window`` (R-X5);
        * the session's completed cursor extracts are promoted (R-K1), except for backfills (R-S5);
        * ``status``: when given, the session ends with it (and stats / error).
        A dry-run session (R-S6) may only end: it moves no baseline and no cursor.
        """
        info = self.session(session_id)
        dirty = {int(i) for i in dirty_link_ids}
        clean = {int(i) for i in clean_link_ids} - dirty
        deleted = [int(i) for i in deleted_link_ids]
        if info.dry_run and ((links is not None and len(links)) or deleted or dirty or clean
                             or in_window_ids is not None):
            raise StateStoreError(f"session {session_id} is a dry run: it moves no baseline (R-S6)")
        now = self.clock()
        saved_ids: list[int] = []
        with write_tx(self.engine) as conn:
            saved = 0
            if links is not None and len(links):
                out = linkio.assign_link_ids(conn, links)
                saved = linkio.upsert(conn, out)
                saved_ids = [int(i) for i in out["link_id"]]
            n_deleted = linkio.delete(conn, deleted)
            if in_window_ids is not None:
                linkio.set_flag_exactly(conn, "in_window", info.profile_id, in_window_ids)
            linkio.set_flag(conn, "dirty", clean, False)
            linkio.set_flag(conn, "dirty", dirty, True)
            promoted = 0
            if not info.dry_run and info.kind != "backfill":
                promoted = self._promote_cursors(conn, session_id, now)
            self._clear_progress(conn, session_id)
            if status is not None:
                self._finish(conn, session_id, status, now, stats, error_category, error_message)
        return PromoteResult(saved, n_deleted, promoted, saved_ids)

    # --- sessions ---------------------------------------------------------------------------------

    def start_session(self, profile_id: str, *, kind: str, reference_time: dt.datetime, full: bool,
                      settings_hash: str, dry_run: bool = False, run_id: str | None = None,
                      full_reason: str | None = None) -> int:
        if kind not in SESSION_KINDS:
            raise ValueError(f"session kind must be one of {SESSION_KINDS}, not {kind!r}")
        with write_tx(self.engine) as conn:
            res = conn.execute(insert(_SESSIONS).returning(_SESSIONS.c.id).values(
                profile_id=profile_id, kind=kind, run_id=run_id, reference_time=reference_time,
                full=full, full_reason=full_reason, settings_hash=settings_hash, dry_run=dry_run,
                started_at=self.clock(), status="running"))
            return int(res.scalar_one())

    def finish_session(self, session_id: int, status: str, *, stats: Mapping[str, Any] | None = None,
                       error_category: str | None = None, error_message: str | None = None) -> None:
        """End a session without promoting anything (a failed session: cursors stay, R-K1)."""
        with write_tx(self.engine) as conn:
            self._clear_progress(conn, session_id)
            self._finish(conn, session_id, status, self.clock(), stats, error_category, error_message)

    def _finish(self, conn: Any, session_id: int, status: str, now: dt.datetime,
                stats: Mapping[str, Any] | None, error_category: str | None,
                error_message: str | None) -> None:
        if status not in SESSION_STATUSES[1:]:
            raise ValueError(f"a session ends as one of {SESSION_STATUSES[1:]}, not {status!r}")
        conn.execute(update(_SESSIONS).where(_SESSIONS.c.id == session_id).values(
            status=status, ended_at=now, error_category=error_category, error_message=error_message,
            stats=None if stats is None else json.dumps(stats, sort_keys=True, default=str)))

    def session(self, session_id: int) -> SessionInfo:
        with read_tx(self.engine) as conn:
            row = conn.execute(select(_SESSIONS).where(_SESSIONS.c.id == session_id)).mappings().first()
        if row is None:
            raise StateStoreError(f"no session {session_id}")
        return _session_info(row)

    def sessions(self, profile_id: str | None = None, limit: int = 100) -> list[SessionInfo]:
        q = select(_SESSIONS).order_by(_SESSIONS.c.id.desc()).limit(limit)
        if profile_id is not None:
            q = q.where(_SESSIONS.c.profile_id == profile_id)
        with read_tx(self.engine) as conn:
            return [_session_info(r) for r in conn.execute(q).mappings().all()]

    def last_session(self, profile_id: str, *, status: str | None = "succeeded",
                     kinds: Iterable[str] = ("scheduled", "cli"), include_dry_run: bool = False
                     ) -> SessionInfo | None:
        q = (select(_SESSIONS).where(and_(_SESSIONS.c.profile_id == profile_id,
                                          _SESSIONS.c.kind.in_(list(kinds))))
             .order_by(_SESSIONS.c.id.desc()).limit(1))
        if status is not None:
            q = q.where(_SESSIONS.c.status == status)
        if not include_dry_run:
            q = q.where(_SESSIONS.c.dry_run.is_(False))
        with read_tx(self.engine) as conn:
            row = conn.execute(q).mappings().first()
        return None if row is None else _session_info(row)

    def last_settings_hash(self, profile_id: str) -> str | None:
        """The settings hash of the last succeeded (non-dry-run, non-backfill) session (R-S4)."""
        last = self.last_session(profile_id)
        return None if last is None else last.settings_hash

    def full_reconcile_reason(self, profile_id: str, settings_hash: str,
                              reference_time: dt.datetime) -> str | None:
        """Why this session must be a full reconcile (R-S4), or None for incremental.

        Session-level reasons only: a missing, rejected or out-of-window cursor (R-K3) is per mailbox
        and is judged by the caller from ``get_cursor``.
        """
        last = self.last_session(profile_id)
        if last is None:
            return "first session of the profile"
        if last.settings_hash != settings_hash:
            return "profile settings changed since the last session"
        day = reference_time.astimezone(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        q = select(func.count()).select_from(_SESSIONS).where(and_(
            _SESSIONS.c.profile_id == profile_id, _SESSIONS.c.status == "succeeded",
            _SESSIONS.c.full.is_(True), _SESSIONS.c.dry_run.is_(False),
            _SESSIONS.c.kind.in_(["scheduled", "cli"]),
            _SESSIONS.c.reference_time >= day, _SESSIONS.c.reference_time < day + dt.timedelta(days=1)))
        with read_tx(self.engine) as conn:
            if not conn.execute(q).scalar_one():
                return "first session of the UTC day"
        return None

    # --- locks (R-S1) -----------------------------------------------------------------------------

    def acquire_lock(self, profile_id: str, holder: str, *, timeout: float = DEFAULT_LOCK_TIMEOUT,
                     ttl: dt.timedelta = DEFAULT_LOCK_TTL, poll: float = 0.5) -> None:
        """Take the profile's lock, waiting up to ``timeout`` s; LockTimeout names the holder."""
        locks.acquire(self.engine, profile_id, holder, timeout=timeout, ttl=ttl, clock=self.clock, poll=poll)

    def heartbeat_lock(self, profile_id: str, holder: str, *, ttl: dt.timedelta = DEFAULT_LOCK_TTL) -> bool:
        return locks.heartbeat(self.engine, profile_id, holder, ttl=ttl, clock=self.clock)

    def release_lock(self, profile_id: str, holder: str) -> bool:
        return locks.release(self.engine, profile_id, holder)

    def lock_holder(self, profile_id: str) -> str | None:
        current = locks.holder_of(self.engine, profile_id)
        return None if current is None else current[0]

    @contextmanager
    def lock(self, profile_id: str, holder: str, *, timeout: float = DEFAULT_LOCK_TIMEOUT,
             ttl: dt.timedelta = DEFAULT_LOCK_TTL) -> Iterator[None]:
        self.acquire_lock(profile_id, holder, timeout=timeout, ttl=ttl)
        try:
            yield
        finally:
            self.release_lock(profile_id, holder)

    # --- cursors (R-K1, R-K3) ---------------------------------------------------------------------

    def get_cursor(self, profile_id: str, side: str, partition: str) -> CursorValue | None:
        """The committed cursor; a staged (progress) value is never visible here."""
        with read_tx(self.engine) as conn:
            row = conn.execute(select(_CURSORS).where(and_(
                _CURSORS.c.profile_id == profile_id, _CURSORS.c.side == side,
                _CURSORS.c.partition == partition))).mappings().first()
        if row is None or row["value"] is None:
            return None
        return CursorValue(row["value"], row["window_start"], row["window_end"], row["committed_at"],
                           row["committed_session"])

    def cursors(self, profile_id: str) -> dict[tuple[str, str], CursorValue]:
        with read_tx(self.engine) as conn:
            rows = conn.execute(select(_CURSORS).where(and_(
                _CURSORS.c.profile_id == profile_id, _CURSORS.c.value.is_not(None)))).mappings().all()
        return {(r["side"], r["partition"]): CursorValue(r["value"], r["window_start"], r["window_end"],
                                                         r["committed_at"], r["committed_session"])
                for r in rows}

    def stage_cursor(self, session_id: int, profile_id: str, side: str, partition: str, value: str, *,
                     window: tuple[dt.datetime, dt.datetime] | None = None, complete: bool = True) -> None:
        """Record what an extract read up to. Promoted at close only if ``complete`` (R-K1)."""
        if side not in SIDES:
            raise ValueError(f"side must be one of {SIDES}")
        ins = postgresql.insert(_CURSORS) if self.dialect == "postgresql" else sqlite.insert(_CURSORS)
        progress = {"progress_value": value, "progress_session": session_id, "progress_complete": complete,
                    "progress_window_start": window[0] if window else None,
                    "progress_window_end": window[1] if window else None}
        with write_tx(self.engine) as conn:
            conn.execute(ins.values(profile_id=profile_id, side=side, partition=partition, **progress)
                         .on_conflict_do_update(index_elements=["profile_id", "side", "partition"],
                                                set_=progress))

    def drop_cursor(self, profile_id: str, side: str, partition: str) -> None:
        """Forget a committed cursor (rejected delta link, R-K3): the next extract is a full one."""
        with write_tx(self.engine) as conn:
            conn.execute(update(_CURSORS).where(and_(
                _CURSORS.c.profile_id == profile_id, _CURSORS.c.side == side,
                _CURSORS.c.partition == partition)).values(value=None, window_start=None, window_end=None))

    def _promote_cursors(self, conn: Any, session_id: int, now: dt.datetime) -> int:
        c = _CURSORS.c
        res = conn.execute(update(_CURSORS).where(and_(c.progress_session == session_id,
                                                       c.progress_complete.is_(True)))
                           .values(value=c.progress_value, window_start=c.progress_window_start,
                                   window_end=c.progress_window_end, committed_at=now,
                                   committed_session=session_id))
        return int(res.rowcount)

    def _clear_progress(self, conn: Any, session_id: int) -> None:
        conn.execute(update(_CURSORS).where(_CURSORS.c.progress_session == session_id).values(
            progress_value=None, progress_window_start=None, progress_window_end=None,
            progress_session=None, progress_complete=False))

    # --- ledger (R-A1, R-K4) ----------------------------------------------------------------------

    def record_pending(self, session_id: int, actions: pd.DataFrame) -> list[int]:
        """Write each action as a pending ledger row, committed before any request is sent (R-A1)."""
        with write_tx(self.engine) as conn:
            return ledger.record_pending(conn, session_id, actions, self.clock())

    def mark_outcome(self, ledger_ids: Iterable[int], outcome: str, *,
                     errors: Mapping[int, str] | None = None,
                     results: Mapping[int, Any] | None = None) -> int:
        """Move rows along TRANSITIONS; an illegal move raises IllegalTransition and changes nothing."""
        with write_tx(self.engine) as conn:
            return ledger.transition(conn, list(ledger_ids), outcome, self.clock(), errors=errors,
                                     results=results)

    def mark_applied(self, ids: Iterable[int], results: Mapping[int, Any] | None = None) -> int:
        return self.mark_outcome(ids, ledger.APPLIED, results=results)

    def mark_failed(self, ids: Iterable[int], errors: Mapping[int, str] | None = None) -> int:
        return self.mark_outcome(ids, ledger.FAILED, errors=errors)

    def mark_skipped(self, ids: Iterable[int], errors: Mapping[int, str] | None = None) -> int:
        return self.mark_outcome(ids, ledger.SKIPPED, errors=errors)

    def retry(self, ids: Iterable[int]) -> int:
        """failed/skipped -> pending, attempt + 1."""
        return self.mark_outcome(ids, ledger.PENDING)

    def ledger(self, *, session_id: int | None = None, profile_id: str | None = None,
               outcomes: Iterable[str] | None = None, operations: Iterable[str] | None = None,
               ids: Iterable[int] | None = None) -> pd.DataFrame:
        with read_tx(self.engine) as conn:
            return ledger.frame(conn, session_id=session_id, profile_id=profile_id, outcomes=outcomes,
                                operations=operations, ids=ids)

    def pending_creates(self, profile_id: str, session_id: int | None = None) -> pd.DataFrame:
        """Creates whose request may have gone through (R-K4): look for their stamp/key first."""
        return self.ledger(session_id=session_id, profile_id=profile_id, outcomes=[ledger.PENDING],
                           operations=ledger.CREATING_OPERATIONS)

    # --- issues (R-V3) and quarantine (R-V2) ------------------------------------------------------

    def observe_issues(self, session_id: int, profile_id: str, observed: pd.DataFrame,
                       checked: pd.DataFrame | None = None) -> dict[str, int]:
        with write_tx(self.engine) as conn:
            return issues.observe(conn, session_id, profile_id, observed, self.clock(), checked)

    def open_issues(self, profile_id: str | None = None) -> pd.DataFrame:
        with read_tx(self.engine) as conn:
            return issues.frame(conn, profile_id)

    def issues(self, profile_id: str | None = None) -> pd.DataFrame:
        with read_tx(self.engine) as conn:
            return issues.frame(conn, profile_id, open_only=False)

    def status_texts(self, profile_id: str, keys: Iterable[str] | None = None) -> pd.DataFrame:
        with read_tx(self.engine) as conn:
            return issues.status_texts(conn, profile_id, keys)

    def quarantine(self, session_id: int, profile_id: str, rows: pd.DataFrame) -> int:
        """Rows that failed validation: side, key, code, payload_hash, message (never values, R-Z2)."""
        if len(rows) == 0:
            return 0
        now = self.clock()
        recs = [{"session_id": session_id, "profile_id": profile_id, "side": r["side"], "key": r["key"],
                 "code": r["code"], "created_at": now,
                 "payload_hash": None if pd.isna(r.get("payload_hash")) else int(r["payload_hash"]),
                 "message": None if pd.isna(r.get("message")) else r["message"]}
                for r in rows.astype(object).to_dict("records")]
        with write_tx(self.engine) as conn:
            conn.execute(insert(_QUARANTINE), recs)
        return len(recs)

    def quarantined(self, profile_id: str, session_id: int | None = None) -> pd.DataFrame:
        q = select(_QUARANTINE).where(_QUARANTINE.c.profile_id == profile_id).order_by(_QUARANTINE.c.id)
        if session_id is not None:
            q = q.where(_QUARANTINE.c.session_id == session_id)
        with read_tx(self.engine) as conn:
            rows = conn.execute(q).mappings().all()
        return pd.DataFrame(rows, columns=[c.name for c in _QUARANTINE.columns])

    # --- caches (R-M5, R-M7, R-M9) ----------------------------------------------------------------

    def owners(self, owner_ids: Iterable[str], max_age: dt.timedelta | None = None) -> pd.DataFrame:
        """Cached OwnerId -> email, time zone; only entries fetched within ``max_age``."""
        fresh_after = None if max_age is None else self.clock() - max_age
        with read_tx(self.engine) as conn:
            return caches.owners(conn, owner_ids, fresh_after)

    def put_owners(self, df: pd.DataFrame) -> None:
        with write_tx(self.engine) as conn:
            caches.put_owners(conn, df, self.clock())

    def get_describe(self, org: str, sobject: str, day: dt.date | None = None) -> dict[str, Any] | None:
        """The describe check result cached for ``day`` (default: today, UTC), else None."""
        with read_tx(self.engine) as conn:
            return caches.get_describe(conn, org, sobject, day or self.clock().date())

    def put_describe(self, org: str, sobject: str, result: Mapping[str, Any], *,
                     describe_hash: str | None = None, day: dt.date | None = None) -> None:
        with write_tx(self.engine) as conn:
            caches.put_describe(conn, org, sobject, result, day or self.clock().date(), describe_hash)

    def mailbox_time_zones(self, mailboxes: Iterable[str],
                           day: dt.date | None = None) -> dict[str, str | None]:
        with read_tx(self.engine) as conn:
            return caches.mailbox_time_zones(conn, mailboxes, day or self.clock().date())

    def put_mailbox_time_zones(self, zones: Mapping[str, str | None], day: dt.date | None = None) -> None:
        with write_tx(self.engine) as conn:
            caches.put_mailbox_time_zones(conn, zones, day or self.clock().date())


def _session_info(row: Mapping[str, Any]) -> SessionInfo:
    return SessionInfo(
        id=row["id"], profile_id=row["profile_id"], kind=row["kind"], reference_time=row["reference_time"],
        full=bool(row["full"]), full_reason=row["full_reason"], settings_hash=row["settings_hash"],
        dry_run=bool(row["dry_run"]), started_at=row["started_at"], ended_at=row["ended_at"],
        status=row["status"], stats=None if row["stats"] is None else json.loads(row["stats"]),
        error_category=row["error_category"], error_message=row["error_message"], run_id=row["run_id"])


def open_store(url: str | None = None, *, migrate_schema: bool = True) -> StateStore:
    """A store at ``url`` (default ``$CALSYNC_STATE_URL`` / SQLite), migrated to head."""
    store = StateStore(normalise_url(url) if url else None)
    if migrate_schema:
        store.migrate()
    return store
