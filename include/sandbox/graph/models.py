"""The state of the emulated tenant: mailboxes, their events and master categories, the change
sequence delta queries read, and the log of meeting mail the real server would have sent.

Everything here is plain Python so that in-process tests and the admin API use the same operations.
One re-entrant lock guards the whole tenant; it is held only inside these methods, never across a
request, so the server's per-mailbox concurrency limit still sees overlapping requests.
"""

from __future__ import annotations

import base64
import copy
import html
import re
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sandbox.clock import Clock
from sandbox.graph import errors
from sandbox.graph.odata import fmt_local, fmt_utc, instant, known_zone, parse_datetime, windows_name, zone

UNAVAILABLE_MODES = ("not_enabled", "forbidden")
CATEGORY_COLORS = {"none", *(f"preset{i}" for i in range(25))}
ENUMS = {
    "showAs": (
        "microsoft.graph.freeBusyStatus",
        {"unknown", "free", "tentative", "busy", "oof", "workingElsewhere"},
    ),
    "sensitivity": ("microsoft.graph.sensitivity", {"normal", "personal", "private", "confidential"}),
    "importance": ("microsoft.graph.importance", {"low", "normal", "high"}),
}
# Properties a client may write on an event (the CSDL's non-computed ones).
WRITABLE = {
    "subject",
    "body",
    "start",
    "end",
    "isAllDay",
    "location",
    "locations",
    "showAs",
    "sensitivity",
    "importance",
    "isReminderOn",
    "reminderMinutesBeforeStart",
    "categories",
    "attendees",
    "organizer",
    "recurrence",
    "transactionId",
    "responseRequested",
    "allowNewTimeProposals",
    "hideAttendees",
    "isOnlineMeeting",
    "onlineMeetingProvider",
    "isDraft",
    "originalStartTimeZone",
    "originalEndTimeZone",
    "singleValueExtendedProperties",
    "multiValueExtendedProperties",
}
# Server-computed properties: Graph ignores them in a request body.
READ_ONLY = {
    "id",
    "changeKey",
    "createdDateTime",
    "lastModifiedDateTime",
    "iCalUId",
    "webLink",
    "bodyPreview",
    "hasAttachments",
    "isOrganizer",
    "isCancelled",
    "responseStatus",
    "type",
    "seriesMasterId",
    "onlineMeeting",
    "onlineMeetingUrl",
    "cancelledOccurrences",
    "originalStart",
    "calendar",
    "instances",
    "exceptionOccurrences",
    "attachments",
    "extensions",
}
# A change to any of these makes Exchange send an update to a meeting's attendees.
MEETING_FIELDS = ("start", "end", "isAllDay", "location", "locations", "subject", "body", "recurrence")
NO_TIME = "0001-01-01T00:00:00Z"


def _opaque_id(prefix: str = "AAMkAG") -> str:
    raw = uuid.uuid4().bytes + uuid.uuid4().bytes + uuid.uuid4().bytes
    # Real ids are URL-safe base64 with a trailing '=', which the SDK percent-encodes in paths.
    return prefix + base64.urlsafe_b64encode(raw).decode().rstrip("=") + "AAA="


def _change_key() -> str:
    return "DwAAABYAAAA" + base64.b64encode(uuid.uuid4().bytes).decode()[:16]


def _ical_uid() -> str:
    return (
        "040000008200E00074C5B7101A82E00800000000" + uuid.uuid4().hex.upper() + uuid.uuid4().hex.upper()[:16]
    )


def body_preview(body: dict[str, Any] | None) -> str:
    content = str((body or {}).get("content") or "")
    if str((body or {}).get("contentType", "")).lower() == "html":
        content = re.sub(r"(?is)<(script|style).*?</\1>", " ", content)
        content = html.unescape(re.sub(r"<[^>]+>", " ", content))
    return re.sub(r"\s+", " ", content).strip()[:255]


