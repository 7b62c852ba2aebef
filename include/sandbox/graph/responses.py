"""Graph's JSON: event, calendar, category and mailbox-settings bodies with the real property names,
collection pages with absolute links, and the headers every Graph response carries.
"""

from __future__ import annotations

import json
import urllib.parse
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sandbox.graph.errors import GraphError
from sandbox.graph.models import Event, Mailbox
from sandbox.graph.odata import fmt_error_date, fmt_local, fmt_utc, instant, parse_datetime, zone
from sandbox.http import Request, Response

CONTENT_TYPE = (
    "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8"
)

# The order Graph writes an event's properties in.
EVENT_ORDER = (
    "createdDateTime",
    "lastModifiedDateTime",
    "changeKey",
    "categories",
    "transactionId",
    "originalStartTimeZone",
    "originalEndTimeZone",
    "iCalUId",
    "reminderMinutesBeforeStart",
    "isReminderOn",
    "hasAttachments",
    "subject",
    "bodyPreview",
    "importance",
    "sensitivity",
    "isAllDay",
    "isCancelled",
    "isOrganizer",
    "responseRequested",
    "seriesMasterId",
    "showAs",
    "type",
    "webLink",
    "onlineMeetingUrl",
    "isOnlineMeeting",
    "onlineMeetingProvider",
    "allowNewTimeProposals",
    "cancelledOccurrences",
    "isDraft",
    "hideAttendees",
    "responseStatus",
    "body",
    "start",
    "end",
    "location",
    "locations",
    "recurrence",
    "attendees",
    "organizer",
    "onlineMeeting",
)
SELECTABLE = set(EVENT_ORDER) | {"id", "originalStart", "singleValueExtendedProperties"}


def request_id(req: Request) -> str:
    rid = getattr(req, "_graph_request_id", None)
    if rid is None:
        rid = str(uuid.uuid4())
        req._graph_request_id = rid  # type: ignore[attr-defined]
    return rid


def headers(req: Request, extra: dict[str, str] | None = None) -> dict[str, str]:
    h = {
        "Content-Type": CONTENT_TYPE,
        "request-id": request_id(req),
        "OData-Version": "4.0",
        "Cache-Control": "no-cache",
    }
    crid = req.headers.get("client-request-id")
    h["client-request-id"] = crid or request_id(req)
    h.update(extra or {})
    return h


def json_response(
    req: Request, payload: Any, status: int = 200, extra: dict[str, str] | None = None
) -> Response:
    body = json.dumps(payload, separators=(",", ":"), default=str).encode("utf-8")
    return Response(status, body, headers(req, extra))


def error_response(req: Request, err: GraphError, now: datetime) -> Response:
    payload = {
        "error": {
            "code": err.code,
            "message": err.message,
            "innerError": {
                "date": fmt_error_date(now),
                "request-id": request_id(req),
                "client-request-id": req.headers.get("client-request-id") or request_id(req),
            },
        }
    }
    return json_response(req, payload, err.status, err.headers)


def empty(req: Request, status: int = 204) -> Response:
    h = headers(req)
    h.pop("Content-Type", None)
    return Response(status, b"", h)


# ---------------------------------------------------------------------------------------------------


def context(base: str, fragment: str) -> str:
    return f"{base}/v1.0/$metadata#{fragment}"


def users_segment(mb: Mailbox) -> str:
    return f"users('{urllib.parse.quote(mb.address)}')"


def _render_dtz(dtz: dict[str, Any], all_day: bool, tz_name: str) -> dict[str, Any]:
    if all_day:
        # Graph returns all-day items midnight to midnight whatever zone the caller asks for.
        local = parse_datetime(dtz["dateTime"])
        return {"dateTime": fmt_local(local), "timeZone": tz_name}
    at = instant(dtz).astimezone(zone(tz_name))
    return {"dateTime": fmt_local(at), "timeZone": tz_name}


def web_link(ev: Event) -> str:
    return (
        "https://outlook.office365.com/owa/?itemid="
        + urllib.parse.quote(ev.id, safe="")
        + "&exvsurl=1&path=/calendar/item"
    )


