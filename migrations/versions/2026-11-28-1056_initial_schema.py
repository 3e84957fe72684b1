"""initial schema

Revision ID: ed98b0993553
Revises:
Create Date: 2026-11-28 10:56:03.224530+00:00
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = 'ed98b0993553'
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('login_attempts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('ip', sa.String(length=64), nullable=False),
    sa.Column('succeeded', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_login_attempts'))
    )
    with op.batch_alter_table('login_attempts', schema=None) as batch_op:
        batch_op.create_index('ix_login_attempts_email_created', ['email', 'created_at'], unique=False)
        batch_op.create_index('ix_login_attempts_ip_created', ['ip', 'created_at'], unique=False)

    op.create_table('users',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('display_name', sa.String(length=120), nullable=False),
    sa.Column('password_hash', sa.String(length=255), nullable=True),
    sa.Column('is_active', sa.Boolean(), nullable=False),
    sa.Column('is_site_admin', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_users')),
    sa.UniqueConstraint('email', name=op.f('uq_users_email'))
    )
    op.create_table('api_tokens',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('prefix', sa.String(length=16), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.Column('last_used_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_api_tokens_user_id'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_api_tokens')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_api_tokens_token_hash'))
    )
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_api_tokens_user_id'), ['user_id'], unique=False)

    op.create_table('projects',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('task_type', sa.String(length=16), nullable=False),
    sa.Column('labels_per_image', sa.Integer(), nullable=False),
    sa.Column('qa_fraction', sa.Float(), nullable=False),
    sa.Column('qa_labels_per_image', sa.Integer(), nullable=False),
    sa.Column('adaptive_overlap', sa.Boolean(), nullable=False),
    sa.Column('iou_threshold', sa.Float(), nullable=False),
    sa.Column('confidence_threshold', sa.Float(), nullable=False),
    sa.Column('defect_book_version', sa.Integer(), nullable=False),
    sa.Column('settings', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.CheckConstraint("task_type IN ('classification', 'boxes', 'both')", name=op.f('ck_projects_task_type_valid')),
    sa.CheckConstraint('confidence_threshold >= 0 AND confidence_threshold <= 1', name=op.f('ck_projects_confidence_range')),
    sa.CheckConstraint('iou_threshold > 0 AND iou_threshold <= 1', name=op.f('ck_projects_iou_threshold_range')),
    sa.CheckConstraint('labels_per_image BETWEEN 1 AND 20', name=op.f('ck_projects_labels_per_image_range')),
    sa.CheckConstraint('qa_fraction >= 0 AND qa_fraction <= 1', name=op.f('ck_projects_qa_fraction_range')),
    sa.CheckConstraint('qa_labels_per_image BETWEEN 1 AND 20', name=op.f('ck_projects_qa_labels_range')),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_projects_created_by_id'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_projects')),
    sa.UniqueConstraint('name', name=op.f('uq_projects_name'))
    )
    op.create_table('user_sessions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('csrf_token', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.Column('last_seen_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('ip', sa.String(length=64), nullable=True),
    sa.Column('user_agent', sa.String(length=255), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_user_sessions_user_id'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_user_sessions')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_user_sessions_token_hash'))
    )
    with op.batch_alter_table('user_sessions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_user_sessions_user_id'), ['user_id'], unique=False)

    op.create_table('agreement_snapshots',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('project_id', sa.Integer(), nullable=False),
    sa.Column('alpha', sa.Float(), nullable=True),
    sa.Column('fleiss_kappa', sa.Float(), nullable=True),
    sa.Column('box_alpha', sa.Float(), nullable=True),
    sa.Column('n_images', sa.Integer(), nullable=False),
    sa.Column('n_annotations', sa.Integer(), nullable=False),
    sa.Column('summary', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], name=op.f('fk_agreement_snapshots_project_id'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_agreement_snapshots'))
    )
    with op.batch_alter_table('agreement_snapshots', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_agreement_snapshots_project_id'), ['project_id'], unique=False)

    op.create_table('audit_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('project_id', sa.Integer(), nullable=True),
    sa.Column('action', sa.String(length=64), nullable=False),
    sa.Column('object_type', sa.String(length=40), nullable=True),
    sa.Column('object_id', sa.Integer(), nullable=True),
    sa.Column('data', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=False),
    sa.Column('ip', sa.String(length=64), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.ForeignKeyConstraint(['actor_id'], ['users.id'], name=op.f('fk_audit_events_actor_id'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], name=op.f('fk_audit_events_project_id'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_events'))
    )
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_events_action'), ['action'], unique=False)
        batch_op.create_index(batch_op.f('ix_audit_events_actor_id'), ['actor_id'], unique=False)
        batch_op.create_index('ix_audit_events_object', ['object_type', 'object_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_audit_events_project_id'), ['project_id'], unique=False)

    op.create_table('dataset_versions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('project_id', sa.Integer(), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('filter', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=False),
    sa.Column('split_spec', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=False),
    sa.Column('content_hash', sa.String(length=64), nullable=False),
    sa.Column('parent_id', sa.Integer(), nullable=True),
    sa.Column('defect_book_version', sa.Integer(), nullable=True),
    sa.Column('counts', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_dataset_versions_created_by_id'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['parent_id'], ['dataset_versions.id'], name=op.f('fk_dataset_versions_parent_id'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], name=op.f('fk_dataset_versions_project_id'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_dataset_versions')),
    sa.UniqueConstraint('project_id', 'name', name=op.f('uq_dataset_versions_project_id_name')),
    sa.UniqueConstraint('project_id', 'number', name=op.f('uq_dataset_versions_project_id_number'))
    )
    with op.batch_alter_table('dataset_versions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_dataset_versions_project_id'), ['project_id'], unique=False)

    op.create_table('defect_book_versions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('project_id', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('summary', sa.Text(), nullable=False),
    sa.Column('change', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=False),
    sa.Column('snapshot', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_defect_book_versions_created_by_id'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], name=op.f('fk_defect_book_versions_project_id'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_defect_book_versions')),
    sa.UniqueConstraint('project_id', 'version', name=op.f('uq_defect_book_versions_project_id_version'))
    )
    with op.batch_alter_table('defect_book_versions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_defect_book_versions_project_id'), ['project_id'], unique=False)

    op.create_table('duplicate_groups',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('project_id', sa.Integer(), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], name=op.f('fk_duplicate_groups_project_id'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_duplicate_groups'))
    )
    with op.batch_alter_table('duplicate_groups', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_duplicate_groups_project_id'), ['project_id'], unique=False)

    op.create_table('jobs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('project_id', sa.Integer(), nullable=True),
    sa.Column('payload', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=False),
    sa.Column('state', sa.String(length=12), nullable=False),
    sa.Column('progress', sa.Float(), nullable=False),
    sa.Column('message', sa.Text(), nullable=False),
    sa.Column('result', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('max_attempts', sa.Integer(), nullable=False),
    sa.Column('worker_id', sa.String(length=80), nullable=True),
    sa.Column('heartbeat_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('run_after', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("state IN ('queued', 'running', 'done', 'failed')", name=op.f('ck_jobs_state_valid')),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_jobs_created_by_id'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], name=op.f('fk_jobs_project_id'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_jobs'))
    )
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.create_index('ix_jobs_claim', ['state', 'run_after', 'id'], unique=False)
        batch_op.create_index(batch_op.f('ix_jobs_project_id'), ['project_id'], unique=False)

    op.create_table('label_classes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('project_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=80), nullable=False),
    sa.Column('hotkey', sa.String(length=1), nullable=True),
    sa.Column('colour', sa.String(length=7), nullable=False),
    sa.Column('definition', sa.Text(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('is_active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], name=op.f('fk_label_classes_project_id'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_label_classes')),
    sa.UniqueConstraint('project_id', 'name', name=op.f('uq_label_classes_project_id_name'))
    )
    with op.batch_alter_table('label_classes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_label_classes_project_id'), ['project_id'], unique=False)

    op.create_table('labeler_quality',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('project_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('n_labels', sa.Integer(), nullable=False),
    sa.Column('accuracy', sa.Float(), nullable=True),
    sa.Column('agreement_with_consensus', sa.Float(), nullable=True),
    sa.Column('gold_accuracy', sa.Float(), nullable=True),
    sa.Column('gold_count', sa.Integer(), nullable=False),
    sa.Column('median_duration_ms', sa.Float(), nullable=True),
    sa.Column('confusion', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=False),
    sa.Column('class_ids', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], name=op.f('fk_labeler_quality_project_id'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_labeler_quality_user_id'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_labeler_quality')),
    sa.UniqueConstraint('project_id', 'user_id', name=op.f('uq_labeler_quality_project_id_user_id'))
    )
    with op.batch_alter_table('labeler_quality', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_labeler_quality_project_id'), ['project_id'], unique=False)

    op.create_table('memberships',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('project_id', sa.Integer(), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.CheckConstraint("role IN ('inspector', 'reviewer', 'admin')", name=op.f('ck_memberships_role_valid')),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], name=op.f('fk_memberships_project_id'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_memberships_user_id'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_memberships')),
    sa.UniqueConstraint('user_id', 'project_id', name=op.f('uq_memberships_user_id_project_id'))
    )
    with op.batch_alter_table('memberships', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_memberships_project_id'), ['project_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_memberships_user_id'), ['user_id'], unique=False)

    op.create_table('upload_batches',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('project_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('source', sa.String(length=32), nullable=False),
    sa.Column('is_reference', sa.Boolean(), nullable=False),
    sa.Column('stats', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_upload_batches_created_by_id'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], name=op.f('fk_upload_batches_project_id'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_upload_batches'))
    )
    with op.batch_alter_table('upload_batches', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_upload_batches_project_id'), ['project_id'], unique=False)

    op.create_table('dataset_exports',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('version_id', sa.Integer(), nullable=False),
    sa.Column('format', sa.String(length=16), nullable=False),
    sa.Column('include_images', sa.Boolean(), nullable=False),
    sa.Column('storage_key', sa.String(length=255), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('size_bytes', sa.BigInteger(), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_dataset_exports_created_by_id'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['version_id'], ['dataset_versions.id'], name=op.f('fk_dataset_exports_version_id'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_dataset_exports')),
    sa.UniqueConstraint('version_id', 'format', 'include_images', name=op.f('uq_dataset_exports_version_id_format_include_images'))
    )
    with op.batch_alter_table('dataset_exports', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_dataset_exports_version_id'), ['version_id'], unique=False)

    op.create_table('images',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('project_id', sa.Integer(), nullable=False),
    sa.Column('batch_id', sa.Integer(), nullable=True),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('file_name', sa.String(length=255), nullable=False),
    sa.Column('format', sa.String(length=8), nullable=False),
    sa.Column('width', sa.Integer(), nullable=False),
    sa.Column('height', sa.Integer(), nullable=False),
    sa.Column('size_bytes', sa.BigInteger(), nullable=False),
    sa.Column('storage_key', sa.String(length=255), nullable=False),
    sa.Column('thumbnail_key', sa.String(length=255), nullable=True),
    sa.Column('meta', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=False),
    sa.Column('phash', sa.String(length=512), nullable=True),
    sa.Column('duplicate_group_id', sa.Integer(), nullable=True),
    sa.Column('labels_wanted', sa.Integer(), nullable=False),
    sa.Column('slots_taken', sa.Integer(), nullable=False),
    sa.Column('priority', sa.Integer(), nullable=False),
    sa.Column('is_gold', sa.Boolean(), nullable=False),
    sa.Column('gold_label_class_id', sa.Integer(), nullable=True),
    sa.Column('gold_boxes', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=True),
    sa.Column('split', sa.String(length=8), nullable=True),
    sa.Column('augmented_from_id', sa.Integer(), nullable=True),
    sa.Column('augmentation', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.ForeignKeyConstraint(['augmented_from_id'], ['images.id'], name=op.f('fk_images_augmented_from_id'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['batch_id'], ['upload_batches.id'], name=op.f('fk_images_batch_id'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['duplicate_group_id'], ['duplicate_groups.id'], name=op.f('fk_images_duplicate_group_id'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['gold_label_class_id'], ['label_classes.id'], name=op.f('fk_images_gold_label_class_id'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], name=op.f('fk_images_project_id'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_images')),
    sa.UniqueConstraint('project_id', 'sha256', name=op.f('uq_images_project_id_sha256'))
    )
    with op.batch_alter_table('images', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_images_augmented_from_id'), ['augmented_from_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_images_batch_id'), ['batch_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_images_duplicate_group_id'), ['duplicate_group_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_images_project_id'), ['project_id'], unique=False)
        batch_op.create_index('ix_images_project_queue', ['project_id', 'priority', 'id'], unique=False)

    op.create_table('assignments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('project_id', sa.Integer(), nullable=False),
    sa.Column('image_id', sa.Integer(), nullable=False),
    sa.Column('labeler_id', sa.Integer(), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('returned_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('completed_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("state IN ('open', 'done', 'skipped', 'returned', 'expired')", name=op.f('ck_assignments_state_valid')),
    sa.ForeignKeyConstraint(['image_id'], ['images.id'], name=op.f('fk_assignments_image_id'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['labeler_id'], ['users.id'], name=op.f('fk_assignments_labeler_id'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], name=op.f('fk_assignments_project_id'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['returned_by_id'], ['users.id'], name=op.f('fk_assignments_returned_by_id'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_assignments'))
    )
    with op.batch_alter_table('assignments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_assignments_image_id'), ['image_id'], unique=False)
        batch_op.create_index('ix_assignments_labeler_state', ['labeler_id', 'state'], unique=False)
        batch_op.create_index(batch_op.f('ix_assignments_project_id'), ['project_id'], unique=False)
        batch_op.create_index('uq_assignments_active', ['image_id', 'labeler_id'], unique=True, sqlite_where=sa.text("state IN ('open', 'returned')"), postgresql_where=sa.text("state IN ('open', 'returned')"))

    op.create_table('class_examples',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('label_class_id', sa.Integer(), nullable=False),
    sa.Column('image_id', sa.Integer(), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('is_counter_example', sa.Boolean(), nullable=False),
    sa.Column('added_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.ForeignKeyConstraint(['added_by_id'], ['users.id'], name=op.f('fk_class_examples_added_by_id'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['image_id'], ['images.id'], name=op.f('fk_class_examples_image_id'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['label_class_id'], ['label_classes.id'], name=op.f('fk_class_examples_label_class_id'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_class_examples')),
    sa.UniqueConstraint('label_class_id', 'image_id', name=op.f('uq_class_examples_label_class_id_image_id'))
    )
    with op.batch_alter_table('class_examples', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_class_examples_image_id'), ['image_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_class_examples_label_class_id'), ['label_class_id'], unique=False)

    op.create_table('conflicts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('project_id', sa.Integer(), nullable=False),
    sa.Column('image_id', sa.Integer(), nullable=True),
    sa.Column('duplicate_group_id', sa.Integer(), nullable=True),
    sa.Column('subject_key', sa.String(length=40), nullable=False),
    sa.Column('kind', sa.String(length=24), nullable=False),
    sa.Column('severity', sa.Float(), nullable=False),
    sa.Column('details', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=False),
    sa.Column('state', sa.String(length=12), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('resolved_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("kind IN ('class_disagreement', 'low_confidence', 'missing_box', 'box_class_mismatch', 'box_localization', 'gold_miss', 'duplicate_group', 'model_disagreement')", name=op.f('ck_conflicts_kind_valid')),
    sa.CheckConstraint("state IN ('open', 'resolved', 'returned', 'ambiguous', 'closed')", name=op.f('ck_conflicts_state_valid')),
    sa.ForeignKeyConstraint(['duplicate_group_id'], ['duplicate_groups.id'], name=op.f('fk_conflicts_duplicate_group_id'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['image_id'], ['images.id'], name=op.f('fk_conflicts_image_id'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], name=op.f('fk_conflicts_project_id'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_conflicts')),
    sa.UniqueConstraint('project_id', 'kind', 'subject_key', name=op.f('uq_conflicts_project_id_kind_subject_key'))
    )
    with op.batch_alter_table('conflicts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_conflicts_duplicate_group_id'), ['duplicate_group_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_conflicts_image_id'), ['image_id'], unique=False)
        batch_op.create_index('ix_conflicts_queue', ['project_id', 'state', 'severity'], unique=False)

    op.create_table('dataset_items',
    sa.Column('version_id', sa.Integer(), nullable=False),
    sa.Column('image_id', sa.Integer(), nullable=False),
    sa.Column('label_class_id', sa.Integer(), nullable=True),
    sa.Column('boxes', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=False),
    sa.Column('split', sa.String(length=8), nullable=False),
    sa.Column('source', sa.String(length=12), nullable=False),
    sa.Column('confidence', sa.Double(), nullable=True),
    sa.ForeignKeyConstraint(['image_id'], ['images.id'], name=op.f('fk_dataset_items_image_id'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['label_class_id'], ['label_classes.id'], name=op.f('fk_dataset_items_label_class_id'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['version_id'], ['dataset_versions.id'], name=op.f('fk_dataset_items_version_id'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('version_id', 'image_id', name=op.f('pk_dataset_items'))
    )
    with op.batch_alter_table('dataset_items', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_dataset_items_image_id'), ['image_id'], unique=False)

    op.create_table('image_consensus',
    sa.Column('image_id', sa.Integer(), nullable=False),
    sa.Column('n_labels', sa.Integer(), nullable=False),
    sa.Column('majority_class_id', sa.Integer(), nullable=True),
    sa.Column('consensus_class_id', sa.Integer(), nullable=True),
    sa.Column('confidence', sa.Float(), nullable=True),
    sa.Column('entropy', sa.Float(), nullable=True),
    sa.Column('posterior', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=False),
    sa.Column('box_agreement', sa.Float(), nullable=True),
    sa.Column('clusters', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=False),
    sa.Column('method', sa.String(length=16), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['consensus_class_id'], ['label_classes.id'], name=op.f('fk_image_consensus_consensus_class_id'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['image_id'], ['images.id'], name=op.f('fk_image_consensus_image_id'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['majority_class_id'], ['label_classes.id'], name=op.f('fk_image_consensus_majority_class_id'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('image_id', name=op.f('pk_image_consensus'))
    )
    op.create_table('model_predictions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('project_id', sa.Integer(), nullable=False),
    sa.Column('image_id', sa.Integer(), nullable=False),
    sa.Column('model_name', sa.String(length=120), nullable=False),
    sa.Column('probabilities', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.ForeignKeyConstraint(['image_id'], ['images.id'], name=op.f('fk_model_predictions_image_id'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], name=op.f('fk_model_predictions_project_id'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_model_predictions')),
    sa.UniqueConstraint('image_id', 'model_name', name=op.f('uq_model_predictions_image_id_model_name'))
    )
    with op.batch_alter_table('model_predictions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_model_predictions_image_id'), ['image_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_model_predictions_project_id'), ['project_id'], unique=False)

    op.create_table('annotations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('image_id', sa.Integer(), nullable=False),
    sa.Column('labeler_id', sa.Integer(), nullable=False),
    sa.Column('assignment_id', sa.Integer(), nullable=True),
    sa.Column('label_class_id', sa.Integer(), nullable=True),
    sa.Column('boxes', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=False),
    sa.Column('unsure', sa.Boolean(), nullable=False),
    sa.Column('comment', sa.Text(), nullable=False),
    sa.Column('duration_ms', sa.Integer(), nullable=True),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('idempotency_key', sa.String(length=64), nullable=True),
    sa.Column('defect_book_version', sa.Integer(), nullable=True),
    sa.Column('superseded_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.ForeignKeyConstraint(['assignment_id'], ['assignments.id'], name=op.f('fk_annotations_assignment_id'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['image_id'], ['images.id'], name=op.f('fk_annotations_image_id'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['label_class_id'], ['label_classes.id'], name=op.f('fk_annotations_label_class_id'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['labeler_id'], ['users.id'], name=op.f('fk_annotations_labeler_id'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['superseded_by_id'], ['annotations.id'], name=op.f('fk_annotations_superseded_by_id'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_annotations')),
    sa.UniqueConstraint('labeler_id', 'idempotency_key', name=op.f('uq_annotations_labeler_id_idempotency_key'))
    )
    with op.batch_alter_table('annotations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_annotations_image_id'), ['image_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_annotations_labeler_id'), ['labeler_id'], unique=False)
        batch_op.create_index('uq_annotations_live', ['image_id', 'labeler_id'], unique=True, sqlite_where=sa.text('superseded_by_id IS NULL'), postgresql_where=sa.text('superseded_by_id IS NULL'))

    op.create_table('resolutions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('conflict_id', sa.Integer(), nullable=False),
    sa.Column('reviewer_id', sa.Integer(), nullable=False),
    sa.Column('decision', sa.String(length=20), nullable=False),
    sa.Column('label_class_id', sa.Integer(), nullable=True),
    sa.Column('boxes', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=True),
    sa.Column('taken_from_labeler_id', sa.Integer(), nullable=True),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('conflict_version', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.CheckConstraint("decision IN ('accept_consensus', 'take_labeler', 'edit', 'ambiguous', 'send_back', 'group')", name=op.f('ck_resolutions_decision_valid')),
    sa.ForeignKeyConstraint(['conflict_id'], ['conflicts.id'], name=op.f('fk_resolutions_conflict_id'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['label_class_id'], ['label_classes.id'], name=op.f('fk_resolutions_label_class_id'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['reviewer_id'], ['users.id'], name=op.f('fk_resolutions_reviewer_id'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['taken_from_labeler_id'], ['users.id'], name=op.f('fk_resolutions_taken_from_labeler_id'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_resolutions'))
    )
    with op.batch_alter_table('resolutions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_resolutions_conflict_id'), ['conflict_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_resolutions_reviewer_id'), ['reviewer_id'], unique=False)

    op.create_table('final_labels',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('image_id', sa.Integer(), nullable=False),
    sa.Column('label_class_id', sa.Integer(), nullable=True),
    sa.Column('boxes', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=False),
    sa.Column('source', sa.String(length=12), nullable=False),
    sa.Column('confidence', sa.Float(), nullable=True),
    sa.Column('is_ambiguous', sa.Boolean(), nullable=False),
    sa.Column('resolution_id', sa.Integer(), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("source IN ('unanimous', 'consensus', 'review', 'gold')", name=op.f('ck_final_labels_source_valid')),
    sa.ForeignKeyConstraint(['image_id'], ['images.id'], name=op.f('fk_final_labels_image_id'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['label_class_id'], ['label_classes.id'], name=op.f('fk_final_labels_label_class_id'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['resolution_id'], ['resolutions.id'], name=op.f('fk_final_labels_resolution_id'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_final_labels')),
    sa.UniqueConstraint('image_id', name=op.f('uq_final_labels_image_id'))
    )


def downgrade() -> None:
    op.drop_table('final_labels')
    with op.batch_alter_table('resolutions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_resolutions_reviewer_id'))
        batch_op.drop_index(batch_op.f('ix_resolutions_conflict_id'))

    op.drop_table('resolutions')
    with op.batch_alter_table('annotations', schema=None) as batch_op:
        batch_op.drop_index('uq_annotations_live', sqlite_where=sa.text('superseded_by_id IS NULL'), postgresql_where=sa.text('superseded_by_id IS NULL'))
        batch_op.drop_index(batch_op.f('ix_annotations_labeler_id'))
        batch_op.drop_index(batch_op.f('ix_annotations_image_id'))

    op.drop_table('annotations')
    with op.batch_alter_table('model_predictions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_model_predictions_project_id'))
        batch_op.drop_index(batch_op.f('ix_model_predictions_image_id'))

    op.drop_table('model_predictions')
    op.drop_table('image_consensus')
    with op.batch_alter_table('dataset_items', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_dataset_items_image_id'))

    op.drop_table('dataset_items')
    with op.batch_alter_table('conflicts', schema=None) as batch_op:
        batch_op.drop_index('ix_conflicts_queue')
        batch_op.drop_index(batch_op.f('ix_conflicts_image_id'))
        batch_op.drop_index(batch_op.f('ix_conflicts_duplicate_group_id'))

    op.drop_table('conflicts')
    with op.batch_alter_table('class_examples', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_class_examples_label_class_id'))
        batch_op.drop_index(batch_op.f('ix_class_examples_image_id'))

    op.drop_table('class_examples')
    with op.batch_alter_table('assignments', schema=None) as batch_op:
        batch_op.drop_index('uq_assignments_active', sqlite_where=sa.text("state IN ('open', 'returned')"), postgresql_where=sa.text("state IN ('open', 'returned')"))
        batch_op.drop_index(batch_op.f('ix_assignments_project_id'))
        batch_op.drop_index('ix_assignments_labeler_state')
        batch_op.drop_index(batch_op.f('ix_assignments_image_id'))

    op.drop_table('assignments')
    with op.batch_alter_table('images', schema=None) as batch_op:
        batch_op.drop_index('ix_images_project_queue')
        batch_op.drop_index(batch_op.f('ix_images_project_id'))
        batch_op.drop_index(batch_op.f('ix_images_duplicate_group_id'))
        batch_op.drop_index(batch_op.f('ix_images_batch_id'))
        batch_op.drop_index(batch_op.f('ix_images_augmented_from_id'))

    op.drop_table('images')
    with op.batch_alter_table('dataset_exports', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_dataset_exports_version_id'))

    op.drop_table('dataset_exports')
    with op.batch_alter_table('upload_batches', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_upload_batches_project_id'))

    op.drop_table('upload_batches')
    with op.batch_alter_table('memberships', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_memberships_user_id'))
        batch_op.drop_index(batch_op.f('ix_memberships_project_id'))

    op.drop_table('memberships')
    with op.batch_alter_table('labeler_quality', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_labeler_quality_project_id'))

    op.drop_table('labeler_quality')
    with op.batch_alter_table('label_classes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_label_classes_project_id'))

    op.drop_table('label_classes')
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_jobs_project_id'))
        batch_op.drop_index('ix_jobs_claim')

    op.drop_table('jobs')
    with op.batch_alter_table('duplicate_groups', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_duplicate_groups_project_id'))

    op.drop_table('duplicate_groups')
    with op.batch_alter_table('defect_book_versions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_defect_book_versions_project_id'))

    op.drop_table('defect_book_versions')
    with op.batch_alter_table('dataset_versions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_dataset_versions_project_id'))

    op.drop_table('dataset_versions')
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_events_project_id'))
        batch_op.drop_index('ix_audit_events_object')
        batch_op.drop_index(batch_op.f('ix_audit_events_actor_id'))
        batch_op.drop_index(batch_op.f('ix_audit_events_action'))

    op.drop_table('audit_events')
    with op.batch_alter_table('agreement_snapshots', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_agreement_snapshots_project_id'))

    op.drop_table('agreement_snapshots')
    with op.batch_alter_table('user_sessions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_user_sessions_user_id'))

    op.drop_table('user_sessions')
    op.drop_table('projects')
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_api_tokens_user_id'))

    op.drop_table('api_tokens')
    op.drop_table('users')
    with op.batch_alter_table('login_attempts', schema=None) as batch_op:
        batch_op.drop_index('ix_login_attempts_ip_created')
        batch_op.drop_index('ix_login_attempts_email_created')

    op.drop_table('login_attempts')
