"""The state store's tables as SQLAlchemy 2 typed declarative models.

The models are the source of truth for the schema; ``migrations/versions`` must say the same, and a
test runs Alembic's autogenerate comparison to prove it. The links table is read and written as
frames (``linkio``), never as ORM objects: the models exist for the schema and for the small tables.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from calsync.schema import BOOL, LINK_COLUMNS, NULLABLE_HASH, STR, STR_LIST, UTC_TS

# Named constraints so that migrations can refer to them on both dialects (SQLite needs batch mode).
NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UtcDateTime(TypeDecorator[dt.datetime]):
    """A timestamp that is always tz-aware UTC in Python.

    SQLite has no time zone type: values are stored as naive UTC text there and given back their zone
    on the way out, so the same code compares instants on both dialects.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the state store; pass a tz-aware UTC time")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


# The links table follows schema.LINK_COLUMNS, column by column and in order, by dtype: a column
# added to the contract appears here by itself, and the migration drift test then fails until a
# migration adds it too. Storage form per kind:
#   hashes (Int64)            -> BIGINT, NULL = no baseline yet (R-C1)
#   instants (UTC timestamps) -> BIGINT microseconds since the epoch, UTC: exact, fast to move as
#                                int64 columns on both dialects, and free of SQLite's lack of a zone type
#   string lists              -> JSON text
#   booleans                  -> BOOLEAN
LINK_HASH_COLUMNS: tuple[str, ...] = tuple(n for n, t in LINK_COLUMNS.items() if t == NULLABLE_HASH)
LINK_TIME_COLUMNS: tuple[str, ...] = tuple(n for n, t in LINK_COLUMNS.items() if t == UTC_TS)
LINK_LIST_COLUMNS: tuple[str, ...] = tuple(n for n, t in LINK_COLUMNS.items() if t == STR_LIST)
LINK_BOOL_COLUMNS: tuple[str, ...] = tuple(n for n, t in LINK_COLUMNS.items() if t == BOOL)
LINK_TEXT_COLUMNS: tuple[str, ...] = tuple(n for n, t in LINK_COLUMNS.items() if t == STR)
_TEXT_LENGTHS = {"profile_id": 255, "record_id": 64, "mailbox": 320, "item_id": 512, "origin": 16,
                 "mb_change_key": 255}  # the others (iCalUId, preserve JSON) are unbounded text


def _link_column(name: str, dtype: object) -> Column[object]:
    if name == "link_id":
        # Ids come from the id_counters row "links", allocated in blocks, so a frame of new links gets
        # its ids in one statement. On SQLite an INTEGER PRIMARY KEY is the rowid itself: one B-tree
        # fewer to maintain per link.
        return Column(name, BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
                      autoincrement=False)
    if name == "profile_id":
        return Column(name, String(255), nullable=False)
    if dtype in (NULLABLE_HASH, UTC_TS):
        return Column(name, BigInteger)
    if dtype == BOOL:
        return Column(name, Boolean)
    if dtype == STR and name in _TEXT_LENGTHS:
        return Column(name, String(_TEXT_LENGTHS[name]))
    if dtype in (STR, STR_LIST):
        return Column(name, Text)
    raise TypeError(f"links: no storage form for column {name!r} of dtype {dtype}")


# Core, not a mapped class: links are only ever moved as frames (linkio), never as ORM objects.
links = Table(
    "links",
    Base.metadata,
    *[_link_column(name, dtype) for name, dtype in LINK_COLUMNS.items()],
    # R-O1: across ALL profiles a record has one link per mailbox and an item one link.
    UniqueConstraint("record_id", "mailbox"),
    UniqueConstraint("mailbox", "item_id"),
    Index(None, "profile_id"),
)


class IdCounter(Base):
    """Next free id per name: allocation is one atomic UPDATE ... RETURNING on both dialects."""

    __tablename__ = "id_counters"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    next_id: Mapped[int] = mapped_column(BigInteger)


class Cursor(Base):
    """A position in a side's change stream, per partition (R-K1, R-K3; STYLE 11).

    ``value`` is the committed cursor; ``progress_*`` is what the running session read, promoted over
    ``value`` at close only when that extract completed.
    """

    __tablename__ = "cursors"

    profile_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    side: Mapped[str] = mapped_column(String(16), primary_key=True)  # salesforce | mailbox
    partition: Mapped[str] = mapped_column(String(320), primary_key=True)  # sobject or mailbox address
    value: Mapped[str | None] = mapped_column(Text)  # watermark (ISO) or Graph delta link
    window_start: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)  # the window it was made for
    window_end: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    committed_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    committed_session: Mapped[int | None] = mapped_column(BigInteger)
    progress_value: Mapped[str | None] = mapped_column(Text)
    progress_window_start: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    progress_window_end: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    progress_session: Mapped[int | None] = mapped_column(BigInteger)
    progress_complete: Mapped[bool] = mapped_column(Boolean, default=False)


