"""A SOQL subset: tokenizer, recursive-descent parser, and a compiler to plain Python closures.

Supported: ``SELECT f, Rel.f, COUNT() FROM Obj [WHERE ...] [ORDER BY f [ASC|DESC] [NULLS FIRST|LAST], ...]
[LIMIT n] [OFFSET n]``; conditions with AND / OR / NOT and parentheses (AND and OR mixed without
parentheses is refused, as by Salesforce); ``= != <> < <= > >= LIKE IN NOT IN INCLUDES EXCLUDES``;
string, number, true/false, null, date and datetime literals and the date literals (TODAY, THIS_WEEK,
LAST_N_DAYS:n, NEXT_N_MONTHS:n, N_WEEKS_AGO:n, ...; fiscal periods are calendar periods).
Errors carry Salesforce's codes and its "ERROR at Row:r:Column:c" message shape.
No eval: the compiled query is a tree of closures over stored (wire-form) values.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sandbox.salesforce.schema import FieldDef, ObjectDef, OrgSchema
from sandbox.salesforce.values import canonical_date, canonical_datetime, format_datetime, to18

KEYWORDS = {
    "SELECT",
    "FROM",
    "WHERE",
    "AND",
    "OR",
    "NOT",
    "IN",
    "LIKE",
    "ORDER",
    "BY",
    "ASC",
    "DESC",
    "NULLS",
    "FIRST",
    "LAST",
    "LIMIT",
    "OFFSET",
    "NULL",
    "TRUE",
    "FALSE",
    "COUNT",
    "INCLUDES",
    "EXCLUDES",
    "GROUP",
    "HAVING",
}
UNITS = ("DAYS", "WEEKS", "MONTHS", "QUARTERS", "YEARS", "FISCAL_QUARTERS", "FISCAL_YEARS")
# Date literals taking ":n" (LAST_N_DAYS:7, N_WEEKS_AGO:2, ...) and those that take none (THIS_MONTH).
DATE_RANGES = (
    {f"{d}_N_{u}" for d in ("LAST", "NEXT") for u in UNITS}
    | {f"N_{u}_AGO" for u in UNITS}
    | {"N_DAYS_FROM_NOW"}
)
PLAIN_DATE_LITERALS = {"TODAY", "YESTERDAY", "TOMORROW", "LAST_90_DAYS", "NEXT_90_DAYS"} | {
    f"{w}_{u}"
    for w in ("THIS", "LAST", "NEXT")
    for u in ("WEEK", "MONTH", "QUARTER", "YEAR", "FISCAL_QUARTER", "FISCAL_YEAR")
}
# Fields of the polymorphic "Name" entity a Who/What/Relation path can read (as in a real org).
NAME_ENTITY_FIELDS = {
    "id": "Id",
    "name": "Name",
    "firstname": "FirstName",
    "lastname": "LastName",
    "email": "Email",
    "alias": "Alias",
    "title": "Title",
    "phone": "Phone",
    "username": "Username",
    "isactive": "IsActive",
    "type": "Type",
}

_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<datetime>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,3})?(?:Z|[+-]\d{2}:?\d{2}))
  | (?P<date>\d{4}-\d{2}-\d{2})
  | (?P<number>-?\d+(?:\.\d+)?)
  | (?P<string>'(?:[^'\\]|\\.)*')
  | (?P<rangen>[A-Za-z_]+:\s*-?\d+)
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)
  | (?P<op>!=|<>|<=|>=|=|<|>)
  | (?P<punct>[(),])
""",
    re.VERBOSE,
)


class SoqlError(Exception):
    def __init__(self, code: str, message: str, pos: int | None = None) -> None:
        super().__init__(message)
        self.code, self.message, self.pos = code, message, pos

    def render(self, soql: str) -> str:
        if self.pos is None:
            return self.message
        row = soql.count("\n", 0, self.pos) + 1
        line_start = soql.rfind("\n", 0, self.pos) + 1
        line_end = soql.find("\n", self.pos)
        line = soql[line_start : line_end if line_end >= 0 else len(soql)]
        col = self.pos - line_start + 1
        return f"\n{line}\n{' ' * (col - 1)}^\nERROR at Row:{row}:Column:{col}\n{self.message}"


@dataclass
class Tok:
    kind: str  # ident, keyword, string, number, date, datetime, rangen, op, punct, eof
    text: str
    pos: int

    @property
    def upper(self) -> str:
        return self.text.upper()


