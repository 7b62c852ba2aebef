"""calendarView delta rounds: skip tokens across pages, a delta token bound to its window.

A round is computed at its first request: the items to report, the change-sequence watermark and
the set of event ids the client will then hold for the window. Pages hand the items out; the last
page carries a delta token that remembers (mailbox, window, watermark, ids held). The next round
reports events changed after the watermark that are in the window, and a ``@removed`` tombstone for
held ids that were deleted or moved out of the window, as Graph does.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sandbox.graph import errors
from sandbox.graph.models import Event, Mailbox, Tenant
from sandbox.graph.odata import fmt_utc, parse_datetime

# Older delta tokens are forgotten beyond these counts (their use answers 410, as an expired token
# does); this bounds the snapshot, which keeps every token's set of held ids.
TOKENS_PER_MAILBOX = 10
MAX_TOKENS = 20000
MAX_OPEN_ROUNDS = 2000


@dataclass
class Page:
    items: list[tuple[str, Event | None]]  # (id, event) or (id, None) for a tombstone
    skiptoken: str | None
    deltatoken: str | None


def _token() -> str:
    return secrets.token_urlsafe(48)


def _window(state: dict[str, Any]) -> tuple[datetime, datetime]:
    return _aware(state["start"]), _aware(state["end"])


def _aware(text: str) -> datetime:
    from datetime import UTC

    dt = parse_datetime(text)
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt


def start_round(tenant: Tenant, mb: Mailbox, start: datetime, end: datetime, page_size: int) -> Page:
    """First call of a sync: every event in the window."""
    with tenant.lock:
        events = tenant.calendar_view(mb, start, end)
        items = [[e.id, False] for e in events]
        held = [e.id for e in events]
        return _open_round(tenant, mb, start, end, items, held, page_size)


def continue_round(tenant: Tenant, mb: Mailbox, deltatoken: str, page_size: int) -> Page:
    with tenant.lock:
        state = tenant.delta_tokens.get(deltatoken)
        if state is None or state["mailbox"].lower() != mb.address.lower() or tenant.expired(state["issued"]):
            raise errors.sync_state_not_found()
        start, end = _window(state)
        watermark = int(state["watermark"])
        held = set(state["held"])
        items: list[list[Any]] = []
        changed = sorted((e for e in mb.events.values() if e.seq > watermark), key=lambda e: e.seq)
        for ev in changed:
            inside = not ev.deleted and ev.overlaps(start, end)
            if inside:
                items.append([ev.id, False])
                held.add(ev.id)
            elif ev.id in held:
                items.append([ev.id, True])
                held.discard(ev.id)
        return _open_round(tenant, mb, start, end, items, sorted(held), page_size)


def _open_round(
    tenant: Tenant,
    mb: Mailbox,
    start: datetime,
    end: datetime,
    items: list[list[Any]],
    held: list[str],
    page_size: int,
) -> Page:
    rid = _token()
    while len(tenant.delta_rounds) >= MAX_OPEN_ROUNDS:  # rounds a client abandoned half-way
        del tenant.delta_rounds[next(iter(tenant.delta_rounds))]
    tenant.delta_rounds[rid] = {
        "mailbox": mb.address,
        "start": fmt_utc(start),
        "end": fmt_utc(end),
        "items": items,
        "held": held,
        "watermark": tenant.seq,
        "issued": fmt_utc(tenant.clock.now()),
    }
    return page(tenant, mb, rid, 0, page_size)


def next_page(tenant: Tenant, mb: Mailbox, skiptoken: str, page_size: int) -> Page:
    rid, _, pos = skiptoken.rpartition(".")
    with tenant.lock:
        state = tenant.delta_rounds.get(rid)
        if state is None or not pos.isdigit() or state["mailbox"].lower() != mb.address.lower():
            raise errors.sync_state_not_found()
        return page(tenant, mb, rid, int(pos), page_size)


def page(tenant: Tenant, mb: Mailbox, rid: str, pos: int, page_size: int) -> Page:
    state = tenant.delta_rounds[rid]
    chunk = state["items"][pos : pos + page_size]
    out: list[tuple[str, Event | None]] = []
    for eid, removed in chunk:
        ev = mb.events.get(eid)
        out.append((eid, None if removed or ev is None or ev.deleted else ev))
    nxt = pos + len(chunk)
    if nxt < len(state["items"]):
        return Page(out, f"{rid}.{nxt}", None)
    token = _token()
    tenant.delta_tokens[token] = {
        "mailbox": state["mailbox"],
        "start": state["start"],
        "end": state["end"],
        "watermark": state["watermark"],
        "held": state["held"],
        "issued": fmt_utc(tenant.clock.now()),
    }
    del tenant.delta_rounds[rid]
    _prune(tenant, state["mailbox"], token)
    return Page(out, None, token)


def _prune(tenant: Tenant, mailbox: str, token: str) -> None:
    mine = tenant.delta_index.setdefault(mailbox.lower(), [])
    mine.append(token)
    while len(mine) > TOKENS_PER_MAILBOX:
        tenant.delta_tokens.pop(mine.pop(0), None)
    while len(tenant.delta_tokens) > MAX_TOKENS:
        old = next(iter(tenant.delta_tokens))
        st = tenant.delta_tokens.pop(old)
        lst = tenant.delta_index.get(st["mailbox"].lower(), [])
        if old in lst:
            lst.remove(old)
