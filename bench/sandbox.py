"""How fast the sandbox is, through the real clients: start-up, a 2,000-row SOQL page, a 20-request $batch.

    .venv/bin/python bench/sandbox.py [--events 2000] [--repeat 5]

Salesforce is measured through Airflow's SalesforceHook (simple-salesforce) with the connection that
`calsync sandbox env` exports, so the figure includes what calsync pays: requests, TLS, JSON. Graph is
a plain JSON POST of `$batch` through httpx with a token from the sandbox's token endpoint (DESIGN:
msgraph-core's batch helpers drop response bodies, so calsync sends `$batch` this way too).

A benchmark that prints, not a test: it exits 1, naming the missing emulator feature, when the sandbox
cannot do what it measures.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

# This file is named like the package it measures: drop its own folder from the path, or
# `import sandbox` would import this script.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

T = TypeVar("T")
PAGE = 2000  # Salesforce's default query batch size
BATCH = 20  # Graph's $batch limit
COLLECTION = 200  # sObject Collections limit
BENCH_MAILBOX = "bench@calsync-demo.example"


class Missing(Exception):
    """The emulator lacks something this benchmark needs."""


def timed(fn: Callable[[], T], repeat: int) -> tuple[list[float], T]:
    times, result = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return times, result  # type: ignore[return-value]


def _sf_time(dt: datetime) -> str:
    return dt.isoformat(timespec="seconds").replace("+00:00", "Z")


def _graph_time(dt: datetime) -> dict[str, str]:
    return {"dateTime": dt.strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": "UTC"}


def describe(times: list[float]) -> str:
    return f"median {statistics.median(times):.4f} s, best {min(times):.4f} s over {len(times)}"


# --- Salesforce ---------------------------------------------------------------------------------------


def salesforce_client() -> Any:
    from airflow.providers.salesforce.hooks.salesforce import SalesforceHook

    try:
        return SalesforceHook(salesforce_conn_id="salesforce_default").get_conn()
    except Exception as e:  # the login answer is the emulator's: name it, do not hide it
        raise Missing(f"Salesforce login through SalesforceHook failed: {type(e).__name__}: {e}") from e


def seed_events(sf: Any, count: int) -> float:
    """Create ``count`` Events with sObject Collections (200 per request); returns the seconds taken."""
    start = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
    t0 = time.perf_counter()
    for offset in range(0, count, COLLECTION):
        records = []
        for i in range(offset, min(count, offset + COLLECTION)):
            begin = start + timedelta(minutes=30 * i)
            records.append({
                "attributes": {"type": "Event"},
                "Subject": f"Bench meeting {i}",
                "StartDateTime": _sf_time(begin),
                "EndDateTime": _sf_time(begin + timedelta(minutes=30)),
                "DurationInMinutes": 30,
            })
        try:
            results = sf.restful("composite/sobjects", method="POST",
                                 json={"allOrNone": False, "records": records})
        except Exception as e:
            raise Missing(f"sObject Collections (POST composite/sobjects): {type(e).__name__}: {e}") from e
        failed = [r for r in results or [] if not r.get("success")]
        if len(results or []) != len(records) or failed:
            sample = json.dumps(failed[:1] or results)[:300]
            raise Missing(f"sObject Collections did not create {len(records)} Events: {sample}")
    return time.perf_counter() - t0


def bench_query(sf: Any, repeat: int) -> list[float]:
    soql = "SELECT Id, Subject, StartDateTime, EndDateTime, OwnerId, LastModifiedDate FROM Event"

    def page() -> dict[str, Any]:
        return sf.query(soql)

    try:
        first = page()
    except Exception as e:
        raise Missing(f"SOQL query failed: {type(e).__name__}: {e}") from e
    rows = len(first.get("records", []))
    if rows != PAGE:
        raise Missing(f"the first query page has {rows} rows (totalSize {first.get('totalSize')}); "
                      f"Salesforce returns {PAGE} by default")
    if first.get("done") is not False or not first.get("nextRecordsUrl"):
        raise Missing("a query with more rows than one page must answer done=false and nextRecordsUrl")
    times, _ = timed(page, repeat)
    return times


# --- Graph --------------------------------------------------------------------------------------------


def graph_token(env: dict[str, str]) -> str:
    import httpx

    from sandbox.credentials import DEMO

    url = f"{env['CALSYNC_SANDBOX_IDENTITY_URL']}/{DEMO.graph_tenant_id}/oauth2/v2.0/token"
    form = {"client_id": DEMO.graph_client_id, "client_secret": DEMO.graph_client_secret,
            "grant_type": "client_credentials", "scope": "https://graph.microsoft.com/.default"}
    try:
        resp = httpx.post(url, data=form, verify=env["CALSYNC_SANDBOX_CA_BUNDLE"], trust_env=False,
                          timeout=30)
        token = resp.json().get("access_token") if resp.status_code == 200 else None
    except (httpx.HTTPError, ValueError) as e:
        raise Missing(f"token endpoint: {type(e).__name__}: {e}") from e
    if not token:
        raise Missing(f"token endpoint answered {resp.status_code} without an access_token")
    return str(token)


def add_mailbox(graph_url: str) -> str:
    """A fresh mailbox to write to, made through the Graph emulator's admin API."""
    from sandbox.control import SandboxError, admin_request

    try:
        admin_request(graph_url, "POST", "graph/mailboxes",
                      {"address": BENCH_MAILBOX, "displayName": "Bench", "timeZone": "UTC"})
    except SandboxError as e:
        raise Missing(f"Graph admin mailboxes (POST /__sandbox__/graph/mailboxes): {e}") from e
    return BENCH_MAILBOX


