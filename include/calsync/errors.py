"""The engine's errors, split by how they are handled (fatal, retriable, per row, guard).

Each carries what the CLI needs to print one line that names the cause and the way out.
"""

from __future__ import annotations


class CalsyncError(Exception):
    """Base class: every error the engine raises on purpose."""


class ConfigError(CalsyncError):
    """A profile file or setting is invalid. The message names the file, the profile and the key."""

    def __init__(self, message: str, *, file: str | None = None, profile: str | None = None,
                 key: str | None = None) -> None:
        where = ", ".join(x for x in (file, f"profile {profile!r}" if profile else None,
                                      f"key {key!r}" if key else None) if x)
        super().__init__(f"{where}: {message}" if where else message)
        self.file, self.profile, self.key = file, profile, key


class RetriableApiError(CalsyncError):
    """429/503/REQUEST_LIMIT_EXCEEDED: try again after ``retry_after`` seconds (R-G2)."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class RowIssue(CalsyncError):
    """One row is invalid: it is quarantined with an issue code and the session goes on (R-V2)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code


class MassDeleteGuard(CalsyncError):
    """A session would delete too much (R-X6). Re-run with the override param to allow it."""

    override = "allow_mass_delete"


class EmptySnapshot(CalsyncError):
    """A side returned nothing where it had linked rows, and reads by id did not confirm deletes (R-X6)."""


class LockTimeout(CalsyncError):
    """Another session of the profile holds the lock (R-S1)."""

    def __init__(self, profile: str, holder: str) -> None:
        super().__init__(f"profile {profile!r} is locked by {holder}; wait for it to finish")
        self.profile, self.holder = profile, holder