def event_json(
    ev: Event,
    tz_name: str = "UTC",
    select: set[str] | None = None,
    ext_filter: Callable[[dict[str, Any]], bool] | None = None,
    expand_ext: bool = False,
    context_url: str | None = None,
) -> dict[str, Any]:
    p = ev.props
    computed = {
        "createdDateTime": fmt_utc(ev.created),
        "lastModifiedDateTime": fmt_utc(ev.modified),
        "changeKey": ev.change_key,
        "webLink": web_link(ev),
        "start": _render_dtz(p["start"], bool(p.get("isAllDay")), tz_name),
        "end": _render_dtz(p["end"], bool(p.get("isAllDay")), tz_name),
    }
    out: dict[str, Any] = {}
    if context_url:
        out["@odata.context"] = context_url
    out["@odata.etag"] = ev.etag
    out["id"] = ev.id
    for key in EVENT_ORDER:
        if select is not None and key not in select:
            continue
        out[key] = computed[key] if key in computed else p.get(key)
    if select is not None and "originalStart" in select:
        out["originalStart"] = p.get("originalStart")
    if expand_ext:
        ext = [{"id": k, "value": v} for k, v in ev.ext.items()]
        if ext_filter is not None:
            ext = [x for x in ext if ext_filter(x)]
        out["singleValueExtendedProperties"] = ext
    return out


def filter_doc(ev: Event) -> dict[str, Any]:
    """What $filter sees: the UTC rendering plus the extended properties."""
    doc = event_json(ev)
    doc["singleValueExtendedProperties"] = [{"id": k, "value": v} for k, v in ev.ext.items()]
    return doc


def tombstone(event_id: str) -> dict[str, Any]:
    return {"@odata.type": "#microsoft.graph.event", "id": event_id, "@removed": {"reason": "deleted"}}


def category_json(cat: dict[str, str]) -> dict[str, Any]:
    return {"id": cat["id"], "displayName": cat["displayName"], "color": cat["color"]}


def calendar_json(mb: Mailbox) -> dict[str, Any]:
    return {
        "id": mb.calendar_id,
        "name": "Calendar",
        "color": "auto",
        "hexColor": "",
        "isDefaultCalendar": True,
        "changeKey": mb.calendar_change_key,
        "canShare": True,
        "canViewPrivateItems": True,
        "canEdit": True,
        "allowedOnlineMeetingProviders": ["teamsForBusiness"],
        "defaultOnlineMeetingProvider": "teamsForBusiness",
        "isTallyingResponses": True,
        "isRemovable": False,
        "owner": {"name": mb.display_name, "address": mb.address},
    }


def mailbox_settings_json(mb: Mailbox) -> dict[str, Any]:
    s = {
        "archiveFolder": "AAMkAGI2AAEuAAAAAACaBjNqAAA=",
        "timeZone": mb.time_zone,
        "delegateMeetingMessageDeliveryOptions": "sendToDelegateOnly",
        "dateFormat": "yyyy-MM-dd",
        "timeFormat": "HH:mm",
        "userPurpose": "user",
        "automaticRepliesSetting": {
            "status": "disabled",
            "externalAudience": "all",
            "internalReplyMessage": "",
            "externalReplyMessage": "",
            "scheduledStartDateTime": {"dateTime": fmt_local(datetime(2020, 1, 1)), "timeZone": "UTC"},
            "scheduledEndDateTime": {"dateTime": fmt_local(datetime(2020, 1, 2)), "timeZone": "UTC"},
        },
        "language": {"locale": "en-US", "displayName": "English (United States)"},
        "workingHours": {
            "daysOfWeek": ["monday", "tuesday", "wednesday", "thursday", "friday"],
            "startTime": "08:00:00.0000000",
            "endTime": "17:00:00.0000000",
            "timeZone": {"name": mb.time_zone},
        },
    }
    s.update({k: v for k, v in mb.settings.items() if k != "timeZone"})
    return s


def user_json(mb: Mailbox) -> dict[str, Any]:
    return {
        "businessPhones": [],
        "displayName": mb.display_name,
        "givenName": None,
        "jobTitle": None,
        "mail": mb.address,
        "mobilePhone": None,
        "officeLocation": None,
        "preferredLanguage": "en-US",
        "surname": None,
        "userPrincipalName": mb.address,
        "id": mb.user_id,
    }


def link(req: Request, path: str, query: dict[str, str]) -> str:
    """An absolute link back to this server, as every Graph paging link is."""
    return f"{req.base_url}{path}?" + urllib.parse.urlencode(query, safe="$:'(),/")


def now_utc() -> datetime:
    return datetime.now(UTC)
