"""Edges of the Graph emulator: the $filter grammar, credentials refused through the hook, 503s the
SDK retries, If-Match, time zones and admin routes."""

from __future__ import annotations

import json
from typing import Any

import pytest
from kiota_abstractions.base_request_configuration import RequestConfiguration
from msgraph.generated.models.event import Event
from msgraph.generated.models.o_data_errors.o_data_error import ODataError
from test_sandbox_graph_helpers import ALICE, BOB, add_people, admin, timed_event, with_graph

from sandbox.graph import errors, odata
from sandbox.runner import Sandbox

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture
def sb(sandbox: Sandbox) -> Sandbox:
    add_people(sandbox)
    return sandbox


DOC = {
    "subject": "It's on",
    "isAllDay": False,
    "categories": ["Blue", "Salesforce: Event"],
    "start": {"dateTime": "2026-12-05T10:00:00.0000000", "timeZone": "UTC"},
    "transactionId": None,
    "singleValueExtendedProperties": [{"id": "String {x} Name A", "value": "1"}],
}


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("subject eq 'It''s on'", True),
        ("subject eq 'it''S ON'", True),  # Exchange compares strings without case
        ("not (isAllDay eq true)", True),
        ("isAllDay eq true or categories/any(c: c eq 'blue')", True),
        ("start/dateTime ge '2026-12-05T10:00:00Z' and start/dateTime lt 2026-12-06", True),
        ("start/dateTime gt '2026-12-05T10:00:00'", False),
        ("transactionId eq null", True),
        ("singleValueExtendedProperties/any(ep: ep/id eq 'String {x} Name A' and ep/value eq '2')", False),
    ],
)
def test_filter_grammar(expr: str, expected: bool) -> None:
    pred = odata.compile_filter(expr)
    assert pred is not None and pred(DOC) is expected


@pytest.mark.parametrize(
    "expr", ["subject eq", "subject like 'x'", "(subject eq 'a'", "startswith(subject,'a')"]
)
def test_filters_the_emulator_cannot_run_answer_400(expr: str) -> None:
    with pytest.raises(errors.GraphError) as e:
        odata.compile_filter(expr)
    assert (e.value.status, e.value.code) == (400, "ErrorInvalidUrlQueryFilter")


def test_zones_accept_windows_and_iana_names() -> None:
    assert str(odata.zone("W. Europe Standard Time")) == "Europe/Berlin"
    assert str(odata.zone("Europe/Berlin")) == "Europe/Berlin"
    assert odata.windows_name("America/New_York") == "Eastern Standard Time"
    assert (
        odata.fmt_utc(odata.parse_datetime("2024-03-02T17:15:36.3760425Z")) == "2024-03-02T17:15:36.3760420Z"
    )


def test_a_wrong_client_secret_is_refused_through_the_hook(sb: Sandbox, monkeypatch: Any) -> None:
    conn = json.loads(sb.env()["AIRFLOW_CONN_MSGRAPH_DEFAULT"])
    conn["password"] = "not-the-secret"
    monkeypatch.setenv("AIRFLOW_CONN_MSGRAPH_WRONG", json.dumps(conn))

    async def go(client: Any, hook: Any) -> Any:
        return await client.users.by_user_id(ALICE).events.get()

    with pytest.raises(Exception, match="AADSTS7000215"):
        with_graph(go, conn_id="msgraph_wrong")
    assert sb.graph.counters == {}  # the request never reached Graph


def test_sdk_retries_503(sb: Sandbox) -> None:
    sb.hub.faults.configure(
        {
            "rules": [
                {
                    "kind": "error",
                    "api": "graph",
                    "path": "events.get",
                    "status": 503,
                    "code": "ServiceNotAvailable",
                    "retry_after": 1,
                    "remaining": 1,
                }
            ]
        }
    )
    made = sb.graph.tenant.person_create(
        ALICE,
        {
            "subject": "s",
            "start": {"dateTime": "2026-12-01T10:00:00"},
            "end": {"dateTime": "2026-12-01T11:00:00"},
        },
    )

    async def go(client: Any, hook: Any) -> Any:
        return await client.users.by_user_id(ALICE).events.by_event_id(made["id"]).get()

    assert with_graph(go).subject == "s"
    assert sb.graph.counters["user.events.get"] == 2


def test_if_match_with_the_current_etag_and_on_delete(sb: Sandbox) -> None:
    async def go(client: Any, hook: Any) -> None:
        events = client.users.by_user_id(ALICE).events
        ev = await events.post(timed_event("v1", "2026-12-01T10:00:00", "2026-12-01T11:00:00"))
        cur: RequestConfiguration[Any] = RequestConfiguration()
        cur.headers.add("If-Match", ev.additional_data["@odata.etag"])
        v2 = await events.by_event_id(ev.id).patch(Event(subject="v2"), cur)
        with pytest.raises(ODataError) as e:
            await events.by_event_id(ev.id).delete(cur)  # the etag of v1 is stale now
        assert e.value.response_status_code == 412
        fresh: RequestConfiguration[Any] = RequestConfiguration()
        fresh.headers.add("If-Match", f'W/"{v2.change_key}"')
        await events.by_event_id(ev.id).delete(fresh)

    with_graph(go)
    assert sb.graph.tenant.live_events(sb.graph.tenant.resolve(ALICE)) == []


