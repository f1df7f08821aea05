"""Background work, one model for every kind: the job row, its lease, the registry of kinds and the runners.

A click travels form → service → ``enqueue`` (a row in the caller's transaction) → a runner is told
there is new work once that transaction commits → an executor leases the job (app.jobs.lease) and
calls its kind's function (declared with ``@job_kind`` beside the domain code it runs) → the engine
trains → the live pages are nudged. See docs/architecture.md.
"""
