"""Profiles: defaults, the demo file, and every refusal with its one-line message (file, profile, key)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from calsync.errors import ConfigError
from calsync.profiles import DEFAULT_PATH, Profile, load_profiles, parse_profiles
from calsync.soql_filter import FilterError, is_api_name, is_field_path, parse_filter

EVENT: dict[str, Any] = {"id": "events", "kind": "event"}
MILESTONES: dict[str, Any] = {
    "id": "milestones",
    "kind": "object",
    "sobject": "Project_Milestone__c",
    "date_fields": {"date": "Due_Date__c"},
}


def write(tmp_path: Path, *profiles: dict[str, Any]) -> Path:
    path = tmp_path / "profiles.yaml"
    path.write_text(yaml.safe_dump({"profiles": list(profiles)}), encoding="utf-8")
    return path


def refused(tmp_path: Path, *profiles: dict[str, Any]) -> ConfigError:
    path = write(tmp_path, *profiles)
    with pytest.raises(ConfigError) as info:
        load_profiles(path)
    err = info.value
    text = str(err)
    assert str(path) in text and "\n" not in text, text  # one line that names the file
    assert err.file == str(path)
    return err


def test_sample_file_loads() -> None:
    # R-M1, R-M2, R-M3: the documented sample a user copies loads as documented.
    # The documented sample is what a user copies: it must load and cover both kinds.
    loaded = load_profiles(DEFAULT_PATH)
    assert loaded.ids == ["events", "milestones", "site_visits"]
    events, milestones, visits = loaded.profiles
    assert events.kind == "event" and events.direction == "two_way"
    assert milestones.date_fields.is_all_day and milestones.item_category == "Salesforce: Project Milestone"
    assert milestones.categories.color == "preset4"
    assert visits.date_fields.start == "Visit_Start__c" and visits.date_fields.end == "Visit_End__c"
    for p in loaded:
        line = p.summary_line()
        assert p.id in line and "\n" not in line


def test_env_variable_names_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # No SPEC rule: DESIGN 'Interfaces' (CALSYNC_PROFILES names the file).
    path = write(tmp_path, EVENT)
    monkeypatch.setenv("CALSYNC_PROFILES", str(path))
    assert load_profiles().path == path


def test_event_defaults(tmp_path: Path) -> None:
    # SPEC defaults: R-S2 window, R-D1 newest/60 s, R-X1 delete_appointments, R-P1 skip, R-X6/R-V2 guards.
    p = load_profiles(write(tmp_path, EVENT)).get("events")
    assert p.sobject == "Event" and p.direction == "two_way" and p.authoritative_side is None
    assert (p.window.past_days, p.window.future_days) == (14, 60)
    assert p.conflict_winner == "newest" and p.clock_skew_seconds == 60
    assert p.salesforce_deletion == "delete_appointments" and p.private_items == "skip"
    assert p.on_leave_window == "keep" and p.downsync is True
    assert p.categories.opt_in == "Salesforce" and p.categories.unsync == "Salesforce Unsync"
    assert p.item_category == "Salesforce"
    assert p.preserve_fields == ["WhoId", "WhatId"]
    assert (p.max_delete_fraction, p.min_delete_guard) == (0.2, 10)
    assert (p.max_invalid_fraction, p.min_invalid_guard) == (0.5, 10)
    assert p.max_all_day_days == 14 and p.staging_retention_days == 7 and p.min_api_remaining == 1000
    assert p.connections.salesforce == "salesforce_default" and p.connections.msgraph == "msgraph_default"
    assert p.field_map.subject == "Subject" and p.field_map.sensitivity == "IsPrivate"
    assert p.mailboxes.mode == "owner" and p.schedule == "*/30 * * * *"
    assert "attendees" in p.synced_fields and p.upsync_fields == p.synced_fields


def test_object_defaults(tmp_path: Path) -> None:
    # R-M1 one-way; R-M3 default category "Salesforce: <label>".
    p = load_profiles(write(tmp_path, MILESTONES)).get("milestones")
    assert p.direction == "salesforce_to_mailbox" and p.authoritative_side == "salesforce"
    assert p.item_category == "Salesforce: Project Milestone"
    assert p.field_map.subject == "Name" and p.field_map.body is None
    assert p.preserve_fields == []  # WhoId/WhatId are Event fields
    assert p.upsync_fields == () and "attendees" not in p.synced_fields
    assert "Due_Date__c" in p.salesforce_fields()


def test_partial_field_map_keeps_other_defaults_and_null_unmaps(tmp_path: Path) -> None:
    # R-M4: a field map entry may be a field, a template, or null (not synced).
    p = load_profiles(
        write(tmp_path, {**EVENT, "field_map": {"body": None, "subject": "{Subject} [{Type}]"}})
    )
    ev = p.get("events")
    assert ev.field_map.location == "Location" and ev.field_map.body is None
    assert "body" not in ev.synced_fields
    assert ev.is_templated("subject") and "subject" not in ev.upsync_fields  # templates are write-only
    assert "Type" in ev.salesforce_fields()


def test_settings_hash_is_stable_and_sensitive(tmp_path: Path) -> None:
    # R-S4: a changed setting changes the hash; the same settings give the same hash in any key order.
    a = load_profiles(write(tmp_path, {**EVENT, "window": {"past_days": 7, "future_days": 30}})).get("events")
    b = Profile.model_validate(
        {"window": {"future_days": 30, "past_days": 7}, "kind": "event", "id": "events"}
    )
    c = Profile.model_validate({**EVENT, "window": {"past_days": 8, "future_days": 30}})
    assert a.settings_hash() == b.settings_hash() != c.settings_hash()
    assert len(a.settings_hash()) == 64


def test_filter_is_canonicalised_in_the_hash() -> None:
    # Cosmetic edits of the filter are not a settings change (no needless full reconcile, R-S4).
    a = Profile.model_validate({**EVENT, "filter": "Type = 'Call'  and  IsPrivate = false"})
    b = Profile.model_validate({**EVENT, "filter": "Type = 'Call' AND IsPrivate = FALSE"})
    assert a.filter == b.filter == "Type = 'Call' AND IsPrivate = false"
    assert a.settings_hash() == b.settings_hash()


# --- refusals --------------------------------------------------------------------------------------


def test_object_profile_two_way_refused(tmp_path: Path) -> None:  # R-M1
    err = refused(tmp_path, {**MILESTONES, "direction": "two_way"})
    assert err.profile == "milestones" and err.key == "direction"
    assert "salesforce_to_mailbox" in str(err) and "R-M1" in str(err)


def test_object_profile_mailbox_to_salesforce_refused(tmp_path: Path) -> None:  # R-M1
    err = refused(tmp_path, {**MILESTONES, "direction": "mailbox_to_salesforce"})
    assert err.key == "direction" and "allowed: salesforce_to_mailbox" in str(err)


@pytest.mark.parametrize(
    "profile",
    [
        {**EVENT, "direction": "salesforce_to_mailbox", "downsync": False},
        {**MILESTONES, "downsync": False},
    ],
)
def test_downsync_false_refused_where_r_x4_forbids(tmp_path: Path, profile: dict[str, Any]) -> None:  # R-X4
    err = refused(tmp_path, profile)
    assert err.key == "downsync" and "two_way or mailbox_to_salesforce" in str(err)


def test_downsync_false_allowed_for_two_way(tmp_path: Path) -> None:  # R-X4
    assert load_profiles(write(tmp_path, {**EVENT, "downsync": False})).get("events").downsync is False


def test_fixed_mailboxes_need_salesforce_to_mailbox(tmp_path: Path) -> None:  # R-M7
    err = refused(tmp_path, {**EVENT, "mailboxes": {"fixed": ["a@example.com"]}})
    assert err.key == "mailboxes.fixed" and "salesforce_to_mailbox" in str(err) and "R-M7" in str(err)
    ok = {**EVENT, "direction": "salesforce_to_mailbox", "mailboxes": {"fixed": ["A@Example.com"]}}
    p = load_profiles(write(tmp_path, ok)).get("events")
    assert p.mailboxes.mode == "fixed" and p.mailboxes.fixed == ["a@example.com"]


@pytest.mark.parametrize(
    ("dates", "key"),
    [
        ({"start": "Visit_Start__c"}, "date_fields.end"),
        ({"end": "Visit_End__c"}, "date_fields.start"),
        ({}, "date_fields.date"),
        ({"date": "Due_Date__c", "start": "Visit_Start__c", "end": "Visit_End__c"}, "date_fields"),
    ],
)
def test_object_dates_one_date_or_two_datetimes(
    tmp_path: Path, dates: dict[str, str], key: str
) -> None:  # R-M2
    err = refused(tmp_path, {**MILESTONES, "date_fields": dates})
    assert err.key == key and "R-M2" in str(err)


def test_event_profile_takes_no_date_fields(tmp_path: Path) -> None:  # R-M2
    err = refused(tmp_path, {**EVENT, "date_fields": {"date": "ActivityDate"}})
    assert err.key == "date_fields"


@pytest.mark.parametrize(
    ("patch", "key"),
    [
        ({"sobject": "Project Milestone"}, "sobject"),
        ({"sobject": "Bad__Name__c__c"}, "sobject"),
        ({"date_fields": {"date": "Due-Date__c"}}, "date_fields.date"),
        ({"field_map": {"subject": "Name; DROP"}}, "field_map.subject"),
        ({"field_map": {"subject": "{Name!r}"}}, "field_map.subject"),
        ({"field_map": {"show_as": "{Status__c}"}}, "field_map.show_as"),
        ({"preserve_fields": ["Who Id"]}, "preserve_fields"),
    ],
)
def test_invalid_api_names_refused(tmp_path: Path, patch: dict[str, Any], key: str) -> None:
    # R-M2, R-M4: every name that reaches SOQL must be an API name.
    err = refused(tmp_path, {**MILESTONES, **patch})
    assert err.key == key, str(err)
    assert "letters, digits" in str(err) or "template" in str(err) or "placeholder" in str(err)


def test_relationship_paths_allowed_in_templates(tmp_path: Path) -> None:
    # R-M4: a template over fields, relationship paths included.
    p = load_profiles(write(tmp_path, {**MILESTONES, "field_map": {"subject": "{Name} ({Project__r.Name})"}}))
    assert "Project__r.Name" in p.get("milestones").salesforce_fields()


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("Status__c = 'Open'; DELETE", "semicolon"),
        ("Id IN (SELECT Id FROM Account)", "SELECT"),
        ("Status__c = 'Open' LIMIT 10", "LIMIT"),
        ("Status__c = 'Open' -- everything", "comment"),
        ("Status__c = 'Open' /* x */", "comment"),
        ("Status__c = 'Open", "quote"),
        ("(Status__c = 'Open'", "parenthes"),
        ("Status__c = :x", "bind"),
        ("Status__c = Other__c", "literal"),
        ("Status__c", "comparison"),
    ],
)
def test_filter_that_is_not_a_plain_condition_refused(tmp_path: Path, text: str, why: str) -> None:
    # R-O2 (a record matches when it passes the filter).
    # The filter is appended to SOQL: anything but a plain condition is refused (never trusted).
    err = refused(tmp_path, {**MILESTONES, "filter": text})
    assert err.key == "filter" and why in str(err) and "allowed: a plain condition" in str(err)


@pytest.mark.parametrize(
    "text",
    [
        "Status__c = 'Open' AND (Type IN ('a', 'b') OR NOT IsPrivate = true)",
        "CreatedDate >= LAST_N_DAYS:30 AND Due_Date__c < 2030-01-01",
        "Owner.Email LIKE '%@example.com' AND Amount > -5.5",
        "Tags__c INCLUDES ('a;b') AND Name != null",
        "Status__c NOT IN ('Done') AND LastModifiedDate > 2024-01-01T00:00:00Z",
    ],
)
def test_plain_conditions_accepted(text: str) -> None:
    # R-O2: filters a user needs are accepted and survive canonicalisation.
    parsed = parse_filter(text)
    assert parse_filter(parsed.text) == parsed  # the canonical form is a fixed point


def test_filter_quoted_text_may_hold_any_character() -> None:
    # R-O2: quoted text is data, not syntax.
    assert parse_filter("Name = 'a;b -- c /* d'").text == "Name = 'a;b -- c /* d'"
    with pytest.raises(FilterError):
        parse_filter("Name = 'a' ; Name = 'b'")


def test_event_profiles_may_not_share_opt_in_category(tmp_path: Path) -> None:  # R-O2
    err = refused(tmp_path, EVENT, {**EVENT, "id": "events2"})
    assert err.profile == "events2" and err.key == "categories.opt_in" and "R-O2" in str(err)


def test_shared_opt_in_allowed_with_disjoint_fixed_lists(tmp_path: Path) -> None:  # R-O2
    a = {
        "id": "a",
        "kind": "event",
        "direction": "salesforce_to_mailbox",
        "mailboxes": {"fixed": ["x@e.com"]},
    }
    b = {**a, "id": "b", "mailboxes": {"fixed": ["y@e.com"]}}
    assert load_profiles(write(tmp_path, a, b)).ids == ["a", "b"]
    err = refused(tmp_path, a, {**b, "mailboxes": {"fixed": ["y@e.com", "x@e.com"]}})
    assert "overlap" in str(err)


def test_two_profiles_may_not_share_a_category(tmp_path: Path) -> None:  # R-M3
    other = {**MILESTONES, "id": "m2", "sobject": "Other__c", "categories": {"object_category": "Salesforce"}}
    err = refused(tmp_path, EVENT, other)
    assert err.profile == "m2" and err.key == "categories.object_category" and "R-M3" in str(err)


def test_unsync_category_may_not_equal_a_profile_category(tmp_path: Path) -> None:  # R-O2
    err = refused(tmp_path, MILESTONES, {**EVENT, "categories": {"unsync": "Salesforce: Project Milestone"}})
    assert err.profile == "events" and err.key == "categories.unsync"
    err = refused(tmp_path, {**EVENT, "categories": {"opt_in": "X", "unsync": "X"}})
    assert err.key == "categories.unsync"


@pytest.mark.parametrize(
    ("window", "key"),
    [
        ({"future_days": 1826}, "window.future_days"),
        ({"future_days": 0}, "window.future_days"),
        ({"future_days": None}, "window.future_days"),
        ({"past_days": -1}, "window.past_days"),
    ],
)
def test_window_bounded(tmp_path: Path, window: dict[str, Any], key: str) -> None:  # R-S2
    err = refused(tmp_path, {**EVENT, "window": window})
    assert err.key == key


def test_unknown_key_with_hint(tmp_path: Path) -> None:
    # R-S4: every setting is known and hashed; a typo is never silently ignored.
    err = refused(tmp_path, {**EVENT, "directon": "two_way"})
    assert err.key == "directon" and "did you mean 'direction'?" in str(err)
    err = refused(tmp_path, {**EVENT, "window": {"future_dayz": 3}})
    assert err.key == "window.future_dayz" and "did you mean 'future_days'?" in str(err)
    assert "allowed keys here: past_days, future_days" in str(err)


def test_literal_values_name_what_is_allowed(tmp_path: Path) -> None:
    # R-D1 (conflict_winner), R-M3 (category colour).
    err = refused(tmp_path, {**EVENT, "conflict_winner": "oldest"})
    assert err.key == "conflict_winner" and "'newest', 'salesforce' or 'mailbox'" in str(err)
    err = refused(tmp_path, {**MILESTONES, "categories": {"color": "red"}})
    assert err.key == "categories.color" and "preset24" in str(err)


def test_duplicate_ids_refused(tmp_path: Path) -> None:
    # R-O1, R-O2: the id keys links, cursors and ledger rows.
    err = refused(tmp_path, MILESTONES, {**MILESTONES, "categories": {"object_category": "Other"}})
    assert err.key == "id" and "duplicate" in str(err)


def test_bad_id_and_missing_kind(tmp_path: Path) -> None:
    # R-M1: the kind decides every default.
    assert refused(tmp_path, {"id": "Bad Id", "kind": "event"}).key == "id"
    err = refused(tmp_path, {"id": "x"})
    assert err.profile == "x" and err.key == "kind"


def test_file_level_errors(tmp_path: Path) -> None:
    # No SPEC rule: DESIGN 'every command exits with a one-line reason'.
    missing = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError, match="file not found"):
        load_profiles(missing)
    bad = tmp_path / "bad.yaml"
    bad.write_text("profiles: [\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_profiles(bad)
    with pytest.raises(ConfigError, match="'profiles' list"):
        parse_profiles({"profile": []}, "f.yaml")


def test_api_name_rules() -> None:
    # R-M4: field map entries are API names or paths.
    assert is_api_name("Due_Date__c") and is_api_name("ns__Field__c") and is_api_name("Subject")
    assert not is_api_name("Due__Date") and not is_api_name("1Field") and not is_api_name("A__r")
    assert is_field_path("Owner.Email") and is_field_path("Project__r.Owner.Email")
    assert not is_field_path("Project__c.Name") and not is_field_path("Owner.")
