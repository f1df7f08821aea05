"""class settings, staff accounts, linear and bot baselines, hidden test accuracy

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21 09:30:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('class_settings',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('class_code', sa.String(length=64), nullable=True),
    sa.Column('pool_size', sa.Integer(), nullable=False),
    sa.Column('allowed_families', sa.JSON(), nullable=False),
    sa.Column('reveal_test_accuracy', sa.Boolean(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_class_settings'))
    )
    op.create_table('staff_accounts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('password_hash', sa.String(length=255), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_staff_accounts')),
    sa.UniqueConstraint('username', name=op.f('uq_staff_accounts_username'))
    )
    with op.batch_alter_table('datasets', schema=None) as batch_op:
        batch_op.add_column(sa.Column('baseline_linear', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('baseline_bot', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('bot_run_id', sa.Integer(), nullable=True))
    with op.batch_alter_table('runs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('test_acc', sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('runs', schema=None) as batch_op:
        batch_op.drop_column('test_acc')
    with op.batch_alter_table('datasets', schema=None) as batch_op:
        batch_op.drop_column('bot_run_id')
        batch_op.drop_column('baseline_bot')
        batch_op.drop_column('baseline_linear')
    op.drop_table('staff_accounts')
    op.drop_table('class_settings')
