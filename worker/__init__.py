"""Celery workers for the scaled-out mode: each task trains one epoch via engine.session.

The Celery app and its tasks live here (``worker/celery_app.py``, ``worker/tasks.py``) once
the scaled-out mode lands; they call the same job function as the embedded runner.
"""
