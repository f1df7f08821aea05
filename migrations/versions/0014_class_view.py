"""the class view: instructors' messages to a class or one student

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07 09:00:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('instructor_messages',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('class_id', sa.Integer(), nullable=False),
    sa.Column('student_pk', sa.Integer(), nullable=True),
    sa.Column('staff_id', sa.Integer(), nullable=True),
    sa.Column('text', sa.String(length=500), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['student_pk'], ['students.id'], name=op.f('fk_instructor_messages_student_pk_students'),
                            ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['staff_id'], ['staff_accounts.id'], name=op.f('fk_instructor_messages_staff_id_staff_accounts'),
                            ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_instructor_messages'))
    )
    with op.batch_alter_table('instructor_messages', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_instructor_messages_class_id'), ['class_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_instructor_messages_student_pk'), ['student_pk'], unique=False)
        batch_op.create_index(batch_op.f('ix_instructor_messages_created_at'), ['created_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('instructor_messages', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_instructor_messages_created_at'))
        batch_op.drop_index(batch_op.f('ix_instructor_messages_student_pk'))
        batch_op.drop_index(batch_op.f('ix_instructor_messages_class_id'))
    op.drop_table('instructor_messages')
