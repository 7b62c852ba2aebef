"""The Graph emulator's event JSON against Microsoft's official v1.0 metadata (CSDL).

Every property the emulator returns for an event (annotations aside) must be declared on ``event``
or one of its base types, with a compatible type, recursively through complex types and
collections; enum values must be members of their enum.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from msgraph.generated.models.attendee import Attendee
from msgraph.generated.models.email_address import EmailAddress
from msgraph.generated.models.location import Location
from msgraph.generated.models.single_value_legacy_extended_property import SingleValueLegacyExtendedProperty
from test_sandbox_graph_helpers import ALICE, BOB, add_people, timed_event, with_graph

from sandbox.runner import Sandbox

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
CSDL = Path(__file__).parents[2].parent / "shared" / "reference" / "graph-v1.0-metadata.csdl.xml"
EDM = "{http://docs.oasis-open.org/odata/ns/edm}"
PROP_ID = "String {66f5a359-4659-4830-9070-00047ec6ac6e} Name CalSyncStamp"


@dataclass
class StructType:
    name: str
    base: str | None
    props: dict[str, str] = field(default_factory=dict)
    nav: dict[str, str] = field(default_factory=dict)


@dataclass
class Schema:
    types: dict[str, StructType]
    enums: dict[str, set[str]]

    def all_props(self, name: str) -> dict[str, str]:
        out: dict[str, str] = {}
        t: StructType | None = self.types.get(name)
        while t is not None:
            for k, v in {**t.nav, **t.props}.items():
                out.setdefault(k, v)
            t = self.types.get(t.base) if t.base else None
        return out


def _short(type_name: str | None) -> str | None:
    if type_name is None:
        return None
    return type_name.replace("graph.", "").replace("microsoft.graph.", "")


@cache
def schema() -> Schema:
    """One pass of iterparse over the 3.5 MB file, keeping the structured and enum types only."""
    types: dict[str, StructType] = {}
    enums: dict[str, set[str]] = {}
    current: StructType | None = None
    enum: set[str] | None = None
    for ev, el in ET.iterparse(CSDL, events=("start", "end")):
        tag = el.tag.replace(EDM, "")
        if ev == "start":
            if tag in ("EntityType", "ComplexType"):
                current = StructType(el.get("Name", ""), _short(el.get("BaseType")))
            elif tag == "EnumType":
                enum = set()
                enums[el.get("Name", "")] = enum
            elif tag == "Property" and current is not None:
                current.props[el.get("Name", "")] = el.get("Type", "")
            elif tag == "NavigationProperty" and current is not None:
                current.nav[el.get("Name", "")] = el.get("Type", "")
            elif tag == "Member" and enum is not None:
                enum.add(el.get("Name", ""))
        else:
            if tag in ("EntityType", "ComplexType") and current is not None:
                types.setdefault(current.name, current)
                current = None
            elif tag == "EnumType":
                enum = None
            el.clear()
    return Schema(types, enums)


def _check(s: Schema, type_name: str, value: Any, where: str, problems: list[str]) -> None:
    if value is None:
        return  # nullable; Graph writes null for unset values
    if type_name.startswith("Collection("):
        if not isinstance(value, list):
            problems.append(f"{where}: expected a list for {type_name}")
            return
        inner = type_name[len("Collection(") : -1]
        for i, v in enumerate(value):
            _check(s, inner, v, f"{where}[{i}]", problems)
        return
    if type_name.startswith("Edm."):
        kind = type_name[4:]
        ok = {
            "String": isinstance(value, str),
            "Boolean": isinstance(value, bool),
            "Int32": isinstance(value, int) and not isinstance(value, bool),
            "Int64": isinstance(value, int) and not isinstance(value, bool),
            "Double": isinstance(value, (int, float)) and not isinstance(value, bool),
            "DateTimeOffset": isinstance(value, str) and _is_datetime(value),
            "Date": isinstance(value, str),
            "TimeOfDay": isinstance(value, str),
            "Guid": isinstance(value, str),
        }.get(kind, True)
        if not ok:
            problems.append(f"{where}: {value!r} is not {type_name}")
        return
    name = _short(type_name) or ""
    if name in s.enums:
        if value not in s.enums[name]:
            problems.append(f"{where}: {value!r} is not a member of {name}")
        return
    if name not in s.types:
        problems.append(f"{where}: unknown type {type_name}")
        return
    if not isinstance(value, dict):
        problems.append(f"{where}: expected an object of {name}")
        return
    declared = s.all_props(name)
    for key, v in value.items():
        if key.startswith("@"):
            continue
        if key not in declared:
            problems.append(f"{where}.{key}: not declared on {name} or its base types")
            continue
        _check(s, declared[key], v, f"{where}.{key}", problems)


def _is_datetime(text: str) -> bool:
    try:
        datetime.fromisoformat(text.replace("Z", "+00:00"))
        return True
    except ValueError:
        return False


def test_the_metadata_parser_sees_event_and_its_bases() -> None:
    s = schema()
    props = s.all_props("event")
    assert {"subject", "start", "attendees", "changeKey", "id", "singleValueExtendedProperties"} <= set(props)
    assert props["start"] == "graph.dateTimeTimeZone" and "preset24" in s.enums["categoryColor"]
    problems: list[str] = []
    _check(s, "graph.event", {"subject": 1, "colour": "red", "showAs": "sleepy"}, "event", problems)
    assert len(problems) == 3  # the checker can fail


@pytest.fixture
def sb(sandbox: Sandbox) -> Sandbox:
    add_people(sandbox)
    return sandbox


def test_event_json_matches_the_official_metadata(sb: Sandbox) -> None:
    recurrence = {
        "pattern": {"type": "weekly", "interval": 1, "daysOfWeek": ["monday"], "firstDayOfWeek": "sunday"},
        "range": {
            "type": "endDate",
            "startDate": "2026-12-07",
            "endDate": "2027-01-31",
            "recurrenceTimeZone": "UTC",
        },
    }
    sb.graph.tenant.person_create(
        ALICE,
        {
            "subject": "series",
            "start": {"dateTime": "2026-12-07T09:00:00"},
            "end": {"dateTime": "2026-12-07T09:30:00"},
            "recurrence": recurrence,
            "type": "seriesMaster",
        },
    )

    async def go(client: Any, hook: Any) -> list[dict[str, Any]]:
        await client.users.by_user_id(ALICE).events.post(
            timed_event(
                "rich",
                "2026-12-02T10:00:00",
                "2026-12-02T11:00:00",
                "W. Europe Standard Time",
                location=Location(display_name="Room 1"),
                categories=["Blue"],
                attendees=[Attendee(email_address=EmailAddress(address=BOB, name="Bob"))],
                single_value_extended_properties=[SingleValueLegacyExtendedProperty(id=PROP_ID, value="v")],
            )
        )
        page = await hook.run(
            url=f"users/{ALICE}/events",
            query_parameters={"$expand": f"singleValueExtendedProperties($filter=id eq '{PROP_ID}')"},
        )
        delta = await hook.run(
            url=f"users/{ALICE}/calendarView/delta",
            query_parameters={"startDateTime": "2026-12-01T00:00:00Z", "endDateTime": "2027-01-01T00:00:00Z"},
        )
        return page["value"] + delta["value"]

    events = with_graph(go)
    assert len(events) >= 3
    s = schema()
    problems: list[str] = []
    for ev in events:
        _check(s, "graph.event", ev, f"event[{ev.get('subject')}]", problems)
    assert problems == []
    rich = next(e for e in events if e.get("subject") == "rich" and "singleValueExtendedProperties" in e)
    # everything declared directly on event, outlookItem and entity that is not a navigation
    # property is returned (onlineMeeting and friends as null), so clients see the full shape
    declared = {k for t in ("event", "outlookItem", "entity") for k in s.types[t].props}
    assert declared - set(rich) <= {"originalStart"}
