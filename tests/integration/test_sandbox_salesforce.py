"""The Salesforce emulator, driven by the unmodified simple-salesforce through Airflow's SalesforceHook.

Every client is built from an Airflow connection in the environment (the conftest sets the one
`calsync sandbox env` prints); the tests assert what a user of the client would notice.
"""

from __future__ import annotations

import csv
import io
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest
import requests
import yaml
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import (
    SalesforceAuthenticationFailed,
    SalesforceError,
    SalesforceExpiredSession,
    SalesforceGeneralError,
    SalesforceMalformedRequest,
    SalesforceMoreThanOneRecord,
    SalesforceRefusedRequest,
    SalesforceResourceNotFound,
)

from sandbox.credentials import DEMO
from sandbox.runner import Sandbox

RECORDED = Path("/work/shared/reference/salesforce-describe")
T = TypeVar("T")


def connect(conn_id: str = "salesforce_default", **kw: Any) -> Salesforce:
    from airflow.providers.salesforce.hooks.salesforce import SalesforceHook

    return SalesforceHook(salesforce_conn_id=conn_id, **kw).get_conn()


@pytest.fixture
def sf(sandbox: Sandbox) -> Salesforce:
    return connect()


def netloc(sb: Sandbox) -> str:
    return sb.salesforce_url.split("://", 1)[1]


def set_connection(monkeypatch: pytest.MonkeyPatch, conn_id: str, conn: dict[str, Any]) -> None:
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps({"conn_type": "salesforce", **conn}))


def event(i: int, **extra: Any) -> dict[str, Any]:
    start = datetime(2026, 12, 1, 9, tzinfo=UTC) + timedelta(hours=i % 200)
    return {
        "Subject": f"Meeting {i}",
        "StartDateTime": start.isoformat(),
        "EndDateTime": (start + timedelta(minutes=30)).isoformat(),
        **extra,
    }


def bulk_insert_events(sf: Salesforce, n: int, **extra: Any) -> None:
    rows = [
        {
            "Subject": f"Bulk {i}",
            "StartDateTime": f"2026-12-{1 + i % 28:02d}T10:00:00.000Z",
            "DurationInMinutes": "30",
            **extra,
        }
        for i in range(n)
    ]
    result = sf.bulk2.Event.insert(records=rows, wait=0)
    assert sum(r["numberRecordsProcessed"] for r in result) == n
    assert sum(r["numberRecordsFailed"] for r in result) == 0


def error_code(exc: SalesforceError) -> str:
    return exc.content[0]["errorCode"]  # type: ignore[index]


def with_retries(call: Callable[[], T], attempts: int = 6) -> tuple[T, int]:
    """What a caller of simple-salesforce must do itself: the client never retries 429/503."""
    for n in range(1, attempts + 1):
        try:
            return call(), n
        except (SalesforceGeneralError, SalesforceRefusedRequest) as e:
            if e.status not in (429, 503) or n == attempts:
                raise
            time.sleep(0.01)
    raise AssertionError("unreachable")


def admin(sb: Sandbox, method: str, path: str, body: Any = None) -> Any:
    r = requests.request(
        method,
        f"{sb.salesforce_url}/__sandbox__/salesforce/{path}",
        json=body,
        verify=sb.ca_bundle,
        timeout=10,
    )
    r.raise_for_status()
    return r.json()


# --- authentication ----------------------------------------------------------------------------
def test_soap_login_from_the_connection_reaches_the_emulator(sandbox: Sandbox, sf: Salesforce) -> None:
    assert sf.sf_instance == netloc(sandbox)
    assert sf.base_url == f"{sandbox.salesforce_url}/services/data/v59.0/"
    assert sandbox.counters()["salesforce"]["routes"]["login.root"] == 1
    assert sf.query("SELECT Id, Email FROM User")["totalSize"] == 1


