"""The environment that points Airflow's hooks (and so calsync) at a running sandbox.

The connections are the ones a user would define for a real org and tenant; only host, domain,
authority and CA trust differ (reference/emulators.md section 9.7, recipes 6 and 9).
"""

from __future__ import annotations

import json
import urllib.parse
from typing import Protocol

from sandbox.credentials import DEMO


class _Addresses(Protocol):
    salesforce_url: str
    graph_url: str
    identity_url: str
    ca_bundle: str


def salesforce_connection(salesforce_url: str) -> dict[str, object]:
    netloc = urllib.parse.urlsplit(salesforce_url).netloc
    # simple-salesforce builds https://{domain}.salesforce.com/...; the '#' turns the suffix into a
    # fragment that is never sent, so the login POST reaches the emulator at "/".
    return {
        "conn_type": "salesforce",
        "login": DEMO.sf_username,
        "password": DEMO.sf_password,
        "extra": {"security_token": DEMO.sf_security_token, "domain": f"{netloc}#"},
    }


def msgraph_connection(graph_url: str, identity_url: str, ca_bundle: str) -> dict[str, object]:
    netloc = urllib.parse.urlsplit(graph_url).netloc
    return {
        "conn_type": "msgraph",
        "login": DEMO.graph_client_id,
        "password": DEMO.graph_client_secret,
        "schema": "http",
        "host": netloc,  # the hook never reads connection.port: the port goes in host
        "extra": {
            "tenant_id": DEMO.graph_tenant_id,
            "authority": identity_url,
            "allowed_hosts": "127.0.0.1",
            "verify": ca_bundle,
            "api_version": "v1.0",
        },
    }


def sandbox_env(sb: _Addresses) -> dict[str, str]:
    return {
        "AIRFLOW_CONN_SALESFORCE_DEFAULT": json.dumps(salesforce_connection(sb.salesforce_url)),
        "AIRFLOW_CONN_MSGRAPH_DEFAULT": json.dumps(
            msgraph_connection(sb.graph_url, sb.identity_url, sb.ca_bundle)),
        "REQUESTS_CA_BUNDLE": sb.ca_bundle,
        "CALSYNC_SANDBOX_SALESFORCE_URL": sb.salesforce_url,
        "CALSYNC_SANDBOX_GRAPH_URL": sb.graph_url,
        "CALSYNC_SANDBOX_IDENTITY_URL": sb.identity_url,
        "CALSYNC_SANDBOX_CA_BUNDLE": sb.ca_bundle,
    }
