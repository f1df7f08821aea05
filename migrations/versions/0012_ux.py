"""numbers and links players can trust: a pending scenario link in the session, the instructor's timeout for
abandoned runs, and each action's decision time with what it is measured from

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06 20:00:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('web_sessions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('pending_scenario', sa.String(length=64), nullable=True))

    with op.batch_alter_table('class_settings', schema=None) as batch_op:
        batch_op.add_column(sa.Column('abandon_after_minutes', sa.Integer(), server_default='120', nullable=False))

    with op.batch_alter_table('actions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('decision_seconds', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('decision_from', sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('actions', schema=None) as batch_op:
        batch_op.drop_column('decision_from')
        batch_op.drop_column('decision_seconds')

    with op.batch_alter_table('class_settings', schema=None) as batch_op:
        batch_op.drop_column('abandon_after_minutes')

    with op.batch_alter_table('web_sessions', schema=None) as batch_op:
        batch_op.drop_column('pending_scenario')
