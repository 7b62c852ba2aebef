"""Time-zone names as Graph and Salesforce spell them, mapped to IANA zones (R-M9).

Graph returns ``start.timeZone`` / ``mailboxSettings.timeZone`` as Windows names ("W. Europe Standard
Time") or IANA names, depending on how the item was made; Salesforce uses IANA (``TimeZoneSidKey``).
Both are accepted everywhere. The Windows table is CLDR's windowsZones, as shipped by ``tzlocal``
(pinned with the runtime set); a short built-in copy of the common zones keeps calsync working if that
package ever leaves the set.

Pure: pandas, numpy and the standard library.
"""

from __future__ import annotations

import functools
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pandas as pd

from calsync.schema import UTC_TS

try:  # CLDR windowsZones.xml, "001" territory entries (the canonical zone of each Windows name)
    from tzlocal.windows_tz import tz_win as _TZ_WIN
    from tzlocal.windows_tz import win_tz as _WIN_TZ
except ImportError:  # pragma: no cover - only without tzlocal
    _WIN_TZ = {
        "Dateline Standard Time": "Etc/GMT+12", "Hawaiian Standard Time": "Pacific/Honolulu",
        "Alaskan Standard Time": "America/Anchorage", "Pacific Standard Time": "America/Los_Angeles",
        "US Mountain Standard Time": "America/Phoenix", "Mountain Standard Time": "America/Denver",
        "Central Standard Time": "America/Chicago", "Central America Standard Time": "America/Guatemala",
        "Eastern Standard Time": "America/New_York", "Atlantic Standard Time": "America/Halifax",
        "Newfoundland Standard Time": "America/St_Johns",
        "E. South America Standard Time": "America/Sao_Paulo",
        "Argentina Standard Time": "America/Buenos_Aires", "UTC": "Etc/UTC",
        "GMT Standard Time": "Europe/London",
        "Greenwich Standard Time": "Atlantic/Reykjavik", "W. Europe Standard Time": "Europe/Berlin",
        "Romance Standard Time": "Europe/Paris", "Central Europe Standard Time": "Europe/Budapest",
        "Central European Standard Time": "Europe/Warsaw", "GTB Standard Time": "Europe/Bucharest",
        "FLE Standard Time": "Europe/Kiev", "E. Europe Standard Time": "Europe/Chisinau",
        "Israel Standard Time": "Asia/Jerusalem", "South Africa Standard Time": "Africa/Johannesburg",
        "Russian Standard Time": "Europe/Moscow", "Turkey Standard Time": "Europe/Istanbul",
        "Arabian Standard Time": "Asia/Dubai", "Arab Standard Time": "Asia/Riyadh",
        "Pakistan Standard Time": "Asia/Karachi", "India Standard Time": "Asia/Calcutta",
        "Nepal Standard Time": "Asia/Katmandu", "SE Asia Standard Time": "Asia/Bangkok",
        "China Standard Time": "Asia/Shanghai", "Singapore Standard Time": "Asia/Singapore",
        "Tokyo Standard Time": "Asia/Tokyo", "Korea Standard Time": "Asia/Seoul",
        "AUS Eastern Standard Time": "Australia/Sydney", "Cen. Australia Standard Time": "Australia/Adelaide",
        "W. Australia Standard Time": "Australia/Perth", "New Zealand Standard Time": "Pacific/Auckland",
        "Line Islands Standard Time": "Pacific/Kiritimati", "Samoa Standard Time": "Pacific/Apia",
    }
    _TZ_WIN = {v: k for k, v in _WIN_TZ.items()}

# Spellings of UTC that Graph and Exchange use besides the Windows "UTC".
_UTC_ALIASES = {"utc", "gmt", "z", "etc/utc", "etc/gmt", "tzone://microsoft/utc",
                "coordinated universal time"}
_WIN_BY_LOWER = {k.lower(): v for k, v in _WIN_TZ.items()}


@functools.lru_cache(maxsize=4096)
def to_iana(name: str | None) -> str | None:
    """The IANA zone for a Windows or IANA name; None when calsync cannot map it (UNKNOWN_TIME_ZONE)."""
    if name is None:
        return None
    text = str(name).strip()
    if not text:
        return None
    if text.lower() in _UTC_ALIASES:
        return "UTC"
    mapped = _WIN_BY_LOWER.get(text.lower())
    if mapped is not None:
        text = mapped
    if text.startswith("tzone://"):
        return None
    try:  # anything else must be a zone the tz database knows; "Customized Time Zone" is not guessed at
        ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError):
        return None
    return text


def to_windows(name: str | None) -> str | None:
    """The Windows name for an IANA (or Windows) zone, for clients that want one; None if unknown."""
    iana = to_iana(name)
    if iana is None:
        return None
    if iana == "UTC":
        return "UTC"
    return _TZ_WIN.get(iana)


def zone_info(name: str | None) -> ZoneInfo | None:
    iana = to_iana(name)
    return ZoneInfo(iana) if iana else None


def localize_to_utc(local: pd.Series, zones: pd.Series) -> pd.Series:
    """Naive local wall times, each in its own zone (IANA names), as UTC timestamps (vectorised per zone).

    An ambiguous wall time (the hour repeated when DST ends) is read as the first (DST) occurrence and a
    non-existent one (skipped when DST starts) is shifted forward, the way Outlook shows them.
    Rows with a null zone come back null.
    """
    local = pd.to_datetime(local, errors="coerce")
    if getattr(local.dt, "tz", None) is not None:
        local = local.dt.tz_localize(None)
    out = pd.Series(pd.NaT, index=local.index, dtype=UTC_TS)
    zones = zones.astype("object")
    for zone in pd.unique(zones[zones.notna()]):
        mask = (zones == zone).to_numpy(dtype=bool, na_value=False)
        part = local[mask]
        aware = part.dt.tz_localize(str(zone), ambiguous=np.ones(len(part), dtype=bool),
                                    nonexistent="shift_forward")
        out[mask] = aware.dt.tz_convert("UTC").astype(UTC_TS)
    return out


def midnight_utc(dates: pd.Series, zones: pd.Series) -> pd.Series:
    """Midnight of each floating date in its zone, as UTC (an all-day item's instant in a mailbox)."""
    naive = pd.to_datetime(dates.astype("object"), errors="coerce")
    return localize_to_utc(naive, zones)
