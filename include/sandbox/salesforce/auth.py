"""Login flows: SOAP ``login`` and the OAuth token endpoint (password, client credentials, JWT bearer).

They answer at their real paths and at ``POST /``, where simple-salesforce's ``domain="127.0.0.1:PORT#"``
trick sends every flow. Only the sandbox's demo credentials open a session; anything else gets the
error the real service answers with (SOAP ``sf:INVALID_LOGIN`` fault, OAuth ``invalid_client_id`` /
``invalid_client`` / ``invalid_grant``).
"""

from __future__ import annotations

import base64
import re
from datetime import UTC, datetime
from typing import Any
from xml.sax.saxutils import unescape

import jwt

from sandbox.http import Request, Response
from sandbox.salesforce import responses
from sandbox.salesforce.errors import JSON_CT, oauth_error, soap_fault
from sandbox.salesforce.models import Org

JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"


def _invalid_login() -> Response:
    return soap_fault("INVALID_LOGIN", "Invalid username, password, security token; or user locked out.")


class Logins:
    def __init__(self, org: Org, hub: Any) -> None:
        self.org = org
        self.hub = hub

    def login_root(self, req: Request) -> Response:
        """``domain="127.0.0.1:PORT#"`` sends every login flow to ``/``: tell them apart by their bodies."""
        if req.headers.get("SOAPAction") or req.body.lstrip().startswith(b"<"):
            return self.soap_login(req)
        return self.oauth_token(req)

    def soap_login(self, req: Request) -> Response:
        ver = req.params.get("ver") or "59.0"
        body = req.text
        user = re.search(r"<(?:\w+:)?username>(.*?)</(?:\w+:)?username>", body, re.S)
        pwd = re.search(r"<(?:\w+:)?password>(.*?)</(?:\w+:)?password>", body, re.S)
        if user is None or pwd is None:
            return _invalid_login()
        creds = self.hub.credentials
        username, password = unescape(user.group(1)), unescape(pwd.group(1))
        if (
            username.lower() != creds.sf_username.lower()
            or password != creds.sf_password + creds.sf_security_token
        ):
            return _invalid_login()
        urec = self.org.user_by_username(username)
        if urec is None:
            return _invalid_login()
        session = self.org.open_session(urec["Id"])
        xml = responses.login_response_xml(self.org, self._base(req), ver, session.token, urec)
        return Response.text(xml, 200, content_type="text/xml;charset=UTF-8")

    def _base(self, req: Request) -> str:
        return req.base_url or self.hub.urls.get("salesforce", "")

    def oauth_token(self, req: Request) -> Response:
        form = req.form()
        grant = form.get("grant_type", "")
        creds = self.hub.credentials
        if grant == "password":
            if form.get("client_id") != creds.sf_consumer_key:
                return oauth_error("invalid_client_id", "client identifier invalid")
            if form.get("client_secret") != creds.sf_consumer_secret:
                return oauth_error("invalid_client", "invalid client credentials")
            pwd = form.get("password", "")
            if form.get("username", "").lower() != creds.sf_username.lower() or pwd not in (
                creds.sf_password,
                creds.sf_password + creds.sf_security_token,
            ):
                return oauth_error("invalid_grant", "authentication failure")
            urec = self.org.user_by_username(form["username"])
        elif grant == "client_credentials":
            key, secret = form.get("client_id"), form.get("client_secret")
            auth = req.headers.get("Authorization") or ""
            if auth[:6].lower() == "basic ":
                try:
                    key, _, secret = base64.b64decode(auth[6:]).decode().partition(":")
                except ValueError:
                    return oauth_error("invalid_client", "invalid client credentials")
            if key != creds.sf_consumer_key:
                return oauth_error("invalid_client_id", "client identifier invalid")
            if secret != creds.sf_consumer_secret:
                return oauth_error("invalid_client", "invalid client credentials")
            urec = self.org.user_by_username(creds.sf_username)
        elif grant == JWT_GRANT:
            urec, error = self._jwt_user(form.get("assertion", ""))
            if error is not None:
                return error
        else:
            return oauth_error("unsupported_grant_type", "grant type not supported")
        if urec is None or not urec.get("IsActive", True):
            return oauth_error("invalid_grant", "authentication failure")
        session = self.org.open_session(urec["Id"])
        issued = int(session.issued_at.timestamp() * 1000)
        body = responses.token_body(
            self.org,
            self._base(req),
            session.token,
            urec["Id"],
            issued,
            creds.sf_consumer_secret,
            scope="api" if grant == "client_credentials" else None,
        )
        return Response.json(body, 200, content_type=JSON_CT)

    def _jwt_user(self, assertion: str) -> tuple[dict[str, Any] | None, Response | None]:
        """Check a JWT bearer assertion's shape and claims. The RS256 signature is NOT verified: the
        sandbox has no connected-app certificate to verify it with."""
        try:
            header = jwt.get_unverified_header(assertion)
            claims = jwt.decode(
                assertion, options={"verify_signature": False, "verify_exp": False, "verify_aud": False}
            )
        except jwt.PyJWTError:
            return None, oauth_error("invalid_grant", "invalid assertion")
        if header.get("alg") != "RS256":
            return None, oauth_error("invalid_grant", "invalid assertion")
        if claims.get("iss") != self.hub.credentials.sf_consumer_key:
            return None, oauth_error("invalid_client_id", "client identifier invalid")
        try:
            exp = float(claims.get("exp", 0))
        except (TypeError, ValueError):
            return None, oauth_error("invalid_grant", "invalid assertion")
        # exp is checked against wall time: it was stamped by the client's clock, not the sandbox's.
        if exp < datetime.now(UTC).timestamp() - 300:
            return None, oauth_error("invalid_grant", "expired authorization code")
        urec = self.org.user_by_username(str(claims.get("sub", "")))
        if urec is None:
            return None, oauth_error("invalid_grant", "user hasn't approved this consumer")
        return urec, None
