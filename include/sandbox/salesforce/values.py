"""Salesforce value formats: record ids, datetimes, dates, and coercion of JSON/CSV input.

Values are stored in their wire form (datetimes ``2024-01-15T10:30:00.000+0000`` in UTC, dates
``2024-01-15``): both sort as strings, so SOQL comparisons and ORDER BY need no parsing per row, and a
snapshot is plain JSON.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Any

from sandbox.salesforce.errors import RecordError
from sandbox.salesforce.schema import FieldDef

_SUFFIX_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
_B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_ID_RE = re.compile(r"^[a-zA-Z0-9]{15}([a-zA-Z0-9]{3})?$")


def case_safe_suffix(id15: str) -> str:
    """The 3-character suffix that makes a 15-character id case-insensitively unique."""
    out = []
    for chunk in range(3):
        bits = 0
        for i, ch in enumerate(id15[chunk * 5 : chunk * 5 + 5]):
            if "A" <= ch <= "Z":
                bits |= 1 << i
        out.append(_SUFFIX_ALPHABET[bits])
    return "".join(out)


def make_id(prefix: str, n: int) -> str:
    digits = []
    for _ in range(9):
        n, r = divmod(n, 62)
        digits.append(_B62[r])
    id15 = prefix + "8c0" + "".join(reversed(digits))
    return id15 + case_safe_suffix(id15)


def looks_like_id(value: str) -> bool:
    return bool(_ID_RE.match(value))


def to18(value: str) -> str | None:
    """The 18-character form of an id, or None when the value is not a well-formed id."""
    if not looks_like_id(value):
        return None
    if len(value) == 15:
        return value + case_safe_suffix(value)
    return value if case_safe_suffix(value[:15]) == value[15:] else None


def format_datetime(dt: datetime) -> str:
    dt = dt.astimezone(UTC) if dt.tzinfo else dt.replace(tzinfo=UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}+0000"


def parse_datetime(text: str) -> datetime:
    """ISO 8601 in any of the forms clients send (Z, +00:00, +0000, fractions, a date alone)."""
    s = text.strip()
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", s):
        return datetime.fromisoformat(s).replace(tzinfo=UTC)
    s = re.sub(r"([+-]\d{2})(\d{2})$", r"\1:\2", s.replace("Z", "+00:00").replace("z", "+00:00"))
    dt = datetime.fromisoformat(s)
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def canonical_datetime(text: str) -> str:
    return format_datetime(parse_datetime(text))


def canonical_date(text: str) -> str:
    return date.fromisoformat(text.strip()[:10]).isoformat()


def _deserialize_error(f: FieldDef, value: Any, what: str) -> RecordError:
    return RecordError(
        "JSON_PARSER_ERROR",
        f"Cannot deserialize instance of {what} from VALUE_STRING value {value} or request "
        "may be missing a required field",
        [f.name],
    )


def coerce(f: FieldDef, value: Any) -> Any:
    """A JSON value written to field ``f``, in stored form; raises RecordError like the real API."""
    if value is None:
        return None
    t = f.type
    try:
        if t == "boolean":
            if isinstance(value, bool):
                return value
            if isinstance(value, str) and value.lower() in ("true", "false"):
                return value.lower() == "true"
            raise ValueError
        if t == "int":
            if isinstance(value, bool):
                raise ValueError
            return int(value)
        if t in ("double", "currency", "percent"):
            return float(value)
        if t == "datetime":
            return canonical_datetime(str(value))
        if t == "date":
            return canonical_date(str(value))
    except (TypeError, ValueError):
        raise _deserialize_error(
            f,
            value,
            {"datetime": "datetime", "date": "date", "boolean": "boolean"}.get(
                t, "double" if t != "int" else "int"
            ),
        ) from None
    if t in ("id", "reference"):
        return str(value)
    return str(value) if not isinstance(value, str) else value


def from_csv(f: FieldDef, text: str) -> Any:
    """A Bulk API CSV cell in stored form. ``#N/A`` means null; an empty cell means no value."""
    if text == "" or text == "#N/A":
        return None
    if f.type == "boolean":
        low = text.strip().lower()
        if low in ("true", "1", "yes"):
            return True
        if low in ("false", "0", "no"):
            return False
    return coerce(f, text)


def to_csv(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
