"""baseline progress and a heartbeat, so several processes can share a pool's baselines; the worker
queue that trained each epoch and the one it was sent to, so runs stick to the worker holding their data

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 16:00:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('datasets', schema=None) as batch_op:
        batch_op.add_column(sa.Column('baseline_done', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('baseline_total', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('baseline_heartbeat_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('baseline_seconds', sa.Float(), nullable=True))
    with op.batch_alter_table('actions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('dispatched_queue', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('worker_queue', sa.String(length=200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('actions', schema=None) as batch_op:
        batch_op.drop_column('worker_queue')
        batch_op.drop_column('dispatched_queue')
    with op.batch_alter_table('datasets', schema=None) as batch_op:
        batch_op.drop_column('baseline_seconds')
        batch_op.drop_column('baseline_heartbeat_at')
        batch_op.drop_column('baseline_total')
        batch_op.drop_column('baseline_done')