def test_oauth_password_connection(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    set_connection(
        monkeypatch,
        "sf_oauth",
        {
            "login": DEMO.sf_username,
            "password": DEMO.sf_password,
            "extra": {
                "consumer_key": DEMO.sf_consumer_key,
                "consumer_secret": DEMO.sf_consumer_secret,
                "domain": f"{netloc(sandbox)}#",
            },
        },
    )
    sf = connect("sf_oauth")
    assert sf.auth_type == "password"
    assert sf.query("SELECT Username FROM User")["records"][0]["Username"] == DEMO.sf_username


def test_oauth_client_credentials_connection(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    set_connection(
        monkeypatch,
        "sf_cc",
        {
            "extra": {
                "consumer_key": DEMO.sf_consumer_key,
                "consumer_secret": DEMO.sf_consumer_secret,
                "domain": f"{netloc(sandbox)}#",
            }
        },
    )
    sf = connect("sf_cc")
    assert sf.auth_type == "client-credentials"
    assert sf.describe()["maxBatchSize"] == 200

    set_connection(
        monkeypatch,
        "sf_cc_bad",
        {
            "extra": {
                "consumer_key": DEMO.sf_consumer_key,
                "consumer_secret": "wrong",
                "domain": f"{netloc(sandbox)}#",
            }
        },
    )
    with pytest.raises(SalesforceAuthenticationFailed) as e:
        connect("sf_cc_bad")
    assert e.value.code == "invalid_client"


def test_jwt_bearer_connection(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    set_connection(
        monkeypatch,
        "sf_jwt",
        {
            "login": DEMO.sf_username,
            "extra": {
                "consumer_key": DEMO.sf_consumer_key,
                "private_key": pem,
                "domain": f"{netloc(sandbox)}#",
            },
        },
    )
    sf = connect("sf_jwt")
    assert sf.auth_type == "jwt-bearer"
    assert sf.query("SELECT COUNT() FROM User")["totalSize"] == 1

    set_connection(
        monkeypatch,
        "sf_jwt_bad",
        {
            "login": DEMO.sf_username,
            "extra": {"consumer_key": "someone-else", "private_key": pem, "domain": f"{netloc(sandbox)}#"},
        },
    )
    with pytest.raises(SalesforceAuthenticationFailed) as e:
        connect("sf_jwt_bad")
    assert e.value.code == "invalid_client_id"


def test_wrong_password_is_a_soap_login_fault(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    set_connection(
        monkeypatch,
        "sf_bad",
        {
            "login": DEMO.sf_username,
            "password": "nope",
            "extra": {"security_token": "x", "domain": f"{netloc(sandbox)}#"},
        },
    )
    with pytest.raises(SalesforceAuthenticationFailed) as e:
        connect("sf_bad")
    assert e.value.code == "INVALID_LOGIN"


def test_expired_session_relogs_in_and_direct_session_sees_401(
    sandbox: Sandbox, sf: Salesforce, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = sf.session_id
    admin(sandbox, "POST", "tokens/expire")
    # A client with a login flow re-logs in on INVALID_SESSION_ID and retries: the caller sees nothing.
    assert sf.query("SELECT Id FROM User")["totalSize"] == 1
    assert sf.session_id != token
    assert sandbox.counters()["salesforce"]["routes"]["login.root"] == 2

    set_connection(monkeypatch, "sf_direct", {"extra": {"instance_url": sandbox.salesforce_url}})
    direct = connect("sf_direct", session_id=sf.session_id)
    assert direct.query("SELECT Id FROM User")["totalSize"] == 1
    admin(sandbox, "POST", "tokens/expire")
    with pytest.raises(SalesforceExpiredSession) as e:
        direct.query("SELECT Id FROM User")
    assert e.value.content == [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]


# --- describe ------------------------------------------------------------------------------------
def _recorded(name: str) -> dict[str, Any]:
    doc = yaml.safe_load((RECORDED / f"GET_sobjects_{name}_describe.yaml").read_text())
    return json.loads(doc["response"]["body"]["string"])


def test_describe_has_the_recorded_shape(sf: Salesforce) -> None:
    real_event, real_global = _recorded("Event"), _recorded("Global")
    ev = sf.Event.describe()
    assert set(ev) == set(real_event)
    real_keys = set(real_event["fields"][0])
    assert all(set(f) == real_keys for f in ev["fields"])
    assert ev["keyPrefix"] == "00U" and ev["label"] == "Event" and ev["labelPlural"] == "Events"
    fields = {f["name"]: f for f in ev["fields"]}
    real_fields = {f["name"]: f for f in real_event["fields"]}
    for name in (
        "Subject",
        "StartDateTime",
        "EndDateTime",
        "WhoId",
        "OwnerId",
        "ShowAs",
        "IsAllDayEvent",
        "DurationInMinutes",
        "SystemModstamp",
        "IsDeleted",
    ):
        for attr in (
            "type",
            "soapType",
            "nillable",
            "createable",
            "updateable",
            "referenceTo",
            "relationshipName",
            "length",
            "byteLength",
        ):
            assert fields[name][attr] == real_fields[name][attr], (name, attr)
    ext = fields["CalSync_Event_Id__c"]
    assert (ext["externalId"], ext["unique"], ext["custom"], ext["length"]) == (True, True, True, 255)
    assert {"childSObject": "EventRelation", "field": "EventId"}.items() <= next(
        c for c in ev["childRelationships"] if c["childSObject"] == "EventRelation"
    ).items()

    glob = sf.describe()
    assert set(glob) == set(real_global)
    names = {o["name"]: o for o in glob["sobjects"]}
    assert set(names["Event"]) == set(real_global["sobjects"][0])
    assert names["Site_Visit__c"]["custom"] and names["Site_Visit__c"]["keyPrefix"].startswith("a0")
    assert sf.Project_Milestone__c.metadata()["objectDescribe"]["name"] == "Project_Milestone__c"


# --- SOQL ----------------------------------------------------------------------------------------
def test_query_all_pages_past_2000_rows(sandbox: Sandbox, sf: Salesforce) -> None:
    bulk_insert_events(sf, 2500)
    first = sf.query("SELECT Id, Subject FROM Event")
    assert (first["totalSize"], first["done"], len(first["records"])) == (2500, False, 2000)
    assert first["nextRecordsUrl"].startswith("/services/data/v59.0/query/")
    t0 = time.perf_counter()
    everything = sf.query_all("SELECT Id, Subject, Owner.Email FROM Event ORDER BY Subject")
    assert time.perf_counter() - t0 < 2.0
    assert len({r["Id"] for r in everything["records"]}) == 2500
    assert everything["records"][0]["Owner"]["Email"] == DEMO.sf_username
    small = sf.query("SELECT Id FROM Event", headers={"Sforce-Query-Options": "batchSize=500"})
    assert len(small["records"]) == 500


def test_soql_filters_ordering_and_date_literals(sandbox: Sandbox, sf: Salesforce) -> None:
    now = sandbox.hub.clock.now()
    for i, (subject, days, loc) in enumerate(
        [
            ("Alpha call", 0, "Madrid"),
            ("Beta review", 3, None),
            ("Gamma visit", -2, "Paris"),
            ("alpha sync", 40, "Berlin"),
        ]
    ):
        start = (now + timedelta(days=days)).replace(hour=10, minute=0, second=0, microsecond=0)
        sf.Event.create(
            {
                "Subject": subject,
                "StartDateTime": start.isoformat(),
                "DurationInMinutes": 60,
                "Location": loc,
                "CalSync_Event_Id__c": f"k{i}",
            }
        )

    def subjects(where: str, order: str = "ORDER BY Subject") -> list[str]:
        return [r["Subject"] for r in sf.query(f"SELECT Subject FROM Event WHERE {where} {order}")["records"]]

    assert subjects("Subject LIKE 'alpha%'") == ["Alpha call", "alpha sync"]
    assert subjects("StartDateTime = TODAY") == ["Alpha call"]
    assert subjects("StartDateTime = NEXT_N_DAYS:7") == ["Beta review"]
    assert subjects("StartDateTime = LAST_N_DAYS:7") == ["Alpha call", "Gamma visit"]
    assert subjects("(Location = null OR Location IN ('Paris')) AND NOT Subject LIKE 'Beta%'") == [
        "Gamma visit"
    ]
    assert subjects("CalSync_Event_Id__c NOT IN ('k0', 'k1') AND IsDeleted = false") == [
        "alpha sync",
        "Gamma visit",
    ]
    later = (now + timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert subjects(f"StartDateTime > {later}") == ["alpha sync"]
    assert subjects("ActivityDate >= TODAY", "ORDER BY StartDateTime DESC LIMIT 2") == [
        "alpha sync",
        "Beta review",
    ]
    assert subjects("Id != null", "ORDER BY Location DESC NULLS LAST LIMIT 2 OFFSET 1") == [
        "Alpha call",
        "alpha sync",
    ]
    rows = sf.query("SELECT Location FROM Event ORDER BY Location ASC NULLS FIRST")["records"]
    assert [r["Location"] for r in rows] == [None, "Berlin", "Madrid", "Paris"]
    assert sf.query("SELECT COUNT() FROM Event WHERE Subject LIKE '%a%'")["totalSize"] == 4
    assert "Alpha call" in subjects("StartDateTime = THIS_WEEK")
    assert sf.query("SELECT COUNT() FROM Event WHERE CreatedDate = THIS_MONTH")["totalSize"] == 4
    with pytest.raises(SalesforceMalformedRequest) as e:
        sf.query("SELECT Id FROM Event WHERE Subject INCLUDES ('a')")
    assert error_code(e.value) == "INVALID_QUERY_FILTER_OPERATOR"


def test_event_attendees_through_a_relationship_query(sandbox: Sandbox, sf: Salesforce) -> None:
    contact = sf.Contact.create({"FirstName": "Lucia", "LastName": "Garcia", "Email": "lucia@acme.example"})[
        "id"
    ]
    lead = sf.Lead.create({"LastName": "Khan", "Company": "Globex", "Email": "khan@globex.example"})["id"]
    ev = sf.Event.create(event(1, WhoId=contact))["id"]
    for who in (contact, lead):
        sf.EventRelation.create({"EventId": ev, "RelationId": who, "IsInvitee": True})
    rows = sf.query_all(
        f"SELECT EventId, RelationId, Relation.Email, Relation.Name, Status FROM EventRelation "
        f"WHERE EventId IN ('{ev}')"
    )["records"]
    assert sorted(r["Relation"]["Email"] for r in rows) == ["khan@globex.example", "lucia@acme.example"]
    assert {r["Status"] for r in rows} == {"New"}
    who = sf.query(f"SELECT Who.Name, Who.Type FROM Event WHERE Id = '{ev}'")["records"][0]
    assert who["Who"]["Name"] == "Lucia Garcia" and who["Who"]["Type"] == "Contact"
    with pytest.raises(SalesforceMalformedRequest):  # Event.Owner is polymorphic: only Name fields
        sf.query("SELECT Owner.TimeZoneSidKey FROM Event")
    sf.Event.delete(ev)  # cascades to the attendees, as in a real org
    assert sf.query(f"SELECT COUNT() FROM EventRelation WHERE EventId = '{ev}'")["totalSize"] == 0


# --- records -------------------------------------------------------------------------------------
def test_crud_system_fields_and_query_all_shows_deleted(sandbox: Sandbox, sf: Salesforce) -> None:
    created = sf.Event.create(event(1, CalSync_Event_Id__c="graph-1"))
    rid = created["id"]
    assert created["success"] and rid.startswith("00U") and len(rid) == 18
    rec = sf.Event.get(rid)
    assert rec["OwnerId"] == rec["CreatedById"] == rec["LastModifiedById"]
    assert rec["DurationInMinutes"] == 30 and rec["ActivityDate"] == "2026-12-01"
    assert len(rec["SystemModstamp"]) == 28 and rec["SystemModstamp"].endswith("+0000")
    assert sf.Event.update(rid, {"Subject": "Moved", "EndDateTime": "2026-12-01T11:00:00Z"}) == 204
    assert sf.Event.get(rid)["DurationInMinutes"] == 60
    assert sf.Event.get_by_custom_id("CalSync_Event_Id__c", "graph-1")["Id"] == rid
    assert sf.Event.delete(rid) == 204
    with pytest.raises(SalesforceResourceNotFound) as e:
        sf.Event.get(rid)
    assert error_code(e.value) == "ENTITY_IS_DELETED"
    assert sf.query("SELECT COUNT() FROM Event")["totalSize"] == 0
    rows = sf.query_all("SELECT Id, IsDeleted FROM Event", include_deleted=True)["records"]
    assert [(r["Id"], r["IsDeleted"]) for r in rows] == [(rid, True)]


def test_upsert_by_external_id(sandbox: Sandbox, sf: Salesforce) -> None:
    assert sf.Event.upsert("CalSync_Event_Id__c/AAMk-1", event(1)) == 201
    resp = sf.Event.upsert("CalSync_Event_Id__c/AAMk-1", {"Subject": "Renamed"}, raw_response=True)
    assert resp.status_code == 200 and resp.json()["created"] is False
    assert sf.query("SELECT Subject FROM Event")["records"][0]["Subject"] == "Renamed"
    for i in range(2):
        sf.Account.create({"Name": f"Acme {i}", "Legacy_Key__c": "SAME"})
    with pytest.raises(SalesforceMoreThanOneRecord):
        sf.Account.upsert("Legacy_Key__c/SAME", {"Phone": "1"})
    with pytest.raises(SalesforceMalformedRequest) as e:
        sf.Event.upsert("Subject/x", {"Location": "y"})
    assert error_code(e.value) == "INVALID_FIELD"


def test_errors_have_salesforce_codes(sandbox: Sandbox, sf: Salesforce) -> None:
    with pytest.raises(SalesforceMalformedRequest) as e:
        sf.query("SELECT Id FRM Event")
    assert (
        error_code(e.value) == "MALFORMED_QUERY"
        and "ERROR at Row:1:Column:11" in e.value.content[0]["message"]
    )
    with pytest.raises(SalesforceMalformedRequest) as e:
        sf.query("SELECT Id, Foo FROM Event")
    assert error_code(e.value) == "INVALID_FIELD"
    assert "No such column 'Foo' on entity 'Event'" in e.value.content[0]["message"]
    with pytest.raises(SalesforceMalformedRequest) as e:
        sf.query("SELECT Id FROM Event WHERE StartDateTime > '2026-01-01'")
    assert error_code(e.value) == "INVALID_FIELD"
    with pytest.raises(SalesforceMalformedRequest) as e:
        sf.query("SELECT Id FROM Meeting__c")
    assert error_code(e.value) == "INVALID_TYPE"
    with pytest.raises(SalesforceResourceNotFound) as e:
        sf.Event.get("00U000000000000")
    assert error_code(e.value) == "NOT_FOUND"
    with pytest.raises(SalesforceMalformedRequest) as e:
        sf.Event.get("0018c000000001XAAQ")
    assert error_code(e.value) == "MALFORMED_ID"
    with pytest.raises(SalesforceMalformedRequest) as e:
        sf.Contact.create({"FirstName": "No last name"})
    assert error_code(e.value) == "REQUIRED_FIELD_MISSING" and e.value.content[0]["fields"] == ["LastName"]
    with pytest.raises(SalesforceMalformedRequest) as e:
        sf.Event.create(event(1, Subject="x" * 256))
    assert error_code(e.value) == "STRING_TOO_LONG"
    with pytest.raises(SalesforceMalformedRequest) as e:
        sf.Event.create(event(1, CreatedDate="2020-01-01T00:00:00Z"))
    assert error_code(e.value) == "INVALID_FIELD_FOR_INSERT_UPDATE"
    sf.Event.create(event(1, CalSync_Event_Id__c="dup"))
    with pytest.raises(SalesforceMalformedRequest) as e:
        sf.Event.create(event(2, CalSync_Event_Id__c="DUP"))
    assert error_code(e.value) == "DUPLICATE_VALUE"
    with pytest.raises(SalesforceMalformedRequest) as e:
        sf.Event.create(event(1, ShowAs="Maybe"))
    assert error_code(e.value) == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"


def test_emulator_bug_is_an_unknown_exception_without_traceback(
    sandbox: Sandbox, sf: Salesforce, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*a: Any, **k: Any) -> None:
        raise RuntimeError("boom in emulator")

    monkeypatch.setattr(sandbox.salesforce.org, "run_query", broken)
    with pytest.raises(SalesforceGeneralError) as e:
        sf.query("SELECT Id FROM Event")
    assert e.value.status == 500 and error_code(e.value) == "UNKNOWN_EXCEPTION"
    assert "Traceback" not in json.dumps(e.value.content) and "boom" not in json.dumps(e.value.content)


# --- change feeds --------------------------------------------------------------------------------
def test_updated_and_deleted_endpoints(sandbox: Sandbox, sf: Salesforce) -> None:
    start = sandbox.hub.clock.now() - timedelta(minutes=5)
    keep = sf.Event.create(event(1))["id"]
    gone = sf.Event.create(event(2))["id"]
    sf.Event.delete(gone)
    sandbox.hub.clock.advance(120)  # latestDateCovered is rounded down to the minute
    end = sandbox.hub.clock.now() + timedelta(minutes=1)
    updated = sf.Event.updated(start, end)
    assert updated["ids"] == [keep] and updated["latestDateCovered"].endswith(":00.000+0000")
    deleted = sf.Event.deleted(start, end)
    assert [d["id"] for d in deleted["deletedRecords"]] == [gone]
    assert set(deleted) == {"deletedRecords", "earliestDateAvailable", "latestDateCovered"}
    with pytest.raises(SalesforceMalformedRequest) as e:
        sf.Event.updated(start - timedelta(days=31), end)
    assert error_code(e.value) == "INVALID_REPLICATION_DATE"


def test_admin_edit_as_a_person_sets_modifier_and_time(sandbox: Sandbox, sf: Salesforce) -> None:
    sandbox.seed_demo(records_per_object=0)
    rid = sf.Event.create(event(1))["id"]
    at = "2026-11-20T08:15:00Z"
    admin(
        sandbox,
        "PATCH",
        f"records/Event/{rid}",
        {"fields": {"Subject": "Edited by Ana"}, "user": "ana.lopez@calsync-demo.example", "at": at},
    )
    rec = sf.query(f"SELECT Subject, LastModifiedBy.Email, SystemModstamp FROM Event WHERE Id = '{rid}'")
    row = rec["records"][0]
    assert (
        row["Subject"] == "Edited by Ana"
        and row["LastModifiedBy"]["Email"] == "ana.lopez@calsync-demo.example"
    )
    assert row["SystemModstamp"] == "2026-11-20T08:15:00.000+0000"
    listed = admin(sandbox, "GET", "records/Event")
    assert [r["Id"] for r in listed] == [rid]


# --- collections and bulk ------------------------------------------------------------------------
def test_collections_upsert_200_and_all_or_none_rollback(sandbox: Sandbox, sf: Salesforce) -> None:
    records = [
        {"attributes": {"type": "Event"}, "CalSync_Event_Id__c": f"graph-{i}", **event(i)} for i in range(200)
    ]
    res = sf.restful(
        "composite/sobjects/Event/CalSync_Event_Id__c",
        method="PATCH",
        json={"allOrNone": False, "records": records},
    )
    assert len(res) == 200 and all(r["success"] and r["created"] for r in res)
    for r in records:
        r["Subject"] = "Updated"
    res = sf.restful(
        "composite/sobjects/Event/CalSync_Event_Id__c",
        method="PATCH",
        json={"allOrNone": False, "records": records},
    )
    assert all(r["success"] and r["created"] is False for r in res)
    assert sf.query("SELECT COUNT() FROM Event WHERE Subject = 'Updated'")["totalSize"] == 200

    batch = [{"attributes": {"type": "Event"}, **event(1)}, {"attributes": {"type": "Event"}, "Subject": "x"}]
    res = sf.restful("composite/sobjects", method="POST", json={"allOrNone": True, "records": batch})
    assert [r["success"] for r in res] == [False, False]
    assert res[0]["errors"][0]["statusCode"] == "ALL_OR_NONE_OPERATION_ROLLED_BACK"
    assert res[1]["errors"][0]["statusCode"] == "REQUIRED_FIELD_MISSING"
    assert sf.query("SELECT COUNT() FROM Event")["totalSize"] == 200
    res = sf.restful("composite/sobjects", method="POST", json={"allOrNone": False, "records": batch})
    assert [r["success"] for r in res] == [True, False] and "id" not in res[1]
    ids = [res[0]["id"], "00U8c00000000zzAAA"]
    res = sf.restful(
        "composite/sobjects", method="DELETE", params={"ids": ",".join(ids), "allOrNone": "false"}
    )
    assert [r["success"] for r in res] == [True, False]
    odd = [{"attributes": {"type": "Meeting__c"}, "Name": "x"}, {"attributes": {"type": "Event"}, **event(3)}]
    res = sf.restful("composite/sobjects", method="POST", json={"allOrNone": False, "records": odd})
    assert res[0]["errors"][0]["statusCode"] == "INVALID_TYPE" and res[1]["success"]
    with pytest.raises(SalesforceMalformedRequest) as e:
        sf.restful("composite/sobjects", method="POST", json={"records": records + records[:1]})
    assert error_code(e.value) == "EXCEEDED_ID_LIMIT"


def test_bulk2_query_of_10000_rows(sandbox: Sandbox, sf: Salesforce) -> None:
    bulk_insert_events(sf, 10_000)
    t0 = time.perf_counter()
    pages = list(
        sf.bulk2.Event.query(
            "SELECT Id, Subject, Owner.Email, IsDeleted, StartDateTime FROM Event", max_records=4000, wait=0
        )
    )
    assert time.perf_counter() - t0 < 5.0
    assert len(pages) == 3
    rows = [row for page in pages for row in csv.DictReader(io.StringIO(page))]
    assert len(rows) == 10_000 and len({r["Id"] for r in rows}) == 10_000
    assert rows[0]["Owner.Email"] == DEMO.sf_username and rows[0]["IsDeleted"] == "false"
    assert rows[0]["StartDateTime"].endswith(".000Z")  # Bulk CSV writes UTC with Z
    assert pages[0].startswith('"Id","Subject","Owner.Email","IsDeleted","StartDateTime"\n"00U')


def test_bulk2_ingest_insert_upsert_delete_and_results(sandbox: Sandbox, sf: Salesforce) -> None:
    rows = [
        {"Name": f"Visit {i}", "CalSync_Event_Id__c": f"v-{i}", "Visit_Start__c": "2026-12-01T10:00:00Z"}
        for i in range(50)
    ]
    res = sf.bulk2.Site_Visit__c.insert(records=rows, wait=0)
    assert res[0]["numberRecordsProcessed"] == 50 and res[0]["numberRecordsFailed"] == 0

    upserts = [{"CalSync_Event_Id__c": f"v-{i}", "Name": f"Visit {i} (moved)"} for i in range(45, 55)]
    upserts.append({"CalSync_Event_Id__c": "v-bad", "Name": "n" * 81})
    res = sf.bulk2.Site_Visit__c.upsert(records=upserts, external_id_field="CalSync_Event_Id__c", wait=0)
    assert res[0]["numberRecordsProcessed"] == 11 and res[0]["numberRecordsFailed"] == 1
    job = res[0]["job_id"]
    ok_rows = list(csv.DictReader(io.StringIO(sf.bulk2.Site_Visit__c.get_successful_records(job))))
    assert sorted(r["sf__Created"] for r in ok_rows) == ["false"] * 5 + ["true"] * 5
    failed = list(csv.DictReader(io.StringIO(sf.bulk2.Site_Visit__c.get_failed_records(job))))
    assert failed[0]["sf__Error"].startswith("STRING_TOO_LONG")
    unprocessed = sf.bulk2.Site_Visit__c.get_unprocessed_records(job)
    assert len(unprocessed.strip().splitlines()) == 1  # the header only: every row was processed
    assert sf.query("SELECT COUNT() FROM Site_Visit__c")["totalSize"] == 55

    ids = [{"Id": r["Id"]} for r in sf.query("SELECT Id FROM Site_Visit__c LIMIT 5")["records"]]
    res = sf.bulk2.Site_Visit__c.delete(records=ids, wait=0)
    assert res[0]["numberRecordsProcessed"] == 5
    assert sf.query("SELECT COUNT() FROM Site_Visit__c")["totalSize"] == 50


# --- limits and faults ---------------------------------------------------------------------------
def test_limits_header_and_request_limit(sandbox: Sandbox, sf: Salesforce) -> None:
    limits = sf.limits()
    used, total = sf.api_usage["api-usage"]
    assert total == limits["DailyApiRequests"]["Max"] == 15000
    assert limits["DailyApiRequests"]["Remaining"] == total - used
    sf.query("SELECT Id FROM User")
    assert sf.api_usage["api-usage"].used == used + 1
    admin(sandbox, "POST", "limits", {"remaining": 0})
    with pytest.raises(SalesforceRefusedRequest) as e:
        sf.query("SELECT Id FROM User")
    assert error_code(e.value) == "REQUEST_LIMIT_EXCEEDED"


def test_a_429_and_503_storm_is_survived_by_a_retrying_caller(sandbox: Sandbox, sf: Salesforce) -> None:
    def storm(status: int, times: int) -> None:
        sandbox.hub.faults.configure(
            {
                "rules": [
                    {
                        "kind": "error",
                        "api": "salesforce",
                        "path": "^query$",
                        "status": status,
                        "retry_after": 1,
                        "remaining": times,
                    }
                ]
            }
        )

    storm(429, 2)
    with pytest.raises(SalesforceGeneralError) as e:
        sf.query("SELECT Id FROM User")  # simple-salesforce itself does not retry
    assert e.value.status == 429 and error_code(e.value) == "REQUEST_LIMIT_EXCEEDED"
    result, attempts = with_retries(lambda: sf.query("SELECT Id FROM User"))
    assert result["totalSize"] == 1 and attempts == 2
    storm(503, 3)
    result, attempts = with_retries(lambda: sf.query("SELECT Id FROM User"))
    assert result["totalSize"] == 1 and attempts == 4
    raw = requests.get(
        f"{sandbox.salesforce_url}/services/data/v59.0/query/?q=SELECT+Id+FROM+User",
        headers={"Authorization": f"Bearer {sf.session_id}"},
        verify=sandbox.ca_bundle,
        timeout=10,
    )
    assert raw.status_code == 200  # the storm is over


def test_connection_dropped_after_commit_leaves_the_record(sandbox: Sandbox, sf: Salesforce) -> None:
    sandbox.hub.faults.configure(
        {
            "rules": [
                {
                    "kind": "drop_after_commit",
                    "api": "salesforce",
                    "method": "POST",
                    "path": "sobject.create",
                    "remaining": 1,
                }
            ]
        }
    )
    with pytest.raises(requests.exceptions.ConnectionError):
        sf.Event.create(event(1, CalSync_Event_Id__c="retry-safe-1"))
    # The retry an engine would send: an upsert on the key finds the committed record.
    assert sf.Event.upsert("CalSync_Event_Id__c/retry-safe-1", event(1)) in (200, 204)
    assert sf.query("SELECT COUNT() FROM Event")["totalSize"] == 1


# --- demo data -----------------------------------------------------------------------------------
def test_seed_demo_counts_users_and_invalid_rows(sandbox: Sandbox, sf: Salesforce) -> None:
    counts = sandbox.seed_demo(records_per_object=60, seed=3)
    assert counts["Event"] == counts["Site_Visit__c"] == counts["Project_Milestone__c"] == 60
    assert counts["EventRelation"] > 0 and counts["invalid"]
    users = sf.query(
        "SELECT Email, TimeZoneSidKey, IsActive, Name FROM User WHERE Email LIKE '%@calsync-demo.example' "
        "AND IsActive = true"
    )["records"]
    assert 4 <= len(users) <= 7
    assert any(
        u["Email"] == "ana.lopez@calsync-demo.example" and u["TimeZoneSidKey"] == "Europe/Madrid"
        for u in users
    )
    no_start = sf.query("SELECT COUNT() FROM Site_Visit__c WHERE Visit_Start__c = null")["totalSize"]
    assert no_start == counts["invalid"]["Site_Visit__c: no start"] > 0
    assert sf.query("SELECT COUNT() FROM Event WHERE IsRecurrence = true")["totalSize"] > 0
    again = sandbox.seed_demo(records_per_object=60, seed=3)
    assert again["User"] == counts["User"]  # users are not duplicated by a second seed
    if hasattr(sandbox.graph, "tenant"):
        assert counts["mailboxes"] == 5
