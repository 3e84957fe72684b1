"""Model runs, their per-image predictions, the feature cache, capture requests; cancelling jobs

A job can now end `cancelled` (a person asked), and carries when the cancel was asked.

Revision ID: 6ca024678def
Revises: 5e0c1d7a2b94
Create Date: 2026-12-06 10:00:00+00:00
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '6ca024678def'
down_revision: str | None = '5e0c1d7a2b94'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BEFORE = ("queued", "running", "done", "failed")
CANCELLABLE = (*BEFORE, "cancelled")


def _states(states: Sequence[str]) -> str:
    return ", ".join(f"'{state}'" for state in states)


def upgrade() -> None:
    op.create_table('model_features',
    sa.Column('feature_key', sa.String(length=64), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('dims', sa.Integer(), nullable=False),
    sa.Column('vector', sa.LargeBinary(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.PrimaryKeyConstraint('feature_key', 'sha256', name=op.f('pk_model_features'))
    )
    op.create_table('model_runs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('project_id', sa.Integer(), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('version_id', sa.Integer(), nullable=False),
    sa.Column('recipe', sa.String(length=40), nullable=False),
    sa.Column('recipe_identity', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=False),
    sa.Column('backbone_key', sa.String(length=255), nullable=True),
    sa.Column('seed', sa.Integer(), nullable=False),
    sa.Column('folds', sa.Integer(), nullable=False),
    sa.Column('state', sa.String(length=12), nullable=False),
    sa.Column('job_id', sa.Integer(), nullable=True),
    sa.Column('artifact_key', sa.String(length=255), nullable=True),
    sa.Column('classes', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=False),
    sa.Column('train_count', sa.Integer(), nullable=False),
    sa.Column('eval_count', sa.Integer(), nullable=False),
    sa.Column('metrics', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=False),
    sa.Column('error', sa.Text(), server_default='', nullable=False),
    sa.Column('seconds', sa.Float(), nullable=True),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("state IN ('queued', 'running', 'done', 'failed', 'cancelled')", name=op.f('ck_model_runs_state_valid')),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_model_runs_created_by_id'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['job_id'], ['jobs.id'], name=op.f('fk_model_runs_job_id'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], name=op.f('fk_model_runs_project_id'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['version_id'], ['dataset_versions.id'], name=op.f('fk_model_runs_version_id'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_model_runs')),
    sa.UniqueConstraint('project_id', 'number', name=op.f('uq_model_runs_project_id_number'))
    )
    with op.batch_alter_table('model_runs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_model_runs_project_id'), ['project_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_model_runs_version_id'), ['version_id'], unique=False)

    op.create_table('capture_requests',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('project_id', sa.Integer(), nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=True),
    sa.Column('slice', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=False),
    sa.Column('label_class_id', sa.Integer(), nullable=True),
    sa.Column('wanted', sa.Integer(), nullable=False),
    sa.Column('note', sa.Text(), server_default='', nullable=False),
    sa.Column('state', sa.String(length=8), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("state IN ('open', 'done')", name=op.f('ck_capture_requests_state_valid')),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_capture_requests_created_by_id'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['label_class_id'], ['label_classes.id'], name=op.f('fk_capture_requests_label_class_id'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], name=op.f('fk_capture_requests_project_id'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['run_id'], ['model_runs.id'], name=op.f('fk_capture_requests_run_id'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_capture_requests'))
    )
    with op.batch_alter_table('capture_requests', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_capture_requests_project_id'), ['project_id'], unique=False)

    op.create_table('model_run_predictions',
    sa.Column('run_id', sa.Integer(), nullable=False),
    sa.Column('image_id', sa.Integer(), nullable=False),
    sa.Column('split', sa.String(length=8), nullable=False),
    sa.Column('out_of_fold', sa.Boolean(), nullable=False),
    sa.Column('fold', sa.Integer(), nullable=True),
    sa.Column('label_class_id', sa.Integer(), nullable=True),
    sa.Column('predicted_class_id', sa.Integer(), nullable=True),
    sa.Column('confidence', sa.Float(), nullable=False),
    sa.Column('probabilities', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=False),
    sa.ForeignKeyConstraint(['image_id'], ['images.id'], name=op.f('fk_model_run_predictions_image_id'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['label_class_id'], ['label_classes.id'], name=op.f('fk_model_run_predictions_label_class_id'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['predicted_class_id'], ['label_classes.id'], name=op.f('fk_model_run_predictions_predicted_class_id'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['run_id'], ['model_runs.id'], name=op.f('fk_model_run_predictions_run_id'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('run_id', 'image_id', name=op.f('pk_model_run_predictions'))
    )
    with op.batch_alter_table('model_run_predictions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_model_run_predictions_image_id'), ['image_id'], unique=False)
        batch_op.create_index('ix_model_run_predictions_run_split', ['run_id', 'split'], unique=False)

    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('cancel_requested_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.drop_constraint(op.f('ck_jobs_state_valid'), type_='check')
        batch_op.create_check_constraint(op.f('ck_jobs_state_valid'), sa.text(f"state IN ({_states(CANCELLABLE)})"))



def downgrade() -> None:
    op.execute(sa.text("UPDATE jobs SET state = 'failed' WHERE state = 'cancelled'"))
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.drop_column('cancel_requested_at')
        batch_op.drop_constraint(op.f('ck_jobs_state_valid'), type_='check')
        batch_op.create_check_constraint(op.f('ck_jobs_state_valid'), sa.text(f"state IN ({_states(BEFORE)})"))

    with op.batch_alter_table('model_run_predictions', schema=None) as batch_op:
        batch_op.drop_index('ix_model_run_predictions_run_split')
        batch_op.drop_index(batch_op.f('ix_model_run_predictions_image_id'))

    op.drop_table('model_run_predictions')
    with op.batch_alter_table('capture_requests', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_capture_requests_project_id'))

    op.drop_table('capture_requests')
    with op.batch_alter_table('model_runs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_model_runs_version_id'))
        batch_op.drop_index(batch_op.f('ix_model_runs_project_id'))

    op.drop_table('model_runs')
    op.drop_table('model_features')
