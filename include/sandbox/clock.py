"""The sandbox clock: real time by default, settable through the admin API.

Every timestamp the emulators write (SystemModstamp, lastModifiedDateTime, token expiry, delta
watermarks) comes from one Clock, so a test can move time forward or freeze it.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta


class Clock:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._frozen: datetime | None = None
        self._offset = timedelta(0)
        self._last: datetime | None = None

    def now(self) -> datetime:
        """Current sandbox time (UTC, microseconds). Strictly increasing while frozen is unset."""
        with self._lock:
            t = self._frozen if self._frozen is not None else datetime.now(UTC) + self._offset
            # Two writes in the same microsecond must still be ordered, as SystemModstamp is.
            if self._frozen is None and self._last is not None and t <= self._last:
                t = self._last + timedelta(microseconds=1)
            self._last = t
            return t

    def set(self, when: datetime, frozen: bool = False) -> None:
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        with self._lock:
            self._last = None
            if frozen:
                self._frozen = when
                self._offset = timedelta(0)
            else:
                self._frozen = None
                self._offset = when - datetime.now(UTC)

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._last = None
            if self._frozen is not None:
                self._frozen += timedelta(seconds=seconds)
            else:
                self._offset += timedelta(seconds=seconds)

    def reset(self) -> None:
        with self._lock:
            self._frozen, self._offset, self._last = None, timedelta(0), None

    def describe(self) -> dict[str, object]:
        return {"now": self.now().isoformat(), "frozen": self._frozen is not None,
                "offset_seconds": self._offset.total_seconds()}
