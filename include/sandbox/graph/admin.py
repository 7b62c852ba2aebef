"""Graph admin API under /__sandbox__/graph/: mailboxes, edits "as a person", delta token
invalidation, the meeting-mail log and settings. Each route is one call to a Tenant method, so the
same operations exist in Python for in-process tests.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sandbox.graph import responses as r
from sandbox.graph.errors import GraphError
from sandbox.http import ADMIN_PREFIX, Request, Response

if TYPE_CHECKING:
    from sandbox.graph.routes import GraphApp

P = f"{ADMIN_PREFIX}/graph"


def add_admin_routes(app: GraphApp) -> None:
    t = app.tenant

    def guard(fn: Callable[[Request], Any]) -> Callable[[Request], Response]:
        def handler(req: Request) -> Response:
            try:
                out = fn(req)
            except KeyError as e:
                return Response.json({"error": f"unknown mailbox or item {e}"}, 404)
            except ValueError as e:
                return Response.json({"error": str(e)}, 400)
            except GraphError as e:
                return Response.json({"error": {"code": e.code, "message": e.message}}, e.status)
            if isinstance(out, Response):
                return out
            return Response.json(out, 200 if req.method != "POST" else 201 if out is not None else 204)

        return handler

    def body(req: Request) -> dict[str, Any]:
        b = req.json() or {}
        if not isinstance(b, dict):
            raise ValueError("a JSON object is expected")
        return b

    def mailboxes(req: Request) -> Any:
        if req.method == "POST":
            b = body(req)
            t.add_mailbox(b["address"], b.get("displayName") or b["address"], b.get("timeZone") or "UTC")
            return {"added": b["address"]}
        return {"mailboxes": t.list_mailboxes(), "me": t.me}

    def remove(req: Request) -> Any:
        t.remove_mailbox(req.params["address"])
        return {"removed": req.params["address"]}

    def time_zone(req: Request) -> Any:
        t.set_time_zone(req.params["address"], body(req)["timeZone"])
        return {"timeZone": t._mailbox(req.params["address"]).time_zone}

    def availability(req: Request) -> Any:
        t.set_availability(req.params["address"], body(req)["availability"])
        return {"availability": body(req)["availability"]}

    def me(req: Request) -> Any:
        if req.method == "POST":
            t.set_me(body(req).get("address"))
        return {"me": t.me}

    def events(req: Request) -> Any:
        addr = req.params["address"]
        if req.method == "POST":
            from sandbox.graph.routes import parse_when

            b = body(req)
            return t.person_create(
                addr,
                b.get("props") or {},
                as_organizer=bool(b.get("as_organizer", True)),
                modified_at=parse_when(b.get("modified_at")),
                ical_uid=b.get("iCalUId"),
            )
        mb = t._mailbox(addr)
        return {"value": [r.event_json(e, expand_ext=True) for e in t.live_events(mb)]}

    def event(req: Request) -> Any:
        addr, eid = req.params["address"], req.params["event"]
        if req.method == "PATCH":
            from sandbox.graph.routes import parse_when

            b = body(req)
            return t.person_update(
                addr, eid, b.get("props") or {}, modified_at=parse_when(b.get("modified_at"))
            )
        if req.method == "DELETE":
            t.person_delete(addr, eid)
            return {"deleted": eid}
        return r.event_json(t.get_event(t._mailbox(addr), eid), expand_ext=True)

    def cancel(req: Request) -> Any:
        t.person_cancel(req.params["address"], req.params["event"], (req.json() or {}).get("comment"))
        return {"cancelled": req.params["event"]}

    def invalidate(req: Request) -> Any:
        return {"invalidated": t.invalidate_delta((req.json() or {}).get("address"))}

    def mail(req: Request) -> Any:
        if req.method == "DELETE":
            t.clear_mail()
            return {"mail": []}
        return {"mail": t.mail()}

    def settings(req: Request) -> Any:
        if req.method == "POST":
            b = body(req)
            if "auth_required" in b:
                app.auth_required = bool(b["auth_required"])
            if "delta_ttl_seconds" in b:
                t.delta_ttl_seconds = int(b["delta_ttl_seconds"])
            if "service_time_ms" in b:
                app.service_time_ms = int(b["service_time_ms"])
            if "batch_parallel" in b:
                app.batch_parallel = bool(b["batch_parallel"])
            if "deliver_invitations" in b:
                t.deliver_invitations = bool(b["deliver_invitations"])
        return {
            "auth_required": app.auth_required,
            "delta_ttl_seconds": t.delta_ttl_seconds,
            "service_time_ms": app.service_time_ms,
            "batch_parallel": app.batch_parallel,
            "deliver_invitations": t.deliver_invitations,
        }

    def expire_tokens(req: Request) -> Any:
        identity = app.hub.apps.get("identity")
        if identity is None:
            raise ValueError("no identity app")
        identity.expire_tokens()
        return {"expired": True}

    add = app.router.add
    add("GET|POST", f"{P}/mailboxes", guard(mailboxes), "admin.graph.mailboxes")
    add("DELETE", f"{P}/mailboxes/{{address}}", guard(remove), "admin.graph.mailbox")
    add("POST", f"{P}/mailboxes/{{address}}/timeZone", guard(time_zone), "admin.graph.timeZone")
    add("POST", f"{P}/mailboxes/{{address}}/availability", guard(availability), "admin.graph.availability")
    add("GET|POST", f"{P}/mailboxes/{{address}}/events", guard(events), "admin.graph.events")
    add("GET|PATCH|DELETE", f"{P}/mailboxes/{{address}}/events/{{event}}", guard(event), "admin.graph.event")
    add("POST", f"{P}/mailboxes/{{address}}/events/{{event}}/cancel", guard(cancel), "admin.graph.cancel")
    add("GET|POST", f"{P}/me", guard(me), "admin.graph.me")
    add("POST", f"{P}/delta/invalidate", guard(invalidate), "admin.graph.delta.invalidate")
    add("GET|DELETE", f"{P}/mail", guard(mail), "admin.graph.mail")
    add("GET|POST", f"{P}/settings", guard(settings), "admin.graph.settings")
    add("POST", f"{P}/tokens/expire", guard(expire_tokens), "admin.graph.tokens.expire")
