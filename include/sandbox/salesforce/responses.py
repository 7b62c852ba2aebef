"""Response bodies in the real service's shapes: records with ``attributes``, query pages, limits,
the SOAP ``loginResponse`` and the OAuth token document."""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any
from xml.sax.saxutils import escape

from sandbox.salesforce.models import Org
from sandbox.salesforce.schema import ObjectDef
from sandbox.salesforce.soql import Column

PAGE_SIZE = 2000


def attributes(obj_name: str, rid: str, version: str) -> dict[str, str]:
    return {"type": obj_name, "url": f"/services/data/v{version}/sobjects/{obj_name}/{rid}"}


def full_record(
    obj: ObjectDef, rec: dict[str, Any], version: str, fields: list[str] | None = None
) -> dict[str, Any]:
    out: dict[str, Any] = {"attributes": attributes(obj.name, rec["Id"], version)}
    names = fields if fields else [f.name for f in obj.fields.values()]
    for n in names:
        out[n] = rec.get(n)
    return out


def query_row(
    org: Org, obj: ObjectDef, columns: list[Column], rec: dict[str, Any], version: str
) -> dict[str, Any]:
    """One record of a query result: selected fields in order, relationships as nested records."""
    out: dict[str, Any] = {"attributes": attributes(obj.name, rec["Id"], version)}
    for col in columns:
        if not col.steps:
            out[col.name] = rec.get(col.name)
            continue
        holder: dict[str, Any] | None = out
        current: dict[str, Any] | None = rec
        target_obj: ObjectDef | None = None
        for step in col.steps:
            assert holder is not None
            ref_id = current.get(step.ref.name) if current is not None else None
            found = org.lookup(ref_id) if ref_id else None
            if found is None:
                holder.setdefault(step.rel_name, None)
                holder = None
                break
            target_obj, current = found
            nested = holder.get(step.rel_name)
            if nested is None:
                kind = "Name" if step.polymorphic else target_obj.name
                nested = {
                    "attributes": {
                        "type": kind,
                        "url": attributes(target_obj.name, current["Id"], version)["url"],
                    }
                }
                holder[step.rel_name] = nested
            holder = nested
        if holder is not None and current is not None and target_obj is not None:
            holder[col.name] = (
                target_obj.name
                if (col.name == "Type" and col.steps[-1].polymorphic)
                else current.get(col.name)
            )
    return out


def query_page(rows: list[dict[str, Any]], total: int, next_url: str | None) -> dict[str, Any]:
    page: dict[str, Any] = {"totalSize": total, "done": next_url is None}
    if next_url:
        page["nextRecordsUrl"] = next_url
    page["records"] = rows
    return page


def limits_body(org: Org) -> dict[str, Any]:
    used, maximum = org.api_usage

    def lim(m: int, r: int) -> dict[str, int]:
        return {"Max": m, "Remaining": r}

    return {
        "ConcurrentAsyncGetReportInstances": lim(200, 200),
        "ConcurrentSyncReportRuns": lim(20, 20),
        "DailyApiRequests": lim(maximum, max(0, maximum - used)),
        "DailyAsyncApexExecutions": lim(250000, 250000),
        "DailyBulkApiBatches": lim(15000, 15000),
        "DailyBulkV2QueryFileStorageMB": lim(976562, 976562),
        "DailyBulkV2QueryJobs": lim(10000, 10000),
        "DataStorageMB": lim(5, 5),
        "FileStorageMB": lim(20, 20),
        "HourlyODataCallout": lim(10000, 10000),
        "HourlyTimeBasedWorkflow": lim(50, 50),
        "SingleEmail": lim(15, 15),
    }


def login_response_xml(org: Org, base_url: str, version: str, session_id: str, user: dict[str, Any]) -> str:
    server = f"{base_url}/services/Soap/u/{version}/{org.org_id}"
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" \
xmlns="urn:partner.soap.sforce.com" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">\
<soapenv:Body><loginResponse><result>\
<metadataServerUrl>{base_url}/services/Soap/m/{version}/{org.org_id}</metadataServerUrl>\
<passwordExpired>false</passwordExpired><sandbox>true</sandbox>\
<serverUrl>{server}</serverUrl><sessionId>{escape(session_id)}</sessionId>\
<userId>{user["Id"]}</userId><userInfo><accessibilityMode>false</accessibilityMode>\
<currencySymbol>$</currencySymbol><orgAttachmentFileSizeLimit>5242880</orgAttachmentFileSizeLimit>\
<orgDefaultCurrencyIsoCode>USD</orgDefaultCurrencyIsoCode><orgDisallowHtmlAttachments>false\
</orgDisallowHtmlAttachments><orgHasPersonAccounts>false</orgHasPersonAccounts>\
<organizationId>{org.org_id}</organizationId><organizationMultiCurrency>false</organizationMultiCurrency>\
<organizationName>{escape(str(org.schema.org.get("name", "")))}</organizationName>\
<profileId>00e000000000CALAAA</profileId><roleId xsi:nil="true"/><sessionSecondsValid>7200\
</sessionSecondsValid><userDefaultCurrencyIsoCode xsi:nil="true"/>\
<userEmail>{escape(user.get("Email") or "")}</userEmail><userFullName>{escape(user.get("Name") or "")}\
</userFullName><userId>{user["Id"]}</userId><userLanguage>en_US</userLanguage>\
<userLocale>en_US</userLocale><userName>{escape(user.get("Username") or "")}</userName>\
<userTimeZone>{escape(user.get("TimeZoneSidKey") or "Etc/UTC")}</userTimeZone><userType>Standard</userType>\
<userUiSkin>Theme3</userUiSkin></userInfo></result></loginResponse></soapenv:Body></soapenv:Envelope>"""


def token_body(
    org: Org,
    base_url: str,
    access_token: str,
    user_id: str,
    issued_ms: int,
    secret: str,
    scope: str | None = None,
) -> dict[str, Any]:
    ident = f"{base_url}/id/{org.org_id}/{user_id}"
    sig = base64.b64encode(
        hmac.new(secret.encode(), f"{ident}{issued_ms}".encode(), hashlib.sha256).digest()
    ).decode()
    body: dict[str, Any] = {
        "access_token": access_token,
        "instance_url": base_url,
        "id": ident,
        "token_type": "Bearer",
        "issued_at": str(issued_ms),
        "signature": sig,
    }
    if scope:
        body["scope"] = scope
    return body
