"""The emulator's SOQL subset, in-process against the org model (no HTTP): grammar edges, errors, speed."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest

from sandbox.clock import Clock
from sandbox.salesforce.errors import SalesforceError
from sandbox.salesforce.models import Org


@pytest.fixture(scope="module")
def org() -> Org:
    clock = Clock()
    clock.set(datetime(2026, 11, 24, 12, 0, tzinfo=UTC), frozen=True)
    o = Org(clock)
    acct = o.create("Account", {"Name": "Acme"})
    contact = o.create("Contact", {"FirstName": "Lucia", "LastName": "O'Brien", "AccountId": acct})
    rows = [
        ("Plan it", "2026-11-24T09:00:00Z", "Room_1", contact),
        ("Review", "2026-11-20T15:30:00Z", None, None),
        ("Ship 50%", "2026-12-02T08:00:00Z", "Room 2", contact),
        ("plan B", "2026-11-25T10:00:00Z", "Hall", None),
    ]
    for subject, start, loc, who in rows:
        o.create(
            "Event",
            {
                "Subject": subject,
                "StartDateTime": start,
                "DurationInMinutes": 60,
                "Location": loc,
                "WhoId": who,
            },
        )
    return o


def subjects(org: Org, soql: str) -> list[str]:
    _, rows = org.run_query(soql, include_deleted=False)
    return [r["Subject"] for r in rows]


def error(org: Org, soql: str) -> tuple[str, str]:
    with pytest.raises(SalesforceError) as e:
        org.run_query(soql, include_deleted=False)
    return e.value.code, e.value.message


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ("Subject = 'PLAN IT'", ["Plan it"]),
        ("Subject <> 'Review' AND Location != null", ["Plan it", "plan B", "Ship 50%"]),
        ("Location LIKE 'Room\\_%'", ["Plan it"]),
        ("Subject LIKE '%50\\%'", ["Ship 50%"]),
        ("NOT (Subject LIKE 'plan%' OR Location = null)", ["Ship 50%"]),
        ("((Subject IN ('Review', 'plan b')))", ["Review", "plan B"]),
        ("Who.Name = 'Lucia O\\'Brien'", ["Plan it", "Ship 50%"]),
        ("ActivityDate = 2026-11-24", ["Plan it"]),
        ("ActivityDate > TODAY AND ActivityDate < NEXT_WEEK", ["plan B"]),
        (
            "StartDateTime >= 2026-11-24T00:00:00+01:00 AND StartDateTime < 2026-11-25T10:00:00.000+0000",
            ["Plan it"],
        ),
        (
            "DurationInMinutes >= 60 AND IsAllDayEvent = false AND StartDateTime = LAST_N_DAYS:4",
            ["Review", "Plan it"],
        ),
    ],
)
def test_where_clauses(org: Org, where: str, expected: list[str]) -> None:
    assert subjects(org, f"SELECT Subject FROM Event WHERE {where} ORDER BY StartDateTime") == expected


def test_ids_15_and_18_characters_and_ordering(org: Org) -> None:
    _, rows = org.run_query("SELECT Id FROM Contact", include_deleted=False)
    cid = rows[0]["Id"]
    assert subjects(org, f"SELECT Subject FROM Event WHERE WhoId = '{cid[:15]}' ORDER BY Subject DESC") == [
        "Ship 50%",
        "Plan it",
    ]
    assert subjects(
        org, "SELECT Subject FROM Event ORDER BY Location NULLS LAST, Subject LIMIT 2 OFFSET 2"
    ) == ["Plan it", "Review"]  # Hall, Room 2, Room_1, null: text sorts case-insensitively


@pytest.mark.parametrize(
    ("soql", "code", "fragment"),
    [
        ("SELECT FROM Event", "MALFORMED_QUERY", "unexpected token: 'FROM'"),
        ("SELECT Id FROM Event WHERE", "MALFORMED_QUERY", "<EOF>"),
        (
            "SELECT Id FROM Event WHERE Subject = 'a' AND Location = 'b' OR Id = null",
            "MALFORMED_QUERY",
            "'OR'",
        ),
        ("SELECT Id FROM Event; DELETE", "MALFORMED_QUERY", "unexpected token"),
        ("SELECT Id, id FROM Event", "MALFORMED_QUERY", "duplicate field selected"),
        ("SELECT COUNT(), Id FROM Event", "MALFORMED_QUERY", "COUNT()"),
        ("SELECT Id FROM Event OFFSET 2001", "NUMBER_OUTSIDE_VALID_RANGE", "2000"),
        ("SELECT Nope__c FROM Event", "INVALID_FIELD", "No such column 'Nope__c' on entity 'Event'"),
        ("SELECT Boss.Email FROM Event", "INVALID_FIELD", "Didn't understand relationship 'Boss'"),
        ("SELECT Who.Birthdate FROM Event", "INVALID_FIELD", "on entity 'Name'"),
        (
            "SELECT Id FROM Event WHERE ActivityDate = 2026-11-24T00:00:00Z",
            "INVALID_FIELD",
            "must be of type date",
        ),
        ("SELECT Id FROM Event WHERE DurationInMinutes = '60'", "INVALID_FIELD", "must be of type int"),
        ("SELECT Id FROM Event WHERE Subject = 5", "INVALID_FIELD", "should be enclosed in quotes"),
        (
            "SELECT Id FROM Event WHERE WhoId = 'abc'",
            "INVALID_QUERY_FILTER_OPERATOR",
            "invalid ID field: abc",
        ),
        ("SELECT Id FROM Event WHERE Description = 'x'", "INVALID_FIELD", "can not be filtered"),
        ("SELECT Id FROM Meeting", "INVALID_TYPE", "sObject type 'Meeting' is not supported"),
    ],
)
def test_errors(org: Org, soql: str, code: str, fragment: str) -> None:
    got_code, message = error(org, soql)
    assert got_code == code and fragment in message
    assert "ERROR at Row:1:Column:" in message or code == "NUMBER_OUTSIDE_VALID_RANGE"


def test_a_2000_row_page_from_20000_rows_is_fast() -> None:
    o = Org(Clock())
    for i in range(20_000):
        o.create(
            "Task",
            {
                "Subject": f"t{i}",
                "ActivityDate": f"2026-12-{1 + i % 28:02d}",
                "Priority": ("High", "Normal", "Low")[i % 3],
            },
        )
    t0 = time.perf_counter()
    _, rows = o.run_query(
        "SELECT Id, Subject, Owner.Email FROM Task WHERE Priority IN ('High', 'Low') AND "
        "ActivityDate >= 2026-12-10 ORDER BY ActivityDate DESC, Subject LIMIT 2000",
        include_deleted=False,
    )
    assert len(rows) == 2000 and time.perf_counter() - t0 < 1.0
