"""The emulated org's state: schema, records, sessions, API usage and query cursors.

Every public method takes the org lock, so the threaded server can call them concurrently. Writes
validate like a real org (unknown and read-only fields, types, lengths, restricted picklists,
references, required fields, unique and external-id values) and maintain the system fields from the
sandbox clock. The same methods back the admin API and in-process tests ("as a person" edits choose
the user and the modification time).
"""

from __future__ import annotations

import math
import secrets
import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sandbox.clock import Clock
from sandbox.salesforce.errors import RecordError, SalesforceError, not_found
from sandbox.salesforce.schema import FieldDef, ObjectDef, OrgSchema, load_schema
from sandbox.salesforce.soql import Plan, SoqlError, compile_query
from sandbox.salesforce.values import (
    coerce,
    format_datetime,
    looks_like_id,
    make_id,
    parse_datetime,
    to18,
)

SESSION_SECONDS = 2 * 3600  # a real org's default session timeout
MAX_CURSORS = 200


@dataclass
class Session:
    token: str
    user_id: str
    issued_at: datetime
    expires_at: datetime


@dataclass
class Txn:
    """Undo log of one request's writes (sObject Collections with allOrNone roll back)."""

    undo: list[tuple[str, str, dict[str, Any] | None, str | None]] = field(default_factory=list)