@dataclass
class Event:
    id: str
    mailbox: str
    props: dict[str, Any]
    created: datetime
    modified: datetime
    change_key: str
    seq: int
    ext: dict[str, str] = field(default_factory=dict)  # singleValueExtendedProperties id -> value
    deleted: bool = False

    @property
    def etag(self) -> str:
        return f'W/"{self.change_key}"'

    def span(self) -> tuple[datetime, datetime]:
        return instant(self.props["start"]), instant(self.props["end"])

    def overlaps(self, start: datetime, end: datetime) -> bool:
        s, e = self.span()
        if s == e:
            return start <= s < end
        return s < end and e > start

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "mailbox": self.mailbox,
            "props": self.props,
            "created": fmt_utc(self.created),
            "modified": fmt_utc(self.modified),
            "change_key": self.change_key,
            "seq": self.seq,
            "ext": self.ext,
            "deleted": self.deleted,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Event:
        return cls(
            d["id"],
            d["mailbox"],
            d["props"],
            _dt(d["created"]),
            _dt(d["modified"]),
            d["change_key"],
            int(d["seq"]),
            dict(d.get("ext") or {}),
            bool(d.get("deleted")),
        )


def _dt(text: str) -> datetime:
    dt = parse_datetime(text)
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt


@dataclass
class Mailbox:
    address: str
    display_name: str
    time_zone: str
    user_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    calendar_id: str = field(default_factory=lambda: _opaque_id("AAMkAGI2"))
    calendar_change_key: str = field(default_factory=_change_key)
    availability: str = "ok"  # "ok" | "not_enabled" | "forbidden"
    settings: dict[str, Any] = field(default_factory=dict)
    events: dict[str, Event] = field(default_factory=dict)
    categories: dict[str, dict[str, str]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "address": self.address,
            "display_name": self.display_name,
            "time_zone": self.time_zone,
            "user_id": self.user_id,
            "calendar_id": self.calendar_id,
            "calendar_change_key": self.calendar_change_key,
            "availability": self.availability,
            "settings": self.settings,
            "events": [e.to_dict() for e in self.events.values()],
            "categories": list(self.categories.values()),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Mailbox:
        mb = cls(
            d["address"],
            d["display_name"],
            d["time_zone"],
            d["user_id"],
            d["calendar_id"],
            d["calendar_change_key"],
            d.get("availability", "ok"),
            dict(d.get("settings") or {}),
        )
        mb.events = {e["id"]: Event.from_dict(e) for e in d.get("events", [])}
        mb.categories = {c["id"]: dict(c) for c in d.get("categories", [])}
        return mb


class Tenant:
    """All mailboxes of the emulated Microsoft 365 tenant."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.lock = threading.RLock()
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.mailboxes: dict[str, Mailbox] = {}
            self.me: str | None = None
            self.seq = 0
            self.mail_log: list[dict[str, Any]] = []
            self.delta_rounds: dict[str, dict[str, Any]] = {}
            self.delta_tokens: dict[str, dict[str, Any]] = {}
            self.delta_index: dict[str, list[str]] = {}  # mailbox -> its tokens, oldest first
            self.delta_ttl_seconds = 7 * 24 * 3600
            # Off by default: meeting mail is only logged. On, it also lands in attendees' calendars
            # of this tenant as Exchange does (attendee copies sharing the organizer's iCalUId).
            self.deliver_invitations = False

    # snapshot -------------------------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return copy.deepcopy(
                {
                    "mailboxes": [m.to_dict() for m in self.mailboxes.values()],
                    "me": self.me,
                    "seq": self.seq,
                    "mail_log": self.mail_log,
                    "delta_rounds": self.delta_rounds,
                    "delta_tokens": self.delta_tokens,
                    "delta_ttl_seconds": self.delta_ttl_seconds,
                    "deliver_invitations": self.deliver_invitations,
                }
            )

    def restore(self, snap: dict[str, Any]) -> None:
        with self.lock:
            self.reset()
            if not snap:
                return
            snap = copy.deepcopy(snap)
            for m in snap.get("mailboxes", []):
                mb = Mailbox.from_dict(m)
                self.mailboxes[mb.address.lower()] = mb
            self.me = snap.get("me")
            self.seq = int(snap.get("seq", 0))
            self.mail_log = list(snap.get("mail_log", []))
            self.delta_rounds = dict(snap.get("delta_rounds", {}))
            self.delta_tokens = dict(snap.get("delta_tokens", {}))
            for token, state in self.delta_tokens.items():
                self.delta_index.setdefault(state["mailbox"].lower(), []).append(token)
            self.delta_ttl_seconds = int(snap.get("delta_ttl_seconds", self.delta_ttl_seconds))
            self.deliver_invitations = bool(snap.get("deliver_invitations", False))

    def next_seq(self) -> int:
        self.seq += 1
        return self.seq

    # mailboxes ------------------------------------------------------------------------------------
    def add_mailbox(self, address: str, display_name: str, time_zone: str) -> None:
        """Create (or update) one user mailbox; seed code calls this once per demo user."""
        if not known_zone(time_zone):
            raise ValueError(f"unknown time zone {time_zone!r}")
        with self.lock:
            key = address.lower()
            mb = self.mailboxes.get(key)
            if mb is None:
                self.mailboxes[key] = Mailbox(address, display_name, windows_name(time_zone))
            else:
                mb.display_name, mb.time_zone = display_name, windows_name(time_zone)

    def remove_mailbox(self, address: str) -> None:
        with self.lock:
            if self.mailboxes.pop(address.lower(), None) is None:
                raise KeyError(address)
            if self.me and self.me.lower() == address.lower():
                self.me = None

    def set_time_zone(self, address: str, time_zone: str) -> None:
        if not known_zone(time_zone):
            raise ValueError(f"unknown time zone {time_zone!r}")
        with self.lock:
            self._mailbox(address).time_zone = windows_name(time_zone)

    def set_availability(self, address: str, availability: str) -> None:
        """Make a mailbox reachable ("ok") or not: "not_enabled" answers 404 MailboxNotEnabledForRESTAPI,
        "forbidden" answers 403 ErrorAccessDenied."""
        if availability not in ("ok", *UNAVAILABLE_MODES):
            raise ValueError("availability must be ok, not_enabled or forbidden")
        with self.lock:
            self._mailbox(address).availability = availability

    def set_me(self, address: str | None) -> None:
        with self.lock:
            if address is not None:
                self._mailbox(address)
            self.me = address

    def list_mailboxes(self) -> list[dict[str, Any]]:
        with self.lock:
            return [
                {
                    "address": m.address,
                    "displayName": m.display_name,
                    "timeZone": m.time_zone,
                    "id": m.user_id,
                    "availability": m.availability,
                    "events": sum(1 for e in m.events.values() if not e.deleted),
                    "categories": len(m.categories),
                }
                for m in self.mailboxes.values()
            ]

    def _mailbox(self, address: str) -> Mailbox:
        mb = self.mailboxes.get(address.lower())
        if mb is None:
            raise KeyError(address)
        return mb

    def find(self, user: str | None) -> Mailbox | None:
        """A mailbox by address or user id; None or 'me' means the /me mailbox."""
        with self.lock:
            if user is None or user.lower() in ("me", "me-token-to-replace"):
                if self.me:
                    return self.mailboxes.get(self.me.lower())
                return next(iter(self.mailboxes.values()), None)
            mb = self.mailboxes.get(user.lower())
            if mb is None:
                mb = next((m for m in self.mailboxes.values() if m.user_id.lower() == user.lower()), None)
            return mb

    def resolve(self, user: str | None) -> Mailbox:
        """The mailbox a Graph request addresses, or the error Graph answers."""
        mb = self.find(user)
        if mb is None:
            raise errors.invalid_user(user or "me")
        if mb.availability == "not_enabled":
            raise errors.mailbox_not_enabled()
        if mb.availability == "forbidden":
            raise errors.access_denied()
        return mb

    # events ---------------------------------------------------------------------------------------
    def live_events(self, mb: Mailbox) -> list[Event]:
        with self.lock:
            return [e for e in mb.events.values() if not e.deleted]

    def get_event(self, mb: Mailbox, event_id: str) -> Event:
        with self.lock:
            ev = mb.events.get(event_id)
            if ev is None or ev.deleted:
                raise errors.item_not_found()
            return ev

    def calendar_view(self, mb: Mailbox, start: datetime, end: datetime) -> list[Event]:
        with self.lock:
            evs = [e for e in mb.events.values() if not e.deleted and e.overlaps(start, end)]
        return sorted(evs, key=lambda e: (e.span()[0], e.created, e.id))

    def create_event(
        self,
        mb: Mailbox,
        body: dict[str, Any],
        *,
        via: str = "api",
        organizer: bool = True,
        modified_at: datetime | None = None,
        ical_uid: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> tuple[Event, bool]:
        """Create an event; returns (event, created). A known transactionId returns the existing event."""
        props, ext = self._validate(body, None)
        with self.lock:
            tx = props.get("transactionId")
            if tx:
                for e in mb.events.values():
                    if not e.deleted and e.props.get("transactionId") == tx:
                        return e, False
            now = modified_at or self.clock.now()
            full = self._defaults(mb, organizer)
            full.update(props)
            full.update(extra or {})
            full["iCalUId"] = ical_uid or _ical_uid()
            self._normalise(mb, full, None)
            ev = Event(_opaque_id(), mb.address, full, now, now, _change_key(), self.next_seq(), ext)
            mb.events[ev.id] = ev
            if organizer and full.get("attendees"):
                self._mail("invitation", mb, ev, [a for a in full["attendees"]], via)
            return ev, True

    def update_event(
        self,
        mb: Mailbox,
        event_id: str,
        body: dict[str, Any],
        *,
        if_match: str | None = None,
        via: str = "api",
        modified_at: datetime | None = None,
        extra: dict[str, Any] | None = None,
    ) -> Event:
        with self.lock:
            ev = self.get_event(mb, event_id)
            self._check_etag(ev, if_match)
            props, ext = self._validate(body, ev)
            old = copy.deepcopy(ev.props)
            new = copy.deepcopy(ev.props)
            new.update(props)
            new.update(extra or {})
            self._normalise(mb, new, old)
            ev.props = new
            ev.ext = {**ev.ext, **ext}  # a new dict: readers render outside the lock
            ev.modified = modified_at or self.clock.now()
            ev.change_key = _change_key()
            ev.seq = self.next_seq()
            if new.get("isOrganizer") and not new.get("isCancelled"):
                self._mail_for_update(mb, ev, old, new, via)
            return ev

    def delete_event(
        self,
        mb: Mailbox,
        event_id: str,
        *,
        if_match: str | None = None,
        via: str = "api",
        comment: str | None = None,
    ) -> None:
        with self.lock:
            ev = self.get_event(mb, event_id)
            self._check_etag(ev, if_match)
            if ev.props.get("isOrganizer") and ev.props.get("attendees") and not ev.props.get("isCancelled"):
                self._mail("cancellation", mb, ev, ev.props["attendees"], via, comment=comment)
            ev.deleted = True
            ev.modified = self.clock.now()
            ev.seq = self.next_seq()

    def cancel_event(
        self, mb: Mailbox, event_id: str, *, comment: str | None = None, via: str = "api"
    ) -> None:
        """POST /events/{id}/cancel: only the organizer may; attendees get a cancellation."""
        with self.lock:
            ev = self.get_event(mb, event_id)
            if not ev.props.get("isOrganizer"):
                raise errors.GraphError(
                    400,
                    "ErrorAccessDenied",
                    "Your request can't be completed. You need to be an organizer to cancel a meeting.",
                )
            self.delete_event(mb, event_id, via=via, comment=comment)

    def mark_cancelled(self, mb: Mailbox, event_id: str, modified_at: datetime | None = None) -> Event:
        """An attendee's copy after the organizer cancelled: it stays, with isCancelled true."""
        with self.lock:
            ev = self.get_event(mb, event_id)
            ev.props["isCancelled"] = True
            ev.props["subject"] = "Canceled: " + str(ev.props.get("subject") or "")
            ev.modified = modified_at or self.clock.now()
            ev.change_key = _change_key()
            ev.seq = self.next_seq()
            return ev

    @staticmethod
    def _check_etag(ev: Event, if_match: str | None) -> None:
        if not if_match or if_match.strip() == "*":
            return
        tags = [t.strip().removeprefix("W/").strip('"') for t in if_match.split(",")]
        if ev.change_key not in tags:
            raise errors.change_key_mismatch()

    def _defaults(self, mb: Mailbox, organizer: bool) -> dict[str, Any]:
        me = {"emailAddress": {"name": mb.display_name, "address": mb.address}}
        return {
            "categories": [],
            "transactionId": None,
            "reminderMinutesBeforeStart": 15,
            "isReminderOn": True,
            "hasAttachments": False,
            "subject": "",
            "importance": "normal",
            "sensitivity": "normal",
            "isAllDay": False,
            "isCancelled": False,
            "isOrganizer": organizer,
            "responseRequested": True,
            "seriesMasterId": None,
            "showAs": "busy",
            "type": "singleInstance",
            "onlineMeetingUrl": None,
            "isOnlineMeeting": False,
            "onlineMeetingProvider": "unknown",
            "allowNewTimeProposals": True,
            "isDraft": False,
            "hideAttendees": False,
            "cancelledOccurrences": [],
            "responseStatus": {"response": "organizer" if organizer else "notResponded", "time": NO_TIME},
            "body": {"contentType": "html", "content": ""},
            "location": {
                "displayName": "",
                "locationType": "default",
                "uniqueIdType": "unknown",
                "address": {},
                "coordinates": {},
            },
            "locations": [],
            "recurrence": None,
            "attendees": [],
            "organizer": me,
            "onlineMeeting": None,
        }

    def _validate(self, body: Any, existing: Event | None) -> tuple[dict[str, Any], dict[str, str]]:
        if not isinstance(body, dict):
            raise errors.bad_body()
        props: dict[str, Any] = {}
        ext: dict[str, str] = {}
        for key, value in body.items():
            if key.startswith("@odata.") or key in READ_ONLY:
                continue
            if key not in WRITABLE:
                raise errors.unknown_property(key)
            if key in ENUMS and value is not None and value not in ENUMS[key][1]:
                raise errors.bad_enum(value, ENUMS[key][0])
            if key == "singleValueExtendedProperties":
                for item in value or []:
                    if not isinstance(item, dict) or not item.get("id"):
                        raise errors.GraphError(
                            400,
                            "ErrorInvalidExtendedPropertyValue",
                            "An extended property needs an id and a value.",
                        )
                    ext[str(item["id"])] = "" if item.get("value") is None else str(item["value"])
                continue
            if key == "multiValueExtendedProperties":
                continue
            props[key] = copy.deepcopy(value)
        if existing is None and ("start" not in props or "end" not in props):
            raise errors.property_validation()
        for k in ("start", "end"):
            if k in props and (not isinstance(props[k], dict) or not props[k].get("dateTime")):
                raise errors.property_validation()
        return props, ext

    def _normalise(self, mb: Mailbox, p: dict[str, Any], old: dict[str, Any] | None) -> None:
        """Bring a written event into the form Exchange stores; validates times and all-day spans."""
        for k in ("start", "end"):
            tz = p[k].get("timeZone") or "UTC"
            zone(tz)  # 400 TimeZoneNotSupportedException for unknown names
            try:
                local = parse_datetime(str(p[k]["dateTime"]))
            except ValueError as e:
                raise errors.property_validation() from e
            if local.tzinfo is not None:
                local = local.astimezone(zone(tz))
            p[k] = {"dateTime": fmt_local(local), "timeZone": tz}
        if old is None or ("start" in p and p["start"] != (old or {}).get("start")):
            p["originalStartTimeZone"] = p["start"]["timeZone"]
            p["originalEndTimeZone"] = p["end"]["timeZone"]
        start, end = instant(p["start"]), instant(p["end"])
        if end < start:
            raise errors.property_validation()
        if p.get("isAllDay"):
            ls, le = parse_datetime(p["start"]["dateTime"]), parse_datetime(p["end"]["dateTime"])
            if ls.time() != ls.time().min or le.time() != le.time().min or le <= ls:
                raise errors.property_validation()
        p["categories"] = [str(c) for c in (p.get("categories") or [])]
        if p.get("body") is None:
            p["body"] = {"contentType": "html", "content": ""}
        p["bodyPreview"] = body_preview(p.get("body"))
        if isinstance(p.get("location"), dict):
            loc = {
                "displayName": "",
                "locationType": "default",
                "uniqueIdType": "unknown",
                "address": {},
                "coordinates": {},
            }
            loc.update(p["location"])
            p["location"] = loc
        else:
            p["location"] = {
                "displayName": "",
                "locationType": "default",
                "uniqueIdType": "unknown",
                "address": {},
                "coordinates": {},
            }
        if p["location"].get("displayName") and not p.get("locations"):
            p["locations"] = [dict(p["location"])]
        p["attendees"] = self._attendees(p.get("attendees") or [], (old or {}).get("attendees") or [])

    @staticmethod
    def _attendees(new: list[Any], old: list[dict[str, Any]]) -> list[dict[str, Any]]:
        previous = {str(a.get("emailAddress", {}).get("address", "")).lower(): a for a in old}
        out = []
        for a in new:
            if not isinstance(a, dict) or not isinstance(a.get("emailAddress"), dict):
                raise errors.property_validation()
            addr = str(a["emailAddress"].get("address") or "")
            kept = previous.get(addr.lower())
            status = a.get("status") or (kept or {}).get("status") or {"response": "none", "time": NO_TIME}
            out.append(
                {
                    "type": a.get("type") or "required",
                    "status": status,
                    "emailAddress": {"name": a["emailAddress"].get("name") or addr, "address": addr},
                }
            )
        return out

    # meeting mail ---------------------------------------------------------------------------------
    def _mail(
        self,
        kind: str,
        mb: Mailbox,
        ev: Event,
        recipients: list[dict[str, Any]],
        via: str,
        changes: list[str] | None = None,
        comment: str | None = None,
    ) -> None:
        to = [
            str(a.get("emailAddress", {}).get("address", ""))
            for a in recipients
            if str(a.get("emailAddress", {}).get("address", "")).lower() != mb.address.lower()
        ]
        if not to:
            return
        self.mail_log.append(
            {
                "seq": len(self.mail_log) + 1,
                "sentDateTime": fmt_utc(self.clock.now()),
                "kind": kind,
                "from": mb.address,
                "to": to,
                "subject": ev.props.get("subject", ""),
                "eventId": ev.id,
                "iCalUId": ev.props.get("iCalUId"),
                "via": via,
                "changes": changes or [],
                "comment": comment,
            }
        )
        if self.deliver_invitations:
            self._deliver(kind, ev, to)

    def _deliver(self, kind: str, ev: Event, to: list[str]) -> None:
        """What Exchange does with the mail inside the tenant: attendees' copies follow the meeting."""
        uid = ev.props.get("iCalUId")
        now = self.clock.now()
        for address in to:
            target = self.mailboxes.get(address.lower())
            if target is None or target.availability != "ok":
                continue
            copy_ev = next(
                (e for e in target.events.values() if not e.deleted and e.props.get("iCalUId") == uid), None
            )
            if kind == "cancellation":
                if copy_ev is not None:
                    self.mark_cancelled(target, copy_ev.id)
                continue
            props = copy.deepcopy(ev.props)
            if copy_ev is None:
                props.update(
                    isOrganizer=False,
                    categories=[],
                    transactionId=None,
                    responseStatus={"response": "notResponded", "time": NO_TIME},
                )
                new = Event(_opaque_id(), target.address, props, now, now, _change_key(), self.next_seq())
                target.events[new.id] = new
            else:
                for f in (
                    *MEETING_FIELDS,
                    "attendees",
                    "bodyPreview",
                    "originalStartTimeZone",
                    "originalEndTimeZone",
                ):
                    copy_ev.props = {**copy_ev.props, f: props.get(f)}
                copy_ev.modified, copy_ev.change_key, copy_ev.seq = now, _change_key(), self.next_seq()

    def _mail_for_update(
        self, mb: Mailbox, ev: Event, old: dict[str, Any], new: dict[str, Any], via: str
    ) -> None:
        def addrs(p: dict[str, Any]) -> dict[str, dict[str, Any]]:
            return {str(a["emailAddress"]["address"]).lower(): a for a in p.get("attendees") or []}

        before, after = addrs(old), addrs(new)
        added = [a for k, a in after.items() if k not in before]
        removed = [a for k, a in before.items() if k not in after]
        kept = [a for k, a in after.items() if k in before]
        changed = [f for f in MEETING_FIELDS if old.get(f) != new.get(f)]
        if added:
            self._mail("invitation", mb, ev, added, via)
        if removed:
            self._mail("cancellation", mb, ev, removed, via)
        if changed and kept:
            self._mail("update", mb, ev, kept, via, changes=changed)

    def mail(self) -> list[dict[str, Any]]:
        with self.lock:
            return copy.deepcopy(self.mail_log)

    def clear_mail(self) -> None:
        with self.lock:
            self.mail_log.clear()

    # master categories ----------------------------------------------------------------------------
    def list_categories(self, mb: Mailbox) -> list[dict[str, str]]:
        with self.lock:
            return [dict(c) for c in mb.categories.values()]

    def get_category(self, mb: Mailbox, cid: str) -> dict[str, str]:
        with self.lock:
            c = mb.categories.get(cid) or mb.categories.get(cid.lower())
            if c is None:
                raise errors.item_not_found()
            return dict(c)

    def create_category(self, mb: Mailbox, body: Any) -> dict[str, str]:
        if not isinstance(body, dict):
            raise errors.bad_body()
        for k in body:
            if not k.startswith("@odata.") and k not in ("displayName", "color", "id"):
                raise errors.unknown_property(k, "microsoft.graph.outlookCategory")
        name = str(body.get("displayName") or "").strip()
        if not name:
            raise errors.GraphError(400, "ErrorInvalidRequest", "The displayName property is required.")
        color = body.get("color") or "none"
        if color not in CATEGORY_COLORS:
            raise errors.bad_category_color(color)
        with self.lock:
            if any(c["displayName"].lower() == name.lower() for c in mb.categories.values()):
                raise errors.category_exists(name)
            cat = {"id": str(uuid.uuid4()), "displayName": name, "color": color}
            mb.categories[cat["id"]] = cat
            return dict(cat)

    def update_category(self, mb: Mailbox, cid: str, body: Any) -> dict[str, str]:
        if not isinstance(body, dict):
            raise errors.bad_body()
        with self.lock:
            cat = mb.categories.get(cid)
            if cat is None:
                raise errors.item_not_found()
            for k, v in body.items():
                if k.startswith("@odata.") or k == "id":
                    continue
                if k == "displayName":
                    if v != cat["displayName"]:
                        raise errors.category_name_readonly()
                elif k == "color":
                    if v not in CATEGORY_COLORS:
                        raise errors.bad_category_color(v)
                    cat["color"] = v
                else:
                    raise errors.unknown_property(k, "microsoft.graph.outlookCategory")
            return dict(cat)

    def delete_category(self, mb: Mailbox, cid: str) -> None:
        with self.lock:
            if mb.categories.pop(cid, None) is None:
                raise errors.item_not_found()

    # "as a person" edits (admin API and in-process tests) -----------------------------------------
    def person_create(
        self,
        address: str,
        props: dict[str, Any],
        *,
        as_organizer: bool = True,
        modified_at: datetime | None = None,
        ical_uid: str | None = None,
    ) -> dict[str, Any]:
        """Create an item as the mailbox's owner would in Outlook.

        ``as_organizer=False`` makes an attendee's copy of a meeting (give ``organizer`` and the
        organizer's ``ical_uid`` to share it across mailboxes). Extra read-only properties such as
        ``type``, ``seriesMasterId`` or ``isCancelled`` are accepted here as a person's client would
        produce them.
        """
        extra = {
            k: props[k]
            for k in (
                "type",
                "seriesMasterId",
                "isCancelled",
                "responseStatus",
                "hasAttachments",
                "onlineMeetingUrl",
            )
            if k in props
        }
        body = {k: v for k, v in props.items() if k not in extra and k != "iCalUId"}
        with self.lock:
            mb = self._mailbox(address)
            ev, _ = self.create_event(
                mb,
                body,
                via="person",
                organizer=as_organizer,
                modified_at=modified_at,
                ical_uid=ical_uid or props.get("iCalUId"),
                extra=extra,
            )
            return {"id": ev.id, "iCalUId": ev.props["iCalUId"], "changeKey": ev.change_key}

    def person_update(
        self, address: str, event_id: str, props: dict[str, Any], modified_at: datetime | None = None
    ) -> dict[str, Any]:
        extra = {
            k: props[k] for k in ("type", "seriesMasterId", "isCancelled", "responseStatus") if k in props
        }
        body = {k: v for k, v in props.items() if k not in extra}
        with self.lock:
            mb = self._mailbox(address)
            ev = self.update_event(mb, event_id, body, via="person", modified_at=modified_at, extra=extra)
            return {"id": ev.id, "changeKey": ev.change_key}

    def person_delete(self, address: str, event_id: str) -> None:
        with self.lock:
            self.delete_event(self._mailbox(address), event_id, via="person")

    def person_cancel(self, address: str, event_id: str, comment: str | None = None) -> None:
        """The organizer cancels: their item goes, attendees' copies (same iCalUId) become cancelled."""
        with self.lock:
            mb = self._mailbox(address)
            ev = self.get_event(mb, event_id)
            uid = ev.props.get("iCalUId")
            self.cancel_event(mb, event_id, comment=comment, via="person")
            for other in self.mailboxes.values():
                if other is mb:
                    continue
                for e in list(other.events.values()):
                    if not e.deleted and e.props.get("iCalUId") == uid and not e.props.get("isOrganizer"):
                        self.mark_cancelled(other, e.id)

    def invalidate_delta(self, address: str | None = None) -> int:
        """Forget delta tokens (of one mailbox or all): their next use answers 410 SyncStateNotFound."""
        with self.lock:
            doomed = [
                t
                for t, s in self.delta_tokens.items()
                if address is None or s["mailbox"].lower() == address.lower()
            ]
            for t in doomed:
                del self.delta_tokens[t]
            for key in [k for k in self.delta_index if address is None or k == address.lower()]:
                del self.delta_index[key]
            rounds = [
                r
                for r, s in self.delta_rounds.items()
                if address is None or s["mailbox"].lower() == address.lower()
            ]
            for r in rounds:
                del self.delta_rounds[r]
            return len(doomed)

    def expired(self, issued: str) -> bool:
        return self.clock.now() - _dt(issued) > timedelta(seconds=self.delta_ttl_seconds)
