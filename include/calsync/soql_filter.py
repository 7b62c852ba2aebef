"""Salesforce API names and profile filters: what a profile may put into a SOQL query.

A profile's ``filter`` is appended to calsync's own ``SELECT ... WHERE (<window>) AND (<filter>)``, so
it is never trusted as text: it is tokenised and parsed as a plain condition (field comparisons with
literals, AND / OR / NOT, parentheses, IN lists, date literals) and re-rendered from the tokens.
Anything else (a semicolon, a subquery, SELECT, LIMIT, a comment, a bind variable, an unbalanced quote
or parenthesis) is refused with a message that says what is allowed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# A standard or custom name: starts with a letter, no double underscore inside the name itself, an
# optional managed-package namespace ("ns__") and an optional custom suffix.
_NAME = r"[A-Za-z](?:[A-Za-z0-9]|_(?=[A-Za-z0-9]))*"
_SUFFIXES = ("c", "r", "e", "x", "mdt", "b", "kav", "pc", "pr", "s")
# A namespace ("ns__") comes only with a custom suffix: "Due__Date" is neither standard nor custom.
_API_NAME = re.compile(rf"^(?:{_NAME}|(?:{_NAME}__)?{_NAME}__(?:{'|'.join(_SUFFIXES)}))$")
_SOBJECT_NAME = re.compile(rf"^(?:{_NAME}|(?:{_NAME}__)?{_NAME}__(?:c|e|x|mdt|b|kav))$")

API_NAME_RULE = "letters, digits and single underscores, starting with a letter, optionally ending in __c"
PATH_RULE = API_NAME_RULE + "; relationship paths such as Owner.Email are written with dots"


def is_api_name(name: str) -> bool:
    """A single field API name (Subject, Due_Date__c, ns__Field__c)."""
    return bool(_API_NAME.match(name)) and not name.endswith("__r")


def is_sobject_name(name: str) -> bool:
    return bool(_SOBJECT_NAME.match(name))


def is_field_path(path: str) -> bool:
    """A field, or a relationship path ending in a field (Owner.Email, Account__r.Owner.Email)."""
    parts = path.split(".")
    if len(parts) > 6 or not all(_API_NAME.match(p) for p in parts):
        return False
    # Every segment but the last is a relationship: standard name or __r; never a __c field.
    return all(not p.endswith("__c") for p in parts[:-1]) and not parts[-1].endswith("__r")


class FilterError(ValueError):
    """The filter is not a plain condition; the message says what is wrong and what is allowed."""


FILTER_RULE = (
    "a plain condition: field comparisons (=, !=, <, <=, >, >=, LIKE, IN (...), NOT IN (...), INCLUDES, "
    "EXCLUDES) with literals ('text', numbers, true/false/null, dates, date literals such as TODAY or "
    "LAST_N_DAYS:30), joined by AND / OR / NOT and parentheses"
)

_KEYWORDS = {"AND", "OR", "NOT", "IN", "LIKE", "INCLUDES", "EXCLUDES"}
_FORBIDDEN = {"SELECT", "FROM", "WHERE", "LIMIT", "OFFSET", "ORDER", "GROUP", "HAVING", "WITH", "FOR",
              "UPDATE", "USING", "TYPEOF", "FIELDS"}
_CONSTANTS = {"TRUE", "FALSE", "NULL"}
_DATE_LITERALS = {
    "YESTERDAY", "TODAY", "TOMORROW", "LAST_WEEK", "THIS_WEEK", "NEXT_WEEK", "LAST_MONTH", "THIS_MONTH",
    "NEXT_MONTH", "LAST_90_DAYS", "NEXT_90_DAYS", "THIS_QUARTER", "LAST_QUARTER", "NEXT_QUARTER",
    "THIS_YEAR", "LAST_YEAR", "NEXT_YEAR", "THIS_FISCAL_QUARTER", "LAST_FISCAL_QUARTER",
    "NEXT_FISCAL_QUARTER", "THIS_FISCAL_YEAR", "LAST_FISCAL_YEAR", "NEXT_FISCAL_YEAR",
}
_N_DATE_LITERAL = re.compile(
    r"^(LAST|NEXT)_N_(DAYS|WEEKS|MONTHS|QUARTERS|YEARS|FISCAL_QUARTERS|FISCAL_YEARS):\d{1,4}$"
    r"|^N_(DAYS|WEEKS|MONTHS|QUARTERS|YEARS|FISCAL_QUARTERS|FISCAL_YEARS)_AGO:\d{1,4}$", re.I)
_TOKEN = re.compile(
    r"""\s*(?:
        (?P<str>'(?:[^'\\\n]|\\.)*')
      | (?P<datetime>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,3})?(?:Z|[+-]\d{2}:?\d{2}))
      | (?P<date>\d{4}-\d{2}-\d{2})
      | (?P<num>-?\d+(?:\.\d+)?)
      | (?P<word>[A-Za-z][A-Za-z0-9_]*(?:\.[A-Za-z][A-Za-z0-9_]*)*(?::\d+)?)
      | (?P<op><=|>=|!=|<>|=|<|>)
      | (?P<punct>[(),])
    )""", re.X)


@dataclass(frozen=True)
class _Tok:
    kind: str  # str | datetime | date | num | word | op | punct
    text: str


def _tokenize(text: str) -> list[_Tok]:
    tokens: list[_Tok] = []
    pos = 0
    text = text.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            rest = text[pos:].lstrip()
            # Checked only outside quoted text, where these are legitimate characters.
            for start, why in (("'", "unbalanced quote"), (";", "a semicolon is not allowed"),
                               ("--", "comments are not allowed"), ("/*", "comments are not allowed"),
                               ("//", "comments are not allowed"), (":", "bind variables are not allowed")):
                if rest.startswith(start):
                    raise FilterError(why)
            raise FilterError(f"unexpected text at {rest[:20]!r}")
        kind = m.lastgroup or ""
        tokens.append(_Tok(kind, m.group(kind)))
        pos = m.end()
        while pos < len(text) and text[pos].isspace():
            pos += 1
    return tokens


class _Parser:
    def __init__(self, tokens: list[_Tok]) -> None:
        self.toks = tokens
        self.i = 0
        self.fields: list[str] = []

    def peek(self) -> _Tok | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def peek_word(self) -> str:
        t = self.peek()
        return t.text.upper() if t is not None and t.kind == "word" else ""

    def take(self) -> _Tok:
        t = self.peek()
        if t is None:
            raise FilterError("the condition ends too early")
        self.i += 1
        return t

    def expect_punct(self, p: str) -> None:
        t = self.take()
        if t.kind != "punct" or t.text != p:
            raise FilterError(f"expected {p!r}, found {t.text!r}")

    # expr := term (OR term)* ; term := factor (AND factor)* ; factor := NOT factor | (expr) | comparison
    def expr(self) -> str:
        parts = [self.term()]
        while self.peek_word() == "OR":
            self.take()
            parts.append(self.term())
        return " OR ".join(parts)

    def term(self) -> str:
        parts = [self.factor()]
        while self.peek_word() == "AND":
            self.take()
            parts.append(self.factor())
        return " AND ".join(parts)

    def factor(self) -> str:
        if self.peek_word() == "NOT":
            self.take()
            return "NOT " + self.factor()
        t = self.peek()
        if t is not None and t.kind == "punct" and t.text == "(":
            self.take()
            if self.peek_word() in _FORBIDDEN:
                raise FilterError("subqueries are not allowed")
            inner = self.expr()
            self.expect_punct(")")
            return f"({inner})"
        return self.comparison()

    def comparison(self) -> str:
        t = self.take()
        if t.kind != "word" or t.text.upper() in _KEYWORDS | _CONSTANTS | _DATE_LITERALS:
            raise FilterError(f"expected a field name, found {t.text!r}")
        if ":" in t.text or not is_field_path(t.text):
            raise FilterError(f"{t.text!r} is not a field name ({PATH_RULE})")
        self.fields.append(t.text)
        field = t.text
        op_tok = self.take()
        word = op_tok.text.upper() if op_tok.kind == "word" else ""
        if op_tok.kind == "op":
            op = "!=" if op_tok.text == "<>" else op_tok.text
            return f"{field} {op} {self.literal()}"
        if word == "LIKE":
            lit = self.take()
            if lit.kind != "str":
                raise FilterError("LIKE needs a quoted text")
            return f"{field} LIKE {lit.text}"
        if word == "NOT" and self.peek_word() == "IN":
            self.take()
            return f"{field} NOT IN {self.literal_list()}"
        if word in ("IN", "INCLUDES", "EXCLUDES"):
            return f"{field} {word} {self.literal_list()}"
        raise FilterError(f"expected a comparison operator after {field!r}, found {op_tok.text!r}")

    def literal_list(self) -> str:
        self.expect_punct("(")
        if self.peek_word() in _FORBIDDEN:
            raise FilterError("subqueries are not allowed")
        values = [self.literal()]
        while True:
            t = self.take()
            if t.kind == "punct" and t.text == ",":
                values.append(self.literal())
            elif t.kind == "punct" and t.text == ")":
                return "(" + ", ".join(values) + ")"
            else:
                raise FilterError(f"expected ',' or ')' in a list, found {t.text!r}")

    def literal(self) -> str:
        t = self.take()
        if t.kind in ("str", "num", "date", "datetime"):
            return t.text
        if t.kind == "word":
            upper = t.text.upper()
            if upper in _CONSTANTS:
                return upper.lower()
            if upper in _DATE_LITERALS or _N_DATE_LITERAL.match(t.text):
                return upper
        raise FilterError(f"{t.text!r} is not a literal (quote text as 'text')")


@dataclass(frozen=True)
class ParsedFilter:
    text: str  # canonical rendering: safe to append to SOQL
    fields: tuple[str, ...]


def parse_filter(text: str) -> ParsedFilter:
    """Parse a profile filter; raise FilterError with what is wrong. Returns the canonical text."""
    if not text or not text.strip():
        raise FilterError("the filter is empty (leave the key out instead)")
    tokens = _tokenize(text)
    for t in tokens:
        if t.kind == "word" and t.text.upper() in _FORBIDDEN:
            raise FilterError(f"{t.text.upper()} is not allowed (subqueries and query clauses are refused)")
    depth = 0
    for t in tokens:
        if t.kind == "punct":
            depth += {"(": 1, ")": -1}.get(t.text, 0)
            if depth < 0:
                raise FilterError("unbalanced parentheses")
    if depth:
        raise FilterError("unbalanced parentheses")
    parser = _Parser(tokens)
    rendered = parser.expr()
    if parser.peek() is not None:
        raise FilterError(f"unexpected {parser.peek().text!r} after the condition")  # type: ignore[union-attr]
    return ParsedFilter(rendered, tuple(dict.fromkeys(parser.fields)))
