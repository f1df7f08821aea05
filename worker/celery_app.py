"""The workers' Celery application: ``celery -A worker.celery_app worker`` (or ``hyperquest worker``).

Settings come from ``HYPERQUEST_*`` environment variables; HYPERQUEST_REDIS_URL is required.
"""

from __future__ import annotations

import sys

from app.settings import load_settings
from app.jobs.celery_config import make_celery

_settings = load_settings()
if not _settings.redis_url:
    sys.exit("hyperquest worker: error: set HYPERQUEST_REDIS_URL (workers exist only in the scaled-out mode)")

app = make_celery(_settings)
app.conf.include = ["worker.tasks"]
