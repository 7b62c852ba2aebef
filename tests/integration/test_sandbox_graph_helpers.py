"""Shared helpers for the Graph emulator tests: every call goes through Airflow's
KiotaRequestAdapterHook built from the ``msgraph_default`` connection the conftest environment
defines, and the unmodified msgraph-sdk on top of the hook's adapter.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import httpx
from airflow.providers.microsoft.azure.hooks.msgraph import KiotaRequestAdapterHook
from msgraph import GraphServiceClient
from msgraph.generated.models.date_time_time_zone import DateTimeTimeZone
from msgraph.generated.models.event import Event

from sandbox.runner import Sandbox

T = TypeVar("T")
ALICE = "alice@calsync-demo.example"
BOB = "bob@calsync-demo.example"
CAROL = "carol@calsync-demo.example"


def with_graph(
    fn: Callable[[GraphServiceClient, KiotaRequestAdapterHook], Awaitable[T]],
    conn_id: str = "msgraph_default",
) -> T:
    """Run ``fn(client, hook)`` in a fresh event loop and close the hook's cached adapter after it."""

    async def main() -> T:
        hook = KiotaRequestAdapterHook(conn_id=conn_id)
        try:
            adapter = await hook.get_async_conn()
            return await fn(GraphServiceClient(request_adapter=adapter), hook)
        finally:
            await hook.close()
            KiotaRequestAdapterHook.cached_request_adapters.pop(conn_id, None)

    return asyncio.run(main())


def timed_event(subject: str, start: str, end: str, tz: str = "UTC", **kw: Any) -> Event:
    return Event(
        subject=subject,
        start=DateTimeTimeZone(date_time=start, time_zone=tz),
        end=DateTimeTimeZone(date_time=end, time_zone=tz),
        **kw,
    )


def admin(sb: Sandbox, method: str, path: str, json: Any = None) -> httpx.Response:
    """The sandbox admin API (loopback only), as a test or the CLI would call it."""
    with httpx.Client(base_url=sb.graph_url, trust_env=False, timeout=10) as c:
        return c.request(method, f"/__sandbox__/graph{path}", json=json)


def add_people(sb: Sandbox) -> None:
    sb.graph.tenant.add_mailbox(ALICE, "Alice Adams", "W. Europe Standard Time")
    sb.graph.tenant.add_mailbox(BOB, "Bob Brown", "America/New_York")
    sb.graph.tenant.add_mailbox(CAROL, "Carol Clark", "UTC")
