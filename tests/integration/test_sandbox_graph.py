"""The Graph emulator as the unmodified msgraph-sdk sees it through Airflow's KiotaRequestAdapterHook.

Every test reaches the emulator through the ``msgraph_default`` connection (token from the TLS
identity endpoint, then Graph over http), never through a side door; the admin API and the tenant
model are used only to arrange state and to look at what the server did.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from kiota_abstractions.base_request_configuration import RequestConfiguration
from msgraph.generated.models.attendee import Attendee
from msgraph.generated.models.category_color import CategoryColor
from msgraph.generated.models.email_address import EmailAddress
from msgraph.generated.models.event import Event
from msgraph.generated.models.item_body import ItemBody
from msgraph.generated.models.location import Location
from msgraph.generated.models.o_data_errors.o_data_error import ODataError
from msgraph.generated.models.outlook_category import OutlookCategory
from msgraph.generated.models.single_value_legacy_extended_property import SingleValueLegacyExtendedProperty
from msgraph.generated.users.item.calendar_view.calendar_view_request_builder import (
    CalendarViewRequestBuilder,
)
from msgraph.generated.users.item.calendar_view.delta.delta_request_builder import DeltaRequestBuilder
from msgraph.generated.users.item.events.events_request_builder import EventsRequestBuilder
from msgraph.generated.users.item.events.item.event_item_request_builder import EventItemRequestBuilder
from test_sandbox_graph_helpers import ALICE, BOB, CAROL, add_people, admin, timed_event, with_graph

from sandbox.runner import Sandbox

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
WINDOW = ("2026-12-01T00:00:00Z", "2027-01-01T00:00:00Z")
PROP_ID = "String {66f5a359-4659-4830-9070-00047ec6ac6e} Name CalSyncStamp"


@pytest.fixture
def sb(sandbox: Sandbox) -> Sandbox:
    add_people(sandbox)
    return sandbox


def _cv_config(maxpage: int | None = None, tz: str | None = None) -> RequestConfiguration[Any]:
    cfg: RequestConfiguration[Any] = RequestConfiguration(
        query_parameters=CalendarViewRequestBuilder.CalendarViewRequestBuilderGetQueryParameters(
            start_date_time=WINDOW[0], end_date_time=WINDOW[1]
        )
    )
    if maxpage:
        cfg.headers.add("Prefer", f"odata.maxpagesize={maxpage}")
    if tz:
        cfg.headers.add("Prefer", f'outlook.timezone="{tz}"')
    return cfg


def _delta_config(maxpage: int) -> RequestConfiguration[Any]:
    cfg: RequestConfiguration[Any] = RequestConfiguration(
        query_parameters=DeltaRequestBuilder.DeltaRequestBuilderGetQueryParameters(
            start_date_time=WINDOW[0], end_date_time=WINDOW[1]
        )
    )
    cfg.headers.add("Prefer", f"odata.maxpagesize={maxpage}")
    return cfg


async def _delta_all(
    client: Any, user: str, link: str | None = None, maxpage: int = 2
) -> tuple[list[Any], str, int]:
    """Walk one delta round; returns (items, deltaLink, pages)."""
    builder = client.users.by_user_id(user).calendar_view.delta
    cfg = _delta_config(maxpage)
    page = await (builder.with_url(link).get(request_configuration=cfg) if link else builder.get(cfg))
    items, pages = list(page.value), 1
    while page.odata_next_link:
        page = await builder.with_url(page.odata_next_link).get(request_configuration=cfg)
        items += page.value
        pages += 1
    return items, page.odata_delta_link, pages


# --------------------------------------------------------------------------------------------------
# identity


def test_token_endpoint_accepts_demo_app_and_refuses_others(sb: Sandbox) -> None:
    creds = sb.hub.credentials
    url = f"{sb.identity_url}/{creds.graph_tenant_id}/oauth2/v2.0/token"
    form = {
        "grant_type": "client_credentials",
        "client_id": creds.graph_client_id,
        "client_secret": creds.graph_client_secret,
        "scope": "https://graph.microsoft.com/.default",
    }
    with httpx.Client(verify=sb.ca_bundle, trust_env=False) as c:
        ok = c.post(url, data=form)
        bad_secret = c.post(url, data={**form, "client_secret": "nope"})
        bad_tenant = c.post(url.replace(creds.graph_tenant_id, "other-tenant"), data=form)
        oidc = c.get(f"{sb.identity_url}/{creds.graph_tenant_id}/v2.0/.well-known/openid-configuration")
    assert ok.status_code == 200 and ok.json()["expires_in"] == 3599 and ok.json()["token_type"] == "Bearer"
    assert bad_secret.status_code == 401 and bad_secret.json()["error"] == "invalid_client"
    assert bad_secret.json()["error_codes"] == [7000215]
    assert bad_tenant.status_code == 400 and "AADSTS90002" in bad_tenant.json()["error_description"]
    assert oidc.json()["token_endpoint"].endswith("/oauth2/v2.0/token")


def test_expired_token_gets_401_and_a_new_token_works(sb: Sandbox) -> None:
    async def first(client: Any, hook: Any) -> None:
        await client.users.by_user_id(ALICE).events.get()
        sb.identity.expire_tokens()
        with pytest.raises(ODataError) as e:
            await client.users.by_user_id(ALICE).events.get()
        assert e.value.response_status_code == 401
        assert e.value.error.code == "InvalidAuthenticationToken"

    with_graph(first)
    # a new adapter fetches a new token, which the emulator accepts
    assert with_graph(lambda client, hook: client.users.by_user_id(ALICE).events.get()).value == []


def test_unknown_bearer_token_is_rejected(sb: Sandbox) -> None:
    with httpx.Client(base_url=sb.graph_url, trust_env=False) as c:
        r = c.get(
            f"/v1.0/users/{ALICE}/events",
            headers={"Authorization": "Bearer made.up.token", "client-request-id": "abc-123"},
        )
        none = c.get(f"/v1.0/users/{ALICE}/events")
    assert r.status_code == 401 and r.json()["error"]["code"] == "InvalidAuthenticationToken"
    assert r.headers["content-type"].startswith("application/json;odata.metadata=minimal")
    assert r.headers["client-request-id"] == "abc-123" and r.headers["request-id"]
    inner = r.json()["error"]["innerError"]
    assert inner["client-request-id"] == "abc-123" and inner["request-id"] == r.headers["request-id"]
    assert none.status_code == 401


# --------------------------------------------------------------------------------------------------
# events


def test_event_crud_with_the_generated_builders(sb: Sandbox) -> None:
    async def go(client: Any, hook: Any) -> None:
        user = client.users.by_user_id(ALICE)
        created = await user.events.post(
            timed_event(
                "Kick-off",
                "2026-12-02T10:00:00",
                "2026-12-02T11:00:00",
                "W. Europe Standard Time",
                body=ItemBody(content="Agenda"),
                location=Location(display_name="Room 1"),
                categories=["Blue"],
            )
        )
        assert created.id and created.i_cal_u_id and created.change_key
        assert created.start.date_time == "2026-12-02T09:00:00.0000000" and created.start.time_zone == "UTC"
        assert created.original_start_time_zone == "W. Europe Standard Time"
        assert created.is_organizer is True and created.type.value == "singleInstance"
        assert created.additional_data.get("@odata.etag") == f'W/"{created.change_key}"'

        got = await user.events.by_event_id(created.id).get()
        assert got.subject == "Kick-off" and got.location.display_name == "Room 1"
        # the same item through calendar/events and calendars/{id}/events
        cal = await user.calendar.get()
        via_cal = await user.calendars.by_calendar_id(cal.id).events.by_event_id(created.id).get()
        assert via_cal.id == created.id
        listed = await user.calendar.events.get()
        assert [e.id for e in listed.value] == [created.id]

        patched = await user.events.by_event_id(created.id).patch(Event(subject="Kick-off v2"))
        assert patched.subject == "Kick-off v2" and patched.change_key != created.change_key
        assert patched.last_modified_date_time >= created.last_modified_date_time

        # a stale If-Match is refused; the current one is accepted
        stale: RequestConfiguration[Any] = RequestConfiguration()
        stale.headers.add("If-Match", f'W/"{created.change_key}"')
        with pytest.raises(ODataError) as e:
            await user.events.by_event_id(created.id).patch(Event(subject="x"), stale)
        assert e.value.response_status_code == 412 and e.value.error.code == "ErrorIrresolvableConflict"

        await user.events.by_event_id(created.id).delete()
        with pytest.raises(ODataError) as e:
            await user.events.by_event_id(created.id).get()
        assert e.value.response_status_code == 404 and e.value.error.code == "ErrorItemNotFound"

    with_graph(go)


def test_me_is_the_first_mailbox_or_the_admin_choice(sb: Sandbox) -> None:
    async def subject_of_me(client: Any, hook: Any) -> str:
        return (await client.me.events.get()).value[0].subject

    sb.graph.tenant.person_create(
        ALICE,
        {
            "subject": "alice's",
            "start": {"dateTime": "2026-12-01T10:00:00"},
            "end": {"dateTime": "2026-12-01T11:00:00"},
        },
    )
    sb.graph.tenant.person_create(
        BOB,
        {
            "subject": "bob's",
            "start": {"dateTime": "2026-12-01T10:00:00"},
            "end": {"dateTime": "2026-12-01T11:00:00"},
        },
    )
    assert with_graph(subject_of_me) == "alice's"
    assert admin(sb, "POST", "/me", {"address": BOB}).status_code == 201
    assert with_graph(subject_of_me) == "bob's"


def test_bad_requests_answer_like_graph(sb: Sandbox) -> None:
    async def go(client: Any, hook: Any) -> None:
        user = client.users.by_user_id(ALICE)
        with pytest.raises(ODataError) as e:  # all-day must run midnight to midnight
            await user.events.post(
                timed_event("x", "2026-12-02T10:00:00", "2026-12-03T10:00:00", is_all_day=True)
            )
        assert e.value.response_status_code == 400 and e.value.error.code == "ErrorPropertyValidationFailure"
        ok = await user.events.post(
            timed_event(
                "day off",
                "2026-12-02T00:00:00",
                "2026-12-03T00:00:00",
                "W. Europe Standard Time",
                is_all_day=True,
            )
        )
        assert ok.is_all_day and ok.start.date_time == "2026-12-02T00:00:00.0000000"

        with pytest.raises(ODataError) as e:
            await client.users.by_user_id("nobody@calsync-demo.example").events.get()
        assert e.value.response_status_code == 404 and e.value.error.code == "ErrorInvalidUser"

        with pytest.raises(ODataError) as e:
            await user.events.post(
                timed_event("tz", "2026-12-02T10:00:00", "2026-12-02T11:00:00", "Mars/Olympus")
            )
        assert e.value.error.code == "TimeZoneNotSupportedException"

    with_graph(go)
    # an unknown property is refused as Graph's OData reader does
    body = {
        "subject": "x",
        "start": {"dateTime": "2026-12-02T10:00:00", "timeZone": "UTC"},
        "end": {"dateTime": "2026-12-02T11:00:00", "timeZone": "UTC"},
        "colour": "red",
    }

    async def raw(client: Any, hook: Any) -> Any:
        return await hook.run(url=f"users/{ALICE}/events", method="POST", data=body)

    from airflow.exceptions import AirflowBadRequest

    with pytest.raises(AirflowBadRequest, match="RequestBodyRead"):
        with_graph(raw)


def test_unavailable_mailbox_answers_404_or_403(sb: Sandbox) -> None:
    assert (
        admin(sb, "POST", f"/mailboxes/{BOB}/availability", {"availability": "not_enabled"}).status_code
        == 201
    )
    sb.graph.tenant.set_availability(CAROL, "forbidden")

    async def go(client: Any, hook: Any) -> None:
        with pytest.raises(ODataError) as e:
            await client.users.by_user_id(BOB).events.get()
        assert (e.value.response_status_code, e.value.error.code) == (404, "MailboxNotEnabledForRESTAPI")
        with pytest.raises(ODataError) as e:
            await client.users.by_user_id(CAROL).calendar_view.get(_cv_config())
        assert (e.value.response_status_code, e.value.error.code) == (403, "ErrorAccessDenied")

    with_graph(go)


def test_transaction_id_makes_a_retried_create_idempotent(sb: Sandbox) -> None:
    async def go(client: Any, hook: Any) -> list[str]:
        user = client.users.by_user_id(ALICE)
        ev = timed_event("once", "2026-12-03T10:00:00", "2026-12-03T11:00:00", transaction_id="tx-42")
        a = await user.events.post(ev)
        b = await user.events.post(ev)
        assert a.id == b.id and b.transaction_id == "tx-42"
        cfg: RequestConfiguration[Any] = RequestConfiguration(
            query_parameters=EventsRequestBuilder.EventsRequestBuilderGetQueryParameters(
                filter="transactionId eq 'tx-42'"
            )
        )
        return [e.id for e in (await user.events.get(cfg)).value]

    assert len(with_graph(go)) == 1


def test_connection_dropped_after_commit_leaves_the_event(sb: Sandbox) -> None:
    sb.hub.faults.configure(
        {
            "rules": [
                {
                    "kind": "drop_after_commit",
                    "api": "graph",
                    "method": "POST",
                    "path": "events.create",
                    "remaining": 1,
                }
            ]
        }
    )

    async def go(client: Any, hook: Any) -> list[str]:
        user = client.users.by_user_id(ALICE)
        with pytest.raises(Exception):  # noqa: B017 - the transport error type is httpx's, not the SDK's
            await user.events.post(timed_event("dropped", "2026-12-04T10:00:00", "2026-12-04T11:00:00"))
        return [e.subject for e in (await user.events.get()).value]

    assert with_graph(go) == ["dropped"]


# --------------------------------------------------------------------------------------------------
# calendarView and delta


def test_calendar_view_pages_with_absolute_links_and_honours_prefer(sb: Sandbox) -> None:
    for i in range(23):
        sb.graph.tenant.person_create(
            ALICE,
            {
                "subject": f"e{i:02d}",
                "start": {"dateTime": f"2026-12-{i + 1:02d}T10:00:00", "timeZone": "UTC"},
                "end": {"dateTime": f"2026-12-{i + 1:02d}T11:00:00", "timeZone": "UTC"},
            },
        )
    sb.graph.tenant.person_create(
        ALICE,
        {
            "subject": "outside",
            "start": {"dateTime": "2027-02-01T10:00:00"},
            "end": {"dateTime": "2027-02-01T11:00:00"},
        },
    )

    async def go(client: Any, hook: Any) -> None:
        cv = client.users.by_user_id(ALICE).calendar_view
        cfg = _cv_config(maxpage=10, tz="Pacific Standard Time")
        page = await cv.get(cfg)
        subjects, pages = [e.subject for e in page.value], 1
        assert page.value[0].start.time_zone == "Pacific Standard Time"
        assert page.value[0].start.date_time == "2026-12-01T02:00:00.0000000"
        while page.odata_next_link:
            assert page.odata_next_link.startswith(sb.graph_url + "/v1.0/")
            page = await cv.with_url(page.odata_next_link).get(cfg)
            subjects += [e.subject for e in page.value]
            pages += 1
        assert pages == 3 and subjects == [f"e{i:02d}" for i in range(23)]

        with pytest.raises(Exception, match="StartDateTime and EndDateTime"):
            await hook.run(url=f"users/{ALICE}/calendarView", query_parameters={"startDateTime": WINDOW[0]})

    with_graph(go)


def test_delta_reports_updates_deletes_and_items_that_left_the_window(sb: Sandbox) -> None:
    t = sb.graph.tenant

    def make(subject: str, day: int) -> str:
        return t.person_create(
            ALICE,
            {
                "subject": subject,
                "start": {"dateTime": f"2026-12-{day:02d}T09:00:00"},
                "end": {"dateTime": f"2026-12-{day:02d}T10:00:00"},
            },
        )["id"]

    ids = {name: make(name, d) for name, d in (("keep", 2), ("edit", 3), ("gone", 4), ("moves", 5), ("x", 6))}

    async def go(client: Any, hook: Any) -> None:
        items, link, pages = await _delta_all(client, ALICE)
        assert pages == 3 and {e.id for e in items} == set(ids.values())
        assert link.startswith(sb.graph_url) and "$deltatoken=" in link

        # nothing changed: an empty round and a new link
        again, link2, _ = await _delta_all(client, ALICE, link)
        assert again == [] and link2 != link

        t.person_update(ALICE, ids["edit"], {"subject": "edited"})
        t.person_delete(ALICE, ids["gone"])
        t.person_update(
            ALICE,
            ids["moves"],
            {
                "start": {"dateTime": "2027-03-01T09:00:00", "timeZone": "UTC"},
                "end": {"dateTime": "2027-03-01T10:00:00", "timeZone": "UTC"},
            },
        )
        new_id = make("new", 20)
        changes, _, _ = await _delta_all(client, ALICE, link2)
        removed = {e.id for e in changes if "@removed" in (e.additional_data or {})}
        present = {e.id: e.subject for e in changes if "@removed" not in (e.additional_data or {})}
        assert removed == {ids["gone"], ids["moves"]}
        assert present == {ids["edit"]: "edited", new_id: "new"}
        tomb = next(e for e in changes if e.id == ids["gone"])
        assert tomb.additional_data["@removed"] == {"reason": "deleted"}

    with_graph(go)


def test_rejected_delta_links_answer_410(sb: Sandbox) -> None:
    sb.graph.tenant.person_create(
        ALICE,
        {
            "subject": "a",
            "start": {"dateTime": "2026-12-02T09:00:00"},
            "end": {"dateTime": "2026-12-02T10:00:00"},
        },
    )

    async def go(client: Any, hook: Any) -> None:
        _, link, _ = await _delta_all(client, ALICE)
        delta = client.users.by_user_id(ALICE).calendar_view.delta
        assert admin(sb, "POST", "/delta/invalidate", {"address": ALICE}).json()["invalidated"] >= 1
        with pytest.raises(ODataError) as e:
            await delta.with_url(link).get()
        assert (e.value.response_status_code, e.value.error.code) == (410, "SyncStateNotFound")
        with pytest.raises(ODataError) as e:
            await delta.with_url(link.split("$deltatoken=")[0] + "$deltatoken=unknown").get()
        assert e.value.response_status_code == 410
        # a fault rule may force 410 on a perfectly good link
        _, good, _ = await _delta_all(client, ALICE)
        sb.hub.faults.configure(
            {
                "rules": [
                    {
                        "kind": "error",
                        "api": "graph",
                        "path": "deltatoken|delta",
                        "status": 410,
                        "code": "SyncStateNotFound",
                        "remaining": 1,
                    }
                ]
            }
        )
        with pytest.raises(ODataError) as e:
            await delta.with_url(good).get()
        assert e.value.error.code == "SyncStateNotFound"
        fresh = (await delta.with_url(good).get()).odata_delta_link
        assert fresh
        # delta tokens age on the sandbox clock (7 days by default); bearer tokens do not
        sb.hub.clock.advance(8 * 24 * 3600)
        with pytest.raises(ODataError) as e:
            await delta.with_url(fresh).get()
        assert e.value.error.code == "SyncStateNotFound"

    with_graph(go)


# --------------------------------------------------------------------------------------------------
# $batch


def _batch_item(i: int) -> dict[str, Any]:
    return {
        "id": str(i),
        "method": "POST",
        "url": f"/users/{ALICE}/events",
        "headers": {"content-type": "application/json"},
        "body": {
            "subject": f"b{i}",
            "start": {"dateTime": "2026-12-10T10:00:00", "timeZone": "UTC"},
            "end": {"dateTime": "2026-12-10T11:00:00", "timeZone": "UTC"},
        },
    }


def test_batch_of_20_with_one_failing_item(sb: Sandbox) -> None:
    items = [_batch_item(i) for i in range(1, 20)]
    items.append({"id": "20", "method": "GET", "url": f"{sb.graph_url}/v1.0/users/{ALICE}/events/AAMkNOPE="})
    items[5]["dependsOn"] = ["5"]
    items[6]["depends_on"] = ["20"]  # msgraph-core's spelling; its dependency fails -> 424

    async def go(client: Any, hook: Any) -> Any:
        resp = await hook.run(url="$batch", method="POST", data={"requests": items})
        too_many = [_batch_item(i) for i in range(21)]
        from airflow.exceptions import AirflowBadRequest

        with pytest.raises(AirflowBadRequest):
            await hook.run(url="$batch", method="POST", data={"requests": too_many})
        return resp

    out = with_graph(go)
    by_id = {r["id"]: r for r in out["responses"]}
    assert len(by_id) == 20
    assert by_id["20"]["status"] == 404 and by_id["20"]["body"]["error"]["code"] == "ErrorItemNotFound"
    assert by_id["7"]["status"] == 424
    created = [r for r in out["responses"] if r["status"] == 201]
    assert len(created) == 18 and all(r["body"]["id"] for r in created)
    assert by_id["1"]["headers"]["Content-Type"].startswith("application/json")
    assert len(sb.graph.tenant.live_events(sb.graph.tenant.resolve(ALICE))) == 18
    # the items were served by the same route table: they count per route and per mailbox
    assert sb.graph.counters["user.events.create"] == 18 and sb.graph.counters["batch"] == 2


def test_batch_items_get_their_own_429(sb: Sandbox) -> None:
    sb.hub.faults.configure(
        {
            "rules": [
                {"kind": "error", "api": "graph", "path": f"/users/{BOB}/", "status": 429, "retry_after": 2}
            ]
        }
    )
    items = [_batch_item(1), {**_batch_item(2), "url": f"/users/{BOB}/events"}]

    async def go(client: Any, hook: Any) -> Any:
        return await hook.run(url="$batch", method="POST", data={"requests": items})

    out = {r["id"]: r for r in with_graph(go)["responses"]}
    assert out["1"]["status"] == 201
    assert out["2"]["status"] == 429 and out["2"]["headers"]["Retry-After"] == "2"
    assert out["2"]["body"]["error"]["code"] == "TooManyRequests"


def test_client_batch_reports_status_codes(sb: Sandbox) -> None:
    from msgraph_core.requests.batch_request_content import BatchRequestContent
    from msgraph_core.requests.batch_request_item import BatchRequestItem

    async def go(client: Any, hook: Any) -> dict[str, int]:
        events = client.users.by_user_id(ALICE).events
        items = [
            BatchRequestItem(
                request_information=events.to_post_request_information(
                    timed_event(f"s{i}", "2026-12-11T10:00:00", "2026-12-11T11:00:00")
                ),
                id=str(i),
            )
            for i in range(1, 4)
        ]
        items.append(BatchRequestItem(request_information=events.to_get_request_information(), id="4"))
        items[3].set_depends_on([items[2]])
        resp = await client.batch.post(batch_request_content=BatchRequestContent({i.id: i for i in items}))
        return resp.get_response_status_codes()

    assert with_graph(go) == {"1": 201, "2": 201, "3": 201, "4": 200}


# --------------------------------------------------------------------------------------------------
# throttling


def test_sdk_retry_middleware_rides_out_a_short_429_storm(sb: Sandbox) -> None:
    sb.hub.faults.configure(
        {
            "rules": [
                {
                    "kind": "error",
                    "api": "graph",
                    "method": "GET",
                    "path": "events.list",
                    "status": 429,
                    "retry_after": 1,
                    "remaining": 2,
                }
            ]
        }
    )

    async def go(client: Any, hook: Any) -> Any:
        return await client.users.by_user_id(ALICE).events.get()

    assert with_graph(go).value == []
    assert sb.graph.counters["user.events.list"] == 3


def test_more_than_n_concurrent_requests_to_one_mailbox_get_429_application_throttled(sb: Sandbox) -> None:
    import asyncio

    from kiota_http.middleware.options import RetryHandlerOption

    sb.hub.faults.configure({"max_concurrent": 2})
    assert admin(sb, "POST", "/settings", {"service_time_ms": 400}).json()["service_time_ms"] == 400

    async def go(client: Any, hook: Any) -> list[Any]:
        cfg: RequestConfiguration[Any] = RequestConfiguration(options=[RetryHandlerOption(max_retries=0)])

        async def one(user: str) -> Any:
            try:
                return await client.users.by_user_id(user).events.get(cfg)
            except ODataError as e:
                return e

        return await asyncio.gather(*[one(ALICE) for _ in range(5)], one(BOB))

    results = with_graph(go)
    throttled = [r for r in results[:5] if isinstance(r, ODataError)]
    assert len(throttled) == 3
    assert all(r.response_status_code == 429 and r.error.code == "ApplicationThrottled" for r in throttled)
    assert not isinstance(results[5], ODataError)  # another mailbox has its own limit


# --------------------------------------------------------------------------------------------------
# categories, extended properties, settings


def test_master_categories(sb: Sandbox) -> None:
    async def go(client: Any, hook: Any) -> None:
        cats = client.users.by_user_id(ALICE).outlook.master_categories
        made = await cats.post(OutlookCategory(display_name="Salesforce: Event", color=CategoryColor.Preset3))
        assert made.id and made.color == CategoryColor.Preset3
        with pytest.raises(ODataError) as e:
            await cats.post(OutlookCategory(display_name="salesforce: event", color=CategoryColor.Preset1))
        assert e.value.response_status_code == 409
        with pytest.raises(Exception, match="categoryColor"):
            await hook.run(
                url=f"users/{ALICE}/outlook/masterCategories",
                method="POST",
                data={"displayName": "Other", "color": "purple"},
            )
        changed = await cats.by_outlook_category_id(made.id).patch(
            OutlookCategory(color=CategoryColor.Preset9)
        )
        assert changed.color == CategoryColor.Preset9
        assert [c.display_name for c in (await cats.get()).value] == ["Salesforce: Event"]
        await cats.by_outlook_category_id(made.id).delete()
        assert (await cats.get()).value == []

    with_graph(go)


def test_extended_properties_are_filtered_and_expanded(sb: Sandbox) -> None:
    async def go(client: Any, hook: Any) -> None:
        user = client.users.by_user_id(ALICE)
        stamped = await user.events.post(
            timed_event(
                "stamped",
                "2026-12-05T10:00:00",
                "2026-12-05T11:00:00",
                categories=["Salesforce: Event"],
                single_value_extended_properties=[
                    SingleValueLegacyExtendedProperty(id=PROP_ID, value="p1|001|sf")
                ],
            )
        )
        await user.events.post(timed_event("plain", "2026-12-05T12:00:00", "2026-12-05T13:00:00"))
        assert stamped.single_value_extended_properties is None  # only returned through $expand

        flt = f"singleValueExtendedProperties/any(ep: ep/id eq '{PROP_ID}' and ep/value eq 'p1|001|sf')"
        cfg: RequestConfiguration[Any] = RequestConfiguration(
            query_parameters=EventsRequestBuilder.EventsRequestBuilderGetQueryParameters(
                filter=flt, expand=[f"singleValueExtendedProperties($filter=id eq '{PROP_ID}')"]
            )
        )
        found = (await user.events.get(cfg)).value
        assert [e.subject for e in found] == ["stamped"]
        assert found[0].single_value_extended_properties[0].value == "p1|001|sf"

        by_cat: RequestConfiguration[Any] = RequestConfiguration(
            query_parameters=EventsRequestBuilder.EventsRequestBuilderGetQueryParameters(
                filter="categories/any(c:c eq 'Salesforce: Event') "
                "and start/dateTime ge '2026-12-05T00:00:00'",
                select=["subject", "start"],
            )
        )
        sel = (await user.events.get(by_cat)).value
        assert [e.subject for e in sel] == ["stamped"] and sel[0].body is None

        one: RequestConfiguration[Any] = RequestConfiguration(
            query_parameters=EventItemRequestBuilder.EventItemRequestBuilderGetQueryParameters(
                expand=[f"singleValueExtendedProperties($filter=id eq '{PROP_ID}')"]
            )
        )
        got = await user.events.by_event_id(stamped.id).get(one)
        assert got.single_value_extended_properties[0].id == PROP_ID

    with_graph(go)


def test_mailbox_settings_report_a_windows_time_zone(sb: Sandbox) -> None:
    async def go(client: Any, hook: Any) -> tuple[str, str]:
        a = await client.users.by_user_id(ALICE).mailbox_settings.get()
        b = await client.users.by_user_id(BOB).mailbox_settings.get()
        return a.time_zone, b.time_zone

    assert with_graph(go) == ("W. Europe Standard Time", "Eastern Standard Time")


# --------------------------------------------------------------------------------------------------
# meeting mail


def test_meeting_mail_log_after_creating_changing_and_deleting_a_meeting(sb: Sandbox) -> None:
    def person(addr: str) -> Attendee:
        return Attendee(email_address=EmailAddress(address=addr, name=addr.split("@")[0]))

    async def go(client: Any, hook: Any) -> None:
        events = client.users.by_user_id(ALICE).events
        ev = await events.post(
            timed_event("Review", "2026-12-07T10:00:00", "2026-12-07T11:00:00", attendees=[person(BOB)])
        )
        await events.by_event_id(ev.id).patch(
            Event(subject="Review (moved)", attendees=[person(BOB), person(CAROL)])
        )
        await events.by_event_id(ev.id).patch(Event(categories=["x"]))  # no mail for a category change
        await events.by_event_id(ev.id).delete()

    with_graph(go)
    mail = admin(sb, "GET", "/mail").json()["mail"]
    assert [(m["kind"], m["to"]) for m in mail] == [
        ("invitation", [BOB]),
        ("invitation", [CAROL]),
        ("update", [BOB]),
        ("cancellation", [BOB, CAROL]),
    ]
    assert all(m["from"] == ALICE and m["via"] == "api" for m in mail)
    assert mail[2]["changes"] == ["subject"]
    admin(sb, "DELETE", "/mail")
    assert sb.graph.tenant.mail() == []


def test_person_edits_share_an_ical_uid_and_keep_the_chosen_time(sb: Sandbox) -> None:
    t = sb.graph.tenant
    org = admin(
        sb,
        "POST",
        f"/mailboxes/{ALICE}/events",
        {
            "props": {
                "subject": "Sync",
                "start": {"dateTime": "2026-12-08T10:00:00"},
                "end": {"dateTime": "2026-12-08T11:00:00"},
                "attendees": [{"emailAddress": {"address": BOB}}],
            },
            "modified_at": "2026-11-01T08:00:00Z",
        },
    ).json()
    copy = t.person_create(
        BOB,
        {
            "subject": "Sync",
            "start": {"dateTime": "2026-12-08T10:00:00"},
            "end": {"dateTime": "2026-12-08T11:00:00"},
            "organizer": {"emailAddress": {"address": ALICE, "name": "Alice Adams"}},
        },
        as_organizer=False,
        ical_uid=org["iCalUId"],
    )

    async def go(client: Any, hook: Any) -> tuple[Any, Any]:
        a = await client.users.by_user_id(ALICE).events.by_event_id(org["id"]).get()
        b = await client.users.by_user_id(BOB).events.by_event_id(copy["id"]).get()
        return a, b

    a, b = with_graph(go)
    assert a.i_cal_u_id == b.i_cal_u_id and a.is_organizer and not b.is_organizer
    assert a.last_modified_date_time.isoformat().startswith("2026-11-01T08:00:00")
    assert b.response_status.response.value == "notResponded"
    admin(sb, "POST", f"/mailboxes/{ALICE}/events/{org['id']}/cancel", {"comment": "sorry"})
    bob_copy = t.get_event(t.resolve(BOB), copy["id"])
    assert bob_copy.props["isCancelled"] is True
    assert [m["kind"] for m in t.mail()] == ["invitation", "cancellation"]


def test_snapshot_round_trip(sb: Sandbox) -> None:
    t = sb.graph.tenant
    made = t.person_create(
        ALICE,
        {
            "subject": "kept",
            "start": {"dateTime": "2026-12-08T10:00:00"},
            "end": {"dateTime": "2026-12-08T11:00:00"},
        },
    )
    snap = json.loads(json.dumps(sb.graph.snapshot()))
    sb.graph.reset()
    assert t.find(ALICE) is None
    sb.graph.restore(snap)
    assert t.get_event(t.resolve(ALICE), made["id"]).props["subject"] == "kept"


def test_an_emulator_bug_answers_a_graph_error_not_a_traceback(sb: Sandbox, monkeypatch: Any) -> None:
    def boom(*a: Any, **k: Any) -> Any:
        raise RuntimeError("bug")

    monkeypatch.setattr(sb.graph.tenant, "live_events", boom)

    async def go(client: Any, hook: Any) -> None:
        with pytest.raises(ODataError) as e:
            await client.users.by_user_id(ALICE).events.get(
                RequestConfiguration(
                    options=[
                        __import__("kiota_http.middleware.options", fromlist=["x"]).RetryHandlerOption(
                            max_retries=0
                        )
                    ]
                )
            )
        assert e.value.response_status_code == 500 and e.value.error.code == "generalException"

    with_graph(go)