def tokenize(soql: str) -> list[Tok]:
    out: list[Tok] = []
    pos = 0
    while pos < len(soql):
        m = _TOKEN.match(soql, pos)
        if not m:
            raise SoqlError("MALFORMED_QUERY", f"unexpected token: '{soql[pos:].split()[0]}'", pos)
        kind = m.lastgroup or ""
        if kind != "ws":
            text = m.group()
            if kind == "rangen" and text.split(":")[0].upper() not in DATE_RANGES:
                raise SoqlError("MALFORMED_QUERY", f"unexpected token: '{text}'", pos)
            if kind == "ident" and text.upper() in KEYWORDS:
                kind = "keyword"
            out.append(Tok(kind, text, pos))
        pos = m.end()
    out.append(Tok("eof", "", len(soql)))
    return out


# AST -----------------------------------------------------------------------------------------------
@dataclass
class Path:
    parts: list[str]
    pos: int


@dataclass
class Literal:
    kind: str  # string number bool null date datetime range
    value: Any
    pos: int
    raw: str = ""  # a string's text between the quotes, escapes kept (LIKE needs "\_" and "\%")


@dataclass
class Cmp:
    path: Path
    op: str  # = != < <= > >= like in notin includes excludes
    value: Literal | list[Literal]


@dataclass
class BoolOp:
    op: str  # and / or / not
    items: list[Any]


@dataclass
class OrderItem:
    path: Path
    desc: bool = False
    nulls_first: bool | None = None


@dataclass
class Query:
    fields: list[Path]
    count: bool
    sobject: str
    sobject_pos: int
    where: Any = None
    order: list[OrderItem] = field(default_factory=list)
    limit: int | None = None
    offset: int | None = None


