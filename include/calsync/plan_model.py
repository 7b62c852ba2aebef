"""The planner's inputs and outputs (the data half of ``calsync.plan``), and its issue codes.

Kept apart from ``plan.py`` so the planner's helper modules can share the types without importing the
entry point.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

# Issue codes the planner raises (transform and validate raise their own, R-V2).
AMBIGUOUS_MATCH = "AMBIGUOUS_MATCH"  # R-S7
PRIVATE_SKIPPED = "PRIVATE_SKIPPED"  # R-P1
WAITING_FOR_ORGANIZER = "WAITING_FOR_ORGANIZER"  # R-O4
OWNER_NOT_ORGANIZER = "OWNER_NOT_ORGANIZER"  # R-C4
NO_MAILBOX = "NO_MAILBOX"  # R-M7, R-C4
RECURRENCE = "RECURRENCE"  # R-M6
QUARANTINED = "QUARANTINED"  # R-V2: a link held back because one of its rows is quarantined

# Extra column of the actions frame (added to schema.ACTION_COLUMNS): the order in which apply must
# run the actions of one session (R-D5). Smaller first.
STEP_LINK, STEP_RECREATE, STEP_UPDATE, STEP_FOLLOWER, STEP_REMOVE = 0, 1, 2, 3, 4

# read_values(side, positions, ids) -> frame of value columns, one row per requested row in the same
# order: ``positions`` are row numbers in the side frame given to plan(), ``ids`` its record_id
# (salesforce) or item_id (mailbox) there. Lets the caller stage only hashes for every row and read
# full values for the few rows that need a write (DESIGN step 5).
ValueReader = Callable[[str, np.ndarray, list[str]], pd.DataFrame]


@dataclass(frozen=True)
class PlanInput:
    """Everything one planning pass of one profile needs; see ``calsync.plan.plan`` for the meaning."""

    profile: Any  # duck-typed calsync.profiles.Profile (docs/contracts/profile.md)
    sf: pd.DataFrame  # schema.SIDE_COLUMNS, Salesforce rows
    mb: pd.DataFrame  # schema.SIDE_COLUMNS, mailbox rows
    links: pd.DataFrame  # schema.LINK_COLUMNS, this profile's links
    reference_time: pd.Timestamp  # R-S2: never the wall clock
    full: bool = False  # informational: decisions never depend on it (R-S4)
    unavailable_mailboxes: frozenset[str] = frozenset()  # R-X6
    allow_mass_delete: bool = False  # R-X6 override
    quarantined_records: frozenset[str] = frozenset()  # R-V2, Salesforce ids
    quarantined_items: frozenset[str] = frozenset()  # R-V2, Graph item ids
    claimed_records: frozenset[str] = frozenset()  # R-O2: linked or claimed by another profile
    claimed_items: frozenset[str] = frozenset()
    synced_mailboxes: frozenset[str] = frozenset()  # R-O4: every mailbox the profile syncs
    read_values: ValueReader | None = None  # None: the side frames carry the value columns


@dataclass(frozen=True)
class GuardScope:
    scope: str  # "profile" or "mailbox"
    name: str  # profile id or mailbox address
    deletes: int  # links with a delete in this scope
    linked: int  # links in this scope


@dataclass(frozen=True)
class GuardOutcome:
    """R-X6: which scopes tripped the mass-delete guard and the message the session fails with."""

    blocked: tuple[GuardScope, ...] = ()
    overridden: tuple[GuardScope, ...] = ()  # would have tripped, but allow_mass_delete was set

    @property
    def tripped(self) -> bool:
        return bool(self.blocked)

    @property
    def message(self) -> str:
        if not self.blocked:
            return ""
        parts = ", ".join(f"{s.scope} {s.name}: {s.deletes} of {s.linked} links" for s in self.blocked)
        return (
            f"mass-delete guard: deletes blocked in {parts}; they are recorded as skipped and the "
            "links stay dirty. Check the sides, then re-run with allow_mass_delete=true to apply them."
        )


@dataclass(frozen=True)
class PlanResult:
    actions: pd.DataFrame  # schema.ACTION_COLUMNS (+ outcome, step), in apply order
    issues: pd.DataFrame  # schema.ISSUE_COLUMNS
    guard: GuardOutcome
    dirty_link_ids: np.ndarray  # R-K2: links to re-read by id at the next session
    needs_read: pd.DataFrame  # link_id, side: linked rows the caller must read by id (R-C3)
    rebaseline_link_ids: np.ndarray = field(default_factory=lambda: np.empty(0, "int64"))  # R-C1

    def for_apply(self) -> pd.DataFrame:
        """The actions apply should send (the guard's skipped ones are only ledger rows)."""
        return self.actions[self.actions["outcome"] == "pending"]
