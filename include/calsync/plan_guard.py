"""R-X6 mass-delete guard over a planned actions frame.

Every delete counts once per link on the side it deletes (unsync, downsync: false, leave-window and
move deletes included). A scope (each mailbox, and the whole profile) trips when its deleting links
are more than ``max_delete_fraction`` of its linked items AND more than ``min_delete_guard``. In a
tripped scope every action of a deleting link is skipped (a blocked action is skipped whole: the
uncategorize and unlink that go with an unsync delete, the create of a move), and the link stays dirty;
only its Salesforce field writes (updates and reverts) go on.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from calsync.plan_emit import GUARD_NOTE
from calsync.plan_model import GuardOutcome, GuardScope


def apply_guard(
    actions: pd.DataFrame, links: pd.DataFrame, profile: object, allow: bool
) -> tuple[pd.DataFrame, GuardOutcome, np.ndarray]:
    """(actions with blocked ones marked skipped, outcome, link ids blocked)."""
    fraction = float(getattr(profile, "max_delete_fraction", 0.2))
    minimum = int(getattr(profile, "min_delete_guard", 10))
    deletes = actions[(actions["operation"] == "delete") & actions["link_id"].notna()]
    if deletes.empty:
        return actions, GuardOutcome(), np.empty(0, "int64")
    per_link = deletes.drop_duplicates("link_id")[["link_id", "mailbox"]]
    mailboxes = links["mailbox"]
    if isinstance(mailboxes.dtype, pd.CategoricalDtype):
        linked_per_mb = mailboxes.value_counts()  # a bincount of the codes
    else:  # count only the mailboxes that delete something (a million-row string count otherwise)
        touched = mailboxes.isin(set(per_link["mailbox"].dropna().tolist())).to_numpy(bool)
        linked_per_mb = mailboxes[touched].astype("str").value_counts()
    scopes: list[tuple[GuardScope, pd.Series]] = []
    counts = per_link["mailbox"].value_counts()
    for mailbox, n in counts.items():
        total = int(linked_per_mb.get(mailbox, 0))
        scopes.append((GuardScope("mailbox", str(mailbox), int(n), total), per_link["mailbox"] == mailbox))
    scopes.append(
        (
            GuardScope("profile", str(profile.id), len(per_link), len(links)),  # type: ignore[attr-defined]
            pd.Series(True, index=per_link.index),
        )
    )
    tripped = [(s, m) for s, m in scopes if s.deletes > fraction * s.linked and s.deletes > minimum]
    if not tripped:
        return actions, GuardOutcome(), np.empty(0, "int64")
    if allow:
        return actions, GuardOutcome(overridden=tuple(s for s, _ in tripped)), np.empty(0, "int64")
    blocked = np.zeros(len(per_link), bool)
    for _, m in tripped:
        blocked |= m.to_numpy(bool)
    ids = per_link["link_id"].to_numpy("int64")[blocked]
    # Salesforce field writes of a blocked link are not part of its deletion (the mailbox's edits conveyed
    # before an R-X4 delete, the updates beside a move): they go on (R-X6 "other actions go on").
    conveyed = (actions["side"] == "salesforce") & actions["operation"].isin(["update", "revert_update"])
    hit = actions["link_id"].isin(ids).to_numpy(bool) & ~conveyed.to_numpy(bool)
    out = actions.copy()
    out.loc[hit, "outcome"] = "skipped"
    out.loc[hit, "reason"] = out.loc[hit, "reason"].astype("str") + "; " + GUARD_NOTE
    return out, GuardOutcome(blocked=tuple(s for s, _ in tripped)), ids
