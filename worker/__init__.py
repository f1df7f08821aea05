"""Celery workers for the scaled-out mode: ``hyperquest worker`` and the one task that runs a job.

``worker.celery_app`` is the Celery application (configured by app.jobs.celery_config) and
``worker.tasks.run_job`` runs a job with the same executor the embedded runner uses (app.jobs).
"""