class Org:
    def __init__(self, clock: Clock, schema: OrgSchema | None = None) -> None:
        self.clock = clock
        self.lock = threading.RLock()
        self._initial_schema = schema
        self.reset()

    # lifecycle ---------------------------------------------------------------------------------
    def reset(self) -> None:
        with self.lock:
            self.schema = self._initial_schema or load_schema()
            self.records: dict[str, dict[str, dict[str, Any]]] = {n: {} for n in self.schema.objects}
            self.deleted_at: dict[str, str] = {}
            self.ext_index: dict[tuple[str, str], dict[str, set[str]]] = {}
            self.counter = 0
            self.sessions: dict[str, Session] = {}
            self.cursors: OrderedDict[str, dict[str, Any]] = OrderedDict()
            self.api_max = int(self.schema.org.get("daily_api_requests", 15000))
            self.api_used = 0
            # The API user creates itself: every record needs a CreatedById, this one included.
            self.api_user_id = make_id("005", self._next())
            self._insert(
                self.schema.objects["User"],
                dict(self.schema.org["api_user"]),
                self.api_user_id,
                self.api_user_id,
                None,
                None,
            )

    def _next(self) -> int:
        self.counter += 1
        return self.counter

    @property
    def org_id(self) -> str:
        return str(self.schema.org["id"])

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return {
                "schema": self.schema.to_spec(),
                "records": {o: list(recs.values()) for o, recs in self.records.items()},
                "deleted_at": dict(self.deleted_at),
                "counter": self.counter,
                "api_user_id": self.api_user_id,
                "api_max": self.api_max,
                "api_used": self.api_used,
            }

    def restore(self, snap: dict[str, Any]) -> None:
        if not snap:
            return
        with self.lock:
            self.schema = load_schema(snap["schema"])
            self.records = {n: {} for n in self.schema.objects}
            self.ext_index = {}
            for obj, recs in snap["records"].items():
                for r in recs:
                    self.records.setdefault(obj, {})[r["Id"]] = dict(r)
                    if not r.get("IsDeleted"):
                        self._index_add(self.schema.objects[obj], r)
            self.deleted_at = dict(snap.get("deleted_at", {}))
            self.counter = int(snap.get("counter", 0))
            self.api_user_id = snap.get("api_user_id", "")
            self.api_max = int(snap.get("api_max", self.api_max))
            self.api_used = int(snap.get("api_used", 0))
            self.sessions.clear()
            self.cursors.clear()

    # schema ------------------------------------------------------------------------------------
    def object(self, name: str) -> ObjectDef:
        obj = self.schema.object(name)
        if obj is None:
            raise SalesforceError(404, "NOT_FOUND", "The requested resource does not exist")
        return obj

    def add_objects(self, specs: dict[str, Any]) -> list[str]:
        with self.lock:
            names = self.schema.add_objects(specs)
            for n in names:
                self.records.setdefault(n, {})
            return names

    # sessions and limits -----------------------------------------------------------------------
    def open_session(self, user_id: str | None = None) -> Session:
        with self.lock:
            now = self.clock.now()
            token = f"{self.org_id}!{secrets.token_urlsafe(48)}"
            s = Session(token, user_id or self.api_user_id, now, now + timedelta(seconds=SESSION_SECONDS))
            self.sessions[token] = s
            return s

    def session(self, token: str) -> Session | None:
        with self.lock:
            s = self.sessions.get(token)
            if s is None:
                return None
            if self.clock.now() >= s.expires_at:
                del self.sessions[token]
                return None
            return s

    def expire_tokens(self) -> int:
        with self.lock:
            n = len(self.sessions)
            self.sessions.clear()
            return n

    def consume_api_call(self) -> None:
        with self.lock:
            if self.api_used >= self.api_max:
                raise SalesforceError(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")
            self.api_used += 1

    def set_limits(self, remaining: int | None = None, maximum: int | None = None) -> dict[str, int]:
        with self.lock:
            if maximum is not None:
                self.api_max = int(maximum)
            if remaining is not None:
                self.api_used = max(0, self.api_max - int(remaining))
            return {"Max": self.api_max, "Remaining": self.api_max - self.api_used}

    @property
    def api_usage(self) -> tuple[int, int]:
        return self.api_used, self.api_max

    # users -------------------------------------------------------------------------------------
    def resolve_user(self, who: str | None) -> str:
        """A user id from an id, a Username or an Email (admin edits name people these ways)."""
        if not who:
            return self.api_user_id
        with self.lock:
            users = self.records["User"]
            if who in users:
                return who
            low = who.lower()
            for uid, u in users.items():
                if (u.get("Username") or "").lower() == low or (u.get("Email") or "").lower() == low:
                    return uid
        raise RecordError("INVALID_CROSS_REFERENCE_KEY", f"no such user: {who}", [], 404)

    def user_by_username(self, username: str) -> dict[str, Any] | None:
        with self.lock:
            low = username.lower()
            for u in self.records["User"].values():
                if (u.get("Username") or "").lower() == low and not u.get("IsDeleted"):
                    return u
        return None

    # reads -------------------------------------------------------------------------------------
    def lookup(self, rid: str) -> tuple[ObjectDef, dict[str, Any]] | None:
        """The live record with this id, whatever its object (relationship traversal)."""
        obj = self.schema.by_prefix(rid[:3])
        if obj is None:
            return None
        rec = self.records.get(obj.name, {}).get(rid)
        if rec is None or rec.get("IsDeleted"):
            return None
        return obj, rec

    def _check_id(self, obj: ObjectDef, rid: str) -> str:
        v18 = to18(rid)
        if v18 is None:
            raise not_found()
        if v18[:3] != obj.key_prefix:
            raise SalesforceError(
                400, "MALFORMED_ID", f"{obj.label} ID: id value of incorrect type: {rid}", ["Id"]
            )
        return v18

    def get(self, obj_name: str, rid: str) -> tuple[ObjectDef, dict[str, Any]]:
        with self.lock:
            obj = self.object(obj_name)
            v18 = self._check_id(obj, rid)
            rec = self.records[obj.name].get(v18)
            if rec is None:
                raise not_found()
            if rec.get("IsDeleted"):
                raise SalesforceError(404, "ENTITY_IS_DELETED", "entity is deleted", [])
            return obj, dict(rec)

    def find_by_external(self, obj: ObjectDef, fname: str, value: str) -> list[str]:
        f = self.external_field(obj, fname)
        if f.name == "Id":
            v18 = to18(value)
            live = (
                v18 is not None
                and v18 in self.records[obj.name]
                and not self.records[obj.name][v18].get("IsDeleted")
            )
            return [v18] if live and v18 else []
        return sorted(self.ext_index.get((obj.name, f.name), {}).get(value.lower(), set()))

    def external_field(self, obj: ObjectDef, fname: str) -> FieldDef:
        f = obj.field(fname)
        if f is None:
            raise SalesforceError(
                404, "NOT_FOUND", f"Provided external ID field does not exist or is not accessible: {fname}"
            )
        if not (f.external_id or f.name == "Id" or f.unique):
            raise SalesforceError(
                400,
                "INVALID_FIELD",
                f"Field {f.name} is not an External ID or indexed field for {obj.name}",
                [f.name],
            )
        return f

    def records_of(self, obj_name: str, include_deleted: bool = False) -> list[dict[str, Any]]:
        with self.lock:
            obj = self.object(obj_name)
            recs = self.records[obj.name].values()
            return [dict(r) for r in recs if include_deleted or not r.get("IsDeleted")]

    def compile(self, soql: str) -> Plan:
        return compile_query(soql, self.schema, self.lookup, self.clock.now())

    def run_query(self, soql: str, include_deleted: bool) -> tuple[Plan, list[dict[str, Any]]]:
        """Compile and run a SOQL query; SoqlError becomes a 400 with Salesforce's message."""
        with self.lock:
            try:
                plan = self.compile(soql)
            except SoqlError as e:
                raise SalesforceError(400, e.code, e.render(soql)) from None
            recs = self.records[plan.obj.name].values()
            live = list(recs) if include_deleted else [r for r in recs if not r.get("IsDeleted")]
            return plan, plan.run(live)

    def store_cursor(self, rows: list[Any], meta: dict[str, Any]) -> str:
        with self.lock:
            loc = make_id("01g", self._next())
            self.cursors[loc] = {"rows": rows, **meta}
            while len(self.cursors) > MAX_CURSORS:
                self.cursors.popitem(last=False)
            return loc

    def cursor(self, locator: str) -> dict[str, Any] | None:
        with self.lock:
            c = self.cursors.get(locator)
            if c is not None:
                self.cursors.move_to_end(locator)
            return c

    def changed_ids(self, obj_name: str, start: datetime, end: datetime) -> list[str]:
        lo, hi = format_datetime(start), format_datetime(end)
        with self.lock:
            obj = self.object(obj_name)
            return [
                rid
                for rid, r in self.records[obj.name].items()
                if not r.get("IsDeleted") and lo <= r["SystemModstamp"] < hi
            ]

    def deleted_between(self, obj_name: str, start: datetime, end: datetime) -> list[dict[str, str]]:
        lo, hi = format_datetime(start), format_datetime(end)
        with self.lock:
            obj = self.object(obj_name)
            return [
                {"id": rid, "deletedDate": self.deleted_at[rid]}
                for rid, r in self.records[obj.name].items()
                if r.get("IsDeleted") and rid in self.deleted_at and lo <= self.deleted_at[rid] < hi
            ]

    # writes ------------------------------------------------------------------------------------
    @contextmanager
    def transaction(self, all_or_none: bool = True) -> Iterator[Txn]:
        """Hold the lock across a batch; on an exception undo every write made through the Txn."""
        with self.lock:
            txn = Txn()
            try:
                yield txn
            except BaseException:
                if all_or_none:
                    self.rollback(txn)
                raise

    def rollback(self, txn: Txn) -> None:
        with self.lock:
            for obj_name, rid, before, deleted_at in reversed(txn.undo):
                obj = self.schema.objects[obj_name]
                current = self.records[obj_name].get(rid)
                if current is not None and not current.get("IsDeleted"):
                    self._index_remove(obj, current)
                if before is None:
                    self.records[obj_name].pop(rid, None)
                else:
                    self.records[obj_name][rid] = before
                    if not before.get("IsDeleted"):
                        self._index_add(obj, before)
                if deleted_at is None:
                    self.deleted_at.pop(rid, None)
                else:
                    self.deleted_at[rid] = deleted_at
            txn.undo.clear()

    def create(
        self,
        obj_name: str,
        values: dict[str, Any],
        user_id: str | None = None,
        at: datetime | None = None,
        txn: Txn | None = None,
    ) -> str:
        with self.lock:
            obj = self.object(obj_name)
            if any(k.lower() == "id" for k in values if k != "attributes"):
                raise RecordError(
                    "INVALID_FIELD_FOR_INSERT_UPDATE", "cannot specify Id in an insert call", ["Id"]
                )
            rid = make_id(obj.key_prefix, self._next())
            return self._insert(obj, values, rid, user_id or self.api_user_id, at, txn)

    def _insert(
        self,
        obj: ObjectDef,
        values: dict[str, Any],
        rid: str,
        user_id: str,
        at: datetime | None,
        txn: Txn | None,
    ) -> str:
        clean = self._prepare(obj, values, creating=True)
        rec: dict[str, Any] = {}
        for f in obj.fields.values():
            rec[f.name] = (
                f.default
                if f.defaulted_on_create and f.default is not None
                else (False if f.type == "boolean" else None)
            )
        rec.update(clean)
        stamp = format_datetime(at or self.clock.now())
        rec.update(
            {
                "Id": rid,
                "IsDeleted": False,
                "CreatedDate": stamp,
                "CreatedById": user_id,
                "LastModifiedDate": stamp,
                "LastModifiedById": user_id,
                "SystemModstamp": stamp,
            }
        )
        if obj.has_owner and not rec.get("OwnerId"):
            rec["OwnerId"] = user_id
        self._finish(obj, rec, set(clean), creating=True)
        self._check_unique(obj, rec)
        self.records[obj.name][rid] = rec
        self._index_add(obj, rec)
        if txn is not None:
            txn.undo.append((obj.name, rid, None, None))
        return rid

    def update(
        self,
        obj_name: str,
        rid: str,
        values: dict[str, Any],
        user_id: str | None = None,
        at: datetime | None = None,
        txn: Txn | None = None,
    ) -> None:
        with self.lock:
            obj = self.object(obj_name)
            v18 = self._check_id(obj, rid)
            current = self._live_record(obj, v18, txn)
            body = {k: v for k, v in values.items() if k != "attributes" and k.lower() != "id"}
            clean = self._prepare(obj, body, creating=False)
            rec = dict(current)
            rec.update(clean)
            stamp = format_datetime(at or self.clock.now())
            uid = user_id or self.api_user_id
            rec.update({"LastModifiedDate": stamp, "LastModifiedById": uid, "SystemModstamp": stamp})
            self._finish(obj, rec, set(clean), creating=False)
            self._check_unique(obj, rec)
            self._index_remove(obj, current)
            self.records[obj.name][v18] = rec
            self._index_add(obj, rec)
            if txn is not None:
                txn.undo.append((obj.name, v18, current, self.deleted_at.get(v18)))

    def _live_record(self, obj: Any, v18: str, txn: Txn | None) -> dict[str, Any]:
        """The stored record, or the error Salesforce gives for a missing or deleted one."""
        current = self.records[obj.name].get(v18)
        if current is None:
            # Inside a Collections call a missing id is a per-record error, not a 404 of the request.
            raise (
                RecordError("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", [], 404)
                if txn is not None
                else not_found()
            )
        if current.get("IsDeleted"):
            raise RecordError("ENTITY_IS_DELETED", "entity is deleted", [], 404)
        return current

    def delete(
        self,
        obj_name: str | None,
        rid: str,
        user_id: str | None = None,
        at: datetime | None = None,
        txn: Txn | None = None,
    ) -> None:
        with self.lock:
            v18 = to18(rid)
            obj = self.schema.by_prefix(v18[:3]) if v18 else None
            if obj_name is not None:
                obj = self.object(obj_name)
                v18 = self._check_id(obj, rid)
            if obj is None or v18 is None:
                raise RecordError("MALFORMED_ID", f"malformed id {rid}", [], 400)
            current = self._live_record(obj, v18, txn)
            stamp = format_datetime(at or self.clock.now())
            rec = dict(current)
            rec.update(
                {
                    "IsDeleted": True,
                    "SystemModstamp": stamp,
                    "LastModifiedDate": stamp,
                    "LastModifiedById": user_id or self.api_user_id,
                }
            )
            self._index_remove(obj, current)
            self.records[obj.name][v18] = rec
            if txn is not None:
                txn.undo.append((obj.name, v18, current, self.deleted_at.get(v18)))
            self.deleted_at[v18] = stamp
            self._cascade_delete(obj, v18, user_id, at, txn)

    def _cascade_delete(
        self, obj: ObjectDef, rid: str, user_id: str | None, at: datetime | None, txn: Txn | None
    ) -> None:
        for child in self.schema.objects.values():
            for f in child.fields.values():
                if f.cascade_delete and obj.name in f.reference_to:
                    for cid, crec in list(self.records[child.name].items()):
                        if crec.get(f.name) == rid and not crec.get("IsDeleted"):
                            self.delete(child.name, cid, user_id, at, txn)

    def upsert(
        self,
        obj_name: str,
        ext_field: str,
        ext_value: str,
        values: dict[str, Any],
        user_id: str | None = None,
        txn: Txn | None = None,
    ) -> tuple[str, bool]:
        """Create or update by external id; returns (id, created). Several matches -> 300."""
        with self.lock:
            obj = self.object(obj_name)
            f = self.external_field(obj, ext_field)
            matches = self.find_by_external(obj, f.name, ext_value)
            if len(matches) > 1:
                raise MultipleMatches(obj.name, matches)
            body = {k: v for k, v in values.items() if k != "attributes"}
            if f.name != "Id":
                # The key in the URL wins; a different value for it in the body is refused like Salesforce.
                for k in list(body):
                    if k.lower() == f.name.lower():
                        if str(body[k]) != ext_value:
                            raise RecordError(
                                "INVALID_FIELD", f"{f.name}: value in body does not match URL", [f.name]
                            )
                        del body[k]
            if matches:
                self.update(obj.name, matches[0], body, user_id, None, txn)
                return matches[0], False
            if f.name != "Id":
                body[f.name] = ext_value
            elif ext_value:
                raise RecordError(
                    "NOT_FOUND",
                    f"Provided external ID field does not exist or is not accessible: {ext_value}",
                    [],
                    404,
                )
            return self.create(obj.name, body, user_id, None, txn), True

    # validation --------------------------------------------------------------------------------
    def _prepare(self, obj: ObjectDef, values: dict[str, Any], creating: bool) -> dict[str, Any]:
        clean: dict[str, Any] = {}
        read_only: list[str] = []
        for key, raw in values.items():
            if key == "attributes":
                continue
            f = obj.field(key)
            if f is None:
                raise RecordError(
                    "INVALID_FIELD", f"No such column '{key}' on sobject of type {obj.name}", []
                )
            if (creating and not f.createable) or (not creating and not f.updateable):
                read_only.append(f.name)
                continue
            clean[f.name] = self._validate_value(obj, f, coerce(f, raw))
        if read_only:
            raise RecordError(
                "INVALID_FIELD_FOR_INSERT_UPDATE",
                f"Unable to create/update fields: {', '.join(read_only)}. Please check the security settings "
                "of this field and verify that it is read/write for your profile or permission set.",
                read_only,
            )
        return clean

    def _validate_value(self, obj: ObjectDef, f: FieldDef, v: Any) -> Any:
        if v is None:
            return None
        if f.is_text and f.length and len(v) > f.length:
            raise RecordError(
                "STRING_TOO_LONG",
                f"{f.label}: data value too large: {v[:40]} (max length={f.length})",
                [f.name],
            )
        if f.type == "picklist" and f.restricted_picklist and v not in f.picklist:
            raise RecordError(
                "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                f"{f.label}: bad value for restricted picklist field: {v}",
                [f.name],
            )
        if f.type == "int" and abs(v) >= 10 ** max(f.digits, 1):
            raise RecordError(
                "NUMBER_OUTSIDE_VALID_RANGE",
                f"{f.label}: value outside of valid range on numeric field: {v}",
                [f.name],
            )
        if f.type == "reference":
            v18 = to18(v) if looks_like_id(v) else None
            if v18 is None:
                raise RecordError("MALFORMED_ID", f"{f.label}: id value of incorrect type: {v}", [f.name])
            target = self.schema.by_prefix(v18[:3])
            if target is None or (target.name not in f.reference_to):
                raise RecordError(
                    "FIELD_INTEGRITY_EXCEPTION", f"{f.label}: id value of incorrect type: {v}", [f.name]
                )
            live = self.records[target.name].get(v18)
            if live is None or live.get("IsDeleted"):
                raise RecordError("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", [f.name])
            return v18
        return v

    def _finish(self, obj: ObjectDef, rec: dict[str, Any], changed: set[str], creating: bool) -> None:
        for f in obj.fields.values():
            if f.compute == "full_name":
                rec[f.name] = " ".join(p for p in (rec.get("FirstName"), rec.get("LastName")) if p) or None
        if obj.rules == "event":
            _event_rules(rec, changed, creating)
        elif obj.name == "Task":
            rec["IsClosed"] = rec.get("Status") == "Completed"
        missing = [
            f.name for f in obj.fields.values() if not f.nillable and f.createable and rec.get(f.name) is None
        ]
        if missing:
            raise RecordError(
                "REQUIRED_FIELD_MISSING", f"Required fields are missing: [{', '.join(missing)}]", missing
            )

    def _check_unique(self, obj: ObjectDef, rec: dict[str, Any]) -> None:
        for f in obj.fields.values():
            if not f.unique or rec.get(f.name) is None:
                continue
            ids = self.ext_index.get((obj.name, f.name), {}).get(str(rec[f.name]).lower(), set()) - {
                rec["Id"]
            }
            if ids:
                raise RecordError(
                    "DUPLICATE_VALUE",
                    f"duplicate value found: {f.name} duplicates value on record with id: {sorted(ids)[0]}",
                    [f.name],
                )

    def _index_add(self, obj: ObjectDef, rec: dict[str, Any]) -> None:
        for f in obj.fields.values():
            if (f.external_id or f.unique) and rec.get(f.name) is not None:
                self.ext_index.setdefault((obj.name, f.name), {}).setdefault(
                    str(rec[f.name]).lower(), set()
                ).add(rec["Id"])

    def _index_remove(self, obj: ObjectDef, rec: dict[str, Any]) -> None:
        for f in obj.fields.values():
            if (f.external_id or f.unique) and rec.get(f.name) is not None:
                self.ext_index.get((obj.name, f.name), {}).get(str(rec[f.name]).lower(), set()).discard(
                    rec["Id"]
                )

    # admin: edits "as a person" ----------------------------------------------------------------
    def edit_as(
        self,
        op: str,
        obj_name: str,
        rid: str | None = None,
        values: dict[str, Any] | None = None,
        user: str | None = None,
        at: datetime | str | None = None,
    ) -> str:
        """Create / update / delete as a chosen user at a chosen time (LastModified*, SystemModstamp)."""
        when = parse_datetime(at) if isinstance(at, str) else at
        with self.lock:
            uid = self.resolve_user(user)
            if op == "create":
                return self.create(obj_name, values or {}, uid, when)
            assert rid is not None
            if op == "update":
                self.update(obj_name, rid, values or {}, uid, when)
            elif op == "delete":
                self.delete(obj_name, rid, uid, when)
            else:
                raise ValueError(f"unknown op {op!r}: use create, update or delete")
            return rid


class MultipleMatches(Exception):
    def __init__(self, obj: str, ids: list[str]) -> None:
        super().__init__(f"{len(ids)} records of {obj} match")
        self.obj, self.ids = obj, ids


def _minutes_between(start: str, end: str) -> int:
    return int((parse_datetime(end) - parse_datetime(start)).total_seconds() // 60)


def _event_rules(rec: dict[str, Any], changed: set[str], creating: bool) -> None:
    """Keep an Event's synonyms and derived fields consistent, as a real org does on save.

    StartDateTime and ActivityDateTime are the same instant; DurationInMinutes and EndDateTime
    derive from each other; all-day events span whole days from ActivityDate (the org's time zone is
    UTC here); ActivityDate and EndDate are the dates of start and end.
    """
    if "ActivityDateTime" in changed and "StartDateTime" not in changed:
        rec["StartDateTime"] = rec["ActivityDateTime"]
    if rec.get("IsAllDayEvent"):
        if rec.get("ActivityDate") is None and rec.get("StartDateTime"):
            rec["ActivityDate"] = rec["StartDateTime"][:10]
        if rec.get("ActivityDate") is None:
            raise RecordError(
                "REQUIRED_FIELD_MISSING", "Required fields are missing: [ActivityDate]", ["ActivityDate"]
            )
        day0 = parse_datetime(rec["ActivityDate"])
        if "EndDateTime" in changed and rec.get("EndDateTime"):
            days = (parse_datetime(rec["EndDateTime"][:10]) - day0).days + 1
        elif rec.get("DurationInMinutes"):
            days = max(1, math.ceil(rec["DurationInMinutes"] / 1440))
        else:
            days = 1
        if days < 1:
            raise RecordError(
                "FIELD_INTEGRITY_EXCEPTION",
                "End Date Time: The end date time cannot be before the start date time.",
                ["EndDateTime"],
            )
        rec["StartDateTime"] = format_datetime(day0)
        rec["EndDateTime"] = format_datetime(day0 + timedelta(days=days - 1))
        rec["DurationInMinutes"] = days * 1440
        rec["ActivityDateTime"] = None
        rec["EndDate"] = rec["EndDateTime"][:10]
        return
    start = rec.get("StartDateTime")
    if start is None:
        raise RecordError(
            "REQUIRED_FIELD_MISSING", "Required fields are missing: [ActivityDateTime]", ["ActivityDateTime"]
        )
    if "EndDateTime" in changed and rec.get("EndDateTime"):
        rec["DurationInMinutes"] = _minutes_between(start, rec["EndDateTime"])
    elif rec.get("DurationInMinutes") is not None:
        rec["EndDateTime"] = format_datetime(
            parse_datetime(start) + timedelta(minutes=rec["DurationInMinutes"])
        )
    elif rec.get("EndDateTime"):
        rec["DurationInMinutes"] = _minutes_between(start, rec["EndDateTime"])
    else:
        raise RecordError(
            "REQUIRED_FIELD_MISSING",
            "Required fields are missing: [DurationInMinutes]",
            ["DurationInMinutes"],
        )
    if rec["DurationInMinutes"] < 0:
        raise RecordError(
            "FIELD_INTEGRITY_EXCEPTION",
            "End Date Time: The end date time cannot be before the start date time.",
            ["EndDateTime"],
        )
    rec["ActivityDateTime"] = start
    rec["ActivityDate"] = start[:10]
    rec["EndDate"] = rec["EndDateTime"][:10]
