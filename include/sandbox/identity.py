"""An Entra ID (Azure AD) v2.0 token endpoint, served over TLS for the msgraph hook's
ClientSecretCredential: client_credentials only, the demo tenant and app only.

Tokens are HS256-signed JWTs (key derived from the demo secret, so a restarted sandbox still accepts
tokens it issued) that live 3599 s of real time (the client's cache times them on the real clock).
The Graph emulator asks :meth:`IdentityApp.check_token`; an admin can expire every token issued so far.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from sandbox.http import ADMIN_PREFIX, App, Request, Response

TOKEN_LIFETIME_S = 3599
GRAPH_AUDIENCE = "https://graph.microsoft.com"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class IdentityApp(App):
    name = "identity"

    def __init__(self, hub: Any) -> None:
        super().__init__(hub.faults)
        self.hub = hub
        creds = hub.credentials
        self._key = hashlib.sha256(f"calsync-sandbox-jwt|{creds.graph_client_secret}".encode()).digest()
        self._state_lock = threading.Lock()
        self.generation = 0  # tokens of an earlier generation are rejected (admin "expire tokens")
        self.issued = 0
        self.router.add("POST", "/{tenant}/oauth2/v2.0/token", self.token, "token")
        self.router.add("GET", "/{tenant}/v2.0/.well-known/openid-configuration", self.openid, "openid")
        self.router.add(
            "POST", f"{ADMIN_PREFIX}/identity/expire-tokens", self._admin_expire, "admin.identity.expire"
        )

    # lifecycle --------------------------------------------------------------------------------
    def reset(self) -> None:
        # The generation is kept: a token expired by an admin stays expired after a reset.
        with self._state_lock:
            self.issued = 0

    def snapshot(self) -> dict[str, Any]:
        return {"generation": self.generation}

    def restore(self, snap: dict[str, Any]) -> None:
        self.generation = int((snap or {}).get("generation", 0))

    def expire_tokens(self) -> None:
        """Every token issued so far becomes invalid; Graph answers 401 until a new one is fetched."""
        with self._state_lock:
            self.generation += 1

    # hooks ------------------------------------------------------------------------------------
    def not_found(self, req: Request) -> Response:
        return self._aad_error(
            req, 404, "invalid_request", 900561, "The endpoint only accepts POST requests or is unknown."
        )

    def on_error(self, req: Request, exc: Exception) -> Response:
        return self._aad_error(req, 500, "server_error", 90000, "An unexpected error occurred.")

    def throttle_response(self, req: Request, status: int, retry_after: int, code: str) -> Response:
        resp = self._aad_error(
            req, status, "temporarily_unavailable", 90033, "A transient error has occurred. Please try again."
        )
        resp.headers["Retry-After"] = str(max(1, retry_after))
        return resp

    # endpoints --------------------------------------------------------------------------------
    def token(self, req: Request) -> Response:
        creds = self.hub.credentials
        tenant = req.params["tenant"]
        form = req.form()
        if tenant != creds.graph_tenant_id:
            return self._aad_error(
                req,
                400,
                "invalid_request",
                90002,
                f"Tenant '{tenant}' not found. Check to make sure you have the correct tenant "
                "ID and are signing into the correct cloud.",
            )
        client_id, secret = form.get("client_id", ""), form.get("client_secret", "")
        basic = req.headers.get("authorization") or ""
        if not client_id and basic.lower().startswith("basic "):
            client_id, _, secret = base64.b64decode(basic[6:]).decode().partition(":")
        grant = form.get("grant_type", "")
        if grant != "client_credentials":
            return self._aad_error(
                req,
                400,
                "unsupported_grant_type",
                70003,
                f"The app requested an unsupported grant type '{grant}'.",
            )
        if not form.get("scope"):
            return self._aad_error(
                req,
                400,
                "invalid_request",
                90014,
                "The required field 'scope' is missing from the credential.",
            )
        if client_id != creds.graph_client_id:
            return self._aad_error(
                req,
                400,
                "unauthorized_client",
                700016,
                f"Application with identifier '{client_id}' was not found in the directory '{tenant}'.",
            )
        if not hmac.compare_digest(secret, creds.graph_client_secret):
            return self._aad_error(
                req,
                401,
                "invalid_client",
                7000215,
                "Invalid client secret provided. Ensure the secret being sent in the request is "
                f"the client secret value, not the client secret ID, for a secret added to app "
                f"'{client_id}'.",
            )
        return Response.json(
            {
                "token_type": "Bearer",
                "expires_in": TOKEN_LIFETIME_S,
                "ext_expires_in": TOKEN_LIFETIME_S,
                "access_token": self.issue(client_id, tenant),
            },
            content_type="application/json; charset=utf-8",
            headers={"Cache-Control": "no-store, no-cache", "Pragma": "no-cache"},
        )

    def openid(self, req: Request) -> Response:
        base = f"{req.base_url}/{req.params['tenant']}"
        return Response.json(
            {
                "token_endpoint": f"{base}/oauth2/v2.0/token",
                "token_endpoint_auth_methods_supported": [
                    "client_secret_post",
                    "private_key_jwt",
                    "client_secret_basic",
                ],
                "jwks_uri": f"{base}/discovery/v2.0/keys",
                "response_modes_supported": ["query", "fragment", "form_post"],
                "subject_types_supported": ["pairwise"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
                "scopes_supported": ["openid", "profile", "email", "offline_access"],
                "issuer": f"{base}/v2.0",
                "request_uri_parameter_supported": False,
                "userinfo_endpoint": f"{req.base_url}/oidc/userinfo",
                "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
                "http_logout_supported": True,
                "frontchannel_logout_supported": True,
                "end_session_endpoint": f"{base}/oauth2/v2.0/logout",
                "claims_supported": ["sub", "iss", "aud", "exp", "iat", "nbf", "tid", "ver"],
                "tenant_region_scope": "EU",
                "cloud_instance_name": "microsoftonline.com",
                "cloud_graph_host_name": "graph.windows.net",
                "msgraph_host": "graph.microsoft.com",
            },
            content_type="application/json; charset=utf-8",
        )

    def _admin_expire(self, req: Request) -> Response:
        self.expire_tokens()
        return Response.json({"generation": self.generation})

    # tokens -----------------------------------------------------------------------------------
    def _now(self) -> datetime:
        return self.hub.clock.now()

    def issue(self, client_id: str, tenant: str) -> str:
        # Token lifetimes run on the real clock, as the client's token cache does: moving the sandbox
        # clock forward (to age delta tokens or data) must not silently invalidate cached tokens.
        now = int(time.time())
        header = {"typ": "JWT", "alg": "HS256", "kid": "calsync-sandbox"}
        claims = {
            "aud": GRAPH_AUDIENCE,
            "iss": f"https://sts.windows.net/{tenant}/",
            "iat": now,
            "nbf": now,
            "exp": now + TOKEN_LIFETIME_S,
            "appid": client_id,
            "tid": tenant,
            "idtyp": "app",
            "roles": ["Calendars.ReadWrite", "MailboxSettings.ReadWrite", "User.Read.All"],
            "ver": "1.0",
            "uti": uuid.uuid4().hex,
            "gen": self.generation,
        }
        signing = _b64(json.dumps(header).encode()) + "." + _b64(json.dumps(claims).encode())
        with self._state_lock:
            self.issued += 1
        return signing + "." + _b64(hmac.new(self._key, signing.encode(), hashlib.sha256).digest())

    def check_token(self, token: str) -> str | None:
        """None when Graph should accept the bearer token, else the message Graph answers 401 with."""
        parts = token.split(".")
        if len(parts) != 3:
            return "IDX14100: JWT is not well formed, there are no dots (.)."
        signing = parts[0] + "." + parts[1]
        want = _b64(hmac.new(self._key, signing.encode(), hashlib.sha256).digest())
        if not hmac.compare_digest(want, parts[2]):
            return "Access token validation failure. Invalid signature."
        try:
            claims = json.loads(_unb64(parts[1]))
        except ValueError:
            return "Access token validation failure."
        now = time.time()
        if claims.get("aud") != GRAPH_AUDIENCE:
            return "Access token validation failure. Invalid audience."
        if int(claims.get("exp", 0)) <= now or claims.get("gen") != self.generation:
            return "Lifetime validation failed, the token is expired."
        return None

    def _aad_error(self, req: Request, status: int, error: str, code: int, message: str) -> Response:
        trace, corr = str(uuid.uuid4()), str(uuid.uuid4())
        ts = self._now().astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ")
        desc = f"AADSTS{code}: {message} Trace ID: {trace} Correlation ID: {corr} Timestamp: {ts}"
        return Response.json(
            {
                "error": error,
                "error_description": desc,
                "error_codes": [code],
                "timestamp": ts,
                "trace_id": trace,
                "correlation_id": corr,
                "error_uri": f"{req.base_url}/error?code={code}",
            },
            status,
            content_type="application/json; charset=utf-8",
        )
