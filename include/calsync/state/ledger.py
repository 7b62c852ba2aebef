"""The ledger: one row per planned write, written pending before its request is sent (R-A1).

What may become of a row is a table of allowed transitions, as data (STYLE 13, h11's ``_state``).
A change that the table does not allow raises and changes nothing: the whole batch is checked
before any row is touched, and each UPDATE is conditional on the state it was checked in.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pandas as pd
from sqlalchemy import Connection, and_, bindparam, insert, select, update

from calsync.errors import CalsyncError
from calsync.schema import OPERATIONS, OUTCOMES, SIDES
from calsync.state.models import LedgerRow

PENDING, APPLIED, FAILED, SKIPPED = OUTCOMES

# from-outcome -> outcomes it may become. "applied" is final: a write that happened stays recorded
# as having happened. A failed or skipped row goes back to pending when it is retried (R-K2, R-K4).
TRANSITIONS: Mapping[str, frozenset[str]] = {
    PENDING: frozenset({APPLIED, FAILED, SKIPPED}),
    FAILED: frozenset({PENDING}),
    SKIPPED: frozenset({PENDING}),
    APPLIED: frozenset(),
}

# Operations that bring a new record or item into being: the ones R-K4 must look for before re-sending.
CREATING_OPERATIONS: tuple[str, ...] = ("create", "restore", "revert_delete")

_T = LedgerRow.__table__
_CHUNK = 5_000


class IllegalTransition(CalsyncError):
    """A ledger row was asked to move to an outcome the transition table does not allow from its own."""

    def __init__(self, bad: Mapping[int, tuple[str | None, str]]) -> None:
        shown = ", ".join(f"#{i}: {a} -> {b}" for i, (a, b) in list(bad.items())[:5])
        more = f" (+{len(bad) - 5} more)" if len(bad) > 5 else ""
        super().__init__(f"illegal ledger transition {shown}{more}; nothing was changed")
        self.bad = dict(bad)


def allowed(before: str, after: str) -> bool:
    return after in TRANSITIONS.get(before, frozenset())


def _json(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and pd.isna(value)) or value is pd.NA:
        return None
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)


def _opt(value: Any) -> Any:
    return None if value is None or value is pd.NA or (not isinstance(value, str) and pd.isna(value)) \
        else value


# A row is born pending (its request is about to be sent) or skipped (the planner already blocked it,
# e.g. the mass-delete guard of R-X6, so it is recorded but never sent).
INITIAL_OUTCOMES = frozenset({PENDING, SKIPPED})


def _initial_outcome(value: Any) -> str:
    outcome = _opt(value) or PENDING
    if outcome not in INITIAL_OUTCOMES:
        raise ValueError(f"ledger: a new row is pending or skipped, not {outcome!r}")
    return str(outcome)


def record_pending(conn: Connection, session_id: int, actions: pd.DataFrame, now: dt.datetime) -> list[int]:
    """Insert one row per action (ACTION_COLUMNS, plus optional ledger columns); return ids in the
    order of the frame. Rows are pending unless the action's ``outcome`` says skipped. Batched: one
    executemany with RETURNING."""
    if len(actions) == 0:
        return []
    bad_ops = set(actions["operation"].dropna()) - set(OPERATIONS)
    bad_sides = set(actions["side"].dropna()) - set(SIDES)
    if bad_ops or bad_sides or actions["operation"].isna().any() or actions["side"].isna().any():
        raise ValueError(f"ledger: unknown operation {sorted(bad_ops)} or side {sorted(bad_sides)}")
    optional = ("link_id", "mailbox", "record_id", "item_id", "reason", "rule", "winner",
                "side_modified_at", "side_modified_by", "create_key", "transaction_id")
    rows: list[dict[str, Any]] = []
    for rec in actions.to_dict("records"):  # the changed subset only, never all links
        row = {c: _opt(rec.get(c)) for c in optional}
        row.update(
            session_id=session_id, profile_id=rec["profile_id"], side=rec["side"],
            operation=rec["operation"], fields_after=_json(_opt(rec.get("fields"))),
            fields_before=_json(_opt(rec.get("before"))), conflict=bool(_opt(rec.get("conflict")) or False),
            outcome=_initial_outcome(rec.get("outcome")), attempt=1, created_at=now, updated_at=now,
        )
        if row["link_id"] is not None:
            row["link_id"] = int(row["link_id"])
        if isinstance(row["side_modified_at"], pd.Timestamp):
            row["side_modified_at"] = row["side_modified_at"].to_pydatetime()
        rows.append(row)
    result = conn.execute(insert(_T).returning(_T.c.id, sort_by_parameter_order=True), rows)
    return [int(r[0]) for r in result]


def transition(conn: Connection, ids: Sequence[int], to: str, now: dt.datetime, *,
               errors: Mapping[int, str] | None = None, results: Mapping[int, Any] | None = None) -> int:
    """Move rows to outcome ``to``; every row must be allowed to, or nothing changes."""
    if to not in OUTCOMES:
        raise ValueError(f"unknown outcome {to!r}")
    ids = [int(i) for i in ids]
    if not ids:
        return 0
    current: dict[int, str] = {}
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start:start + _CHUNK]
        rows = conn.execute(select(_T.c.id, _T.c.outcome).where(_T.c.id.in_(chunk))).all()
        current.update((int(i), str(o)) for i, o in rows)
    bad = {i: (current.get(i), to) for i in ids if i not in current or not allowed(current[i], to)}
    if bad:
        raise IllegalTransition(bad)
    values: dict[str, Any] = {"outcome": to, "updated_at": now}
    if to == PENDING:
        values["attempt"] = _T.c.attempt + 1  # a retry (R-K4 looks before re-sending a create)
        values["error"] = None
    by_from: dict[str, list[int]] = {}
    for i in ids:
        by_from.setdefault(current[i], []).append(i)
    changed = 0
    for before, group in by_from.items():
        for start in range(0, len(group), _CHUNK):
            chunk = group[start:start + _CHUNK]
            # Conditional on the checked state: a concurrent change makes the count differ, and the
            # caller's transaction rolls back, so still nothing changed.
            stmt = update(_T).where(and_(_T.c.id.in_(chunk), _T.c.outcome == before)).values(values)
            res = conn.execute(stmt)
            if res.rowcount != len(chunk):
                raise IllegalTransition({i: (before, to) for i in chunk})
            changed += res.rowcount
    detail = [{"b_id": i, "b_error": (errors or {}).get(i), "b_result": _json((results or {}).get(i))}
              for i in ids if (errors and i in errors) or (results and i in results)]
    if detail:
        conn.execute(update(_T).where(_T.c.id == bindparam("b_id"))
                     .values(error=bindparam("b_error"), result=bindparam("b_result")), detail)
    return changed


def frame(conn: Connection, *, session_id: int | None = None, profile_id: str | None = None,
          outcomes: Iterable[str] | None = None, operations: Iterable[str] | None = None,
          ids: Iterable[int] | None = None) -> pd.DataFrame:
    q = select(_T).order_by(_T.c.id)
    if session_id is not None:
        q = q.where(_T.c.session_id == session_id)
    if profile_id is not None:
        q = q.where(_T.c.profile_id == profile_id)
    if outcomes is not None:
        q = q.where(_T.c.outcome.in_(list(outcomes)))
    if operations is not None:
        q = q.where(_T.c.operation.in_(list(operations)))
    if ids is not None:
        q = q.where(_T.c.id.in_([int(i) for i in ids]))
    rows = conn.execute(q).mappings().all()
    df = pd.DataFrame(rows, columns=[c.name for c in _T.columns])
    for c in ("created_at", "updated_at", "side_modified_at"):
        df[c] = pd.to_datetime(df[c], utc=True)
    return df
