"""Bulk API 2.0 jobs: query jobs (CSV pages with Sforce-Locator) and ingest jobs (insert, update,
upsert, delete, hardDelete) with per-row results.

Jobs run as soon as they can (a query job at creation, an ingest job on ``UploadComplete``), so a
client polling with ``wait=0`` sees ``JobComplete`` on its first poll; the create / close responses
still show the intermediate state (``UploadComplete``) the real service answers with.
"""

from __future__ import annotations

import base64
import csv
import io
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sandbox.salesforce.errors import RecordError, SalesforceError, not_found
from sandbox.salesforce.models import MultipleMatches, Org, Txn
from sandbox.salesforce.values import format_datetime, from_csv, make_id, to_csv

DELIMITERS = {"COMMA": ",", "TAB": "\t", "PIPE": "|", "SEMICOLON": ";", "CARET": "^", "BACKQUOTE": "`"}
INGEST_OPERATIONS = {"insert", "update", "upsert", "delete", "hardDelete"}


def _csv(rows: list[list[str]], delimiter: str = ",", line_ending: str = "LF") -> str:
    buf = io.StringIO()
    w = csv.writer(
        buf,
        delimiter=delimiter,
        quoting=csv.QUOTE_ALL,
        lineterminator="\r\n" if line_ending == "CRLF" else "\n",
    )
    w.writerows(rows)
    return buf.getvalue()


def _bulk_getter(get: Callable[[dict[str, Any]], Any], is_datetime: bool) -> Callable[[dict[str, Any]], str]:
    """A CSV cell reader; Bulk results write datetimes as ``...000Z`` where REST writes ``...000+0000``."""
    if not is_datetime:
        return lambda r: to_csv(get(r))
    return lambda r: "" if (v := get(r)) is None else v[:-5] + "Z"


def _bad_request(code: str, message: str) -> SalesforceError:
    return SalesforceError(400, code, message)


@dataclass
class Job:
    id: str
    kind: str  # "query" | "ingest"
    info: dict[str, Any]
    header: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)  # query: result rows; ingest: uploaded rows
    success: list[list[str]] = field(default_factory=list)
    failed: list[list[str]] = field(default_factory=list)
    unprocessed: list[list[str]] = field(default_factory=list)


