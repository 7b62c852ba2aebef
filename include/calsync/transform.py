"""Salesforce rows <-> side frame <-> Graph events: both directions of the mapping (R-M2..R-M9).

Reading (extract output -> schema.SIDE_COLUMNS with hashes, see frame.py):

* :func:`salesforce_to_frame` takes SOQL JSON records (nested relationships such as ``{"Owner":
  {"Email": ...}}``) or a Bulk CSV frame (flat ``Owner.Email`` columns, every value a string);
* :func:`graph_to_frame` takes Graph event dicts per mailbox, as calendarView/delta or a read by id
  return them.

Both return a :class:`SideRead`: the frame, the issues found (schema.ISSUE_COLUMNS; a bad row is an
issue, never an exception for the frame) and, for Graph, the delta ``@removed`` tombstones as a separate
``removed`` frame. A tombstone is **not** a row: Graph also sends it for an item that merely left the
range, so it is no confirmation of a delete (R-C3); the session reads each removed id that is linked by
id and passes the 404s back as ``confirmed_deleted``, which become rows with presence ``deleted``.

Writing (planner values -> API payloads): :func:`frame_to_graph` builds the JSON for a Graph create
or PATCH, :func:`frame_to_salesforce` the field dict for a Salesforce create or update (with the R-M4
truncation issues). Templated field maps are write-only: they are rendered on reading Salesforce and
never written back to it.

The code sits in transform_salesforce.py, transform_graph.py and transform_common.py; this module is
the stage's one import. Pure: pandas, numpy, pyarrow and calsync modules of the same kind; no SDK,
database or Airflow import.
"""

from __future__ import annotations

from calsync.transform_common import (
    GRAPH_EXPAND_STAMP,
    GRAPH_SELECT,
    MISSING_DATE,
    NO_MAILBOX,
    SERIES_NOT_SYNCED,
    STAMP_PROPERTY_ID,
    TEXT_TRUNCATED,
    UNKNOWN_TIME_ZONE,
    SideRead,
    issue,
    issues_frame,
    make_stamp,
    parse_stamp,
    stamp_property_matches,
)
from calsync.transform_graph import frame_to_graph, graph_times, graph_to_frame
from calsync.transform_salesforce import frame_to_salesforce, salesforce_times, salesforce_to_frame

__all__ = [
    "GRAPH_EXPAND_STAMP",
    "GRAPH_SELECT",
    "MISSING_DATE",
    "NO_MAILBOX",
    "SERIES_NOT_SYNCED",
    "STAMP_PROPERTY_ID",
    "TEXT_TRUNCATED",
    "UNKNOWN_TIME_ZONE",
    "SideRead",
    "frame_to_graph",
    "frame_to_salesforce",
    "graph_times",
    "graph_to_frame",
    "issue",
    "issues_frame",
    "make_stamp",
    "parse_stamp",
    "salesforce_times",
    "salesforce_to_frame",
    "stamp_property_matches",
]
