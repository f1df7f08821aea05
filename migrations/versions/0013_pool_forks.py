"""the pool's work done once and no duds: fork points where reference schedules leave a baseline's path,
the references' wall time, and why a pool passed a dataset over

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06 21:00:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('datasets', schema=None) as batch_op:
        batch_op.add_column(sa.Column('references_seconds', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('rejected_reason', sa.Text(), nullable=True))
    op.create_table('reference_forks',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('dataset_id', sa.Integer(), nullable=False),
    sa.Column('data', sa.LargeBinary(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['dataset_id'], ['datasets.id'], name=op.f('fk_reference_forks_dataset_id_datasets'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_reference_forks'))
    )
    with op.batch_alter_table('reference_forks', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_reference_forks_dataset_id'), ['dataset_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('reference_forks', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_reference_forks_dataset_id'))
    op.drop_table('reference_forks')
    with op.batch_alter_table('datasets', schema=None) as batch_op:
        batch_op.drop_column('rejected_reason')
        batch_op.drop_column('references_seconds')
