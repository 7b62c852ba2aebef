"""Profiles: which Salesforce object maps to calendar items, how, and in which direction.

A profiles file (``$CALSYNC_PROFILES``, default ``include/profiles.yaml``) holds a list of profiles.
Each is validated by the pydantic models below; every invalid setting is refused with one
:class:`~calsync.errors.ConfigError` line that names the file, the profile, the dotted key and what is
allowed. The attribute names are a contract (docs/contracts/profile.md); docs/profiles.md documents
every key and a test keeps the two in step.

Defaults depend on the kind, which is why they are filled in before validation (``_fill_defaults``)
rather than declared on the fields: an ``event`` profile is ``two_way`` on ``Event`` with the standard
field map, an ``object`` profile is ``salesforce_to_mailbox`` with its own category.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import os
import re
import string
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from calsync.errors import ConfigError
from calsync.soql_filter import (
    API_NAME_RULE,
    FILTER_RULE,
    PATH_RULE,
    FilterError,
    is_api_name,
    is_field_path,
    is_sobject_name,
    parse_filter,
)

DEFAULT_PATH = Path(__file__).resolve().parent.parent / "profiles.yaml"
MAX_FUTURE_DAYS = 1825  # R-S2: Graph's calendarView needs a finite end
EVENT_SOBJECT = "Event"
COLORS = ("none", *(f"preset{i}" for i in range(25)))

# The standard Event field map (R-M4); an `object` profile maps only a subject unless told otherwise.
EVENT_FIELD_MAP: dict[str, str | None] = {
    "subject": "Subject", "body": "Description", "location": "Location", "show_as": "ShowAs",
    "reminder": "ReminderDateTime", "sensitivity": "IsPrivate",
}
OBJECT_FIELD_MAP: dict[str, str | None] = {
    "subject": "Name", "body": None, "location": None, "show_as": None, "reminder": None, "sensitivity": None,
}
# Templates make sense for text only; show-as, reminder and sensitivity are typed values.
TEMPLATABLE = ("subject", "body", "location")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def is_template(value: str | None) -> bool:
    """A field-map value with ``{Field}`` placeholders (a value without braces is a field name)."""
    return value is not None and "{" in value


def template_fields(template: str) -> list[str]:
    """The field paths a template reads, in order of first use. Raises ValueError on bad syntax."""
    fields: list[str] = []
    for _literal, name, spec, conversion in string.Formatter().parse(template):
        if name is None:
            continue
        if spec or conversion:
            raise ValueError(f"placeholder {{{name}}} may not carry a format or conversion")
        if not is_field_path(name):
            raise ValueError(f"placeholder {{{name}}} is not a field name ({PATH_RULE})")
        if name not in fields:
            fields.append(name)
    return fields


def template_parts(template: str) -> list[tuple[str, str | None]]:
    """(literal text, field path or None) pairs, for rendering a template column by column."""
    return [(lit, name) for lit, name, _s, _c in string.Formatter().parse(template)]


class DateFields(_Model):
    """Dates of an ``object`` profile (R-M2): one Date field (all-day) or two Date/Time fields (timed)."""

    date: str | None = None
    start: str | None = None
    end: str | None = None

    @field_validator("date", "start", "end")
    @classmethod
    def _api_name(cls, v: str | None) -> str | None:
        if v is not None and not is_api_name(v):
            raise ValueError(f"{v!r} is not a field API name ({API_NAME_RULE})")
        return v

    @property
    def is_all_day(self) -> bool:
        return self.date is not None

    def fields(self) -> list[str]:
        return [f for f in (self.date, self.start, self.end) if f]


class FieldMap(_Model):
    """Per synced field: a Salesforce field API name, a template like ``"{Name} ({Status__c})"`` (subject,
    body and location only; written to the mailbox, never upsynced) or null (not synced)."""

    subject: str | None = None
    body: str | None = None
    location: str | None = None
    show_as: str | None = None
    reminder: str | None = None
    sensitivity: str | None = None

    @model_validator(mode="after")
    def _check(self) -> FieldMap:
        for key in ("subject", "body", "location", "show_as", "reminder", "sensitivity"):
            value = getattr(self, key)
            if value is None:
                continue
            if is_template(value):
                if key not in TEMPLATABLE:
                    raise ValueError(f"{key}: a template is allowed for subject, body and location only; "
                                     "use a field API name")
                try:
                    template_fields(value)
                except ValueError as e:
                    raise ValueError(f"{key}: {e}") from None
            elif not is_field_path(value):
                raise ValueError(f"{key}: {value!r} is not a field API name ({PATH_RULE}) "
                                 "nor a template with {Field} placeholders")
        return self

    def items(self) -> Iterator[tuple[str, str | None]]:
        for key in ("subject", "body", "location", "show_as", "reminder", "sensitivity"):
            yield key, getattr(self, key)

    def salesforce_fields(self) -> list[str]:
        out: list[str] = []
        for _key, value in self.items():
            if value is None:
                continue
            for f in template_fields(value) if is_template(value) else [value]:
                if f not in out:
                    out.append(f)
        return out


class Categories(_Model):
    """Outlook categories (R-S3, R-X3, R-M3)."""

    opt_in: str = "Salesforce"
    unsync: str = "Salesforce Unsync"
    object_category: str | None = None
    color: str = "preset0"

    @field_validator("opt_in", "unsync", "object_category")
    @classmethod
    def _name(cls, v: str | None) -> str | None:
        if v is not None and (not v.strip() or len(v) > 255 or "," in v):
            raise ValueError("a category name is 1-255 characters without commas")
        return v.strip() if v is not None else None

    @field_validator("color")
    @classmethod
    def _color(cls, v: str) -> str:
        if v not in COLORS:
            raise ValueError("allowed: none, preset0 .. preset24 (Graph's category colours)")
        return v


class Window(_Model):
    """The scope around the session's reference time (R-S2)."""

    past_days: int = Field(14, ge=0, le=3650)
    future_days: int = Field(60, ge=1, le=MAX_FUTURE_DAYS)