def bench_batch(env: dict[str, str], repeat: int) -> list[float]:
    import httpx

    headers = {"Authorization": f"Bearer {graph_token(env)}", "Content-Type": "application/json"}
    with httpx.Client(base_url=f"{env['CALSYNC_SANDBOX_GRAPH_URL']}/v1.0", headers=headers, trust_env=False,
                      timeout=60) as client:
        mailbox = add_mailbox(env["CALSYNC_SANDBOX_GRAPH_URL"])
        counter = iter(range(10**9))

        def one_batch() -> dict[str, Any]:
            requests = []
            for i in range(BATCH):
                n = next(counter)
                begin = datetime(2026, 11, 2, 8, 0, tzinfo=UTC) + timedelta(minutes=30 * n)
                requests.append({
                    "id": str(i + 1), "method": "POST", "url": f"/users/{mailbox}/events",
                    "headers": {"Content-Type": "application/json"},
                    "body": {"subject": f"Bench {n}", "start": _graph_time(begin),
                             "end": _graph_time(begin + timedelta(minutes=30))},
                })
            resp = client.post("/$batch", json={"requests": requests})
            if resp.status_code != 200:
                raise Missing(f"$batch answered HTTP {resp.status_code}: {resp.text[:300]}")
            return resp.json()

        try:
            answer = one_batch()
        except (httpx.HTTPError, ValueError) as e:
            raise Missing(f"$batch failed: {type(e).__name__}: {e}") from e
        statuses = sorted(r.get("status") for r in answer.get("responses", []))
        if len(statuses) != BATCH or any(s != 201 for s in statuses):
            raise Missing(f"$batch of {BATCH} event creates answered statuses {statuses}")
        if not all(isinstance(r.get("body"), dict) and r["body"].get("id") for r in answer["responses"]):
            raise Missing("$batch responses must carry each created event as a JSON body with its id")
        times, _ = timed(one_batch, repeat)
        return times


# --- main ---------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=PAGE + 100, help="Events to create first (> 2,000)")
    parser.add_argument("--repeat", type=int, default=5, help="timed runs of each measurement")
    args = parser.parse_args(argv)
    if args.events <= PAGE:
        parser.error(f"--events must exceed {PAGE} so the first page is full")
    # Importing the Salesforce hook imports Airflow, which writes its config under AIRFLOW_HOME.
    scratch = tempfile.TemporaryDirectory(prefix="calsync-bench-airflow-")
    os.environ.setdefault("AIRFLOW_HOME", scratch.name)
    os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")

    from sandbox.control import check_servers
    from sandbox.runner import Sandbox

    t0 = time.perf_counter()
    sb = Sandbox(seed=1).start()
    env = sb.env()
    check_servers({"urls": {"salesforce": sb.salesforce_url, "graph": sb.graph_url,
                            "identity": sb.identity_url}, "ca_bundle": sb.ca_bundle})
    start_s = time.perf_counter() - t0
    print(f"start-up: {start_s:.3f} s (TLS CA, three servers, all answering)")
    os.environ.update(env)
    try:
        sf = salesforce_client()
        seed_s = seed_events(sf, args.events)
        print(f"seed: {args.events} Events via sObject Collections in {seed_s:.2f} s "
              f"({args.events / seed_s:,.0f} records/s, {-(-args.events // COLLECTION)} requests)")
        q = bench_query(sf, args.repeat)
        print(f"query page ({PAGE} rows, SalesforceHook): {describe(q)}; "
              f"{PAGE / statistics.median(q):,.0f} rows/s")
        b = bench_batch(env, args.repeat)
        print(f"$batch ({BATCH} event creates, httpx): {describe(b)}; "
              f"{BATCH / statistics.median(b):,.0f} requests/s")
    except Missing as e:
        print(f"sandbox: missing emulator feature: {e}", file=sys.stderr)
        return 1
    finally:
        sb.stop()
        scratch.cleanup()
    print(f"sandbox: start {start_s:.3f} s, query page {statistics.median(q):.4f} s, "
          f"batch {statistics.median(b):.4f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