class Parser:
    def __init__(self, soql: str) -> None:
        self.toks = tokenize(soql)
        self.i = 0

    def peek(self) -> Tok:
        return self.toks[self.i]

    def next(self) -> Tok:
        t = self.toks[self.i]
        self.i += 1
        return t

    def unexpected(self, t: Tok | None = None) -> SoqlError:
        t = t or self.peek()
        if t.kind == "eof":
            return SoqlError("MALFORMED_QUERY", "unexpected token: <EOF>", t.pos)
        return SoqlError("MALFORMED_QUERY", f"unexpected token: '{t.text}'", t.pos)

    def kw(self, *words: str) -> bool:
        t = self.peek()
        return t.kind == "keyword" and t.upper in words

    def expect_kw(self, word: str) -> Tok:
        if not self.kw(word):
            raise self.unexpected()
        return self.next()

    def expect_punct(self, p: str) -> Tok:
        t = self.peek()
        if t.kind != "punct" or t.text != p:
            raise self.unexpected()
        return self.next()

    def parse(self) -> Query:
        self.expect_kw("SELECT")
        fields: list[Path] = []
        count = False
        while True:
            t = self.peek()
            if self.kw("COUNT"):
                self.next()
                self.expect_punct("(")
                self.expect_punct(")")
                count = True
            elif t.kind == "ident":
                self.next()
                fields.append(Path(t.text.split("."), t.pos))
            else:
                raise self.unexpected()
            if self.peek().kind == "punct" and self.peek().text == ",":
                self.next()
                continue
            break
        if count and fields:
            raise SoqlError(
                "MALFORMED_QUERY", "COUNT() and fields cannot be selected together", fields[0].pos
            )
        self.expect_kw("FROM")
        t = self.next()
        if t.kind != "ident" or "." in t.text:
            raise self.unexpected(t)
        q = Query(fields, count, t.text, t.pos)
        if self.kw("WHERE"):
            self.next()
            q.where = self.condition()
        if self.kw("ORDER"):
            self.next()
            self.expect_kw("BY")
            q.order = self.order_list()
        if self.kw("LIMIT"):
            self.next()
            q.limit = self.integer()
        if self.kw("OFFSET"):
            self.next()
            q.offset = self.integer()
        if self.peek().kind != "eof":
            raise self.unexpected()
        return q

    def integer(self) -> int:
        t = self.next()
        if t.kind != "number" or not t.text.isdigit():
            raise self.unexpected(t)
        return int(t.text)

    def order_list(self) -> list[OrderItem]:
        items = []
        while True:
            t = self.next()
            if t.kind != "ident":
                raise self.unexpected(t)
            item = OrderItem(Path(t.text.split("."), t.pos))
            if self.kw("ASC", "DESC"):
                item.desc = self.next().upper == "DESC"
            if self.kw("NULLS"):
                self.next()
                if not self.kw("FIRST", "LAST"):
                    raise self.unexpected()
                item.nulls_first = self.next().upper == "FIRST"
            items.append(item)
            if self.peek().kind == "punct" and self.peek().text == ",":
                self.next()
                continue
            return items

    def condition(self) -> Any:
        items = [self.unary()]
        joiner: str | None = None
        while self.kw("AND", "OR"):
            t = self.peek()
            if joiner and t.upper != joiner:
                raise self.unexpected(t)  # mixing AND/OR needs parentheses in SOQL
            joiner = self.next().upper
            items.append(self.unary())
        return items[0] if len(items) == 1 else BoolOp(joiner.lower() if joiner else "and", items)

    def unary(self) -> Any:
        if self.kw("NOT"):
            self.next()
            return BoolOp("not", [self.unary()])
        t = self.peek()
        if t.kind == "punct" and t.text == "(":
            self.next()
            inner = self.condition()
            self.expect_punct(")")
            return inner
        return self.comparison()

    def comparison(self) -> Cmp:
        t = self.next()
        if t.kind != "ident":
            raise self.unexpected(t)
        path = Path(t.text.split("."), t.pos)
        if self.kw("NOT"):
            self.next()
            self.expect_kw("IN")
            return Cmp(path, "notin", self.value_list())
        if self.kw("IN"):
            self.next()
            return Cmp(path, "in", self.value_list())
        if self.kw("INCLUDES", "EXCLUDES"):
            return Cmp(path, self.next().upper.lower(), self.value_list())
        if self.kw("LIKE"):
            self.next()
            v = self.value()
            if v.kind != "string":
                raise SoqlError("MALFORMED_QUERY", "LIKE needs a string value", v.pos)
            return Cmp(path, "like", v)
        op = self.next()
        if op.kind != "op":
            raise self.unexpected(op)
        return Cmp(path, "!=" if op.text == "<>" else op.text, self.value())

    def value_list(self) -> list[Literal]:
        self.expect_punct("(")
        vals = [self.value()]
        while self.peek().kind == "punct" and self.peek().text == ",":
            self.next()
            vals.append(self.value())
        self.expect_punct(")")
        return vals

    def value(self) -> Literal:
        t = self.next()
        if t.kind == "string":
            return Literal("string", _unescape(t.text[1:-1]), t.pos, t.text[1:-1])
        if t.kind == "number":
            return Literal("number", float(t.text) if "." in t.text else int(t.text), t.pos)
        if t.kind == "date":
            return Literal("date", t.text, t.pos)
        if t.kind == "datetime":
            return Literal("datetime", t.text, t.pos)
        if t.kind == "rangen":
            name, n = t.text.split(":")
            return Literal("range", (name.upper(), int(n)), t.pos)
        if t.kind == "keyword" and t.upper in ("TRUE", "FALSE"):
            return Literal("bool", t.upper == "TRUE", t.pos)
        if t.kind == "keyword" and t.upper == "NULL":
            return Literal("null", None, t.pos)
        if t.kind == "ident" and t.upper in PLAIN_DATE_LITERALS:
            return Literal("range", (t.upper, 0), t.pos)
        raise self.unexpected(t)


def _like_regex(raw: str) -> str:
    """A LIKE pattern as a regex: % and _ are wildcards, a backslash makes the next character literal."""
    out, i = ["^"], 0
    while i < len(raw):
        ch = raw[i]
        if ch == "\\" and i + 1 < len(raw):
            i += 1
            out.append(re.escape(raw[i]))
        else:
            out.append(".*" if ch == "%" else "." if ch == "_" else re.escape(ch))
        i += 1
    return "".join(out) + "$"


def _unescape(s: str) -> str:
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t", "r": "\r"}.get(m.group(1), m.group(1)), s)


def parse(soql: str) -> Query:
    return Parser(soql).parse()


# compilation ---------------------------------------------------------------------------------------
Lookup = Callable[[str], tuple[ObjectDef, dict[str, Any]] | None]


@dataclass
class Step:
    """One relationship hop: the reference field and the name it has in output."""

    ref: FieldDef
    rel_name: str
    polymorphic: bool
    target: ObjectDef | None  # None when polymorphic


@dataclass
class Column:
    """A resolved field path; ``get(record)`` follows relationships through ``lookup``."""

    steps: list[Step]
    name: str  # canonical name of the last part
    field: FieldDef
    get: Callable[[dict[str, Any]], Any]

    @property
    def label(self) -> str:
        return ".".join([s.rel_name for s in self.steps] + [self.name])