def test_mailbox_time_zone_changes_through_patch_and_admin(sb: Sandbox) -> None:
    admin(sb, "POST", f"/mailboxes/{BOB}/timeZone", {"timeZone": "Pacific Standard Time"})

    async def go(client: Any, hook: Any) -> tuple[str, Any]:
        before = (await client.users.by_user_id(BOB).mailbox_settings.get()).time_zone
        raw = await hook.run(
            url=f"users/{ALICE}/mailboxSettings", method="PATCH", data={"timeZone": "Asia/Kolkata"}
        )
        return before, raw

    before, raw = with_graph(go)
    assert before == "Pacific Standard Time" and raw["timeZone"] == "Asia/Kolkata"
    assert admin(sb, "POST", f"/mailboxes/{BOB}/timeZone", {"timeZone": "Nowhere/Land"}).status_code == 400


def test_admin_routes_report_unknown_mailboxes_and_remove_them(sb: Sandbox) -> None:
    assert admin(sb, "DELETE", "/mailboxes/nobody@x.example").status_code == 404
    assert admin(sb, "DELETE", f"/mailboxes/{BOB}").status_code == 200
    names = [m["address"] for m in admin(sb, "GET", "/mailboxes").json()["mailboxes"]]
    assert BOB not in names and ALICE in names
    bad = admin(sb, "POST", f"/mailboxes/{ALICE}/events", {"props": {"subject": "no times"}})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "ErrorPropertyValidationFailure"


def test_a_batch_whose_item_drops_after_commit_drops_the_connection_after_the_writes(sb: Sandbox) -> None:
    sb.hub.faults.configure(
        {"rules": [{"kind": "drop_after_commit", "api": "graph", "path": "events.create", "remaining": 1}]}
    )
    body = {
        "start": {"dateTime": "2026-12-01T10:00:00", "timeZone": "UTC"},
        "end": {"dateTime": "2026-12-01T11:00:00", "timeZone": "UTC"},
    }
    items = [
        {
            "id": str(i),
            "method": "POST",
            "url": f"/users/{ALICE}/events",
            "headers": {"content-type": "application/json"},
            "body": {**body, "subject": f"b{i}"},
        }
        for i in (1, 2)
    ]

    async def go(client: Any, hook: Any) -> Any:
        return await hook.run(url="$batch", method="POST", data={"requests": items})

    with pytest.raises(Exception):  # noqa: B017 - httpx's transport error, wrapped or not
        with_graph(go)
    subjects = [e.props["subject"] for e in sb.graph.tenant.live_events(sb.graph.tenant.resolve(ALICE))]
    assert subjects == ["b1"]  # the first write committed; the batch stopped there


def test_batch_items_to_one_mailbox_beyond_the_limit_are_throttled_unless_chained(sb: Sandbox) -> None:
    sb.hub.faults.configure({"max_concurrent": 4})
    body = {
        "start": {"dateTime": "2026-12-01T10:00:00", "timeZone": "UTC"},
        "end": {"dateTime": "2026-12-01T11:00:00", "timeZone": "UTC"},
    }

    def items(user: str, chained: bool) -> list[dict[str, Any]]:
        out = [
            {
                "id": str(i),
                "method": "POST",
                "url": f"/users/{user}/events",
                "headers": {"content-type": "application/json"},
                "body": {**body, "subject": f"b{i}"},
            }
            for i in range(1, 7)
        ]
        if chained:
            for i in range(1, 6):
                out[i]["dependsOn"] = [str(i)]
        return out

    async def go(client: Any, hook: Any) -> tuple[Any, Any]:
        loose = await hook.run(url="$batch", method="POST", data={"requests": items(ALICE, False)})
        chained = await hook.run(url="$batch", method="POST", data={"requests": items(BOB, True)})
        return loose, chained

    loose, chained = with_graph(go)
    statuses = {r["id"]: r["status"] for r in loose["responses"]}
    assert statuses == {"1": 201, "2": 201, "3": 201, "4": 201, "5": 429, "6": 429}
    throttled = next(r for r in loose["responses"] if r["status"] == 429)
    assert throttled["body"]["error"]["code"] == "ApplicationThrottled"
    assert throttled["headers"]["Retry-After"] == "1"
    assert {r["status"] for r in chained["responses"]} == {201}


def test_delivered_invitations_follow_the_meeting_into_attendee_calendars(sb: Sandbox) -> None:
    assert admin(sb, "POST", "/settings", {"deliver_invitations": True}).json()["deliver_invitations"]
    from msgraph.generated.models.attendee import Attendee
    from msgraph.generated.models.email_address import EmailAddress

    async def go(client: Any, hook: Any) -> list[Any]:
        events = client.users.by_user_id(ALICE).events
        ev = await events.post(
            timed_event(
                "Plan",
                "2026-12-09T10:00:00",
                "2026-12-09T11:00:00",
                attendees=[Attendee(email_address=EmailAddress(address=BOB))],
            )
        )
        first = (await client.users.by_user_id(BOB).events.get()).value
        await events.by_event_id(ev.id).patch(Event(subject="Plan v2"))
        second = (await client.users.by_user_id(BOB).events.get()).value
        await events.by_event_id(ev.id).delete()
        third = (await client.users.by_user_id(BOB).events.get()).value
        return [ev, first, second, third]

    ev, first, second, third = with_graph(go)
    assert len(first) == 1 and first[0].i_cal_u_id == ev.i_cal_u_id and first[0].is_organizer is False
    assert first[0].organizer.email_address.address == ALICE
    assert second[0].subject == "Plan v2" and second[0].id == first[0].id
    assert third[0].is_cancelled is True and third[0].subject == "Canceled: Plan v2"
