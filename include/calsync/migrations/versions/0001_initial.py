"""initial state store: links, cursors, sessions, locks, ledger, issues, quarantine, caches

Revision ID: 0001
Revises:
Create Date: 2026-11-24
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0001'
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('cursors',
    sa.Column('profile_id', sa.String(length=255), nullable=False),
    sa.Column('side', sa.String(length=16), nullable=False),
    sa.Column('partition', sa.String(length=320), nullable=False),
    sa.Column('value', sa.Text(), nullable=True),
    sa.Column('window_start', sa.DateTime(timezone=True), nullable=True),
    sa.Column('window_end', sa.DateTime(timezone=True), nullable=True),
    sa.Column('committed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('committed_session', sa.BigInteger(), nullable=True),
    sa.Column('progress_value', sa.Text(), nullable=True),
    sa.Column('progress_window_start', sa.DateTime(timezone=True), nullable=True),
    sa.Column('progress_window_end', sa.DateTime(timezone=True), nullable=True),
    sa.Column('progress_session', sa.BigInteger(), nullable=True),
    sa.Column('progress_complete', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('profile_id', 'side', 'partition', name=op.f('pk_cursors'))
    )
    op.create_table('describe_cache',
    sa.Column('org', sa.String(length=255), nullable=False),
    sa.Column('sobject', sa.String(length=255), nullable=False),
    sa.Column('describe_hash', sa.String(length=64), nullable=True),
    sa.Column('result', sa.Text(), nullable=False),
    sa.Column('fetched_day', sa.Date(), nullable=False),
    sa.PrimaryKeyConstraint('org', 'sobject', name=op.f('pk_describe_cache'))
    )
    op.create_table('id_counters',
    sa.Column('name', sa.String(length=32), nullable=False),
    sa.Column('next_id', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_id_counters'))
    )
    op.create_table('issues',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('profile_id', sa.String(length=255), nullable=False),
    sa.Column('key_kind', sa.String(length=16), nullable=False),
    sa.Column('key', sa.String(length=512), nullable=False),
    sa.Column('code', sa.String(length=64), nullable=False),
    sa.Column('message', sa.Text(), nullable=False),
    sa.Column('first_seen', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_seen', sa.DateTime(timezone=True), nullable=False),
    sa.Column('resolved_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('first_session', sa.Integer(), nullable=True),
    sa.Column('last_session', sa.Integer(), nullable=True),
    sa.Column('occurrences', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_issues')),
    sa.UniqueConstraint('profile_id', 'key_kind', 'key', 'code', name=op.f('uq_issues_profile_id_key_kind_key_code'))
    )
    op.create_index(op.f('ix_issues_profile_id_resolved_at'), 'issues', ['profile_id', 'resolved_at'], unique=False)
    op.create_table('ledger',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('session_id', sa.Integer(), nullable=False),
    sa.Column('profile_id', sa.String(length=255), nullable=False),
    sa.Column('link_id', sa.BigInteger(), nullable=True),
    sa.Column('mailbox', sa.String(length=320), nullable=True),
    sa.Column('record_id', sa.String(length=64), nullable=True),
    sa.Column('item_id', sa.String(length=512), nullable=True),
    sa.Column('side', sa.String(length=16), nullable=False),
    sa.Column('operation', sa.String(length=32), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('rule', sa.String(length=32), nullable=True),
    sa.Column('fields_before', sa.Text(), nullable=True),
    sa.Column('fields_after', sa.Text(), nullable=True),
    sa.Column('conflict', sa.Boolean(), nullable=False),
    sa.Column('winner', sa.String(length=16), nullable=True),
    sa.Column('side_modified_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('side_modified_by', sa.String(length=255), nullable=True),
    sa.Column('create_key', sa.String(length=512), nullable=True),
    sa.Column('transaction_id', sa.String(length=64), nullable=True),
    sa.Column('outcome', sa.String(length=16), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('result', sa.Text(), nullable=True),
    sa.Column('attempt', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ledger'))
    )
    op.create_index(op.f('ix_ledger_item_id'), 'ledger', ['item_id'], unique=False)
    op.create_index(op.f('ix_ledger_profile_id_outcome'), 'ledger', ['profile_id', 'outcome'], unique=False)
    op.create_index(op.f('ix_ledger_record_id'), 'ledger', ['record_id'], unique=False)
    op.create_index(op.f('ix_ledger_session_id'), 'ledger', ['session_id'], unique=False)
    op.create_table('links',
    sa.Column('link_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=False, nullable=False),
    sa.Column('profile_id', sa.String(length=255), nullable=False),
    sa.Column('record_id', sa.String(length=64), nullable=True),
    sa.Column('mailbox', sa.String(length=320), nullable=True),
    sa.Column('item_id', sa.String(length=512), nullable=True),
    sa.Column('origin', sa.String(length=16), nullable=True),
    sa.Column('ical_uid', sa.Text(), nullable=True),
    sa.Column('base_sf_subject', sa.BigInteger(), nullable=True),
    sa.Column('base_sf_body', sa.BigInteger(), nullable=True),
    sa.Column('base_sf_location', sa.BigInteger(), nullable=True),
    sa.Column('base_sf_when', sa.BigInteger(), nullable=True),
    sa.Column('base_sf_show_as', sa.BigInteger(), nullable=True),
    sa.Column('base_sf_reminder', sa.BigInteger(), nullable=True),
    sa.Column('base_sf_sensitivity', sa.BigInteger(), nullable=True),
    sa.Column('base_sf_attendees', sa.BigInteger(), nullable=True),
    sa.Column('base_mb_subject', sa.BigInteger(), nullable=True),
    sa.Column('base_mb_body', sa.BigInteger(), nullable=True),
    sa.Column('base_mb_location', sa.BigInteger(), nullable=True),
    sa.Column('base_mb_when', sa.BigInteger(), nullable=True),
    sa.Column('base_mb_show_as', sa.BigInteger(), nullable=True),
    sa.Column('base_mb_reminder', sa.BigInteger(), nullable=True),
    sa.Column('base_mb_sensitivity', sa.BigInteger(), nullable=True),
    sa.Column('base_mb_attendees', sa.BigInteger(), nullable=True),
    sa.Column('base_start_utc', sa.BigInteger(), nullable=True),
    sa.Column('base_end_utc', sa.BigInteger(), nullable=True),
    sa.Column('sf_modstamp', sa.BigInteger(), nullable=True),
    sa.Column('base_sf_attendees_set', sa.Text(), nullable=True),
    sa.Column('base_mb_attendees_set', sa.Text(), nullable=True),
    sa.Column('preserve', sa.Text(), nullable=True),
    sa.Column('is_organizer', sa.Boolean(), nullable=True),
    sa.Column('is_meeting', sa.Boolean(), nullable=True),
    sa.Column('by_backfill', sa.Boolean(), nullable=True),
    sa.Column('in_window', sa.Boolean(), nullable=True),
    sa.Column('dirty', sa.Boolean(), nullable=True),
    sa.Column('mb_change_key', sa.String(length=255), nullable=True),
    sa.PrimaryKeyConstraint('link_id', name=op.f('pk_links')),
    sa.UniqueConstraint('mailbox', 'item_id', name=op.f('uq_links_mailbox_item_id')),
    sa.UniqueConstraint('record_id', 'mailbox', name=op.f('uq_links_record_id_mailbox'))
    )
    op.create_index(op.f('ix_links_profile_id'), 'links', ['profile_id'], unique=False)
    op.create_table('locks',
    sa.Column('profile_id', sa.String(length=255), nullable=False),
    sa.Column('holder', sa.String(length=512), nullable=False),
    sa.Column('acquired_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('heartbeat_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('profile_id', name=op.f('pk_locks'))
    )
    op.create_table('mailbox_settings_cache',
    sa.Column('mailbox', sa.String(length=320), nullable=False),
    sa.Column('time_zone', sa.String(length=64), nullable=True),
    sa.Column('fetched_day', sa.Date(), nullable=False),
    sa.PrimaryKeyConstraint('mailbox', name=op.f('pk_mailbox_settings_cache'))
    )
    op.create_table('owner_cache',
    sa.Column('owner_id', sa.String(length=64), nullable=False),
    sa.Column('email', sa.String(length=320), nullable=True),
    sa.Column('time_zone', sa.String(length=64), nullable=True),
    sa.Column('fetched_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('owner_id', name=op.f('pk_owner_cache'))
    )
    op.create_table('quarantine',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('session_id', sa.Integer(), nullable=False),
    sa.Column('profile_id', sa.String(length=255), nullable=False),
    sa.Column('side', sa.String(length=16), nullable=False),
    sa.Column('key', sa.String(length=512), nullable=False),
    sa.Column('code', sa.String(length=64), nullable=False),
    sa.Column('payload_hash', sa.BigInteger(), nullable=True),
    sa.Column('message', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_quarantine'))
    )
    op.create_index(op.f('ix_quarantine_profile_id_session_id'), 'quarantine', ['profile_id', 'session_id'], unique=False)
    op.create_table('sessions',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('profile_id', sa.String(length=255), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('run_id', sa.String(length=255), nullable=True),
    sa.Column('reference_time', sa.DateTime(timezone=True), nullable=False),
    sa.Column('full', sa.Boolean(), nullable=False),
    sa.Column('full_reason', sa.String(length=255), nullable=True),
    sa.Column('settings_hash', sa.String(length=128), nullable=False),
    sa.Column('dry_run', sa.Boolean(), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('stats', sa.Text(), nullable=True),
    sa.Column('error_category', sa.String(length=64), nullable=True),
    sa.Column('error_message', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sessions'))
    )
    op.create_index(op.f('ix_sessions_profile_id_started_at'), 'sessions', ['profile_id', 'started_at'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_sessions_profile_id_started_at'), table_name='sessions')
    op.drop_table('sessions')
    op.drop_index(op.f('ix_quarantine_profile_id_session_id'), table_name='quarantine')
    op.drop_table('quarantine')
    op.drop_table('owner_cache')
    op.drop_table('mailbox_settings_cache')
    op.drop_table('locks')
    op.drop_index(op.f('ix_links_profile_id'), table_name='links')
    op.drop_table('links')
    op.drop_index(op.f('ix_ledger_session_id'), table_name='ledger')
    op.drop_index(op.f('ix_ledger_record_id'), table_name='ledger')
    op.drop_index(op.f('ix_ledger_profile_id_outcome'), table_name='ledger')
    op.drop_index(op.f('ix_ledger_item_id'), table_name='ledger')
    op.drop_table('ledger')
    op.drop_index(op.f('ix_issues_profile_id_resolved_at'), table_name='issues')
    op.drop_table('issues')
    op.drop_table('id_counters')
    op.drop_table('describe_cache')
    op.drop_table('cursors')
