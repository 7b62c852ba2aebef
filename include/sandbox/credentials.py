"""The sandbox's demo credentials. They open nothing but the local emulators.

They are printed by ``calsync sandbox env`` inside connection URIs because that is how Airflow reads
connections; the emulators accept exactly these values and refuse others, so tests can check the
real clients' error paths (INVALID_LOGIN, invalid_client).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DemoCredentials:
    sf_username: str = "admin@calsync-demo.example"
    sf_password: str = "calsync-demo"
    sf_security_token: str = "SANDBOXTOKEN"
    sf_consumer_key: str = "calsync-sandbox-consumer-key"
    sf_consumer_secret: str = "calsync-sandbox-consumer-secret"
    sf_org_id: str = "00D000000000CALAAA"
    graph_tenant_id: str = "calsync-sandbox-tenant"
    graph_client_id: str = "calsync-sandbox-client"
    graph_client_secret: str = "calsync-sandbox-secret"


DEMO = DemoCredentials()