_NAME_PSEUDO = {
    "Id": FieldDef("Id", "id", "Id", length=18),
    "IsActive": FieldDef("IsActive", "boolean", "Active"),
}


def _invalid_field(name: str, obj: str, pos: int) -> SoqlError:
    return SoqlError(
        "INVALID_FIELD",
        f"No such column '{name}' on entity '{obj}'. If you are attempting to use a custom field, be sure to "
        "append the '__c' after the custom field name. Please reference your WSDL or the describe call for "
        "the appropriate names.",
        pos,
    )


def _bad_relationship(name: str, pos: int) -> SoqlError:
    return SoqlError(
        "INVALID_FIELD",
        f"Didn't understand relationship '{name}' in field path. If you are attempting to use a custom "
        "relationship, be sure to append the '__r' after the custom relationship name. Please reference "
        "your WSDL or the describe call for the appropriate names.",
        pos,
    )


def resolve(schema: OrgSchema, obj: ObjectDef, path: Path, lookup: Lookup) -> Column:
    steps: list[Step] = []
    current: ObjectDef | None = obj
    polymorphic = False
    for rel in path.parts[:-1]:
        if polymorphic or current is None:
            raise _bad_relationship(rel, path.pos)
        ref = current.relationship(rel)
        if ref is None:
            raise _bad_relationship(rel, path.pos)
        polymorphic = len(ref.reference_to) > 1
        target = None if polymorphic else schema.object(ref.reference_to[0])
        steps.append(Step(ref, ref.relationship_name or rel, polymorphic, target))
        current = target
    last = path.parts[-1]
    if polymorphic:
        canonical = NAME_ENTITY_FIELDS.get(last.lower())
        if canonical is None:
            raise _invalid_field(last, "Name", path.pos)
        fdef = _NAME_PSEUDO.get(canonical, FieldDef(canonical, "string", canonical, length=255))
    else:
        assert current is not None
        found = current.field(last)
        if found is None:
            raise _invalid_field(last, current.name, path.pos)
        fdef, canonical = found, found.name

    if not steps:

        def get_direct(r: dict[str, Any], _n: str = canonical) -> Any:
            return r.get(_n)

        return Column(steps, canonical, fdef, get_direct)

    hop_names = [s.ref.name for s in steps]

    def get_path(r: dict[str, Any]) -> Any:
        rec: dict[str, Any] | None = r
        odef: ObjectDef | None = None
        for hop in hop_names:
            ref_id = rec.get(hop) if rec is not None else None
            found_rec = lookup(ref_id) if ref_id else None
            if found_rec is None:
                return None
            odef, rec = found_rec
        if rec is None or odef is None:
            return None
        if canonical == "Type" and polymorphic:
            return odef.name
        return rec.get(canonical)

    return Column(steps, canonical, fdef, get_path)


def _add_months(d: datetime, months: int) -> datetime:
    y, m = divmod(d.month - 1 + months, 12)
    return d.replace(year=d.year + y, month=m + 1, day=1)


