"""A throw-away certificate authority for the sandbox's TLS servers.

simple-salesforce always speaks https, and azure-identity refuses a plain-http token endpoint, so
the Salesforce emulator and the Entra-style token endpoint serve TLS with a leaf certificate from a
CA made at start-up. The CA file is written where clients can be told to trust it
(REQUESTS_CA_BUNDLE, the msgraph connection's ``verify`` extra).
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path

import trustme

SERVER_NAMES = ("127.0.0.1", "localhost", "login.salesforce.com", "test.salesforce.com")


@dataclass
class SandboxTLS:
    ca_path: Path
    server_context: ssl.SSLContext


def make_tls(folder: Path) -> SandboxTLS:
    folder.mkdir(parents=True, exist_ok=True)
    ca = trustme.CA(organization_name="calsync sandbox")
    leaf = ca.issue_cert(*SERVER_NAMES)
    ca_path = folder / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_path))
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    leaf.configure_cert(ctx)
    return SandboxTLS(ca_path=ca_path, server_context=ctx)
