"""The in-memory world of the reference model: records, mailbox items, links, profile, session context.

Plain dataclasses, values not hashes (SPEC R-C1 keeps hashes; the model keeps the values they hash).
Field values are kept per side in that side's own vocabulary; `common()` maps either into the form
used to compare across sides (SPEC R-M4: mappings may be lossy).
"""

from __future__ import annotations

import copy
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from calsync.schema import FIELD_NAMES, MAILBOX, SALESFORCE, SYNCED_FIELDS

# --- values -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class When:
    """start, end and the all-day flag: ONE synced field ("when", R-D1). Times are UTC (R-M9 simplified)."""

    start: datetime
    end: datetime
    all_day: bool = False


Fields = dict[str, Any]  # synced field name -> value, in one side's vocabulary

# Salesforce vocabulary: body plain text, show_as "Free" | "Busy" | "OutOfOffice",
#   sensitivity "private" | "normal" (IsPrivate), reminder minutes or None, attendees frozenset of addresses.
# Mailbox vocabulary: body HTML "<p>...</p>", show_as free | tentative | busy | oof | workingElsewhere,
#   sensitivity normal | personal | private | confidential, reminder minutes or None, attendees frozenset.
SF_SHOW_AS = ("Free", "Busy", "OutOfOffice")
MB_SHOW_AS = ("free", "tentative", "busy", "oof", "workingElsewhere")
MB_SENSITIVITY = ("normal", "personal", "private", "confidential")
_MB_TO_SF_SHOW_AS = {
    "free": "Free",
    "tentative": "Busy",
    "busy": "Busy",
    "oof": "OutOfOffice",
    "workingElsewhere": "Busy",
}
_SF_TO_MB_SHOW_AS = {"Free": "free", "Busy": "busy", "OutOfOffice": "oof"}


def fields_for(kind: str) -> tuple[str, ...]:
    """The synced fields of a profile kind (attendees are event-only, schema.SYNCED_FIELDS)."""
    return tuple(f.name for f in SYNCED_FIELDS if kind == "event" or not f.event_only)


def _strip_html(text: str) -> str:
    return re.sub(r"<[^>]*>", "", text or "").strip()


def common(name: str, side: str, value: Any) -> Any:
    """A side's value mapped into the common form compared across sides (schema: the x_ hash)."""
    if value is None:
        return None
    if name == "body":
        return _strip_html(value) if side == MAILBOX else (value or "").strip()
    if name == "show_as":
        return (_MB_TO_SF_SHOW_AS.get(value, "Busy") if side == MAILBOX else value).lower()
    if name == "sensitivity":
        return "private" if value == "private" else "normal"
    if name == "attendees":
        return frozenset(value)
    return value


def to_salesforce(name: str, value: Any, private_items: str = "skip") -> Any:
    """A mailbox value as Salesforce stores it (R-M4); only `sync` sets IsPrivate (R-P1)."""
    if value is None:
        return None
    if name == "body":
        return _strip_html(value)
    if name == "show_as":
        return _MB_TO_SF_SHOW_AS.get(value, "Busy")
    if name == "sensitivity":
        return "private" if value == "private" and private_items == "sync" else "normal"
    return value


def to_mailbox(name: str, value: Any) -> Any:
    """A Salesforce value as Graph would store it."""
    if value is None:
        return None
    if name == "body":
        return f"<p>{value}</p>"
    if name == "show_as":
        return _SF_TO_MB_SHOW_AS.get(value, "busy")
    if name == "sensitivity":
        return "private" if value == "private" else "normal"
    return value


def convert(name: str, value: Any, to_side: str, private_items: str = "skip") -> Any:
    return to_salesforce(name, value, private_items) if to_side == SALESFORCE else to_mailbox(name, value)


def fold_subject(subject: str | None) -> str:
    """R-S7: Unicode case-folding and collapsed whitespace."""
    return " ".join(unicodedata.normalize("NFC", subject or "").casefold().split())


# --- rows -------------------------------------------------------------------------------------------


@dataclass
class Record:
    """A Salesforce record (Event or another object). `fields` are in Salesforce vocabulary."""

    id: str
    sobject: str
    fields: Fields
    owner_mailbox: str | None  # OwnerId -> User.Email (R-M7 mode "owner"); None: the owner has no mailbox
    last_modified: datetime
    last_modified_by: str = "user"
    deleted: bool = False  # confirmed: IsDeleted in queryAll (R-C3). A record missing from world.records
    #                        is confirmed too (NOT_FOUND on a read by id).
    recurring: bool = False  # R-M6
    external_id: str | None = None  # CalSync_Event_Id__c: the iCalUId of the linked meeting (R-M5)
    preserve: dict[str, str | None] = field(default_factory=dict)  # e.g. WhoId, WhatId (R-D2)
    user_fields: dict[str, str | None] = field(default_factory=dict)  # other user lookups -> mailbox (R-M7)
    passes_filter: bool = True  # the profile's SOQL filter, evaluated (R-O2, R-X5)
    valid: bool = True  # False: quarantined by validation (R-V2)


@dataclass
class Item:
    """A mailbox calendar item. `fields` are in mailbox vocabulary; attendees exclude the mailbox itself."""

    mailbox: str
    id: str
    fields: Fields
    categories: frozenset[str]
    ical_uid: str
    last_modified: datetime
    stamp: str | None = None  # "{profile id}|{record id}|{origin}" (R-M8)
    is_organizer: bool = True
    organizer: str | None = None  # the organizer's address (None: this mailbox)
    cancelled: bool = False  # isCancelled: a confirmed delete (R-C3)
    series_type: str = "single"  # single | occurrence | exception | master (R-M6)
    valid: bool = True  # False: quarantined (R-V2)