class BulkJobs:
    def __init__(self, org: Org) -> None:
        self.org = org
        self.jobs: dict[str, Job] = {}
        self._lock = threading.Lock()

    def reset(self) -> None:
        with self._lock:
            self.jobs.clear()

    def _job(self, job_id: str, kind: str) -> Job:
        job = self.jobs.get(job_id)
        if job is None or job.kind != kind:
            raise not_found()
        return job

    def _base_info(
        self, job_id: str, operation: str, obj: str, user_id: str, version: str, body: dict[str, Any]
    ) -> dict[str, Any]:
        stamp = format_datetime(self.org.clock.now())
        return {
            "id": job_id,
            "operation": operation,
            "object": obj,
            "createdById": user_id,
            "createdDate": stamp,
            "systemModstamp": stamp,
            "state": "Open",
            "concurrencyMode": "Parallel",
            "contentType": "CSV",
            "apiVersion": float(version),
            "lineEnding": body.get("lineEnding", "LF"),
            "columnDelimiter": body.get("columnDelimiter", "COMMA"),
        }

    # query jobs --------------------------------------------------------------------------------
    def create_query(self, body: dict[str, Any], user_id: str, version: str) -> dict[str, Any]:
        operation = body.get("operation", "query")
        if operation not in ("query", "queryAll"):
            raise _bad_request("INVALIDJOB", f"Invalid operation: {operation}")
        soql = body.get("query")
        if not soql:
            raise _bad_request("INVALIDJOB", "The query is missing.")
        if body.get("columnDelimiter", "COMMA") not in DELIMITERS:
            raise _bad_request("INVALIDJOB", f"Invalid column delimiter: {body.get('columnDelimiter')}")
        plan, recs = self.org.run_query(soql, include_deleted=operation == "queryAll")
        if plan.query.count:
            raise _bad_request("INVALIDJOB", "Aggregate queries are not supported by Bulk API 2.0.")
        with self.org.lock:
            job_id = make_id("750", self.org._next())
            getters = [_bulk_getter(c.get, c.field.type == "datetime") for c in plan.columns]
            rows = [[get(r) for get in getters] for r in recs]
        info = self._base_info(job_id, operation, plan.obj.name, user_id, version, body)
        info["state"] = "UploadComplete"
        job = Job(job_id, "query", info, [c.label for c in plan.columns], rows)
        with self._lock:
            self.jobs[job_id] = job
        created = dict(info)
        job.info = {
            **info,
            "state": "JobComplete",
            "numberRecordsProcessed": len(rows),
            "retries": 0,
            "totalProcessingTime": 1,
            "isPkChunkingSupported": False,
        }
        return created

    def query_info(self, job_id: str) -> dict[str, Any]:
        return dict(self._job(job_id, "query").info)

    def query_results(
        self, job_id: str, max_records: int | None, locator: str | None
    ) -> tuple[str, int, str]:
        job = self._job(job_id, "query")
        if job.info["state"] != "JobComplete":
            raise _bad_request("INVALIDJOBSTATE", f"Invalid job state: {job.info['state']}")
        try:
            start = int(base64.b64decode(locator + "=" * (-len(locator) % 4)).decode()) if locator else 0
        except ValueError:
            raise _bad_request("INVALID_LOCATOR", f"Invalid locator: {locator}") from None
        size = max_records if max_records and max_records > 0 else len(job.rows) or 1
        page = job.rows[start : start + size]
        nxt = start + size
        next_locator = (
            base64.b64encode(str(nxt).encode()).decode().rstrip("=") if nxt < len(job.rows) else "null"
        )
        delim = DELIMITERS[job.info["columnDelimiter"]]
        return _csv([job.header, *page], delim, job.info["lineEnding"]), len(page), next_locator

    # ingest jobs -------------------------------------------------------------------------------
    def create_ingest(self, body: dict[str, Any], user_id: str, version: str) -> dict[str, Any]:
        operation = body.get("operation")
        if operation not in INGEST_OPERATIONS:
            raise _bad_request("INVALIDJOB", f"Invalid operation: {operation}")
        obj = self.org.schema.object(str(body.get("object", "")))
        if obj is None:
            raise _bad_request(
                "INVALIDJOB", f"Entity '{body.get('object')}' is not supported by the Bulk API."
            )
        ext = body.get("externalIdFieldName")
        if operation == "upsert" and (not ext or obj.field(ext) is None):
            raise _bad_request(
                "INVALIDJOB",
                f"External ID was blank for {obj.name}. An External ID must be specified for upsert.",
            )
        if body.get("columnDelimiter", "COMMA") not in DELIMITERS:
            raise _bad_request("INVALIDJOB", f"Invalid column delimiter: {body.get('columnDelimiter')}")
        with self.org.lock:
            job_id = make_id("750", self.org._next())
        info = self._base_info(job_id, operation, obj.name, user_id, version, body)
        info.update(
            {
                "externalIdFieldName": ext if operation == "upsert" else None,
                "contentUrl": f"services/data/v{version}/jobs/ingest/{job_id}/batches",
            }
        )
        with self._lock:
            self.jobs[job_id] = Job(job_id, "ingest", info)
        return dict(info)

    def ingest_info(self, job_id: str) -> dict[str, Any]:
        job = self._job(job_id, "ingest")
        info = dict(job.info)
        info.update(
            {
                "jobType": "V2Ingest",
                "numberRecordsProcessed": len(job.success) + len(job.failed),
                "numberRecordsFailed": len(job.failed),
                "retries": 0,
                "totalProcessingTime": 1,
                "apiActiveProcessingTime": 1,
                "apexProcessingTime": 0,
            }
        )
        return info

    def upload(self, job_id: str, data: bytes) -> None:
        job = self._job(job_id, "ingest")
        if job.info["state"] != "Open":
            raise _bad_request(
                "INVALIDJOBSTATE", f"Unable to upload data to a job in state {job.info['state']}."
            )
        delim = DELIMITERS[job.info["columnDelimiter"]]
        rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig")), delimiter=delim))
        if not rows:
            raise _bad_request("INVALIDJOB", "The CSV data is empty.")
        if job.header and rows[0] != job.header:
            raise _bad_request("INVALIDJOB", "All uploads of a job must have the same header.")
        job.header = rows[0]
        job.rows.extend(r for r in rows[1:] if r)

    def set_state(self, job_id: str, kind: str, state: str) -> dict[str, Any]:
        job = self._job(job_id, kind)
        current = job.info["state"]
        if state == "Aborted":
            if current in ("JobComplete", "Failed", "Aborted"):
                raise _bad_request("INVALIDJOBSTATE", f"Job is already in state {current}.")
            job.info["state"] = "Aborted"
            if kind == "ingest":
                job.unprocessed = list(job.rows)
            return self.ingest_info(job_id) if kind == "ingest" else dict(job.info)
        if state != "UploadComplete" or kind != "ingest":
            raise _bad_request("INVALIDJOBSTATE", f"Invalid state change: {current} to {state}")
        if current != "Open":
            raise _bad_request("INVALIDJOBSTATE", f"Invalid state change: {current} to {state}")
        job.info["state"] = "UploadComplete"
        answer = self.ingest_info(job_id)
        self._process(job)
        return answer

    def delete(self, job_id: str, kind: str) -> None:
        job = self._job(job_id, kind)
        if job.info["state"] in ("Open", "UploadComplete", "InProgress"):
            raise _bad_request(
                "INVALIDJOBSTATE", "A job can be deleted only when it is complete, failed or aborted."
            )
        with self._lock:
            self.jobs.pop(job_id, None)

    def list_jobs(self, kind: str) -> list[dict[str, Any]]:
        with self._lock:
            jobs = list(self.jobs.values())
        return [self.ingest_info(j.id) if kind == "ingest" else dict(j.info) for j in jobs if j.kind == kind]

    def ingest_results(self, job_id: str, which: str) -> str:
        job = self._job(job_id, "ingest")
        which = which.lower()
        if which == "successfulresults":
            return _csv([["sf__Id", "sf__Created", *job.header], *job.success])
        if which == "failedresults":
            return _csv([["sf__Id", "sf__Error", *job.header], *job.failed])
        if which == "unprocessedrecords":
            return _csv([job.header, *job.unprocessed])
        raise not_found()

    def _process(self, job: Job) -> None:
        obj = self.org.object(job.info["object"])
        op = job.info["operation"]
        cols = []
        for name in job.header:
            f = obj.field(name)
            if f is None:
                job.info.update(state="Failed", errorMessage=f"InvalidBatch : Field name not found : {name}")
                job.unprocessed = list(job.rows)
                return
            cols.append(f)
        if op in ("delete", "hardDelete") and [c.name for c in cols] != ["Id"]:
            job.info.update(
                state="Failed", errorMessage="InvalidBatch : The 'delete' batch must contain only 'Id'"
            )
            return
        ext_name = job.info.get("externalIdFieldName")
        user = job.info["createdById"]
        for row in job.rows:
            values: dict[str, Any] = {}
            row_id = ""
            for f, cell in zip(cols, row, strict=False):
                if f.name == "Id":
                    row_id = cell
                    continue
                if cell == "" and op != "insert":
                    continue  # an empty cell leaves the field as it is; #N/A clears it
                values[f.name] = from_csv(f, cell)
            try:
                with self.org.lock:
                    created = False
                    if op == "insert":
                        rid, created = self.org.create(obj.name, values, user, txn=Txn()), True
                    elif op == "update":
                        rid = row_id
                        self.org.update(obj.name, row_id, values, user, txn=Txn())
                    elif op == "upsert":
                        key = row_id if ext_name == "Id" else str(values.get(obj.field(ext_name).name, ""))
                        rid, created = self.org.upsert(obj.name, ext_name, key, values, user, txn=Txn())
                    else:
                        rid = row_id
                        self.org.delete(obj.name, row_id, user, txn=Txn())
                job.success.append([rid, "true" if created else "false", *row])
            except RecordError as e:
                fields = ":".join(e.fields)
                job.failed.append([row_id, f"{e.code}:{e.message}:{fields} --", *row])
            except MultipleMatches as e:
                job.failed.append(
                    [
                        row_id,
                        f"DUPLICATE_EXTERNAL_ID:more than one record found for external id "
                        f"field: {e.ids}:{ext_name} --",
                        *row,
                    ]
                )
            except SalesforceError as e:
                job.failed.append([row_id, f"{e.code}:{e.message}: --", *row])
        job.info["state"] = "JobComplete"
        job.info["systemModstamp"] = format_datetime(self.org.clock.now())