def _period(unit: str, today: datetime) -> tuple[datetime, Callable[[datetime, int], datetime]]:
    """The start of the current period of ``unit`` and a function that moves a start by k periods.

    Weeks start on Sunday (en_US); the fiscal year is the calendar year (FiscalYearStartMonth 1).
    """
    unit = unit.removeprefix("FISCAL_").rstrip("S")
    if unit == "DAY":
        return today, lambda d, k: d + timedelta(days=k)
    if unit == "WEEK":
        return today - timedelta(days=(today.weekday() + 1) % 7), lambda d, k: d + timedelta(weeks=k)
    if unit == "MONTH":
        return today.replace(day=1), _add_months
    if unit == "QUARTER":
        return today.replace(day=1, month=(today.month - 1) // 3 * 3 + 1), lambda d, k: _add_months(d, 3 * k)
    return today.replace(day=1, month=1), lambda d, k: _add_months(d, 12 * k)


def _range_bounds(name: str, n: int, now: datetime) -> tuple[datetime, datetime]:
    """A date literal as a half-open range [lo, hi) of UTC instants."""
    today = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    day = timedelta(days=1)
    fixed = {
        "TODAY": (today, today + day),
        "YESTERDAY": (today - day, today),
        "TOMORROW": (today + day, today + 2 * day),
        "LAST_90_DAYS": (today - 90 * day, today + day),
        "NEXT_90_DAYS": (today + day, today + 91 * day),
        "LAST_N_DAYS": (today - n * day, today + day),
        "NEXT_N_DAYS": (today + day, today + (n + 1) * day),
        "N_DAYS_AGO": (today - n * day, today - (n - 1) * day),
        "N_DAYS_FROM_NOW": (today + n * day, today + (n + 1) * day),
    }
    if name in fixed:
        return fixed[name]
    head, _, unit = name.partition("_")
    if head in ("THIS", "LAST", "NEXT") and "_N_" not in name:
        start, move = _period(unit, today)
        k = {"THIS": 0, "LAST": -1, "NEXT": 1}[head]
        return move(start, k), move(start, k + 1)
    if name.startswith("N_"):  # N_WEEKS_AGO:n
        start, move = _period(name[2:-4], today)
        return move(start, -n), move(start, -n + 1)
    start, move = _period(name.split("_N_")[1], today)
    if head == "LAST":
        return move(start, -n), start
    return move(start, 1), move(start, n + 1)


_TYPE_WORD = {"datetime": "dateTime", "date": "date", "boolean": "boolean", "int": "int", "double": "double"}


def _literal_value(col: Column, lit: Literal, now: datetime) -> Any:
    """The literal in the stored form of the column's type, or a SOQL type error like Salesforce's."""
    t = col.field.type
    if lit.kind == "null":
        return None

    def mismatch() -> SoqlError:
        word = _TYPE_WORD.get(t, "string")
        quoted = "should be enclosed in quotes" if word == "string" else "should not be enclosed in quotes"
        return SoqlError(
            "INVALID_FIELD",
            f"value of filter criterion for field '{col.name}' must be of type {word} and {quoted}",
            lit.pos,
        )

    if t in ("id", "reference"):
        if lit.kind != "string":
            raise mismatch()
        v18 = to18(lit.value)
        if v18 is None:
            raise SoqlError("INVALID_QUERY_FILTER_OPERATOR", f"invalid ID field: {lit.value}", lit.pos)
        return v18
    if t == "boolean":
        if lit.kind != "bool":
            raise mismatch()
        return lit.value
    if t in ("int", "double", "currency", "percent"):
        if lit.kind != "number":
            raise mismatch()
        return lit.value
    if t == "datetime":
        if lit.kind == "datetime":
            return canonical_datetime(lit.value)
        if lit.kind == "range":
            lo, hi = _range_bounds(*lit.value, now)
            return (format_datetime(lo), format_datetime(hi))
        raise mismatch()
    if t == "date":
        if lit.kind == "date":
            return canonical_date(lit.value)
        if lit.kind == "range":
            lo, hi = _range_bounds(*lit.value, now)
            return (lo.date().isoformat(), hi.date().isoformat())
        raise mismatch()
    if lit.kind != "string":
        raise mismatch()
    return lit.value.lower()


Pred = Callable[[dict[str, Any]], bool]


def _compile_cmp(c: Cmp, col: Column, now: datetime) -> Pred:
    get = col.get
    text = col.field.is_text
    norm: Callable[[Any], Any] = (lambda v: v.lower() if isinstance(v, str) else v) if text else (lambda v: v)
    if c.op in ("includes", "excludes"):
        assert isinstance(c.value, list)
        if col.field.type != "multipicklist":
            raise SoqlError(
                "INVALID_QUERY_FILTER_OPERATOR",
                f"{c.op.upper()} operator is only valid on multipicklist field {col.name}",
                c.path.pos,
            )
        wanted = [{p.strip().lower() for p in str(v.value).split(";")} for v in c.value]

        def includes(r: dict[str, Any]) -> bool:
            have = {p.strip().lower() for p in (get(r) or "").split(";") if p}
            return any(w <= have for w in wanted)

        return includes if c.op == "includes" else (lambda r: not includes(r))
    if c.op in ("in", "notin"):
        assert isinstance(c.value, list)
        values = {_literal_value(col, v, now) for v in c.value}
        if any(isinstance(v, tuple) for v in values):
            raise SoqlError("MALFORMED_QUERY", "date literals cannot be used with IN", c.path.pos)
        if c.op == "in":
            return lambda r: norm(get(r)) in values
        return lambda r: norm(get(r)) not in values
    assert isinstance(c.value, Literal)
    if c.op == "like":
        pattern = re.compile(_like_regex(c.value.raw), re.IGNORECASE | re.DOTALL)
        return lambda r: (v := get(r)) is not None and bool(pattern.match(str(v)))
    val = _literal_value(col, c.value, now)
    op = c.op
    if val is None:
        if op == "=":
            return lambda r: get(r) is None
        if op == "!=":
            return lambda r: get(r) is not None
        raise SoqlError("MALFORMED_QUERY", "null can only be compared with = or !=", c.value.pos)
    if isinstance(val, tuple):  # a date range literal: [lo, hi)
        lo, hi = val
        table: dict[str, Pred] = {
            "=": lambda r: (v := get(r)) is not None and lo <= v < hi,
            "!=": lambda r: (v := get(r)) is None or not (lo <= v < hi),
            "<": lambda r: (v := get(r)) is not None and v < lo,
            "<=": lambda r: (v := get(r)) is not None and v < hi,
            ">": lambda r: (v := get(r)) is not None and v >= hi,
            ">=": lambda r: (v := get(r)) is not None and v >= lo,
        }
        return table[op]
    ops: dict[str, Pred] = {
        "=": lambda r: norm(get(r)) == val,
        "!=": lambda r: norm(get(r)) != val,
        "<": lambda r: (v := get(r)) is not None and norm(v) < val,
        "<=": lambda r: (v := get(r)) is not None and norm(v) <= val,
        ">": lambda r: (v := get(r)) is not None and norm(v) > val,
        ">=": lambda r: (v := get(r)) is not None and norm(v) >= val,
    }
    return ops[op]


def _compile_where(node: Any, schema: OrgSchema, obj: ObjectDef, lookup: Lookup, now: datetime) -> Pred:
    if isinstance(node, Cmp):
        col = resolve(schema, obj, node.path, lookup)
        if not col.steps and col.field.type == "textarea" and col.field.length > 255:
            raise SoqlError(
                "INVALID_FIELD", f"field '{col.name}' can not be filtered in a query call", node.path.pos
            )
        return _compile_cmp(node, col, now)
    subs = [_compile_where(i, schema, obj, lookup, now) for i in node.items]
    if node.op == "not":
        inner = subs[0]
        return lambda r: not inner(r)
    if node.op == "and":
        return lambda r: all(p(r) for p in subs)
    return lambda r: any(p(r) for p in subs)


@dataclass
class Plan:
    """A compiled query, ready to run over an object's records."""

    soql: str
    query: Query
    obj: ObjectDef
    columns: list[Column]
    where: Pred | None
    order: list[tuple[Column, bool, bool]]  # column, desc, nulls_first

    def run(self, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        rows = [r for r in records if self.where(r)] if self.where else list(records)
        for col, desc, nulls_first in reversed(self.order):
            null_key = (0,) if nulls_first != desc else (2,)
            get, text = col.get, col.field.is_text

            def key(r: dict[str, Any], get: Any = get, text: bool = text, null_key: tuple = null_key) -> Any:
                v = get(r)
                if v is None:
                    return null_key
                return (1, v.lower() if text and isinstance(v, str) else v)

            rows.sort(key=key, reverse=desc)
        start = self.query.offset or 0
        end = start + self.query.limit if self.query.limit is not None else None
        return rows[start:end]


def compile_query(soql: str, schema: OrgSchema, lookup: Lookup, now: datetime) -> Plan:
    q = parse(soql)
    obj = schema.object(q.sobject)
    if obj is None:
        raise SoqlError(
            "INVALID_TYPE",
            f"sObject type '{q.sobject}' is not supported. If you are attempting to use a custom object, be "
            "sure to append the '__c' after the entity name. Please reference your WSDL or the describe call "
            "for the appropriate names.",
            q.sobject_pos,
        )
    columns: list[Column] = []
    seen: set[str] = set()
    for p in q.fields:
        col = resolve(schema, obj, p, lookup)
        if col.label.lower() in seen:
            raise SoqlError("MALFORMED_QUERY", f"duplicate field selected: {col.label}", p.pos)
        seen.add(col.label.lower())
        columns.append(col)
    if q.offset is not None and q.offset > 2000:
        raise SoqlError("NUMBER_OUTSIDE_VALID_RANGE", "Maximum SOQL offset allowed is 2000", None)
    where = _compile_where(q.where, schema, obj, lookup, now) if q.where is not None else None
    order = []
    for item in q.order:
        col = resolve(schema, obj, item.path, lookup)
        nulls_first = item.nulls_first if item.nulls_first is not None else not item.desc
        order.append((col, item.desc, nulls_first))
    return Plan(soql, q, obj, columns, where, order)
