"""The Salesforce emulator's HTTP surface: login (SOAP and OAuth, also at ``POST /``), REST under
``/services/data/vXX.X/``, Bulk API 2.0, and the admin API under ``/__sandbox__/salesforce/``.

Routes are thin: they authenticate, count the API call, and hand over to the org model; bodies come
from ``responses`` and errors from ``errors``.
"""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sandbox.http import App, Request, Response
from sandbox.salesforce import responses
from sandbox.salesforce.admin import Admin
from sandbox.salesforce.auth import Logins
from sandbox.salesforce.bulk import BulkJobs
from sandbox.salesforce.errors import (
    JSON_CT,
    RecordError,
    SalesforceError,
    invalid_session,
    not_found,
)
from sandbox.salesforce.models import MultipleMatches, Org, Txn
from sandbox.salesforce.values import format_datetime, parse_datetime, to18

log = logging.getLogger(__name__)

DATA = "/services/data/v{ver}"
MAX_COLLECTION = 200
# Fault codes the fault plan may carry (Graph-style names) mapped to what Salesforce answers instead.
THROTTLE_CODES = {
    403: "REQUEST_LIMIT_EXCEEDED",
    429: "REQUEST_LIMIT_EXCEEDED",
    503: "SERVER_UNAVAILABLE",
    500: "UNKNOWN_EXCEPTION",
    502: "SERVER_UNAVAILABLE",
    504: "SERVER_UNAVAILABLE",
}
THROTTLE_MESSAGES = {
    "REQUEST_LIMIT_EXCEEDED": "TotalRequests Limit exceeded.",
    "SERVER_UNAVAILABLE": "Server unavailable, please try again later.",
    "UNKNOWN_EXCEPTION": "An unexpected error occurred. Please try again.",
}


@dataclass
class Call:
    """An authenticated REST request."""

    req: Request
    version: str
    user_id: str


Rest = Callable[[Call], Response]


