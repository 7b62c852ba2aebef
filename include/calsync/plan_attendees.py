"""R-P2 attendee set merge for two_way event profiles, per record on the changed subset only.

In the hash triage attendees behave like any field; when either side's attendee hash moved, this
merge decides the sets to write from the per-side baselines:

* added in Salesforce -> added to the item; removed in Salesforce -> no change to the item;
* added to the item -> added in Salesforce; removed from the item -> removed in Salesforce.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd


def _as_set(value: object) -> set[str] | None:
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return None
    if isinstance(value, Iterable) and not isinstance(value, str):
        return {str(v).lower() for v in value}
    return None


def merge_sets(
    sf: set[str], mb: set[str], base_sf: set[str] | None, base_mb: set[str] | None
) -> tuple[set[str], set[str]]:
    """The (Salesforce, mailbox) sets after the merge.

    With no baseline on a side (a rebuilt link, R-O3) nothing can be called a removal there, so the
    merge keeps every address either side holds: it never loses an attendee (SPEC's one principle).
    """
    if base_sf is None or base_mb is None:
        union = sf | mb
        return union, union
    added_sf, added_mb = sf - base_sf, mb - base_mb
    removed_mb = base_mb - mb
    new_mb = mb | added_sf  # removed in Salesforce: no change to the item
    new_sf = (sf | added_mb) - removed_mb
    return new_sf, new_mb


def merge_subset(
    sf_values: list[object], mb_values: list[object], base_sf: list[object], base_mb: list[object]
) -> tuple[list[list[str] | None], list[list[str] | None]]:
    """For each changed link: the list to write to Salesforce and to the item (None: no write)."""
    to_sf: list[list[str] | None] = []
    to_mb: list[list[str] | None] = []
    for s_raw, m_raw, bs_raw, bm_raw in zip(sf_values, mb_values, base_sf, base_mb, strict=True):
        s = _as_set(s_raw) or set()
        m = _as_set(m_raw) or set()
        new_sf, new_mb = merge_sets(s, m, _as_set(bs_raw), _as_set(bm_raw))
        to_sf.append(sorted(new_sf) if new_sf != s else None)
        to_mb.append(sorted(new_mb) if new_mb != m else None)
    return to_sf, to_mb
