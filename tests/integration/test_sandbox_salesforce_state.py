"""The Salesforce emulator's state: snapshots, concurrent clients, Bulk job lifecycle, admin schema."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceMalformedRequest, SalesforceResourceNotFound

from sandbox.runner import Sandbox


@pytest.fixture
def sf(sandbox: Sandbox) -> Salesforce:
    from airflow.providers.salesforce.hooks.salesforce import SalesforceHook

    return SalesforceHook(salesforce_conn_id="salesforce_default").get_conn()


def test_snapshot_round_trip_keeps_records_and_deletions(sandbox: Sandbox, sf: Salesforce) -> None:
    sandbox.seed_demo(records_per_object=20, seed=1)
    gone = sf.query("SELECT Id FROM Event LIMIT 1")["records"][0]["Id"]
    sf.Event.delete(gone)
    snap = json.loads(json.dumps(sandbox.snapshot()))  # what `sandbox down` writes to disk
    before = sf.query_all("SELECT Id, Subject, Owner.Email FROM Event", include_deleted=True)["records"]
    sandbox.reset()
    assert sf.query("SELECT COUNT() FROM Event")["totalSize"] == 0
    sandbox.restore(snap)
    after = connect_again().query_all("SELECT Id, Subject, Owner.Email FROM Event", include_deleted=True)
    assert after["records"] == before
    with pytest.raises(SalesforceResourceNotFound):
        connect_again().Event.get(gone)


def connect_again() -> Salesforce:
    from airflow.providers.salesforce.hooks.salesforce import SalesforceHook

    return SalesforceHook(salesforce_conn_id="salesforce_default").get_conn()


def test_concurrent_clients_do_not_lose_writes(sandbox: Sandbox, sf: Salesforce) -> None:
    def create(i: int) -> str:
        return sf.Event.create(
            {
                "Subject": f"c{i}",
                "StartDateTime": "2026-12-01T10:00:00Z",
                "DurationInMinutes": 30,
                "CalSync_Event_Id__c": f"c-{i}",
            }
        )["id"]

    with ThreadPoolExecutor(max_workers=8) as pool:
        ids = list(pool.map(create, range(80)))
    assert len(set(ids)) == 80
    assert sf.query("SELECT COUNT() FROM Event")["totalSize"] == 80


def test_bulk_job_abort_delete_and_bad_jobs(sandbox: Sandbox, sf: Salesforce) -> None:
    client = sf.bulk2.Event._client
    job = client.create_job("insert")
    assert job["state"] == "Open" and job["object"] == "Event"
    assert client.abort_job(job["id"], False)["state"] == "Aborted"
    url = f"{sf.bulk2_url}ingest/{job['id']}"
    resp = requests.delete(
        url, headers={"Authorization": f"Bearer {sf.session_id}"}, verify=sandbox.ca_bundle, timeout=10
    )
    assert resp.status_code == 204 and resp.content == b""
    with pytest.raises(SalesforceResourceNotFound):
        client.get_job(job["id"], False)
    with pytest.raises(SalesforceMalformedRequest) as e:
        client.create_job("query", query="SELECT Nope FROM Event")
    assert e.value.content[0]["errorCode"] == "INVALID_FIELD"
    query_job = client.create_job("query", query="SELECT Id FROM Event")
    assert client.get_job(query_job["id"], True)["state"] == "JobComplete"


def test_admin_schema_adds_an_object_users_can_describe(sandbox: Sandbox, sf: Salesforce) -> None:
    spec = {
        "objects": {
            "Training__c": {
                "keyPrefix": "a0Z",
                "label": "Training",
                "custom": True,
                "fields": {
                    "Name": {"type": "string", "length": 80, "nameField": True},
                    "Session_Start__c": {"type": "datetime"},
                    "OwnerId": {
                        "type": "reference",
                        "referenceTo": ["User"],
                        "relationshipName": "Owner",
                        "nillable": False,
                        "defaultedOnCreate": True,
                    },
                },
            }
        }
    }
    r = requests.post(
        f"{sandbox.salesforce_url}/__sandbox__/salesforce/schema",
        json=spec,
        verify=sandbox.ca_bundle,
        timeout=10,
    )
    assert r.json() == {"objects": ["Training__c"]}
    fields = {f["name"] for f in sf.Training__c.describe()["fields"]}
    assert {"Id", "Name", "Session_Start__c", "OwnerId", "SystemModstamp"} <= fields
    rid = sf.Training__c.create({"Name": "Onboarding", "Session_Start__c": "2026-12-01T09:00:00+01:00"})["id"]
    assert rid.startswith("a0Z")
    assert sf.Training__c.get(rid)["Session_Start__c"] == "2026-12-01T08:00:00.000+0000"
