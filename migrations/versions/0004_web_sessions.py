"""server-side web sessions

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-21 09:45:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('web_sessions',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('student_pk', sa.Integer(), nullable=True),
    sa.Column('staff_pk', sa.Integer(), nullable=True),
    sa.Column('csrf_token', sa.String(length=64), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['staff_pk'], ['staff_accounts.id'], name=op.f('fk_web_sessions_staff_pk_staff_accounts'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['student_pk'], ['students.id'], name=op.f('fk_web_sessions_student_pk_students'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_web_sessions'))
    )


def downgrade() -> None:
    op.drop_table('web_sessions')
