"""What the model decides: one Action per write (SPEC R-A1), in the shape of schema.ACTION_COLUMNS."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from calsync.schema import OPERATIONS, SIDES

PLANNED = "planned"
SKIPPED = "skipped"  # blocked by the mass-delete guard (R-X6): recorded, not applied


@dataclass
class Action:
    """One write. `fields` holds the values to write in the written side's vocabulary:

    * update / revert_update: exactly one synced field (the model emits one action per field written),
      or {"categories": [...]} for the category revert of R-X3 under a one-way policy;
    * create / restore / revert_delete: every synced field of the profile kind, plus for a mailbox write
      "categories" and "stamp", for a Salesforce write "sobject", "owner_mailbox", "CalSync_Event_Id__c"
      and the preserve_fields (e.g. "WhoId", "WhatId");
    * restore_category / uncategorize: {"categories": [the item's categories after the write]};
    * stamp: {"stamp": "profile|record|origin"}; delete, link, unlink: {}.
    `before` holds the overwritten values (reverts, conflicts, deletes, category writes).
    """

    profile_id: str
    side: str  # the side written; link/unlink: the side whose state decided it (state-store only)
    operation: str
    rule: str  # e.g. "R-D2"
    record_id: str | None = None  # None: the record a create will make
    mailbox: str | None = None
    item_id: str | None = None  # None: the item a create will make
    fields: dict[str, Any] = field(default_factory=dict)
    before: dict[str, Any] = field(default_factory=dict)
    reason: str = ""
    conflict: bool = False
    winner: str | None = None
    origin: str | None = None  # create / link: the origin of the link it makes (R-X7)
    organizer_copy: bool = True  # link: False for an attendee's copy of a meeting (R-O4)
    outcome: str = PLANNED

    def __post_init__(self) -> None:
        assert self.operation in OPERATIONS, self.operation
        assert self.side in SIDES, self.side

    def key(self) -> tuple[Any, ...]:
        """What R-S4 says must match between two plans: side, operation, record, item, fields, values."""
        return (
            self.side,
            self.operation,
            self.record_id,
            self.mailbox,
            self.item_id,
            tuple(sorted((k, repr(v)) for k, v in self.fields.items())),
        )
