"""JSON batching (POST /v1.0/$batch): each item goes through the same route table, fault rules,
counters and per-mailbox concurrency limit as a direct call; the outer response is 200.

Graph runs the items of a batch in parallel unless ``dependsOn`` orders them; here they run one
after the other, wave by wave, and an item beyond the per-mailbox concurrency limit within its wave
answers 429 ApplicationThrottled as it would on Graph (deterministically: the later items).
``dependsOn`` and msgraph-core's ``depends_on`` are both read; an item whose dependency failed
answers 424.
"""

from __future__ import annotations

import base64
import json
import re
import urllib.parse
from typing import TYPE_CHECKING, Any

from sandbox.faults import DROP_CONNECTION
from sandbox.graph.errors import GraphError
from sandbox.http import CaseInsensitiveDict, Request, Response

if TYPE_CHECKING:
    from sandbox.graph.routes import GraphApp

MAX_REQUESTS = 20
ITEM_HEADERS = ("content-type", "retry-after", "location", "etag", "preference-applied", "odata-version")


class DroppedBatch(Exception):
    """An item's connection was to be dropped after commit: the whole $batch connection drops."""


def _item_path(url: str) -> tuple[str, str]:
    split = urllib.parse.urlsplit(url)
    path = re.sub(r"/{2,}", "/", urllib.parse.unquote(split.path))
    if not path.startswith("/"):
        path = "/" + path
    if not path.startswith("/v1.0/"):
        path = "/v1.0" + path
    path = path.replace("/users/me-token-to-replace", "/me")
    return path, split.query


def _validate(payload: Any) -> list[dict[str, Any]]:
    if not isinstance(payload, dict) or not isinstance(payload.get("requests"), list):
        raise GraphError(400, "BadRequest", "Invalid batch payload format.")
    items = payload["requests"]
    if len(items) > MAX_REQUESTS:
        raise GraphError(
            400, "BadRequest", f"The number of requests in the batch exceeds the limit of {MAX_REQUESTS}."
        )
    ids: set[str] = set()
    for it in items:
        if not isinstance(it, dict) or not it.get("id") or not it.get("method") or not it.get("url"):
            raise GraphError(
                400, "BadRequest", "Invalid batch payload format: id, method and url are required."
            )
        if str(it["id"]) in ids:
            raise GraphError(400, "BadRequest", f"Batch request id '{it['id']}' is duplicated.")
        ids.add(str(it["id"]))
    for it in items:
        for dep in _deps(it):
            if dep not in ids:
                raise GraphError(
                    400, "BadRequest", f"Request '{it['id']}' depends on unknown request '{dep}'."
                )
    return items


def _deps(item: dict[str, Any]) -> list[str]:
    return [str(d) for d in (item.get("dependsOn") or item.get("depends_on") or [])]


def _waves(items: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Items grouped by dependency depth: Graph runs the items of one wave at the same time."""
    done: set[str] = set()
    waves: list[list[dict[str, Any]]] = []
    pending = list(items)
    while pending:
        ready = [it for it in pending if all(d in done for d in _deps(it))]
        if not ready:
            raise GraphError(400, "BadRequest", "The dependsOn graph of the batch has a cycle.")
        waves.append(ready)
        done.update(str(it["id"]) for it in ready)
        pending = [it for it in pending if it not in ready]
    return waves


def run_batch(app: GraphApp, req: Request) -> Response:
    payload = req.json()
    waves = _waves(_validate(payload))
    results: dict[str, dict[str, Any]] = {}
    for wave in waves:
        # Items of one wave run concurrently on Graph, so beyond the per-mailbox concurrency limit
        # they are throttled (chain them with dependsOn to avoid it, as with the real service). They
        # are executed one by one here, which keeps the outcome deterministic.
        in_wave: dict[str, int] = {}
        for it in wave:
            iid = str(it["id"])
            failed = [d for d in _deps(it) if results[d]["status"] >= 400]
            if failed:
                err = GraphError(424, "FailedDependency", f"Failed dependency: request '{failed[0]}' failed.")
                results[iid] = _item(iid, app.error(req, err))
                continue
            sub = _sub_request(req, it)
            key = app.faults.concurrency_key(app.name, app.mailbox_of(sub))
            if key is not None and app.batch_parallel:
                in_wave[key] = in_wave.get(key, 0) + 1
                if in_wave[key] > app.faults.max_concurrent:
                    route, _, _ = app.router.match(sub.method, sub.path)
                    app.count(route.name if route else "unknown", app.mailbox_of(sub))
                    results[iid] = _item(iid, app.throttle_response(sub, 429, 1, "ApplicationThrottled"))
                    continue
            resp = app.dispatch(sub)
            if resp is DROP_CONNECTION:
                raise DroppedBatch(iid)
            assert isinstance(resp, Response)
            results[iid] = _item(iid, resp)
    # Graph answers in no particular order; the request order is the friendliest.
    ordered = [results[str(it["id"])] for it in payload["requests"]]
    return app.json(req, {"responses": ordered})


def _sub_request(outer: Request, it: dict[str, Any]) -> Request:
    path, query = _item_path(str(it["url"]))
    hdrs = CaseInsensitiveDict((str(k), str(v)) for k, v in (it.get("headers") or {}).items())
    for h in ("authorization", "client-request-id"):
        if h not in hdrs and outer.headers.get(h):
            hdrs[h] = outer.headers.get(h)
    body = it.get("body")
    if body is None:
        raw = b""
    elif isinstance(body, (dict, list)):
        raw = json.dumps(body).encode("utf-8")
        hdrs.setdefault("content-type", "application/json")
    else:
        try:
            raw = base64.b64decode(str(body), validate=True)
        except ValueError:
            raw = str(body).encode("utf-8")
    return Request(
        str(it["method"]).upper(),
        path,
        str(it["url"]),
        urllib.parse.parse_qs(query, keep_blank_values=True),
        hdrs,
        raw,
        outer.client,
        base_url=outer.base_url,
    )


def _item(iid: str, resp: Response) -> dict[str, Any]:
    hdrs = {k: v for k, v in resp.headers.items() if k.lower() in ITEM_HEADERS}
    out: dict[str, Any] = {"id": iid, "status": resp.status, "headers": hdrs}
    if resp.body:
        try:
            out["body"] = json.loads(resp.body)
        except ValueError:
            out["body"] = base64.b64encode(resp.body).decode()
    return out
