"""The OData pieces Graph's calendar endpoints accept: time zones, date formats, Prefer, $select,
$orderby and the $filter subset calsync and Outlook clients use.

The $filter grammar is a small recursive-descent parser over: ``and``/``or``/``not``, parentheses,
``eq ne gt ge lt le``, paths (``start/dateTime``), string/bool/null/number/date literals, and
``any`` lambdas over ``categories`` and ``singleValueExtendedProperties``. Anything else answers
400 ``ErrorInvalidUrlQueryFilter`` as Graph does for filters it cannot run.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from tzlocal.windows_tz import tz_win, win_tz

from sandbox.graph import errors

# ---------------------------------------------------------------------------------------------------
# time zones and dates


def zone(name: str | None) -> tzinfo:
    """A Windows ("W. Europe Standard Time") or IANA ("Europe/Berlin") name as a tzinfo."""
    if not name or name.upper() in ("UTC", "Z", "ETC/UTC", "COORDINATED UNIVERSAL TIME"):
        return UTC
    if name in win_tz:
        return ZoneInfo(win_tz[name])
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as e:
        raise errors.unsupported_time_zone(name) from e


def known_zone(name: str | None) -> bool:
    try:
        zone(name)
        return True
    except errors.GraphError:
        return False


def windows_name(name: str) -> str:
    """The Windows name Exchange reports for a zone given either way."""
    if name in win_tz or name == "UTC":
        return name
    return tz_win.get(name, name)


_FRACTION = re.compile(r"(\.\d{1,6})\d*")


def parse_datetime(text: str) -> datetime:
    """ISO date/time as sent by clients: any fraction length, optional Z or offset, or a bare date."""
    t = text.strip()
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", t):
        return datetime.combine(date.fromisoformat(t), time())
    t = _FRACTION.sub(lambda m: m.group(1), t)
    if t.endswith("Z") or t.endswith("z"):
        t = t[:-1] + "+00:00"
    return datetime.fromisoformat(t)


def instant(dtz: dict[str, Any]) -> datetime:
    """A Graph dateTimeTimeZone as an aware UTC datetime."""
    local = parse_datetime(str(dtz.get("dateTime", "")))
    if local.tzinfo is None:
        local = local.replace(tzinfo=zone(dtz.get("timeZone")))
    return local.astimezone(UTC)


def fmt_local(dt: datetime) -> str:
    """dateTimeTimeZone.dateTime: no offset, seven fraction digits."""
    return dt.replace(tzinfo=None).strftime("%Y-%m-%dT%H:%M:%S.%f") + "0"


def fmt_utc(dt: datetime) -> str:
    """DateTimeOffset as Graph writes it: UTC, seven fraction digits, Z."""
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"


def fmt_error_date(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")


def parse_range_param(value: str | None, name: str) -> datetime:
    if not value:
        raise errors.invalid_parameter(
            "This request requires a time window specified by the query string parameters "
            "StartDateTime and EndDateTime."
        )
    try:
        dt = parse_datetime(value)
    except ValueError as e:
        raise errors.invalid_parameter(f"The value '{value}' of parameter '{name}' is invalid.") from e
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


# ---------------------------------------------------------------------------------------------------
# Prefer header


def prefer(header: str | None) -> dict[str, str]:
    """``odata.maxpagesize=50, outlook.timezone="Pacific Standard Time"`` -> dict (lower-case keys)."""
    out: dict[str, str] = {}
    for part in re.findall(r'([\w.\-]+)\s*=\s*("[^"]*"|[^,;]+)', header or ""):
        out[part[0].strip().lower()] = part[1].strip().strip('"')
    return out


# ---------------------------------------------------------------------------------------------------
# $select / $orderby / $expand


def select_set(value: str | None, allowed: set[str]) -> set[str] | None:
    if not value:
        return None
    names = {s.strip() for s in value.split(",") if s.strip()}
    lower = {a.lower(): a for a in allowed}
    out: set[str] = set()
    for n in names:
        if n.lower() not in lower:
            raise errors.unknown_select(n)
        out.add(lower[n.lower()])
    return out


def get_path(doc: Any, path: str) -> Any:
    cur = doc
    for part in path.split("/"):
        if not isinstance(cur, dict):
            return None
        low = {k.lower(): k for k in cur}
        key = low.get(part.lower())
        cur = cur.get(key) if key is not None else None
    return cur


def order_key(orderby: str | None) -> list[tuple[str, bool]]:
    """``start/dateTime desc, subject`` -> [(path, descending)]."""
    out: list[tuple[str, bool]] = []
    for part in (orderby or "").split(","):
        bits = part.split()
        if not bits:
            continue
        if len(bits) > 2 or (len(bits) == 2 and bits[1].lower() not in ("asc", "desc")):
            raise errors.GraphError(400, "BadRequest", f"Invalid $orderby expression '{part.strip()}'.")
        out.append((bits[0], len(bits) == 2 and bits[1].lower() == "desc"))
    return out


def sort_docs(docs: list[dict[str, Any]], orderby: str | None) -> list[dict[str, Any]]:
    for path, desc in reversed(order_key(orderby)):
        docs.sort(key=lambda d, p=path: _sortable(get_path(d, p)), reverse=desc)
    return docs


def _sortable(v: Any) -> tuple[int, Any]:
    if v is None:
        return (0, "")
    if isinstance(v, (bool, int, float)):
        return (1, float(v))
    dt = _as_datetime(v)
    if dt is not None:
        return (2, dt.timestamp())
    return (3, str(v).lower())


def expand_extended_filter(value: str | None) -> tuple[bool, Callable[[dict[str, Any]], bool] | None]:
    """``singleValueExtendedProperties($filter=id eq '...')`` -> (expand?, predicate over {id, value})."""
    if not value:
        return False, None
    m = re.fullmatch(
        r"\s*singleValueExtendedProperties\s*(?:\(\s*\$filter\s*=\s*(.*)\)\s*)?",
        value,
        re.IGNORECASE | re.DOTALL,
    )
    if not m:
        name = value.split("(")[0].strip()
        raise errors.GraphError(
            400, "BadRequest", f"Could not find a property named '{name}' on type 'microsoft.graph.event'."
        )
    return True, (compile_filter(m.group(1)) if m.group(1) else None)


# ---------------------------------------------------------------------------------------------------
# $filter

_TOKEN = re.compile(
    r"""
    \s*(?:
      (?P<str>'(?:[^']|'')*')
    | (?P<dt>\d{4}-\d{2}-\d{2}(?:T[\d:.]+(?:Z|[+-]\d{2}:\d{2})?)?)
    | (?P<num>-?\d+(?:\.\d+)?)
    | (?P<punct>[(),:])
    | (?P<word>[A-Za-z_@][\w@.]*(?:/[A-Za-z_@][\w@.]*)*)
    )""",
    re.VERBOSE,
)

_CMP = {"eq", "ne", "gt", "ge", "lt", "le"}
Predicate = Callable[[dict[str, Any]], bool]


def _tokens(text: str) -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    pos = 0
    text = text.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise errors.invalid_filter()
        pos = m.end()
        kind = m.lastgroup or ""
        val = m.group(kind)
        if kind == "str":
            out.append(("lit", val[1:-1].replace("''", "'")))
        elif kind == "dt":
            out.append(("lit", val))
        elif kind == "num":
            out.append(("lit", float(val) if "." in val else int(val)))
        elif kind == "punct":
            out.append(("p", val))
        else:
            low = val.lower()
            if low in ("true", "false"):
                out.append(("lit", low == "true"))
            elif low == "null":
                out.append(("lit", None))
            elif low in _CMP or low in ("and", "or", "not"):
                out.append(("op", low))
            else:
                out.append(("path", val))
    return out


def _as_datetime(v: Any) -> datetime | None:
    if not isinstance(v, str) or not re.match(r"\d{4}-\d{2}-\d{2}", v):
        return None
    try:
        dt = parse_datetime(v)
    except ValueError:
        return None
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt


def _compare(op: str, left: Any, right: Any) -> bool:
    ld, rd = _as_datetime(left), _as_datetime(right)
    if ld is not None and rd is not None:
        left, right = ld, rd
    elif isinstance(left, str) and isinstance(right, str):
        left, right = left.lower(), right.lower()
    if op == "eq":
        return bool(left == right)
    if op == "ne":
        return bool(left != right)
    if left is None or right is None:
        return False
    try:
        return {"gt": left > right, "ge": left >= right, "lt": left < right, "le": left <= right}[op]
    except TypeError:
        return False


class _Parser:
    def __init__(self, tokens: list[tuple[str, Any]]) -> None:
        self.t = tokens
        self.i = 0

    def peek(self) -> tuple[str, Any] | None:
        return self.t[self.i] if self.i < len(self.t) else None

    def take(self, kind: str, value: Any = None) -> Any:
        tok = self.peek()
        if tok is None or tok[0] != kind or (value is not None and tok[1] != value):
            raise errors.invalid_filter()
        self.i += 1
        return tok[1]

    def parse(self) -> Predicate:
        p = self.or_expr({})
        if self.peek() is not None:
            raise errors.invalid_filter()
        return p

    def or_expr(self, scope: dict[str, bool]) -> Predicate:
        left = self.and_expr(scope)
        while self.peek() == ("op", "or"):
            self.i += 1
            right = self.and_expr(scope)
            left = (lambda a, b: lambda d: a(d) or b(d))(left, right)
        return left

    def and_expr(self, scope: dict[str, bool]) -> Predicate:
        left = self.unary(scope)
        while self.peek() == ("op", "and"):
            self.i += 1
            right = self.unary(scope)
            left = (lambda a, b: lambda d: a(d) and b(d))(left, right)
        return left

    def unary(self, scope: dict[str, bool]) -> Predicate:
        if self.peek() == ("op", "not"):
            self.i += 1
            inner = self.unary(scope)
            return lambda d: not inner(d)
        if self.peek() == ("p", "("):
            self.i += 1
            inner = self.or_expr(scope)
            self.take("p", ")")
            return inner
        return self.comparison(scope)

    def operand(self, scope: dict[str, bool]) -> Callable[[dict[str, Any]], Any]:
        tok = self.peek()
        if tok is None:
            raise errors.invalid_filter()
        if tok[0] == "lit":
            self.i += 1
            value = tok[1]
            return lambda d: value
        if tok[0] == "path":
            self.i += 1
            path: str = tok[1]
            head, _, rest = path.partition("/")
            if head in scope:
                # the lambda variable: bound in the document under its own name by the any() evaluator
                return lambda d: d.get(head) if not rest else get_path(d.get(head), rest)
            return lambda d: get_path(d, path)
        raise errors.invalid_filter()

    def comparison(self, scope: dict[str, bool]) -> Predicate:
        tok = self.peek()
        # path/any(x: ...) lambdas
        if tok and tok[0] == "path" and tok[1].lower().endswith("/any"):
            self.i += 1
            coll = tok[1][:-4]
            self.take("p", "(")
            var = self.take("path")
            self.take("p", ":")
            inner = self.or_expr({**scope, var: True})
            self.take("p", ")")

            def any_pred(d: dict[str, Any]) -> bool:
                items = get_path(d, coll) or []
                return any(inner({**d, var: item}) for item in items)

            return any_pred
        left = self.operand(scope)
        op_tok = self.peek()
        if op_tok is None or op_tok[0] != "op" or op_tok[1] not in _CMP:
            raise errors.invalid_filter()
        self.i += 1
        right = self.operand(scope)
        op = op_tok[1]
        return lambda d: _compare(op, left(d), right(d))


def compile_filter(text: str | None) -> Predicate | None:
    if not text or not text.strip():
        return None
    return _Parser(_tokens(text)).parse()


def day_bounds(d: date, tz: tzinfo) -> tuple[datetime, datetime]:
    start = datetime.combine(d, time(), tz).astimezone(UTC)
    return start, datetime.combine(d + timedelta(days=1), time(), tz).astimezone(UTC)