class Session(Base):
    """One sync run of one profile (R-A3); its settings hash drives R-S4's full reconcile."""

    __tablename__ = "sessions"
    __table_args__ = (Index(None, "profile_id", "started_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    profile_id: Mapped[str] = mapped_column(String(255))
    kind: Mapped[str] = mapped_column(String(16))  # scheduled | backfill | cli
    run_id: Mapped[str | None] = mapped_column(String(255))  # the Airflow run, when there is one
    reference_time: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    full: Mapped[bool] = mapped_column(Boolean)
    full_reason: Mapped[str | None] = mapped_column(String(255))
    settings_hash: Mapped[str] = mapped_column(String(128))
    dry_run: Mapped[bool] = mapped_column(Boolean, default=False)
    started_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    ended_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    status: Mapped[str] = mapped_column(String(16))  # running | succeeded | failed
    stats: Mapped[str | None] = mapped_column(Text)  # JSON
    error_category: Mapped[str | None] = mapped_column(String(64))
    error_message: Mapped[str | None] = mapped_column(Text)


class Lock(Base):
    """The per-profile session lock (R-S1): a row exists while a session holds the profile."""

    __tablename__ = "locks"

    profile_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    holder: Mapped[str] = mapped_column(String(512))
    acquired_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    heartbeat_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


class LedgerRow(Base):
    """One planned write and what became of it (R-A1, R-D1 conflicts, R-D4 reverts, R-K4 retries)."""

    __tablename__ = "ledger"
    __table_args__ = (
        Index(None, "session_id"),
        Index(None, "profile_id", "outcome"),
        Index(None, "record_id"),
        Index(None, "item_id"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
                                    autoincrement=True)
    session_id: Mapped[int] = mapped_column(Integer)
    profile_id: Mapped[str] = mapped_column(String(255))
    link_id: Mapped[int | None] = mapped_column(BigInteger)
    mailbox: Mapped[str | None] = mapped_column(String(320))
    record_id: Mapped[str | None] = mapped_column(String(64))
    item_id: Mapped[str | None] = mapped_column(String(512))
    side: Mapped[str] = mapped_column(String(16))
    operation: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str | None] = mapped_column(Text)
    rule: Mapped[str | None] = mapped_column(String(32))
    fields_before: Mapped[str | None] = mapped_column(Text)  # JSON: values overwritten
    fields_after: Mapped[str | None] = mapped_column(Text)  # JSON: values written
    conflict: Mapped[bool] = mapped_column(Boolean, default=False)
    winner: Mapped[str | None] = mapped_column(String(16))
    side_modified_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)  # R-D4 audit
    side_modified_by: Mapped[str | None] = mapped_column(String(255))
    create_key: Mapped[str | None] = mapped_column(String(512))  # stamp or CalSync_Event_Id__c (R-K4)
    transaction_id: Mapped[str | None] = mapped_column(String(64))  # Graph transactionId (R-K4)
    outcome: Mapped[str] = mapped_column(String(16))
    error: Mapped[str | None] = mapped_column(Text)
    result: Mapped[str | None] = mapped_column(Text)  # JSON: what the side returned (new id, ...)
    attempt: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


class Issue(Base):
    """A condition on a record, item, mailbox or profile, open while it holds (R-V3)."""

    __tablename__ = "issues"
    __table_args__ = (
        UniqueConstraint("profile_id", "key_kind", "key", "code"),
        Index(None, "profile_id", "resolved_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
                                    autoincrement=True)
    profile_id: Mapped[str] = mapped_column(String(255))
    key_kind: Mapped[str] = mapped_column(String(16))  # record | item | mailbox | profile
    key: Mapped[str] = mapped_column(String(512))
    code: Mapped[str] = mapped_column(String(64))
    message: Mapped[str] = mapped_column(Text)
    first_seen: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    last_seen: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    resolved_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    first_session: Mapped[int | None] = mapped_column(Integer)
    last_session: Mapped[int | None] = mapped_column(Integer)
    occurrences: Mapped[int] = mapped_column(Integer, default=1)  # times it was (re)opened


class QuarantineRow(Base):
    """A row that failed validation (R-V2). Only a hash of its payload: never values (R-Z2)."""

    __tablename__ = "quarantine"
    __table_args__ = (Index(None, "profile_id", "session_id"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
                                    autoincrement=True)
    session_id: Mapped[int] = mapped_column(Integer)
    profile_id: Mapped[str] = mapped_column(String(255))
    side: Mapped[str] = mapped_column(String(16))
    key: Mapped[str] = mapped_column(String(512))
    code: Mapped[str] = mapped_column(String(64))
    payload_hash: Mapped[int | None] = mapped_column(BigInteger)
    message: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


class OwnerCache(Base):
    """Salesforce OwnerId -> mailbox address and time zone (R-M7)."""

    __tablename__ = "owner_cache"

    owner_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    email: Mapped[str | None] = mapped_column(String(320))
    time_zone: Mapped[str | None] = mapped_column(String(64))
    fetched_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


class DescribeCache(Base):
    """describe() result per org and object, valid for the UTC day it was fetched (R-M5)."""

    __tablename__ = "describe_cache"

    org: Mapped[str] = mapped_column(String(255), primary_key=True)  # connection id (R-G3)
    sobject: Mapped[str] = mapped_column(String(255), primary_key=True)
    describe_hash: Mapped[str | None] = mapped_column(String(64))
    result: Mapped[str] = mapped_column(Text)  # JSON: the checked result (missing fields, types)
    fetched_day: Mapped[dt.date] = mapped_column(Date)


class MailboxSettingsCache(Base):
    """A mailbox's time zone, valid for the UTC day it was fetched (R-M9)."""

    __tablename__ = "mailbox_settings_cache"

    mailbox: Mapped[str] = mapped_column(String(320), primary_key=True)
    time_zone: Mapped[str | None] = mapped_column(String(64))
    fetched_day: Mapped[dt.date] = mapped_column(Date)
