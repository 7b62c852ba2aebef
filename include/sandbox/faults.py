"""Reproducible fault injection for the emulators.

Faults are rules set through the admin API. Each rule names the API (``salesforce`` | ``graph`` |
``identity`` | ``*``), an optional HTTP method and a regular expression over the path or route name,
and what to do: ``error`` answers a status (429/503 with Retry-After, 410 on delta links, 403
REQUEST_LIMIT_EXCEEDED, ...) on a fraction of matching calls instead of serving them; ``latency`` adds a
delay; ``drop_after_commit`` serves the call (the write commits) and then closes the connection without
answering. Randomness comes from one seeded generator, so
the same seed and the same request sequence give the same faults.
"""

from __future__ import annotations

import random
import re
import threading
from dataclasses import dataclass, field
from typing import Any

DROP_CONNECTION = object()


@dataclass
class FaultRule:
    kind: str  # "error" | "latency" | "drop_after_commit"
    api: str = "*"
    method: str | None = None
    path: str = ".*"  # regex searched in the path and in the route name
    fraction: float = 1.0
    status: int = 429
    retry_after: int = 1
    code: str = "TooManyRequests"
    latency_ms: int = 0
    remaining: int | None = None  # how many more times the rule may fire; None = unlimited
    _regex: re.Pattern[str] | None = field(default=None, repr=False)

    def matches(self, api: str, method: str, path: str, route: str) -> bool:
        if self.api not in ("*", api):
            return False
        if self.method and self.method.upper() != method:
            return False
        if self._regex is None:
            self._regex = re.compile(self.path)
        return bool(self._regex.search(path) or self._regex.search(route))

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if not k.startswith("_")}


@dataclass
class Decision:
    status: int = 0
    retry_after: int = 0
    code: str = ""
    latency_s: float = 0.0


class FaultPlan:
    """The active fault rules and the per-mailbox concurrency limit."""

    def __init__(self, seed: int = 0) -> None:
        self._lock = threading.Lock()
        self.seed = seed
        self._rng = random.Random(seed)
        self.rules: list[FaultRule] = []
        # Outlook allows 4 concurrent requests per mailbox; Microsoft's documents disagree on whether
        # the limit is per mailbox or per app, so the scope is a setting. 0 disables the limit.
        self.max_concurrent = 0
        self.concurrency_scope = "mailbox"  # "mailbox" | "app"

    def reset(self, seed: int | None = None) -> None:
        with self._lock:
            if seed is not None:
                self.seed = seed
            self._rng = random.Random(self.seed)
            self.rules.clear()
            self.max_concurrent = 0
            self.concurrency_scope = "mailbox"

    def configure(self, spec: dict[str, Any]) -> dict[str, Any]:
        """Replace or extend the rules from an admin payload.

        ``{"seed": 7, "replace": true, "rules": [{"kind": "error", "api": "graph", "fraction": 0.3}],
        "max_concurrent": 4, "concurrency_scope": "mailbox"}``
        """
        with self._lock:
            if "seed" in spec:
                self.seed = int(spec["seed"])
                self._rng = random.Random(self.seed)
            if spec.get("replace", True):
                self.rules.clear()
            for r in spec.get("rules", []):
                self.rules.append(FaultRule(**r))
            self._check()
            if "max_concurrent" in spec:
                self.max_concurrent = int(spec["max_concurrent"])
            if "concurrency_scope" in spec:
                if spec["concurrency_scope"] not in ("mailbox", "app"):
                    raise ValueError("concurrency_scope must be 'mailbox' or 'app'")
                self.concurrency_scope = spec["concurrency_scope"]
            return self.describe()

    def describe(self) -> dict[str, Any]:
        return {
            "seed": self.seed,
            "rules": [r.to_dict() for r in self.rules],
            "max_concurrent": self.max_concurrent,
            "concurrency_scope": self.concurrency_scope,
        }

    def _check(self) -> None:
        for r in self.rules:
            if r.kind not in ("error", "latency", "drop_after_commit"):
                raise ValueError(f"unknown fault kind {r.kind!r}: use error, latency or drop_after_commit")
            re.compile(r.path)

    def _fire(self, rule: FaultRule) -> bool:
        if rule.remaining is not None and rule.remaining <= 0:
            return False
        if rule.fraction < 1.0 and self._rng.random() >= rule.fraction:
            return False
        if rule.remaining is not None:
            rule.remaining -= 1
        return True

    def before(self, api: str, method: str, path: str, route: str) -> Decision:
        d = Decision()
        with self._lock:
            for rule in self.rules:
                if rule.kind == "drop_after_commit" or not rule.matches(api, method, path, route):
                    continue
                # Once an error answer is decided, later error rules neither fire nor spend their count.
                if rule.kind == "error" and d.status:
                    continue
                if not self._fire(rule):
                    continue
                if rule.kind == "latency":
                    d.latency_s += rule.latency_ms / 1000.0
                elif rule.kind == "error":
                    d.status, d.retry_after, d.code = rule.status, rule.retry_after, rule.code
        return d

    def drop_after(self, api: str, method: str, path: str, route: str, status: int) -> bool:
        """True when the connection must be dropped although the handler answered ``status``."""
        if status >= 400:
            return False
        with self._lock:
            for rule in self.rules:
                if (rule.kind == "drop_after_commit" and rule.matches(api, method, path, route)
                        and self._fire(rule)):
                    return True
        return False

    def concurrency_key(self, api: str, mailbox: str | None) -> str | None:
        if not self.max_concurrent or api != "graph":
            return None
        if self.concurrency_scope == "app":
            return "app"
        return f"mailbox:{mailbox}" if mailbox else None
