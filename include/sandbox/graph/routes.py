"""The Graph calendar API emulator: thin handlers that parse the request, call the tenant model
and render with :mod:`sandbox.graph.responses`. Served over plain http on 127.0.0.1 (the SDK allows
http for loopback hosts only).

``/me`` is the mailbox named by the admin setting ``me`` (``POST /__sandbox__/graph/me``), else the
first mailbox added. ``/users/me-token-to-replace`` (the SDK's placeholder when its URL-replace
middleware is absent, as with Airflow's hook) is served as ``/me``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sandbox.faults import DROP_CONNECTION
from sandbox.graph import batch, delta, errors, odata
from sandbox.graph import responses as r
from sandbox.graph.errors import GraphError
from sandbox.graph.models import Mailbox, Tenant
from sandbox.http import ADMIN_PREFIX, App, Request, Response

ApiHandler = Callable[[Request, Mailbox], Response]
THROTTLE_MESSAGES = {
    "TooManyRequests": "Too many requests. Retry after the number of seconds in the Retry-After header.",
    "ApplicationThrottled": "Application is over its MailboxConcurrency limit.",
    "ServiceNotAvailable": "The service is temporarily unavailable. Please retry later.",
    "SyncStateNotFound": "The sync state generation is not found or has expired. Please do a full sync.",
}
STATUS_CODES = {
    429: "TooManyRequests",
    503: "ServiceNotAvailable",
    410: "SyncStateNotFound",
    504: "GatewayTimeout",
    500: "generalException",
    403: "ErrorAccessDenied",
    404: "ErrorItemNotFound",
    401: "InvalidAuthenticationToken",
}
DEFAULT_PAGE = 10
MAX_PAGE = 1000


class GraphApp(App):
    name = "graph"

    def __init__(self, hub: Any) -> None:
        super().__init__(hub.faults)
        self.hub = hub
        self.tenant = Tenant(hub.clock)
        self.auth_required = True
        # Time each API call spends "in the server", inside the per-mailbox concurrency slot (a latency
        # fault sleeps before the slot is taken, so it cannot make requests overlap).
        self.service_time_ms = 0
        # $batch items of one dependency wave count as concurrent against the concurrency limit.
        self.batch_parallel = True
        self._add_routes()

    # lifecycle --------------------------------------------------------------------------------
    def reset(self) -> None:
        self.tenant.reset()
        self.auth_required = True
        self.service_time_ms = 0
        self.batch_parallel = True

    def snapshot(self) -> dict[str, Any]:
        return {"tenant": self.tenant.snapshot(), "auth_required": self.auth_required}

    def restore(self, snap: dict[str, Any]) -> None:
        self.tenant.restore((snap or {}).get("tenant") or {})
        self.auth_required = bool((snap or {}).get("auth_required", True))

    # App hooks --------------------------------------------------------------------------------
    def error(self, req: Request, err: GraphError) -> Response:
        return r.error_response(req, err, self.hub.clock.now())

    def json(
        self, req: Request, payload: Any, status: int = 200, extra: dict[str, str] | None = None
    ) -> Response:
        return r.json_response(req, payload, status, extra)

    def not_found(self, req: Request) -> Response:
        if req.path.startswith("/v1.0"):
            seg = [s for s in req.path.split("/") if s][-1]
            return self.error(req, errors.segment_not_found(seg))
        return self.error(req, GraphError(404, "NotFound", f"No API version in '{req.path}'."))

    def method_not_allowed(self, req: Request) -> Response:
        return self.error(req, GraphError(405, "BadRequest", f"Method '{req.method}' is not supported here."))

    def on_error(self, req: Request, exc: Exception) -> Response:
        return self.error(req, GraphError(500, "generalException", "An unexpected error occurred."))

    def throttle_response(self, req: Request, status: int, retry_after: int, code: str) -> Response:
        code = code or STATUS_CODES.get(status, "generalException")
        if status == 410:
            code = "SyncStateNotFound"
        elif status == 503 and code == "TooManyRequests":
            code = "ServiceNotAvailable"
        msg = THROTTLE_MESSAGES.get(code, "The request failed.")
        hdrs = {"Retry-After": str(max(1, retry_after))} if status in (429, 503) else {}
        return self.error(req, GraphError(status, code, msg, hdrs))

    def decorate(self, req: Request, resp: Response) -> Response:
        if req.path.startswith(ADMIN_PREFIX):
            return resp
        for k, v in r.headers(req).items():
            if k == "Content-Type" and (not resp.body or "Content-Type" in resp.headers):
                continue
            resp.headers.setdefault(k, v)
        return resp

    def mailbox_of(self, req: Request) -> str | None:
        if not req.path.startswith("/v1.0/"):
            return None
        parts = req.path.split("/")
        if len(parts) > 2 and parts[2] == "me":
            user = None
        elif len(parts) > 3 and parts[2] == "users":
            user = parts[3]
        else:
            return None
        mb = self.tenant.find(user)
        if mb is not None:
            return mb.address.lower()
        return (user or "me").lower()

    # authentication ---------------------------------------------------------------------------
    def _authenticate(self, req: Request) -> None:
        if not self.auth_required:
            return
        auth = req.headers.get("authorization") or ""
        if not auth.lower().startswith("bearer ") or not auth[7:].strip():
            raise errors.no_token()
        identity = self.hub.apps.get("identity")
        problem = identity.check_token(auth[7:].strip()) if identity is not None else "No token issuer."
        if problem:
            raise errors.bad_token(problem)

    def _api(self, fn: ApiHandler) -> Callable[[Request], Response]:
        def handler(req: Request) -> Response:
            try:
                self._authenticate(req)
                if self.service_time_ms:
                    time.sleep(self.service_time_ms / 1000.0)
                mb = self.tenant.resolve(req.params.get("user"))
                cal = req.params.get("calendar")
                if cal is not None and cal != mb.calendar_id:
                    raise errors.item_not_found()
                return fn(req, mb)
            except GraphError as e:
                return self.error(req, e)

        return handler

    # routes -----------------------------------------------------------------------------------
    def _add_routes(self) -> None:
        add = self.router.add
        for prefix in ("/v1.0/users/{user}", "/v1.0/me"):
            who = "me" if prefix.endswith("/me") else "user"
            for cal in ("", "/calendar", "/calendars/{calendar}"):
                for d in ("delta()", "delta"):
                    add(
                        "GET",
                        f"{prefix}{cal}/calendarView/{d}",
                        self._api(self.delta),
                        f"{who}.calendarView.delta",
                    )
                add(
                    "GET", f"{prefix}{cal}/calendarView", self._api(self.calendar_view), f"{who}.calendarView"
                )
            for d in ("delta()", "delta"):
                add("GET", f"{prefix}/events/{d}", self._api(self.delta), f"{who}.events.delta")
            for cal in ("", "/calendar", "/calendars/{calendar}"):
                add("GET", f"{prefix}{cal}/events", self._api(self.list_events), f"{who}.events.list")
                add("POST", f"{prefix}{cal}/events", self._api(self.create_event), f"{who}.events.create")
                add("GET", f"{prefix}{cal}/events/{{event}}", self._api(self.get_event), f"{who}.events.get")
                add(
                    "PATCH",
                    f"{prefix}{cal}/events/{{event}}",
                    self._api(self.update_event),
                    f"{who}.events.update",
                )
                add(
                    "DELETE",
                    f"{prefix}{cal}/events/{{event}}",
                    self._api(self.delete_event),
                    f"{who}.events.delete",
                )
                add(
                    "POST",
                    f"{prefix}{cal}/events/{{event}}/cancel",
                    self._api(self.cancel_event),
                    f"{who}.events.cancel",
                )
            add("GET", f"{prefix}/calendars", self._api(self.list_calendars), f"{who}.calendars")
            add("GET", f"{prefix}/calendar", self._api(self.get_calendar), f"{who}.calendar")
            add("GET", f"{prefix}/calendars/{{calendar}}", self._api(self.get_calendar), f"{who}.calendar")
            cats = f"{prefix}/outlook/masterCategories"
            add("GET", cats, self._api(self.list_categories), f"{who}.masterCategories.list")
            add("POST", cats, self._api(self.create_category), f"{who}.masterCategories.create")
            add("GET", cats + "/{category}", self._api(self.get_category), f"{who}.masterCategories.get")
            add(
                "PATCH",
                cats + "/{category}",
                self._api(self.update_category),
                f"{who}.masterCategories.update",
            )
            add(
                "DELETE",
                cats + "/{category}",
                self._api(self.delete_category),
                f"{who}.masterCategories.delete",
            )
            add("GET", f"{prefix}/mailboxSettings", self._api(self.get_settings), f"{who}.mailboxSettings")
            add(
                "PATCH", f"{prefix}/mailboxSettings", self._api(self.patch_settings), f"{who}.mailboxSettings"
            )
            add("GET", prefix, self._api(self.get_user), f"{who}.get")
        add("POST", "/v1.0/$batch", self.batch, "batch")
        from sandbox.graph.admin import add_admin_routes

        add_admin_routes(self)

    # helpers ----------------------------------------------------------------------------------
    def _prefs(self, req: Request) -> tuple[str, dict[str, str], dict[str, str]]:
        """(time zone to answer in, Prefer values, Preference-Applied header)."""
        prefs = odata.prefer(req.headers.get("prefer"))
        applied: list[str] = []
        tz = prefs.get("outlook.timezone")
        if tz and odata.known_zone(tz):
            applied.append(f'outlook.timezone="{tz}"')
        else:
            tz = "UTC"
        if "odata.maxpagesize" in prefs:
            applied.append(f"odata.maxpagesize={prefs['odata.maxpagesize']}")
        return tz, prefs, ({"Preference-Applied": ",".join(applied)} if applied else {})

    @staticmethod
    def _int(req: Request, name: str, default: int | None) -> int | None:
        v = req.arg(name)
        if v is None:
            return default
        if not v.isdigit():
            raise errors.GraphError(400, "BadRequest", f"Invalid value '{v}' for query option '{name}'.")
        return int(v)

    @staticmethod
    def _canonical(path: str) -> str:
        return path.replace("/users/me-token-to-replace", "/me").replace("/delta()", "/delta")

    def _page_size(self, req: Request, prefs: dict[str, str]) -> int:
        top = self._int(req, "$top", None)
        if top is not None:
            return max(1, min(top, MAX_PAGE))
        size = prefs.get("odata.maxpagesize", "")
        return max(1, min(int(size), MAX_PAGE)) if size.isdigit() else DEFAULT_PAGE

    def _event_page(self, req: Request, mb: Mailbox, events: list[Any], context_frag: str) -> Response:
        tz, prefs, applied = self._prefs(req)
        select = odata.select_set(req.arg("$select"), r.SELECTABLE)
        expand, ext_filter = odata.expand_extended_filter(req.arg("$expand"))
        pred = odata.compile_filter(req.arg("$filter"))
        orderby = req.arg("$orderby")
        if pred is not None or orderby:
            # $filter and $orderby read the rendered event; plain pages skip that work
            pairs = [(e, r.filter_doc(e)) for e in events]
            if pred is not None:
                pairs = [(e, d) for e, d in pairs if pred(d)]
            if orderby:
                docs = odata.sort_docs([d for _, d in pairs], orderby)
                by_id = {e.id: e for e, _ in pairs}
                pairs = [(by_id[d["id"]], d) for d in docs]
            events = [e for e, _ in pairs]
        skip = self._int(req, "$skip", 0) or 0
        size = self._page_size(req, prefs)
        chunk = events[skip : skip + size]
        payload: dict[str, Any] = {"@odata.context": r.context(req.base_url, context_frag)}
        if (req.arg("$count") or "").lower() == "true":
            payload["@odata.count"] = len(events)
        payload["value"] = [r.event_json(e, tz, select, ext_filter, expand) for e in chunk]
        if skip + size < len(events):
            q = {k: v[0] for k, v in req.query.items() if k.lower() != "$skip" and v}
            q["$skip"] = str(skip + size)
            payload["@odata.nextLink"] = r.link(req, self._canonical(req.path), q)
        return self.json(req, payload, extra=applied)

    def _one(self, req: Request, mb: Mailbox, ev: Any, status: int = 200) -> Response:
        tz, _, applied = self._prefs(req)
        select = odata.select_set(req.arg("$select"), r.SELECTABLE)
        expand, ext_filter = odata.expand_extended_filter(req.arg("$expand"))
        ctx = r.context(req.base_url, f"{r.users_segment(mb)}/events/$entity")
        extra = {**applied, "ETag": ev.etag}
        if status == 201:
            extra["Location"] = f"{req.base_url}/v1.0/Users('{mb.user_id}')/Events('{ev.id}')"
        return self.json(req, r.event_json(ev, tz, select, ext_filter, expand, ctx), status, extra=extra)

    # events -----------------------------------------------------------------------------------
    def list_events(self, req: Request, mb: Mailbox) -> Response:
        evs = sorted(self.tenant.live_events(mb), key=lambda e: (e.span()[0], e.created, e.id))
        return self._event_page(req, mb, evs, f"{r.users_segment(mb)}/events")

    def get_event(self, req: Request, mb: Mailbox) -> Response:
        return self._one(req, mb, self.tenant.get_event(mb, req.params["event"]))

    def create_event(self, req: Request, mb: Mailbox) -> Response:
        ev, _ = self.tenant.create_event(mb, self._body(req))
        return self._one(req, mb, ev, 201)

    def update_event(self, req: Request, mb: Mailbox) -> Response:
        ev = self.tenant.update_event(
            mb, req.params["event"], self._body(req), if_match=req.headers.get("if-match")
        )
        return self._one(req, mb, ev)

    def delete_event(self, req: Request, mb: Mailbox) -> Response:
        self.tenant.delete_event(mb, req.params["event"], if_match=req.headers.get("if-match"))
        return r.empty(req)

    def cancel_event(self, req: Request, mb: Mailbox) -> Response:
        body = self._body(req, allow_empty=True) or {}
        self.tenant.cancel_event(mb, req.params["event"], comment=body.get("Comment") or body.get("comment"))
        return r.empty(req, 202)

    @staticmethod
    def _body(req: Request, allow_empty: bool = False) -> Any:
        ctype = (req.headers.get("content-type") or "").lower()
        if not req.body:
            if allow_empty:
                return None
            raise errors.GraphError(400, "BadRequest", "Empty Payload. JSON content expected.")
        if "json" not in ctype:
            raise errors.GraphError(
                415,
                "UnsupportedMediaType",
                "A supported MIME type could not be found that matches the content type of the response.",
            )
        try:
            return req.json()
        except ValueError as e:
            raise errors.bad_body() from e

    # calendarView and delta -------------------------------------------------------------------
    def calendar_view(self, req: Request, mb: Mailbox) -> Response:
        start = odata.parse_range_param(req.arg("startDateTime"), "startDateTime")
        end = odata.parse_range_param(req.arg("endDateTime"), "endDateTime")
        if end <= start:
            raise errors.invalid_parameter(
                "The parameter 'EndDateTime' must be greater than 'StartDateTime'."
            )
        evs = self.tenant.calendar_view(mb, start, end)
        return self._event_page(req, mb, evs, f"{r.users_segment(mb)}/calendarView")

    def delta(self, req: Request, mb: Mailbox) -> Response:
        for opt in ("$select", "$filter", "$expand", "$orderby", "$search"):
            if req.arg(opt) is not None:
                raise errors.GraphError(
                    400,
                    "ErrorInvalidUrlQuery",
                    f"The following parameters are not supported with change tracking over "
                    f"the 'CalendarView' resource: '{opt}'.",
                )
        tz, prefs, applied = self._prefs(req)
        size = self._page_size(req, prefs)
        dtoken, stoken = req.arg("$deltatoken"), req.arg("$skiptoken")
        if dtoken:
            page = delta.continue_round(self.tenant, mb, dtoken, size)
        elif stoken:
            page = delta.next_page(self.tenant, mb, stoken, size)
        else:
            start = odata.parse_range_param(req.arg("startDateTime"), "startDateTime")
            end = odata.parse_range_param(req.arg("endDateTime"), "endDateTime")
            if end <= start:
                raise errors.invalid_parameter(
                    "The parameter 'EndDateTime' must be greater than 'StartDateTime'."
                )
            page = delta.start_round(self.tenant, mb, start, end, size)
        value = [r.tombstone(eid) if ev is None else r.event_json(ev, tz) for eid, ev in page.items]
        payload: dict[str, Any] = {"@odata.context": r.context(req.base_url, "Collection(event)")}
        path = self._canonical(req.path)
        if page.skiptoken:
            payload["@odata.nextLink"] = r.link(req, path, {"$skiptoken": page.skiptoken})
        else:
            payload["@odata.deltaLink"] = r.link(req, path, {"$deltatoken": page.deltatoken or ""})
        payload["value"] = value
        return self.json(req, payload, extra=applied)

    # calendars, categories, settings, user ----------------------------------------------------
    def list_calendars(self, req: Request, mb: Mailbox) -> Response:
        return self.json(
            req,
            {
                "@odata.context": r.context(req.base_url, f"{r.users_segment(mb)}/calendars"),
                "value": [r.calendar_json(mb)],
            },
        )

    def get_calendar(self, req: Request, mb: Mailbox) -> Response:
        ctx = r.context(req.base_url, f"{r.users_segment(mb)}/calendars/$entity")
        return self.json(req, {"@odata.context": ctx, **r.calendar_json(mb)})

    def list_categories(self, req: Request, mb: Mailbox) -> Response:
        ctx = r.context(req.base_url, f"{r.users_segment(mb)}/outlook/masterCategories")
        return self.json(
            req,
            {"@odata.context": ctx, "value": [r.category_json(c) for c in self.tenant.list_categories(mb)]},
        )

    def _category(self, req: Request, mb: Mailbox, cat: dict[str, str], status: int = 200) -> Response:
        ctx = r.context(req.base_url, f"{r.users_segment(mb)}/outlook/masterCategories/$entity")
        return self.json(req, {"@odata.context": ctx, **r.category_json(cat)}, status)

    def get_category(self, req: Request, mb: Mailbox) -> Response:
        return self._category(req, mb, self.tenant.get_category(mb, req.params["category"]))

    def create_category(self, req: Request, mb: Mailbox) -> Response:
        return self._category(req, mb, self.tenant.create_category(mb, self._body(req)), 201)

    def update_category(self, req: Request, mb: Mailbox) -> Response:
        return self._category(
            req, mb, self.tenant.update_category(mb, req.params["category"], self._body(req))
        )

    def delete_category(self, req: Request, mb: Mailbox) -> Response:
        self.tenant.delete_category(mb, req.params["category"])
        return r.empty(req)

    def get_settings(self, req: Request, mb: Mailbox) -> Response:
        ctx = r.context(req.base_url, f"{r.users_segment(mb)}/mailboxSettings")
        return self.json(req, {"@odata.context": ctx, **r.mailbox_settings_json(mb)})

    def patch_settings(self, req: Request, mb: Mailbox) -> Response:
        body = self._body(req)
        if not isinstance(body, dict):
            raise errors.bad_body()
        allowed = set(r.mailbox_settings_json(mb))
        for k in body:
            if not k.startswith("@odata.") and k not in allowed:
                raise errors.unknown_property(k, "microsoft.graph.mailboxSettings")
        with self.tenant.lock:
            if "timeZone" in body:
                odata.zone(body["timeZone"])
                mb.time_zone = str(body["timeZone"])
            mb.settings.update(
                {k: v for k, v in body.items() if not k.startswith("@odata.") and k != "timeZone"}
            )
        return self.get_settings(req, mb)

    def get_user(self, req: Request, mb: Mailbox) -> Response:
        ctx = r.context(req.base_url, "users/$entity")
        return self.json(req, {"@odata.context": ctx, **r.user_json(mb)})

    # $batch -----------------------------------------------------------------------------------
    def batch(self, req: Request) -> Response:
        try:
            self._authenticate(req)
            return batch.run_batch(self, req)
        except GraphError as e:
            return self.error(req, e)
        except batch.DroppedBatch:
            # an item's write committed and its connection is to drop: the batch's connection drops
            req._graph_drop = True  # type: ignore[attr-defined]
            return self.error(req, GraphError(500, "generalException", "connection dropped"))
        except ValueError:
            return self.error(req, errors.bad_body())

    def dispatch(self, req: Request) -> Response | object:
        resp = super().dispatch(req)
        return DROP_CONNECTION if getattr(req, "_graph_drop", False) else resp


def parse_when(value: Any) -> datetime | None:
    """An admin-supplied modification time (ISO text) as an aware datetime."""
    if not value:
        return None
    dt = odata.parse_datetime(str(value))
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt
