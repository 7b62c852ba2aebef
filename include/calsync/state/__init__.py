"""The state store: links with per-side baselines, cursors, sessions, locks, ledger, issues, caches.

See docs/state.md. Public names are re-exported here; the planner and the session code import
``from calsync.state import StateStore``.
"""

from __future__ import annotations

from calsync.state.engine import ENV_URL, default_url, make_engine
from calsync.state.ledger import CREATING_OPERATIONS, TRANSITIONS, IllegalTransition
from calsync.state.linkio import LinkConflict
from calsync.state.store import (
    SESSION_KINDS,
    CursorValue,
    PromoteResult,
    SessionInfo,
    StateStore,
    StateStoreError,
    open_store,
)

__all__ = [
    "CREATING_OPERATIONS",
    "ENV_URL",
    "SESSION_KINDS",
    "TRANSITIONS",
    "CursorValue",
    "IllegalTransition",
    "LinkConflict",
    "PromoteResult",
    "SessionInfo",
    "StateStore",
    "StateStoreError",
    "default_url",
    "make_engine",
    "open_store",
]
