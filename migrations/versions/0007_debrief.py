"""the debrief: counterfactual branches (a job table, and bot runs that point at the player's run and
epoch), the checkpoints an ended run keeps for them, and the reference players of each dataset

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03 09:00:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('runs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('parent_run_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('parent_epoch', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('debrief_open', sa.Boolean(), nullable=False, server_default='0'))
        batch_op.create_index(batch_op.f('ix_runs_parent_run_id'), ['parent_run_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_runs_parent_run_id_runs'), 'runs', ['parent_run_id'], ['id'],
                                    ondelete='CASCADE')
    with op.batch_alter_table('datasets', schema=None) as batch_op:
        batch_op.add_column(sa.Column('references_status', sa.String(length=16), nullable=False, server_default='pending'))
        batch_op.add_column(sa.Column('references_heartbeat_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('baseline_random', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('baseline_oracle', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('oracle_schedule', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('reference_curves', sa.JSON(), nullable=True))
    op.create_table('branches',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=False),
    sa.Column('from_epoch', sa.Integer(), nullable=False),
    sa.Column('reason', sa.String(length=16), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('heartbeat_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('epochs_done', sa.Integer(), nullable=False),
    sa.Column('epochs_total', sa.Integer(), nullable=False),
    sa.Column('start_val_acc', sa.Float(), nullable=True),
    sa.Column('start_val_loss', sa.Float(), nullable=True),
    sa.Column('bot_run_id', sa.Integer(), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['bot_run_id'], ['runs.id'], name=op.f('fk_branches_bot_run_id_runs'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['run_id'], ['runs.id'], name=op.f('fk_branches_run_id_runs'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_branches')),
    sa.UniqueConstraint('run_id', 'from_epoch', name='uq_branches_run_id_from_epoch')
    )
    with op.batch_alter_table('branches', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_branches_run_id'), ['run_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_branches_status'), ['status'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('branches', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_branches_status'))
        batch_op.drop_index(batch_op.f('ix_branches_run_id'))
    op.drop_table('branches')
    with op.batch_alter_table('datasets', schema=None) as batch_op:
        batch_op.drop_column('reference_curves')
        batch_op.drop_column('oracle_schedule')
        batch_op.drop_column('baseline_oracle')
        batch_op.drop_column('baseline_random')
        batch_op.drop_column('references_heartbeat_at')
        batch_op.drop_column('references_status')
    with op.batch_alter_table('runs', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_runs_parent_run_id_runs'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_runs_parent_run_id'))
        batch_op.drop_column('debrief_open')
        batch_op.drop_column('parent_epoch')
