"""A session: passes of the rules until none applies (R-D5), then the mass-delete guard (R-X6).

`plan_session` is a fixed point: plan one pass over the links, the unlinked records and the unlinked
items; apply that pass to a private copy of the world; plan again; stop when a pass decides nothing. The
actions of all passes, in order, are the session's plan. The guard is then checked over the whole plan;
when it trips, the session is planned again with the deletes of the blocked scope marked skipped (and not
simulated), so nothing depends on a delete that will not happen (N1, N23).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from calsync.schema import SALESFORCE

from .actions import PLANNED, Action
from .apply import apply
from .rules import Pass
from .world import Context, World

MAX_PASSES = 8


def _simulate(world: World, profile: Any, ctx: Context, blocked: set[str]) -> list[Action]:
    sim = world.copy()
    skipped_links: set[tuple[str, str, str]] = set()
    plan: list[Action] = []
    for _ in range(MAX_PASSES):
        decided = Pass(sim, profile, ctx, blocked, skipped_links).run()
        plan.extend(decided)
        applied = [a for a in decided if a.outcome == PLANNED]
        if not applied:
            return plan
        sim = apply(sim, applied, profile, ctx, close=False)
    raise AssertionError(f"reference model did not reach a fixed point in {MAX_PASSES} passes: {plan}")


def _guard_scopes(world: World, profile: Any, ctx: Context, plan: Iterable[Action]) -> set[str]:
    """R-X6: scopes (a mailbox, or "*" for the profile) whose planned deletes exceed the guard."""
    if ctx.allow_mass_delete:
        return set()
    links = world.links_of(profile.id)
    per_mailbox: dict[str, set[tuple[str, str | None]]] = {}
    for a in plan:
        if a.operation == "delete" and a.mailbox is not None:  # once per link, on the side it deletes
            per_mailbox.setdefault(a.mailbox, set()).add(
                (a.side, a.record_id if a.side == SALESFORCE else a.item_id)
            )
    blocked: set[str] = set()

    def trips(count: int, total: int) -> bool:
        return count > profile.max_delete_fraction * total and count > profile.min_delete_guard

    for mailbox, deletes in per_mailbox.items():
        if trips(len(deletes), sum(1 for lk in links if lk.mailbox == mailbox)):
            blocked.add(mailbox)
    if trips(sum(len(d) for d in per_mailbox.values()), len(links)):
        blocked.add("*")
    return blocked


def plan_session(world: World, profile: Any, ctx: Context) -> list[Action]:
    """Every action one session of `profile` takes on `world` (see the package docstring)."""
    blocked: set[str] = set()
    while True:
        plan = _simulate(world, profile, ctx, blocked)
        more = _guard_scopes(world, profile, ctx, [a for a in plan if a.outcome == PLANNED]) - blocked
        if not more:
            return plan
        blocked |= more
