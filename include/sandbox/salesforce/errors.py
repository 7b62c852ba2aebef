"""Salesforce's error bodies, as the real service sends them.

REST errors are a JSON *list* of ``{"message", "errorCode"[, "fields"]}`` (simple-salesforce reads
``json()[0]["errorCode"]`` on a 401); per-record results (sObject Collections, Bulk results) use
``{"statusCode", "message", "fields"}``; OAuth errors are ``{"error", "error_description"}``; SOAP
login faults carry ``sf:``-prefixed ``exceptionCode`` / ``exceptionMessage`` elements.
"""

from __future__ import annotations

from xml.sax.saxutils import escape

from sandbox.http import HttpError, Response

JSON_CT = "application/json;charset=UTF-8"


class SalesforceError(HttpError):
    """A REST error: raised anywhere below a route, rendered as ``[{"message","errorCode"}]``."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        fields: list[str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.status, self.code, self.message, self.fields = status, code, message, fields
        body: dict[str, object] = {"message": message, "errorCode": code}
        if fields is not None:
            body["fields"] = fields
        super().__init__(Response.json([body], status, content_type=JSON_CT, headers=headers))


class RecordError(Exception):
    """A per-record failure (validation); becomes a SalesforceError or a SaveResult error entry."""

    def __init__(self, code: str, message: str, fields: list[str] | None = None, status: int = 400) -> None:
        super().__init__(message)
        self.code, self.message, self.fields, self.status = code, message, fields or [], status

    def as_result_error(self) -> dict[str, object]:
        return {"statusCode": self.code, "message": self.message, "fields": self.fields}

    def as_http(self) -> SalesforceError:
        return SalesforceError(self.status, self.code, self.message, self.fields)


def invalid_session() -> SalesforceError:
    return SalesforceError(401, "INVALID_SESSION_ID", "Session expired or invalid")


def not_found() -> SalesforceError:
    return SalesforceError(404, "NOT_FOUND", "The requested resource does not exist")


def request_limit_exceeded() -> SalesforceError:
    return SalesforceError(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")


def invalid_type(name: str) -> SalesforceError:
    return SalesforceError(
        400,
        "INVALID_TYPE",
        f"sObject type '{name}' is not supported. If you are attempting to use a custom object, be sure to "
        "append the '__c' after the entity name. Please reference your WSDL or the describe call for the "
        "appropriate names.",
    )


def no_such_column_on_sobject(field: str, obj: str) -> RecordError:
    return RecordError("INVALID_FIELD", f"No such column '{field}' on sobject of type {obj}", [])


def oauth_error(error: str, description: str, status: int = 400) -> Response:
    return Response.json({"error": error, "error_description": description}, status, content_type=JSON_CT)


def soap_fault(code: str, message: str, status: int = 500) -> Response:
    body = f"""<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" \
xmlns:sf="urn:fault.partner.soap.sforce.com" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">\
<soapenv:Body><soapenv:Fault><faultcode>sf:{code}</faultcode>\
<faultstring>{code}: {escape(message)}</faultstring><detail>\
<sf:LoginFault xsi:type="sf:LoginFault"><sf:exceptionCode>{code}</sf:exceptionCode>\
<sf:exceptionMessage>{escape(message)}</sf:exceptionMessage></sf:LoginFault></detail>\
</soapenv:Fault></soapenv:Body></soapenv:Envelope>"""
    return Response.text(body, status, content_type="text/xml;charset=UTF-8")
