"""grade passback: the scores posted (or still to post, with their retries) to LMS gradebooks, and the
class's grading rule

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03 11:00:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('grade_posts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('identity_id', sa.Integer(), nullable=False),
    sa.Column('student_pk', sa.Integer(), nullable=False),
    sa.Column('score_given', sa.Float(), nullable=False),
    sa.Column('score_maximum', sa.Float(), nullable=False),
    sa.Column('comment', sa.String(length=500), nullable=False),
    sa.Column('reason', sa.String(length=32), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('heartbeat_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['identity_id'], ['lti_identities.id'], name=op.f('fk_grade_posts_identity_id_lti_identities'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['student_pk'], ['students.id'], name=op.f('fk_grade_posts_student_pk_students'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_grade_posts'))
    )
    with op.batch_alter_table('grade_posts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_grade_posts_identity_id'), ['identity_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_grade_posts_status'), ['status'], unique=False)
        batch_op.create_index(batch_op.f('ix_grade_posts_student_pk'), ['student_pk'], unique=False)

    with op.batch_alter_table('class_settings', schema=None) as batch_op:
        batch_op.add_column(sa.Column('grade_mode', sa.String(length=32), server_default='best_normalised', nullable=False))
        batch_op.add_column(sa.Column('grade_runs', sa.Integer(), server_default='3', nullable=False))



def downgrade() -> None:
    with op.batch_alter_table('class_settings', schema=None) as batch_op:
        batch_op.drop_column('grade_runs')
        batch_op.drop_column('grade_mode')

    with op.batch_alter_table('grade_posts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_grade_posts_student_pk'))
        batch_op.drop_index(batch_op.f('ix_grade_posts_status'))
        batch_op.drop_index(batch_op.f('ix_grade_posts_identity_id'))

    op.drop_table('grade_posts')
