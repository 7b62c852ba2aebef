"""The Salesforce emulator's own admin API, under ``/__sandbox__/salesforce/`` (loopback only).

Lists records including deleted ones, edits "as a person" (chosen user and modification time), sets the
daily API allowance, expires every session, and reads or extends the schema. Each is a thin wrapper
over an ``Org`` method that in-process tests can call directly.
"""

from __future__ import annotations

from collections.abc import Callable

from sandbox.http import ADMIN_PREFIX, Request, Response, Router
from sandbox.salesforce.errors import RecordError
from sandbox.salesforce.models import Org


class Admin:
    def __init__(self, org: Org) -> None:
        self.org = org

    def add_routes(self, router: Router) -> None:
        p = f"{ADMIN_PREFIX}/salesforce"
        add = router.add
        add("GET", p + "/records/{obj}", self.list, "admin.sf.records")
        add("POST", p + "/records/{obj}", self.edit, "admin.sf.create")
        add("PATCH|DELETE", p + "/records/{obj}/{id}", self.edit, "admin.sf.edit")
        add("GET|POST", p + "/limits", self.limits, "admin.sf.limits")
        add("POST", p + "/tokens/expire", self.expire, "admin.sf.expire")
        add("GET|POST", p + "/schema", self.schema, "admin.sf.schema")

    def _admin(self, fn: Callable[[], Response]) -> Response:
        try:
            return fn()
        except RecordError as e:
            return Response.json({"error": e.code, "message": e.message, "fields": e.fields}, e.status)
        except ValueError as e:
            return Response.json({"error": "BAD_REQUEST", "message": str(e)}, 400)

    def list(self, req: Request) -> Response:
        include_deleted = (req.arg("include_deleted") or "true").lower() != "false"
        return self._admin(lambda: Response.json(self.org.records_of(req.params["obj"], include_deleted)))

    def edit(self, req: Request) -> Response:
        """Edit "as a person": body ``{"fields": {...}, "user": id|Username|Email, "at": iso}``."""
        body = req.json() or {}
        op = {"POST": "create", "PATCH": "update", "DELETE": "delete"}[req.method]
        user = body.get("user") or req.arg("user")
        at = body.get("at") or req.arg("at")

        def run() -> Response:
            rid = self.org.edit_as(
                op, req.params["obj"], req.params.get("id"), body.get("fields", {}), user, at
            )
            return Response.json({"id": rid, "op": op}, 201 if op == "create" else 200)

        return self._admin(run)

    def limits(self, req: Request) -> Response:
        if req.method == "POST":
            body = req.json() or {}
            return Response.json(self.org.set_limits(body.get("remaining"), body.get("max")))
        used, maximum = self.org.api_usage
        return Response.json({"Max": maximum, "Remaining": maximum - used})

    def expire(self, req: Request) -> Response:
        return Response.json({"expired": self.org.expire_tokens()})

    def schema(self, req: Request) -> Response:
        if req.method == "POST":
            body = req.json() or {}
            return self._admin(
                lambda: Response.json({"objects": self.org.add_objects(body.get("objects", {}))})
            )
        return Response.json(self.org.schema.to_spec())
