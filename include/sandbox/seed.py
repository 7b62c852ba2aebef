"""Demo data for the sandbox: the demo org's users and realistic records around the sandbox clock.

Deterministic from ``seed``. Alongside normal records it plants the rows calsync must refuse or treat
specially, so a demo shows its issues list: records with no date, end before start, values at the
field length limit, all-day spans longer than two weeks, recurring Event series, and private events.
Each active user also gets a Graph mailbox (``sb.graph.tenant.add_mailbox``).
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

from sandbox.salesforce.models import Org
from sandbox.salesforce.values import format_datetime

SUBJECTS = [
    "Quarterly review",
    "Site walkthrough",
    "Contract negotiation",
    "Kick-off meeting",
    "Product demo",
    "Customer onboarding",
    "Renewal call",
    "Design workshop",
    "Budget check-in",
    "Safety inspection",
    "Lunch with client",
    "Steering committee",
    "Training session",
]
LOCATIONS = [
    "Madrid office",
    "Teams meeting",
    "Client HQ",
    "Berlin hub",
    "Room 4.02",
    "Phone",
    None,
    "Warehouse 7",
    "Paris showroom",
]
STREETS = [
    "Calle de Alcalá 45, Madrid",
    "Friedrichstraße 120, Berlin",
    "12 Rue de Rivoli, Paris",
    "500 Market St, San Francisco",
    "221B Baker Street, London",
    "MG Road 14, Bengaluru",
]
COMPANIES = [
    "Acme Corp",
    "Globex",
    "Initech",
    "Umbrella Ltd",
    "Stark Industries",
    "Wayne Enterprises",
    "Hooli",
    "Vandelay Industries",
    "Soylent Co",
    "Tyrell Corp",
]
FIRST = ["Lucia", "Mateo", "Sofia", "Hugo", "Olivia", "Liam", "Mia", "Noah", "Emma", "Leo", "Aria", "Omar"]
LAST = ["Garcia", "Martin", "Smith", "Müller", "Rossi", "Dubois", "Khan", "Nakamura", "Silva", "Novak"]


def _users(org: Org) -> list[str]:
    ids = []
    for spec in org.schema.users:
        values = dict(spec)
        values.setdefault("Username", spec["Email"])
        values.setdefault("Alias", (spec.get("FirstName", "")[:1] + spec["LastName"][:4]).lower())
        existing = org.user_by_username(values["Username"])
        ids.append(existing["Id"] if existing else org.create("User", values))
    return ids


def _at(now: datetime, rng: random.Random, past_days: int = 14, future_days: int = 60) -> datetime:
    day = now.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(
        days=rng.randint(-past_days, future_days)
    )
    return day + timedelta(hours=rng.randint(7, 17), minutes=rng.choice([0, 15, 30, 45]))


def seed_demo(sb: Any, records_per_object: int = 200, seed: int = 0) -> dict[str, Any]:
    """Fill the sandbox with the demo org; returns record counts per object and the planted invalid rows."""
    org: Org = sb.salesforce.org
    rng = random.Random(seed)
    now = sb.hub.clock.now().astimezone(UTC)
    n = max(0, int(records_per_object))
    invalid: dict[str, int] = {}

    def planted(kind: str) -> None:
        invalid[kind] = invalid.get(kind, 0) + 1

    with org.lock:
        user_ids = _users(org)
        active = [u for u, spec in zip(user_ids, org.schema.users, strict=True) if spec.get("IsActive", True)]
        accounts = [
            org.create(
                "Account",
                {
                    "Name": f"{COMPANIES[i % len(COMPANIES)]} {i // len(COMPANIES) or ''}".strip(),
                    "Phone": f"+34 91 555 {i:04d}",
                    "OwnerId": rng.choice(active),
                },
            )
            for i in range(max(5, n // 10) if n else 0)
        ]
        contacts = [
            org.create(
                "Contact",
                {
                    "FirstName": rng.choice(FIRST),
                    "LastName": rng.choice(LAST),
                    "Email": f"contact{i}@{rng.choice(COMPANIES).split()[0].lower()}.example",
                    "AccountId": rng.choice(accounts),
                    "OwnerId": rng.choice(active),
                },
            )
            for i in range(n)
        ]
        leads = [
            org.create(
                "Lead",
                {
                    "FirstName": rng.choice(FIRST),
                    "LastName": rng.choice(LAST),
                    "Company": rng.choice(COMPANIES),
                    "Email": f"lead{i}@prospect.example",
                    "OwnerId": rng.choice(active),
                },
            )
            for i in range(max(5, n // 4) if n else 0)
        ]

        events: list[str] = []
        for i in range(n):
            owner = rng.choice(active)
            start = _at(now, rng)
            values: dict[str, Any] = {
                "Subject": rng.choice(SUBJECTS),
                "Location": rng.choice(LOCATIONS),
                "OwnerId": owner,
                "ShowAs": rng.choice(["Busy", "Busy", "Free", "OutOfOffice"]),
                "Description": f"Agenda item {i}: {rng.choice(SUBJECTS).lower()}.",
                "IsReminderSet": rng.random() < 0.3,
            }
            kind = i % 20
            if kind == 0:  # all-day, sometimes longer than calsync's two-week limit
                values.update(
                    IsAllDayEvent=True,
                    ActivityDate=start.date().isoformat(),
                    DurationInMinutes=1440 * (rng.randint(15, 20) if i % 40 == 0 else rng.randint(1, 3)),
                )
                if i % 40 == 0:
                    planted("Event: all-day longer than 14 days")
            else:
                values.update(
                    StartDateTime=format_datetime(start),
                    DurationInMinutes=rng.choice([15, 30, 45, 60, 90, 120]),
                )
            if kind == 1:
                values.update(
                    IsRecurrence=True,
                    RecurrenceType="RecursWeekly",
                    RecurrenceInterval=1,
                    RecurrenceDayOfWeekMask=2,
                    RecurrenceStartDateTime=format_datetime(start),
                    RecurrenceEndDateOnly=(start + timedelta(weeks=8)).date().isoformat(),
                )
                planted("Event: recurring series")
            if kind == 2:
                values["IsPrivate"] = True
                planted("Event: private")
            if kind == 3:
                values["Subject"] = ("Very long subject " * 20)[:255]
                values["Location"] = ("Building " * 40)[:255]
                planted("Event: values at the field length limit")
            if rng.random() < 0.1:
                values["WhoId"] = rng.choice(contacts + leads)
            if rng.random() < 0.1:
                values["WhatId"] = rng.choice(accounts)
            if values["IsReminderSet"]:
                values["ReminderDateTime"] = format_datetime(start - timedelta(minutes=15))
            eid = org.create("Event", values)
            events.append(eid)
            if i % 5 == 0:  # a meeting: the owner plus some contacts, leads and colleagues
                people = rng.sample(contacts, k=min(len(contacts), rng.randint(1, 3)))
                people += rng.sample(
                    [u for u in active if u != owner], k=min(len(active) - 1, rng.randint(0, 2))
                )
                if rng.random() < 0.3:
                    people.append(rng.choice(leads))
                for who in people:
                    org.create(
                        "EventRelation",
                        {
                            "EventId": eid,
                            "RelationId": who,
                            "IsInvitee": True,
                            "Status": rng.choice(["New", "Accepted", "Declined"]),
                        },
                    )

        for _ in range(n):
            org.create(
                "Task",
                {
                    "Subject": rng.choice(["Call", "Send Quote", "Follow up", "Prepare deck"]),
                    "ActivityDate": _at(now, rng).date().isoformat(),
                    "OwnerId": rng.choice(active),
                    "Status": rng.choice(["Not Started", "In Progress", "Completed"]),
                    "Priority": rng.choice(["High", "Normal", "Low"]),
                    "WhoId": rng.choice(contacts) if rng.random() < 0.5 else None,
                },
            )

        for i in range(n):
            values = {
                "Name": f"Milestone {i + 1}: {rng.choice(SUBJECTS)}",
                "OwnerId": rng.choice(active),
                "Status__c": rng.choice(["Planned", "In Progress", "Done", "Blocked"]),
                "Due_Date__c": _at(now, rng).date().isoformat(),
            }
            if i % 15 == 7:
                values["Due_Date__c"] = None
                planted("Project_Milestone__c: no due date")
            if i % 25 == 11:
                values["Name"] = ("Milestone with an overly long name " * 3)[:80]
                planted("Project_Milestone__c: name at the length limit")
            org.create("Project_Milestone__c", values)

        for i in range(n):
            start = _at(now, rng)
            end = start + timedelta(hours=rng.choice([1, 2, 3, 4]))
            values = {
                "Name": f"Visit {i + 1}",
                "OwnerId": rng.choice(active),
                "Site_Address__c": rng.choice(STREETS),
                "Visit_Start__c": format_datetime(start),
                "Visit_End__c": format_datetime(end),
                "Contact__c": rng.choice(contacts),
            }
            if i % 15 == 3:
                values["Visit_Start__c"] = None
                planted("Site_Visit__c: no start")
            elif i % 15 == 8:
                values["Visit_End__c"] = format_datetime(start - timedelta(hours=1))
                planted("Site_Visit__c: end before start")
            elif i % 15 == 12:
                values["Visit_End__c"] = None
                planted("Site_Visit__c: no end")
            org.create("Site_Visit__c", values)

    mailboxes = 0
    tenant = getattr(getattr(sb, "graph", None), "tenant", None)
    if tenant is not None and hasattr(tenant, "add_mailbox"):
        for uid in active:
            u = org.records["User"][uid]
            tenant.add_mailbox(u["Email"], u["Name"], u["TimeZoneSidKey"])
            mailboxes += 1

    counts: dict[str, Any] = {
        name: sum(1 for r in recs.values() if not r.get("IsDeleted")) for name, recs in org.records.items()
    }
    counts.update(invalid=invalid, mailboxes=mailboxes)
    return counts