@dataclass
class Link:
    """A stored pair (R-O1) with per-side baselines of VALUES (missing key: no baseline yet, R-C1)."""

    profile_id: str
    record_id: str
    mailbox: str
    item_id: str
    origin: str  # salesforce | mailbox (R-X7)
    base_sf: Fields = field(default_factory=dict)
    base_mb: Fields = field(default_factory=dict)
    preserve: dict[str, str | None] = field(default_factory=dict)  # preserve_fields values (R-D2, R-D6)
    is_organizer_copy: bool = True  # R-O4: False for an attendee's copy of a meeting (model column)
    by_backfill: bool = False  # R-X5
    in_window: bool = True  # in the scheduled window at the previous session (R-X5)
    dirty: bool = False  # R-K2 (bookkeeping only: the model always reads everything)

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.profile_id, self.record_id, self.mailbox)


@dataclass
class World:
    """Both sides and the state store. `mailboxes` holds every synced mailbox (possibly empty)."""

    records: dict[str, Record] = field(default_factory=dict)
    mailboxes: dict[str, dict[str, Item]] = field(default_factory=dict)
    links: list[Link] = field(default_factory=list)
    next_id: int = 1

    def copy(self) -> World:
        return copy.deepcopy(self)

    def new_id(self, prefix: str) -> str:
        self.next_id += 1
        return f"{prefix}{self.next_id}"

    def item(self, mailbox: str, item_id: str) -> Item | None:
        return self.mailboxes.get(mailbox, {}).get(item_id)

    def links_of(self, profile_id: str) -> list[Link]:
        return [link for link in self.links if link.profile_id == profile_id]


# --- configuration ----------------------------------------------------------------------------------
# Attribute names follow docs/contracts/profile.md, so a real calsync Profile can be passed as is.


@dataclass(frozen=True)
class Categories:
    opt_in: str = "Salesforce"
    unsync: str = "Salesforce Unsync"
    object_category: str | None = None
    color: str = "preset0"


@dataclass(frozen=True)
class Window:
    past_days: int = 14
    future_days: int = 60


@dataclass(frozen=True)
class MailboxResolution:
    mode: str = "owner"  # owner | user_field | fixed
    user_field: str | None = None
    fixed: tuple[str, ...] = ()


@dataclass(frozen=True)
class Profile:
    id: str = "events"
    kind: str = "event"  # event | object
    sobject: str = "Event"
    label: str | None = None
    categories: Categories = Categories()
    direction: str = "two_way"  # two_way | mailbox_to_salesforce | salesforce_to_mailbox
    conflict_winner: str = "newest"  # newest | salesforce | mailbox
    clock_skew_seconds: int = 60
    salesforce_deletion: str = "delete_appointments"  # keep | delete_appointments | delete
    downsync: bool = True
    window: Window = Window()
    on_leave_window: str = "keep"  # keep | delete_salesforce_created
    private_items: str = "skip"  # skip | sync | sync_without_flag
    mailboxes: MailboxResolution = MailboxResolution()
    preserve_fields: tuple[str, ...] = ("WhoId", "WhatId")
    max_delete_fraction: float = 0.2
    min_delete_guard: int = 10

    @property
    def authoritative_side(self) -> str | None:
        if self.kind == "object" or self.direction == "salesforce_to_mailbox":
            return SALESFORCE
        if self.direction == "mailbox_to_salesforce":
            return MAILBOX
        return None

    @property
    def item_category(self) -> str:
        if self.kind == "event":
            return self.categories.opt_in
        return self.categories.object_category or f"Salesforce: {self.label or self.sobject}"


@dataclass
class Context:
    """One session: reference time (never the wall clock, R-S2), unavailable mailboxes (R-X6), etc."""

    reference_time: datetime
    unavailable_mailboxes: frozenset[str] = frozenset()
    allow_mass_delete: bool = False
    # Reads by id that failed (403, 5xx): the row is "absent but not confirmed" (R-C3).
    unreadable_records: frozenset[str] = frozenset()
    unreadable_items: frozenset[tuple[str, str]] = frozenset()
    # Every profile of the file, in file order (R-O2: the first matching profile claims a new record).
    profiles: tuple[Any, ...] = ()
    backfill: bool = False


def in_window(when: When | None, profile: Any, ref: datetime) -> bool:
    """R-S2: [start, end) overlaps [ref - past_days, ref + future_days)."""
    if when is None:
        return False
    lo = ref - timedelta(days=profile.window.past_days)
    hi = ref + timedelta(days=profile.window.future_days)
    return when.start < hi and when.end > lo


def make_stamp(profile_id: str, record_id: str, origin: str) -> str:
    return f"{profile_id}|{record_id}|{origin}"


__all__ = [
    "FIELD_NAMES",
    "MAILBOX",
    "SALESFORCE",
    "Categories",
    "Context",
    "Fields",
    "Item",
    "Link",
    "MailboxResolution",
    "Profile",
    "Record",
    "When",
    "Window",
    "World",
    "common",
    "convert",
    "fields_for",
    "fold_subject",
    "in_window",
    "make_stamp",
    "to_mailbox",
    "to_salesforce",
]