class MailboxResolution(_Model):
    """Which mailbox a record goes to (R-M7)."""

    mode: Literal["owner", "user_field", "fixed"] = "owner"
    user_field: str | None = None
    fixed: list[str] = Field(default_factory=list)

    @field_validator("fixed")
    @classmethod
    def _emails(cls, v: list[str]) -> list[str]:
        out: list[str] = []
        for address in v:
            if not isinstance(address, str) or not _EMAIL.match(address.strip()):
                raise ValueError(f"{address!r} is not an email address")
            low = address.strip().lower()
            if low in out:
                raise ValueError(f"{address!r} is listed twice")
            out.append(low)
        return out

    @model_validator(mode="after")
    def _consistent(self) -> MailboxResolution:
        if self.mode == "fixed" and not self.fixed:
            raise ValueError("mode 'fixed' needs a non-empty list under 'fixed'")
        if self.mode != "fixed" and self.fixed:
            raise ValueError("a 'fixed' list needs mode 'fixed'")
        if self.mode == "user_field":
            if not self.user_field:
                raise ValueError("mode 'user_field' needs 'user_field' (a lookup field to User)")
            if not is_api_name(self.user_field):
                raise ValueError(f"user_field {self.user_field!r} is not a field API name ({API_NAME_RULE})")
        elif self.user_field:
            raise ValueError("'user_field' needs mode 'user_field'")
        return self


class Connections(_Model):
    """Airflow connection ids (R-G3)."""

    salesforce: str = "salesforce_default"
    msgraph: str = "msgraph_default"


