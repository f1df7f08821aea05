"""a student is their student ID and name together

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-21 14:00:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def _name_key(name: str) -> str:
    # A copy of app.accounts.models.name_key as it was at this revision.
    return " ".join(name.split()).casefold()


def upgrade() -> None:
    with op.batch_alter_table('students', schema=None) as batch_op:
        batch_op.add_column(sa.Column('name_key', sa.String(length=480), nullable=True))
    students = sa.table('students', sa.column('id', sa.Integer), sa.column('name', sa.String), sa.column('name_key', sa.String))
    connection = op.get_bind()
    for pk, name in connection.execute(sa.select(students.c.id, students.c.name)).all():
        connection.execute(students.update().where(students.c.id == pk).values(name_key=_name_key(name)))
    with op.batch_alter_table('students', schema=None) as batch_op:
        batch_op.alter_column('name_key', existing_type=sa.String(length=480), nullable=False)
        batch_op.drop_constraint('uq_students_student_id', type_='unique')
        batch_op.create_unique_constraint('uq_students_student_id_name_key', ['student_id', 'name_key'])
        batch_op.create_index(batch_op.f('ix_students_student_id'), ['student_id'], unique=False)


def downgrade() -> None:
    # Going back needs one student per ID: the newest duplicates (extra names) must go first.
    with op.batch_alter_table('students', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_students_student_id'))
        batch_op.drop_constraint('uq_students_student_id_name_key', type_='unique')
        batch_op.create_unique_constraint('uq_students_student_id', ['student_id'])
        batch_op.drop_column('name_key')