def ok(payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response.json(payload, status, content_type=JSON_CT, headers=headers)


def _version(req: Request) -> str:
    ver = req.params.get("ver", "")
    if not re.fullmatch(r"\d+\.\d", ver):
        raise not_found()
    return ver


def _json_body(req: Request) -> Any:
    try:
        return req.json()
    except ValueError as e:
        raise SalesforceError(400, "JSON_PARSER_ERROR", f"Unexpected character: {e}") from None


class SalesforceApp(App):
    name = "salesforce"

    def __init__(self, hub: Any) -> None:
        super().__init__(hub.faults)
        self.hub = hub
        self.org = Org(hub.clock)
        self.bulk = BulkJobs(self.org)
        self.logins = Logins(self.org, hub)
        self._add_routes()

    # state -----------------------------------------------------------------------------------
    def reset(self) -> None:
        self.org.reset()
        self.bulk.reset()

    def snapshot(self) -> dict[str, Any]:
        return self.org.snapshot()

    def restore(self, snap: dict[str, Any]) -> None:
        self.org.restore(snap)
        self.bulk.reset()

    # App hooks ---------------------------------------------------------------------------------
    def not_found(self, req: Request) -> Response:
        return not_found().response

    def method_not_allowed(self, req: Request) -> Response:
        allowed = sorted({r.method for r in self.router.routes if r.regex.match(req.path)})
        return SalesforceError(
            405,
            "METHOD_NOT_ALLOWED",
            f"HTTP Method '{req.method}' not allowed. Allowed are {','.join(allowed)}",
        ).response

    def on_error(self, req: Request, exc: Exception) -> Response:
        error_id = f"{secrets.randbelow(10**9)}-{secrets.randbelow(10**5)} ({secrets.randbelow(10**10)})"
        log.error("salesforce emulator error %s on %s %s: %r", error_id, req.method, req.path, exc)
        return SalesforceError(
            500,
            "UNKNOWN_EXCEPTION",
            f"An unexpected error occurred. Please include this ErrorId if you contact support: {error_id}",
        ).response

    def throttle_response(self, req: Request, status: int, retry_after: int, code: str) -> Response:
        sf_code = (
            code if re.fullmatch(r"[A-Z_]+", code or "") else THROTTLE_CODES.get(status, "UNKNOWN_EXCEPTION")
        )
        message = THROTTLE_MESSAGES.get(sf_code, sf_code)
        headers = {"Retry-After": str(retry_after)} if status in (429, 503) else {}
        return SalesforceError(status, sf_code, message, headers=headers).response

    def decorate(self, req: Request, resp: Response) -> Response:
        if req.path.startswith("/services/data"):
            used, maximum = self.org.api_usage
            resp.headers["Sforce-Limit-Info"] = f"api-usage={used}/{maximum}"
        return resp

    # plumbing ----------------------------------------------------------------------------------
    def rest(self, handler: Rest, count: bool = True) -> Callable[[Request], Response]:
        def wrapped(req: Request) -> Response:
            version = _version(req)
            auth = req.headers.get("Authorization") or ""
            token = auth[7:].strip() if auth[:7].lower() == "bearer " else ""
            session = self.org.session(token) if token else None
            if session is None:
                raise invalid_session()
            if count:
                self.org.consume_api_call()
            try:
                return handler(Call(req, version, session.user_id))
            except RecordError as e:
                raise e.as_http() from None
            except MultipleMatches as e:
                return ok([f"/services/data/v{version}/sobjects/{e.obj}/{i}" for i in e.ids], 300)

        return wrapped

    def _add_routes(self) -> None:
        add = self.router.add
        d = DATA
        add("POST", "/", self.logins.login_root, "login.root")
        add("POST", "/services/Soap/u/{ver}", self.logins.soap_login, "login.soap")
        add("POST", "/services/Soap/u/{ver}/{org}", self.logins.soap_login, "login.soap")
        add("POST", "/services/oauth2/token", self.logins.oauth_token, "login.oauth")
        add("GET", "/services/data", self.versions, "versions")
        add("GET", d, self.rest(self.resources), "resources")
        add("GET", d + "/limits", self.rest(self.limits), "limits")
        add("GET", d + "/sobjects", self.rest(self.global_describe), "describe.global")
        add("GET", d + "/sobjects/{obj}/describe", self.rest(self.describe), "describe")
        add("GET", d + "/sobjects/{obj}/updated", self.rest(self.updated), "sobject.updated")
        add("GET", d + "/sobjects/{obj}/deleted", self.rest(self.deleted), "sobject.deleted")
        add("GET", d + "/sobjects/{obj}", self.rest(self.metadata), "sobject.metadata")
        add("POST", d + "/sobjects/{obj}", self.rest(self.create), "sobject.create")
        add("GET|PATCH|DELETE", d + "/sobjects/{obj}/{id}", self.rest(self.record), "sobject.record")
        add(
            "GET|PATCH|DELETE",
            d + "/sobjects/{obj}/{field}/{value:path}",
            self.rest(self.by_external),
            "sobject.external",
        )
        add("GET", d + "/query", self.rest(self.query), "query")
        add("GET", d + "/queryAll", self.rest(self.query_all), "queryAll")
        add("GET", d + "/query/{locator}", self.rest(self.query_more), "query.more")
        add("GET", d + "/queryAll/{locator}", self.rest(self.query_more), "queryAll.more")
        add(
            "GET|POST|PATCH|DELETE",
            d + "/composite/sobjects",
            self.rest(self.collection),
            "composite.sobjects",
        )
        add("GET", d + "/composite/sobjects/{obj}", self.rest(self.collection_get), "composite.sobjects.get")
        add(
            "PATCH",
            d + "/composite/sobjects/{obj}/{field}",
            self.rest(self.collection_upsert),
            "composite.sobjects.upsert",
        )
        add("GET|POST", d + "/jobs/query", self.rest(self.query_jobs), "bulk2.query")
        add("GET|PATCH|DELETE", d + "/jobs/query/{job}", self.rest(self.query_job), "bulk2.query.job")
        add("GET", d + "/jobs/query/{job}/results", self.rest(self.query_results), "bulk2.query.results")
        add("GET|POST", d + "/jobs/ingest", self.rest(self.ingest_jobs), "bulk2.ingest")
        add("GET|PATCH|DELETE", d + "/jobs/ingest/{job}", self.rest(self.ingest_job), "bulk2.ingest.job")
        add("PUT", d + "/jobs/ingest/{job}/batches", self.rest(self.ingest_upload), "bulk2.ingest.batches")
        add("GET", d + "/jobs/ingest/{job}/{kind}", self.rest(self.ingest_results), "bulk2.ingest.results")
        Admin(self.org).add_routes(self.router)

    # REST: org-level ---------------------------------------------------------------------------
    def versions(self, req: Request) -> Response:
        return ok(
            [
                {"label": "Winter '24", "url": "/services/data/v59.0", "version": "59.0"},
                {"label": "Spring '24", "url": "/services/data/v60.0", "version": "60.0"},
                {"label": "Summer '24", "url": "/services/data/v61.0", "version": "61.0"},
                {"label": "Winter '25", "url": "/services/data/v62.0", "version": "62.0"},
            ]
        )

    def resources(self, c: Call) -> Response:
        base = f"/services/data/v{c.version}"
        return ok(
            {k: f"{base}/{k}" for k in ("sobjects", "query", "queryAll", "limits", "composite", "jobs")}
        )

    def limits(self, c: Call) -> Response:
        return ok(responses.limits_body(self.org))

    def global_describe(self, c: Call) -> Response:
        with self.org.lock:
            objs = [o.global_entry(c.version) for o in self.org.schema.objects.values()]
        return ok({"encoding": "UTF-8", "maxBatchSize": 200, "sobjects": objs})

    def describe(self, c: Call) -> Response:
        obj = self.org.object(c.req.params["obj"])
        return ok(obj.describe(c.version, self.org.schema.child_relationships(obj.name)))

    def metadata(self, c: Call) -> Response:
        obj = self.org.object(c.req.params["obj"])
        with self.org.lock:
            recent = list(self.org.records[obj.name].values())[-3:]
            items = [
                {"attributes": responses.attributes(obj.name, r["Id"], c.version), "Id": r["Id"]}
                for r in reversed(recent)
                if not r.get("IsDeleted")
            ]
        return ok({"objectDescribe": obj.global_entry(c.version), "recentItems": items})

    # REST: records -----------------------------------------------------------------------------
    def create(self, c: Call) -> Response:
        body = _json_body(c.req)
        if not isinstance(body, dict):
            raise SalesforceError(400, "JSON_PARSER_ERROR", "The request body must be a JSON object.")
        rid = self.org.create(c.req.params["obj"], body, c.user_id)
        return ok({"id": rid, "success": True, "errors": []}, 201)

    def record(self, c: Call) -> Response:
        obj_name, rid = c.req.params["obj"], c.req.params["id"]
        if rid in ("describe", "updated", "deleted"):
            raise not_found()
        if c.req.method == "GET":
            obj, rec = self.org.get(obj_name, rid)
            fields = c.req.arg("fields")
            names = None
            if fields:
                names = []
                for n in fields.split(","):
                    f = obj.field(n.strip())
                    if f is None:
                        raise SalesforceError(
                            400, "INVALID_FIELD", f"No such column '{n.strip()}' on entity '{obj.name}'."
                        )
                    names.append(f.name)
            return ok(responses.full_record(obj, rec, c.version, names))
        if c.req.method == "PATCH":
            body = _json_body(c.req) or {}
            self.org.update(obj_name, rid, body, c.user_id)
            return Response.empty(204)
        self.org.delete(obj_name, rid, c.user_id)
        return Response.empty(204)

    def by_external(self, c: Call) -> Response:
        obj = self.org.object(c.req.params["obj"])
        fname, value = c.req.params["field"], c.req.params["value"]
        if c.req.method == "PATCH":
            body = _json_body(c.req) or {}
            rid, created = self.org.upsert(obj.name, fname, value, body, c.user_id)
            return ok({"id": rid, "success": True, "errors": [], "created": created}, 201 if created else 200)
        with self.org.lock:
            ids = self.org.find_by_external(obj, fname, value)
        if len(ids) > 1:
            raise MultipleMatches(obj.name, ids)
        if not ids:
            raise not_found()
        if c.req.method == "DELETE":
            self.org.delete(obj.name, ids[0], c.user_id)
            return Response.empty(204)
        _, rec = self.org.get(obj.name, ids[0])
        return ok(responses.full_record(obj, rec, c.version))

    def _window(self, c: Call) -> tuple[datetime, datetime]:
        try:
            start = parse_datetime(c.req.arg("start") or "")
            end = parse_datetime(c.req.arg("end") or "")
        except ValueError:
            raise SalesforceError(
                400, "INVALID_REPLICATION_DATE", "start and end must be ISO 8601 dateTimes"
            ) from None
        now = self.hub.clock.now()
        if end <= start:
            raise SalesforceError(
                400,
                "INVALID_REPLICATION_DATE",
                "startDate must chronologically precede endDate by more than one minute",
            )
        if start < now - timedelta(days=30):
            raise SalesforceError(
                400, "INVALID_REPLICATION_DATE", "startDate cannot be more than 30 days ago"
            )
        return start, min(end, now)

    def updated(self, c: Call) -> Response:
        start, end = self._window(c)
        end = end.replace(second=0, microsecond=0)
        ids = self.org.changed_ids(c.req.params["obj"], start, end)
        return ok({"ids": ids, "latestDateCovered": format_datetime(end)})

    def deleted(self, c: Call) -> Response:
        start, end = self._window(c)
        end = end.replace(second=0, microsecond=0)
        rows = self.org.deleted_between(c.req.params["obj"], start, end)
        earliest = min((r["deletedDate"] for r in rows), default=format_datetime(start))
        return ok(
            {
                "deletedRecords": rows,
                "earliestDateAvailable": earliest,
                "latestDateCovered": format_datetime(end),
            }
        )

    # REST: query -------------------------------------------------------------------------------
    def _batch_size(self, req: Request) -> int:
        opts = req.headers.get("Sforce-Query-Options") or ""
        m = re.search(r"batchSize\s*=\s*(\d+)", opts)
        return max(200, min(responses.PAGE_SIZE, int(m.group(1)))) if m else responses.PAGE_SIZE

    def _run(self, c: Call, include_deleted: bool) -> Response:
        soql = c.req.arg("q")
        if not soql:
            raise SalesforceError(400, "MALFORMED_QUERY", "A query string has to be specified")
        plan, recs = self.org.run_query(soql, include_deleted)
        if plan.query.count:
            return ok(responses.query_page([], len(recs), None))
        with self.org.lock:
            rows = [responses.query_row(self.org, plan.obj, plan.columns, r, c.version) for r in recs]
        endpoint = "queryAll" if include_deleted else "query"
        return self._page(c, rows, 0, self._batch_size(c.req), endpoint, None)

    def _page(
        self, c: Call, rows: list[dict[str, Any]], start: int, size: int, endpoint: str, locator: str | None
    ) -> Response:
        end = start + size
        next_url = None
        if end < len(rows):
            if locator is None:
                locator = self.org.store_cursor(rows, {"endpoint": endpoint, "size": size})
            next_url = f"/services/data/v{c.version}/{endpoint}/{locator}-{end}"
        return ok(responses.query_page(rows[start:end], len(rows), next_url))

    def query(self, c: Call) -> Response:
        return self._run(c, include_deleted=False)

    def query_all(self, c: Call) -> Response:
        return self._run(c, include_deleted=True)

    def query_more(self, c: Call) -> Response:
        raw = c.req.params["locator"]
        locator, _, offset = raw.partition("-")
        cur = self.org.cursor(locator)
        if cur is None or not offset.isdigit():
            raise SalesforceError(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
        return self._page(c, cur["rows"], int(offset), cur["size"], cur["endpoint"], locator)

    # REST: sObject Collections -----------------------------------------------------------------
    def _records_payload(self, c: Call) -> tuple[list[dict[str, Any]], bool]:
        body = _json_body(c.req) or {}
        records = body.get("records")
        if not isinstance(records, list):
            raise SalesforceError(400, "JSON_PARSER_ERROR", "records is required")
        if len(records) > MAX_COLLECTION:
            raise SalesforceError(
                400,
                "EXCEEDED_ID_LIMIT",
                "record limit reached. cannot submit more than 200 records into this call",
            )
        return records, bool(body.get("allOrNone", False))

    def _save_all(
        self, items: list[Any], all_or_none: bool, one: Callable[[Any, Txn], dict[str, Any]]
    ) -> list[dict[str, Any]]:
        """Apply ``one`` to each item; with allOrNone, any failure rolls every write back."""
        results: list[dict[str, Any]] = []
        failed = False
        with self.org.lock:
            txn = Txn()
            for item in items:
                try:
                    results.append({**one(item, txn), "success": True, "errors": []})
                except RecordError as e:
                    failed = True
                    results.append({"success": False, "errors": [e.as_result_error()]})
                except SalesforceError as e:  # a malformed id or an unknown object, for this record only
                    failed = True
                    error = {"statusCode": e.code, "message": e.message, "fields": e.fields or []}
                    results.append({"success": False, "errors": [error]})
                except MultipleMatches as e:
                    failed = True
                    results.append(
                        {
                            "success": False,
                            "errors": [
                                {
                                    "statusCode": "DUPLICATE_EXTERNAL_ID",
                                    "message": f"{e.obj}: more than one record found for external id field: "
                                    f"{e.ids}",
                                    "fields": [],
                                }
                            ],
                        }
                    )
            if failed and all_or_none:
                self.org.rollback(txn)
                rolled = {
                    "statusCode": "ALL_OR_NONE_OPERATION_ROLLED_BACK",
                    "message": "Record rolled back because not all records were valid and the request "
                    "was using AllOrNone header",
                    "fields": [],
                }
                results = [
                    r if not r["success"] else {"id": None, "success": False, "errors": [rolled]}
                    for r in results
                ]
        return results

    def collection(self, c: Call) -> Response:
        m = c.req.method
        if m == "GET":
            raise SalesforceError(400, "MISSING_ARGUMENT", "Missing sObject type in the URL")
        if m == "DELETE":
            ids = [i for i in (c.req.arg("ids") or "").split(",") if i]
            if not ids:
                raise SalesforceError(400, "MISSING_ARGUMENT", "ids is required")
            if len(ids) > MAX_COLLECTION:
                raise SalesforceError(
                    400,
                    "EXCEEDED_ID_LIMIT",
                    "record limit reached. cannot submit more than 200 records into this call",
                )
            all_or_none = (c.req.arg("allOrNone") or "false").lower() == "true"

            def delete_one(rid: str, txn: Txn) -> dict[str, Any]:
                self.org.delete(None, rid, c.user_id, txn=txn)
                return {"id": to18(rid) or rid}

            results = self._save_all(ids, all_or_none, delete_one)
            for rid, r in zip(ids, results, strict=True):
                r.setdefault("id", rid)
                if r["id"] is None:
                    r["id"] = rid
            return ok(results)
        records, all_or_none = self._records_payload(c)

        def type_of(rec: dict[str, Any]) -> str:
            t = (rec.get("attributes") or {}).get("type")
            if not t:
                raise RecordError("INVALID_TYPE", "Must send a concrete entity type.", [])
            if self.org.schema.object(str(t)) is None:
                raise RecordError("INVALID_TYPE", f"sObject type '{t}' is not supported.", [])
            return str(t)

        if m == "POST":

            def create_one(rec: dict[str, Any], txn: Txn) -> dict[str, Any]:
                return {"id": self.org.create(type_of(rec), rec, c.user_id, txn=txn)}

            results = self._save_all(records, all_or_none, create_one)
            for r in results:
                if not r["success"]:
                    r.pop("id", None)
            return ok(results)

        def update_one(rec: dict[str, Any], txn: Txn) -> dict[str, Any]:
            rid = rec.get("id") or rec.get("Id")
            if not rid:
                raise RecordError("MISSING_ARGUMENT", "Id not specified in an update call", [])
            self.org.update(type_of(rec), str(rid), rec, c.user_id, txn=txn)
            return {"id": to18(str(rid))}

        results = self._save_all(records, all_or_none, update_one)
        for rec, r in zip(records, results, strict=True):
            if not r.get("id"):
                r["id"] = rec.get("id") or rec.get("Id")
        return ok([{"id": r["id"], "success": r["success"], "errors": r["errors"]} for r in results])

    def collection_upsert(self, c: Call) -> Response:
        obj = self.org.object(c.req.params["obj"])
        fname = c.req.params["field"]
        records, all_or_none = self._records_payload(c)
        with self.org.lock:
            self.org.external_field(obj, fname)

        def upsert_one(rec: dict[str, Any], txn: Txn) -> dict[str, Any]:
            key = next((v for k, v in rec.items() if k.lower() == fname.lower()), None)
            if key is None:
                raise RecordError("MISSING_ARGUMENT", f"{fname} not specified", [fname])
            rid, created = self.org.upsert(obj.name, fname, str(key), rec, c.user_id, txn=txn)
            return {"id": rid, "created": created}

        results = self._save_all(records, all_or_none, upsert_one)
        out = []
        for r in results:
            row = {"id": r.get("id"), "success": r["success"], "errors": r["errors"]}
            if r["success"]:
                row["created"] = r["created"]
            out.append(row)
        return ok(out)

    def collection_get(self, c: Call) -> Response:
        obj = self.org.object(c.req.params["obj"])
        ids = [i for i in (c.req.arg("ids") or "").split(",") if i]
        fields = [f for f in (c.req.arg("fields") or "").split(",") if f]
        if not ids or not fields:
            raise SalesforceError(400, "MISSING_ARGUMENT", "ids and fields are required")
        out: list[Any] = []
        for rid in ids:
            try:
                _, rec = self.org.get(obj.name, rid)
            except SalesforceError:
                out.append(None)
                continue
            names = [obj.field(f).name if obj.field(f) else f for f in fields]
            out.append(responses.full_record(obj, rec, c.version, names))
        return ok(out)

    # Bulk API 2.0 ------------------------------------------------------------------------------
    def query_jobs(self, c: Call) -> Response:
        if c.req.method == "GET":
            return ok({"done": True, "records": self.bulk.list_jobs("query"), "nextRecordsUrl": None})
        return ok(self.bulk.create_query(_json_body(c.req) or {}, c.user_id, c.version))

    def query_job(self, c: Call) -> Response:
        job = c.req.params["job"]
        if c.req.method == "GET":
            return ok(self.bulk.query_info(job))
        if c.req.method == "DELETE":
            self.bulk.delete(job, "query")
            return Response.empty(204)
        return ok(self.bulk.set_state(job, "query", (_json_body(c.req) or {}).get("state", "")))

    def query_results(self, c: Call) -> Response:
        raw_max = c.req.arg("maxRecords")
        max_records = int(raw_max) if raw_max and raw_max.isdigit() else None
        body, n, locator = self.bulk.query_results(c.req.params["job"], max_records, c.req.arg("locator"))
        return Response.text(
            body,
            200,
            content_type="text/csv",
            headers={"Sforce-NumberOfRecords": str(n), "Sforce-Locator": locator},
        )

    def ingest_jobs(self, c: Call) -> Response:
        if c.req.method == "GET":
            return ok({"done": True, "records": self.bulk.list_jobs("ingest"), "nextRecordsUrl": None})
        return ok(self.bulk.create_ingest(_json_body(c.req) or {}, c.user_id, c.version))

    def ingest_job(self, c: Call) -> Response:
        job = c.req.params["job"]
        if c.req.method == "GET":
            return ok(self.bulk.ingest_info(job))
        if c.req.method == "DELETE":
            self.bulk.delete(job, "ingest")
            return Response.empty(204)
        return ok(self.bulk.set_state(job, "ingest", (_json_body(c.req) or {}).get("state", "")))

    def ingest_upload(self, c: Call) -> Response:
        self.bulk.upload(c.req.params["job"], c.req.body)
        return Response.empty(201)

    def ingest_results(self, c: Call) -> Response:
        kind = c.req.params["kind"]
        if kind.lower() not in ("successfulresults", "failedresults", "unprocessedrecords"):
            raise not_found()
        return Response.text(
            self.bulk.ingest_results(c.req.params["job"], kind), 200, content_type="text/csv"
        )