class Profile(_Model):
    """One mapping from a Salesforce object to calendar items. See docs/profiles.md for every key."""

    id: str
    kind: Literal["event", "object"]
    sobject: str
    label: str | None = None
    date_fields: DateFields = Field(default_factory=DateFields)
    field_map: FieldMap
    categories: Categories = Field(default_factory=Categories)
    direction: Literal["two_way", "mailbox_to_salesforce", "salesforce_to_mailbox"]
    conflict_winner: Literal["newest", "salesforce", "mailbox"] = "newest"
    clock_skew_seconds: int = Field(60, ge=0, le=3600)
    salesforce_deletion: Literal["keep", "delete_appointments", "delete"] = "delete_appointments"
    downsync: bool = True
    window: Window = Field(default_factory=Window)
    on_leave_window: Literal["keep", "delete_salesforce_created"] = "keep"
    private_items: Literal["skip", "sync", "sync_without_flag"] = "skip"
    mailboxes: MailboxResolution = Field(default_factory=MailboxResolution)
    filter: str | None = None
    preserve_fields: list[str] = Field(default_factory=lambda: ["WhoId", "WhatId"])
    max_delete_fraction: float = Field(0.2, ge=0.0, le=1.0)
    min_delete_guard: int = Field(10, ge=0)
    max_invalid_fraction: float = Field(0.5, ge=0.0, le=1.0)
    min_invalid_guard: int = Field(10, ge=0)
    max_all_day_days: int = Field(14, ge=1, le=3650)
    staging_retention_days: int = Field(7, ge=0, le=3650)
    min_api_remaining: int = Field(1000, ge=0)
    connections: Connections = Field(default_factory=Connections)
    schedule: str = "*/30 * * * *"

    @model_validator(mode="before")
    @classmethod
    def _fill_defaults(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = dict(data)
        kind = data.get("kind")
        if kind == "event":
            data.setdefault("sobject", EVENT_SOBJECT)
            data.setdefault("direction", "two_way")
            base = EVENT_FIELD_MAP
        elif kind == "object":
            data.setdefault("direction", "salesforce_to_mailbox")
            data.setdefault("preserve_fields", [])  # WhoId/WhatId are Event fields
            base = OBJECT_FIELD_MAP
        else:
            return data  # the Literal check reports the kind
        fm = data.get("field_map")
        if fm is None or isinstance(fm, dict):
            # Keys left out take the kind's default; an explicit null unmaps the field.
            data["field_map"] = {**base, **(fm or {})}
        mb = data.get("mailboxes")
        if isinstance(mb, dict) and "mode" not in mb:
            mb = dict(mb)
            mb["mode"] = "fixed" if mb.get("fixed") else "user_field" if mb.get("user_field") else "owner"
            data["mailboxes"] = mb
        return data

    @field_validator("id")
    @classmethod
    def _id(cls, v: str) -> str:
        if not re.fullmatch(r"[a-z][a-z0-9_]{0,62}", v):
            raise ValueError("an id is 1-63 lower-case letters, digits and underscores, starting with a "
                             "letter "
                             "(it names DAGs, cursors and links, so keep it stable)")
        return v

    @field_validator("sobject")
    @classmethod
    def _sobject(cls, v: str) -> str:
        if not is_sobject_name(v):
            raise ValueError(f"{v!r} is not an sObject API name ({API_NAME_RULE})")
        return v

    @field_validator("preserve_fields")
    @classmethod
    def _preserve(cls, v: list[str]) -> list[str]:
        for name in v:
            if not isinstance(name, str) or not is_api_name(name):
                raise ValueError(f"{name!r} is not a field API name ({API_NAME_RULE})")
        return v

    @field_validator("filter")
    @classmethod
    def _filter(cls, v: str | None) -> str | None:
        if v is None:
            return None
        try:
            return parse_filter(v).text  # canonical: what is appended to SOQL is what was parsed
        except FilterError as e:
            raise ValueError(f"{e}; allowed: {FILTER_RULE}") from None

    @field_validator("schedule")
    @classmethod
    def _schedule(cls, v: str) -> str:
        presets = {"@hourly", "@daily", "@weekly", "@monthly", "@yearly", "@once", "@continuous"}
        if v in presets:
            return v
        try:
            from croniter import croniter
        except ImportError:  # pragma: no cover - croniter ships with Airflow
            ok = len(v.split()) == 5
        else:
            ok = croniter.is_valid(v)
        if not ok:
            raise ValueError("allowed: a five-field cron expression such as '*/30 * * * *' or a preset "
                             "such as '@hourly'")
        return v

    @model_validator(mode="after")
    def _rules(self) -> Profile:
        # Each message starts with the dotted key it is about (split off by the loader).
        if self.kind == "event":
            if self.sobject != EVENT_SOBJECT:
                raise ValueError("sobject: event profiles map 'Event'; use kind 'object' for other objects "
                                 "(R-M1)")
            if self.date_fields.fields():
                raise ValueError("date_fields: event profiles use the standard Event date fields (R-M2); "
                                 "leave date_fields out")
            if self.categories.object_category is not None:
                raise ValueError("categories.object_category: only object profiles have an object category "
                                 "(R-M3); event profiles use categories.opt_in")
        else:
            if self.sobject == EVENT_SOBJECT:
                raise ValueError("sobject: 'Event' is mapped by kind 'event' profiles (R-M1)")
            if self.direction != "salesforce_to_mailbox":
                raise ValueError(f"direction: object profiles are Salesforce -> mailbox only (R-M1); "
                                 f"allowed: salesforce_to_mailbox, not {self.direction}")
            d = self.date_fields
            if d.date and (d.start or d.end):
                raise ValueError("date_fields: either one Date field ('date', all-day) or two Date/Time "
                                 "fields ('start' and 'end', timed), not both (R-M2)")
            if not d.date and not (d.start and d.end):
                missing = "end" if d.start else "start" if d.end else "date"
                raise ValueError(f"date_fields.{missing}: object profiles need one Date field ('date') "
                                 "or two Date/Time fields ('start' and 'end') (R-M2)")
            if d.start and d.start == d.end:
                raise ValueError("date_fields.end: start and end must be two different fields (R-M2)")
        if not self.downsync and self.direction not in ("two_way", "mailbox_to_salesforce"):
            raise ValueError(f"downsync: 'downsync: false' is allowed with direction two_way or "
                             f"mailbox_to_salesforce only (R-X4), not with {self.direction}"
                             + (" or object profiles" if self.kind == "object" else ""))
        if self.mailboxes.mode == "fixed" and self.direction != "salesforce_to_mailbox":
            raise ValueError(f"mailboxes.fixed: a fixed mailbox list broadcasts one record to several "
                             f"mailboxes, so the profile must be direction salesforce_to_mailbox (R-M7), "
                             f"not {self.direction}")
        cats = self.categories
        if cats.unsync == self.item_category:
            raise ValueError("categories.unsync: the unsync category may not equal the profile's category "
                             "(R-O2)")
        return self

    # --- derived -------------------------------------------------------------------------------

    @property
    def authoritative_side(self) -> Literal["salesforce", "mailbox"] | None:
        if self.direction == "salesforce_to_mailbox":
            return "salesforce"
        if self.direction == "mailbox_to_salesforce":
            return "mailbox"
        return None

    @property
    def object_label(self) -> str:
        if self.label:
            return self.label
        base = re.sub(r"__(c|e|x|mdt|b|kav)$", "", self.sobject)
        base = base.split("__")[-1]  # drop a managed-package namespace
        return base.replace("_", " ")

    @property
    def item_category(self) -> str:
        """The category calsync puts on the items it creates: opt-in (event) or object category (R-M3)."""
        if self.kind == "event":
            return self.categories.opt_in
        return self.categories.object_category or f"Salesforce: {self.object_label}"

    @property
    def synced_fields(self) -> tuple[str, ...]:
        """The synced fields (schema.FIELD_NAMES) this profile maps; others hash as schema.UNSYNCED_HASH."""
        mapped = {k for k, v in self.field_map.items() if v is not None}
        if self.private_items == "sync_without_flag":
            mapped.discard("sensitivity")  # the flag is deliberately not carried (R-P1)
        out = [f for f in ("subject", "body", "location") if f in mapped]
        out.append("when")
        out += [f for f in ("show_as", "reminder", "sensitivity") if f in mapped]
        if self.kind == "event":
            out.append("attendees")
        return tuple(out)

    def is_templated(self, field: str) -> bool:
        """A templated field is written to the mailbox only (never upsynced, never reverted from it)."""
        return is_template(getattr(self.field_map, field, None))

    @property
    def upsync_fields(self) -> tuple[str, ...]:
        """Fields a mailbox change may be written to Salesforce for (none for object profiles)."""
        if self.kind == "object" or self.direction == "salesforce_to_mailbox":
            return ()
        return tuple(f for f in self.synced_fields if not self.is_templated(f))

    def salesforce_fields(self) -> list[str]:
        """Every field the extract must SELECT for this profile (mapped, dates, keys, preserve, filter)."""
        base = ["Id", "OwnerId", "IsDeleted", "SystemModstamp", "LastModifiedDate", "LastModifiedById",
                "CalSync_Event_Id__c"]
        if self.kind == "event":
            base += ["StartDateTime", "EndDateTime", "IsAllDayEvent", "ActivityDate", "DurationInMinutes",
                     "IsRecurrence", "RecurrenceActivityId"]
            if self.field_map.reminder == "ReminderDateTime":
                base.append("IsReminderSet")
        else:
            base += self.date_fields.fields()
        base += self.field_map.salesforce_fields()
        if self.mailboxes.mode == "user_field" and self.mailboxes.user_field:
            base.append(self.mailboxes.user_field)
        base += self.preserve_fields
        return list(dict.fromkeys(base))

    def settings_hash(self) -> str:
        """sha256 over every normalised setting (R-S4: a change forces a full reconcile)."""
        payload = json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()

    def summary_line(self) -> str:
        """One line for ``calsync check``."""
        mb = self.mailboxes
        where = {"owner": "owner", "user_field": f"user field {mb.user_field}",
                 "fixed": f"{len(mb.fixed)} fixed mailbox(es)"}[mb.mode]
        when = (f"all-day on {self.date_fields.date}" if self.date_fields.date
                else f"{self.date_fields.start}..{self.date_fields.end}" if self.kind == "object"
                else "Event dates")
        return (f"{self.id}: {self.kind} {self.sobject} {self.direction}, {when}, category "
                f"'{self.item_category}', window -{self.window.past_days}d/+{self.window.future_days}d, "
                f"mailboxes by {where}, filter {'yes' if self.filter else 'none'}, "
                f"settings {self.settings_hash()[:12]}")


class ProfileSet:
    """The profiles of one file, in file order (R-O2: the first matching profile claims a record)."""

    def __init__(self, path: Path, profiles: list[Profile]) -> None:
        self.path = path
        self.profiles = profiles
        self._by_id = {p.id: p for p in profiles}

    def get(self, profile_id: str) -> Profile:
        try:
            return self._by_id[profile_id]
        except KeyError:
            known = ", ".join(self._by_id) or "none"
            raise ConfigError(f"no such profile; known: {known}", file=str(self.path),
                              profile=profile_id) from None

    def __iter__(self) -> Iterator[Profile]:
        return iter(self.profiles)

    def __len__(self) -> int:
        return len(self.profiles)

    @property
    def ids(self) -> list[str]:
        return [p.id for p in self.profiles]


# --- loading -----------------------------------------------------------------------------------------


def _known_keys(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """The keys allowed at a location, walking nested models (for 'did you mean')."""
    current: type[BaseModel] | None = model
    for part in loc[:-1]:
        if current is None or not isinstance(part, str) or part not in current.model_fields:
            return []
        ann = current.model_fields[part].annotation
        current = ann if isinstance(ann, type) and issubclass(ann, BaseModel) else None
    return list(current.model_fields) if current is not None else []


def _describe(err: dict[str, Any]) -> tuple[str, str]:
    """(dotted key, message with what is allowed) for one pydantic error."""
    loc = tuple(p for p in err.get("loc", ()) if not (isinstance(p, str) and p.startswith("function-")))
    key = ".".join(str(p) for p in loc)
    kind = err.get("type", "")
    msg = str(err.get("msg", "invalid"))
    if kind == "extra_forbidden":
        known = _known_keys(Profile, loc)
        close = difflib.get_close_matches(str(loc[-1]), known, n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        return key, f"unknown key{hint} allowed keys here: {', '.join(known)}"
    if kind == "missing":
        return key, "required key is missing"
    if kind in ("value_error", "assertion_error"):
        msg = msg.removeprefix("Value error, ").removeprefix("Assertion failed, ")
        # Model-level rules name their own key as "key: message".
        m = re.match(r"^([a-z_]+(?:\.[a-z_]+)*): (.*)$", msg, re.S)
        if m and m.group(1).split(".")[0] in _known_keys(Profile, (*loc, "")):
            key = f"{key}.{m.group(1)}" if key else m.group(1)
            msg = m.group(2)
    return key, msg


def _fail(err: ValidationError, file: str, profile: str | None) -> ConfigError:
    errors = err.errors()
    # A bad or missing kind makes every kind-dependent default fail too: report the cause only.
    kind_errors = [e for e in errors if tuple(e.get("loc", ()))[:1] == ("kind",)]
    errors = kind_errors or errors
    key, msg = _describe(dict(errors[0]))
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return ConfigError(" ".join(f"{msg}{more}".split()), file=file, profile=profile, key=key or None)


def _read_yaml(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError("file not found", file=str(path)) from None
    except OSError as e:
        raise ConfigError(f"cannot read the file: {e.strerror}", file=str(path)) from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(e, "problem", None) or "invalid YAML"
        raise ConfigError(f"not valid YAML{where}: {problem}", file=str(path)) from None


def parse_profiles(data: Any, file: str = "<profiles>") -> list[Profile]:
    """Validate already-parsed YAML (``{"profiles": [...]}``): the profiles, or the first ConfigError."""
    if not isinstance(data, dict) or "profiles" not in data:
        raise ConfigError("the file must hold a mapping with a 'profiles' list", file=file, key="profiles")
    extra = sorted(set(data) - {"profiles"})
    if extra:
        raise ConfigError(f"unknown top-level key {extra[0]!r}; allowed: profiles", file=file, key=extra[0])
    raw = data["profiles"]
    if not isinstance(raw, list) or not raw:
        raise ConfigError("'profiles' must be a non-empty list of profiles", file=file, key="profiles")
    profiles: list[Profile] = []
    seen: dict[str, int] = {}
    for index, entry in enumerate(raw):
        pid = entry.get("id") if isinstance(entry, dict) else None
        label = pid if isinstance(pid, str) else f"#{index + 1}"
        if not isinstance(entry, dict):
            raise ConfigError("each profile is a mapping of keys", file=file, profile=label)
        try:
            profile = Profile.model_validate(entry)
        except ValidationError as e:
            raise _fail(e, file, label) from None
        if profile.id in seen:
            raise ConfigError(f"duplicate profile id (also profile #{seen[profile.id] + 1}); ids must be "
                              "unique",
                              file=file, profile=profile.id, key="id")
        seen[profile.id] = index
        profiles.append(profile)
    _check_across(profiles, file)
    return profiles


def _check_across(profiles: list[Profile], file: str) -> None:
    """Rules between profiles: categories (R-M3, R-O2)."""
    for i, p in enumerate(profiles):
        for q in profiles[:i]:
            if p.item_category != q.item_category:
                continue
            key = "categories.opt_in" if p.kind == "event" else "categories.object_category"
            if p.kind == q.kind == "event":
                a, b = set(p.mailboxes.fixed), set(q.mailboxes.fixed)
                if p.mailboxes.mode == q.mailboxes.mode == "fixed" and not a & b:
                    continue
                why = ("their fixed mailbox lists overlap" if p.mailboxes.mode == q.mailboxes.mode == "fixed"
                       else "only profiles with disjoint fixed mailbox lists may share one")
                raise ConfigError(f"opt-in category {p.item_category!r} is also used by profile {q.id!r}; "
                                  f"{why} (R-O2)", file=file, profile=p.id, key=key)
            raise ConfigError(f"category {p.item_category!r} is also used by profile {q.id!r}; two profiles "
                              "may not share a category (R-M3); set categories.object_category", file=file,
                              profile=p.id, key=key)
    item_categories = {p.item_category: p.id for p in profiles}
    for p in profiles:
        owner = item_categories.get(p.categories.unsync)
        if p.kind == "event" and owner is not None:
            raise ConfigError(f"unsync category {p.categories.unsync!r} is profile {owner!r}'s category; the "
                              "unsync category may not equal any profile's category (R-O2)", file=file,
                              profile=p.id, key="categories.unsync")


def load_profiles(path: str | Path | None = None) -> ProfileSet:
    """Load and validate a profiles file. None: ``$CALSYNC_PROFILES``, else ``include/profiles.yaml``."""
    if path is None:
        env = os.environ.get("CALSYNC_PROFILES")
        path = Path(env) if env else DEFAULT_PATH
    path = Path(path)
    return ProfileSet(path, parse_profiles(_read_yaml(path), str(path)))
