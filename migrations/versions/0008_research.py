"""research instruments: predictions, reason chips and chart hovers on actions; consent and
experimental assignments of players; the class's instrument settings; scenario links

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03 10:30:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('assignments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('student_pk', sa.Integer(), nullable=False),
    sa.Column('condition', sa.String(length=32), nullable=False),
    sa.Column('stratum', sa.String(length=64), nullable=False),
    sa.Column('seed', sa.String(length=64), nullable=False),
    sa.Column('arms', sa.String(length=200), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['student_pk'], ['students.id'], name=op.f('fk_assignments_student_pk_students'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_assignments')),
    sa.UniqueConstraint('student_pk', name=op.f('uq_assignments_student_pk'))
    )
    op.create_table('scenarios',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('token', sa.String(length=32), nullable=False),
    sa.Column('title', sa.String(length=120), nullable=False),
    sa.Column('dataset_id', sa.Integer(), nullable=False),
    sa.Column('config', sa.JSON(), nullable=False),
    sa.Column('locked', sa.JSON(), nullable=False),
    sa.Column('hidden', sa.JSON(), nullable=False),
    sa.Column('created_by', sa.String(length=64), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['dataset_id'], ['datasets.id'], name=op.f('fk_scenarios_dataset_id_datasets')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_scenarios')),
    sa.UniqueConstraint('token', name=op.f('uq_scenarios_token'))
    )
    with op.batch_alter_table('scenarios', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_scenarios_dataset_id'), ['dataset_id'], unique=False)

    with op.batch_alter_table('actions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('prediction', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('confidence', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('reasons', sa.JSON(none_as_null=True), nullable=True))
        batch_op.add_column(sa.Column('reason_text', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('chart_hovers', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('condition', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('hint', sa.JSON(none_as_null=True), nullable=True))

    with op.batch_alter_table('class_settings', schema=None) as batch_op:
        batch_op.add_column(sa.Column('predictions', sa.String(length=16), server_default='off', nullable=False))
        batch_op.add_column(sa.Column('reasons', sa.String(length=16), server_default='off', nullable=False))
        batch_op.add_column(sa.Column('research_enabled', sa.Boolean(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('consent_text', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('consent_version', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('arms', sa.JSON(), server_default='[]', nullable=False))
        batch_op.add_column(sa.Column('assignment_seed', sa.String(length=64), server_default='', nullable=False))
        batch_op.add_column(sa.Column('allow_exact_times', sa.Boolean(), server_default='0', nullable=False))

    with op.batch_alter_table('runs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('scenario_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_runs_scenario_id'), ['scenario_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_runs_scenario_id_scenarios'), 'scenarios', ['scenario_id'], ['id'], ondelete='SET NULL')

    with op.batch_alter_table('students', schema=None) as batch_op:
        batch_op.add_column(sa.Column('consented', sa.Boolean(), nullable=True))
        batch_op.add_column(sa.Column('consent_version', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('consent_at', sa.DateTime(timezone=True), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('students', schema=None) as batch_op:
        batch_op.drop_column('consent_at')
        batch_op.drop_column('consent_version')
        batch_op.drop_column('consented')

    with op.batch_alter_table('runs', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_runs_scenario_id_scenarios'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_runs_scenario_id'))
        batch_op.drop_column('scenario_id')

    with op.batch_alter_table('class_settings', schema=None) as batch_op:
        batch_op.drop_column('allow_exact_times')
        batch_op.drop_column('assignment_seed')
        batch_op.drop_column('arms')
        batch_op.drop_column('consent_version')
        batch_op.drop_column('consent_text')
        batch_op.drop_column('research_enabled')
        batch_op.drop_column('reasons')
        batch_op.drop_column('predictions')

    with op.batch_alter_table('actions', schema=None) as batch_op:
        batch_op.drop_column('hint')
        batch_op.drop_column('condition')
        batch_op.drop_column('chart_hovers')
        batch_op.drop_column('reason_text')
        batch_op.drop_column('reasons')
        batch_op.drop_column('confidence')
        batch_op.drop_column('prediction')

    with op.batch_alter_table('scenarios', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_scenarios_dataset_id'))

    op.drop_table('scenarios')
    op.drop_table('assignments')
