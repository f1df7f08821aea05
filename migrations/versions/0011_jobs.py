"""one job model: every kind of background work is a row of `jobs` (lane, lease, retries, last error);
the per-domain lease columns go, and the unfinished work they described becomes jobs

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06 18:00:00
"""

import datetime as dt

from alembic import op
import sqlalchemy as sa


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None

#: (kind, lane, priority) of each kind the data below turns into jobs (app.jobs.lanes order).
EPOCH, TEST_ACCURACY, BRANCH = ("epoch", "players", 0), ("test_accuracy", "debrief", 1), ("branch", "debrief", 1)
BASELINES, REFERENCES, GRADE_POST = ("baselines", "pool", 2), ("references", "background", 3), ("grade_post", "io", 4)


def upgrade() -> None:
    jobs = op.create_table('jobs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('subject_id', sa.Integer(), nullable=False),
    sa.Column('lane', sa.String(length=16), nullable=False),
    sa.Column('priority', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('retries', sa.Integer(), nullable=False),
    sa.Column('run_after', sa.DateTime(timezone=True), nullable=False),
    sa.Column('leased_by', sa.String(length=200), nullable=True),
    sa.Column('heartbeat_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('dispatched_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('dispatched_queue', sa.String(length=200), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_jobs')),
    sa.UniqueConstraint('kind', 'subject_id', name='uq_jobs_kind_subject_id')
    )
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.create_index('ix_jobs_claim', ['status', 'priority', 'id'], unique=False)

    _jobs_for_unfinished_work(jobs)

    with op.batch_alter_table('actions', schema=None) as batch_op:
        batch_op.drop_column('attempts')
        batch_op.drop_column('dispatched_at')
        batch_op.drop_column('dispatched_queue')
        batch_op.drop_column('heartbeat_at')
    with op.batch_alter_table('branches', schema=None) as batch_op:
        batch_op.drop_column('attempts')
        batch_op.drop_column('heartbeat_at')
    with op.batch_alter_table('datasets', schema=None) as batch_op:
        batch_op.drop_column('baseline_heartbeat_at')
        batch_op.drop_column('references_heartbeat_at')
    with op.batch_alter_table('grade_posts', schema=None) as batch_op:
        batch_op.drop_column('attempts')
        batch_op.drop_column('next_attempt_at')
        batch_op.drop_column('heartbeat_at')
        batch_op.drop_column('last_error')


def _jobs_for_unfinished_work(jobs) -> None:
    """A job for every piece of work the old lease columns left unfinished, so an upgrade loses nothing."""
    bind = op.get_bind()
    now = dt.datetime.now(dt.timezone.utc)
    rows = []

    def add(spec, subject_ids) -> None:
        kind, lane, priority = spec
        rows.extend({"kind": kind, "subject_id": subject_id, "lane": lane, "priority": priority, "status": "pending",
                     "attempts": 0, "retries": 0} for subject_id in subject_ids)

    human_runs = ("SELECT runs.id FROM runs JOIN students ON students.id = runs.student_pk "
                  "WHERE students.role != 'bot' AND runs.parent_run_id IS NULL")
    add(EPOCH, [r[0] for r in bind.execute(sa.text(
        "SELECT actions.id FROM actions WHERE actions.status IN ('queued', 'running') "
        f"AND actions.kind IN ('initial', 'continue') AND actions.run_id IN ({human_runs})"))])
    # A Done (or a limit-ending Revert) used to wait "queued" for its run's test accuracy: now a job of its own.
    add(TEST_ACCURACY, [r[0] for r in bind.execute(sa.text(
        "SELECT DISTINCT actions.run_id FROM actions WHERE actions.status IN ('queued', 'running') "
        f"AND actions.kind NOT IN ('initial', 'continue') AND actions.run_id IN ({human_runs})"))])
    bind.execute(sa.text("UPDATE actions SET status = 'done' WHERE status IN ('queued', 'running') "
                         "AND kind NOT IN ('initial', 'continue')"))
    add(BRANCH, [r[0] for r in bind.execute(sa.text("SELECT id FROM branches WHERE status IN ('pending', 'running')"))])
    add(BASELINES, [r[0] for r in bind.execute(sa.text(
        "SELECT id FROM datasets WHERE baseline_status IN ('pending', 'running')"))])
    add(REFERENCES, [r[0] for r in bind.execute(sa.text(
        "SELECT id FROM datasets WHERE baseline_status = 'done' AND references_status IN ('pending', 'running')"))])
    add(GRADE_POST, [r[0] for r in bind.execute(sa.text(
        "SELECT id FROM grade_posts WHERE status IN ('pending', 'sending')"))])
    bind.execute(sa.text("UPDATE grade_posts SET status = 'pending' WHERE status = 'sending'"))
    if rows:
        op.bulk_insert(jobs, [dict(row, run_after=now, created_at=now) for row in rows])


def downgrade() -> None:
    with op.batch_alter_table('grade_posts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('last_error', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('heartbeat_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=False,
                                      server_default=sa.func.now()))
        batch_op.add_column(sa.Column('attempts', sa.Integer(), nullable=False, server_default='0'))
    with op.batch_alter_table('datasets', schema=None) as batch_op:
        batch_op.add_column(sa.Column('references_heartbeat_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('baseline_heartbeat_at', sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table('branches', schema=None) as batch_op:
        batch_op.add_column(sa.Column('heartbeat_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('attempts', sa.Integer(), nullable=False, server_default='0'))
    with op.batch_alter_table('actions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('heartbeat_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('dispatched_queue', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('dispatched_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('attempts', sa.Integer(), nullable=False, server_default='0'))
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.drop_index('ix_jobs_claim')
    op.drop_table('jobs')
