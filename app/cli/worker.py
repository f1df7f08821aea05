"""``hyperquest worker``: a Celery worker training epochs and baselines (scaled-out mode)."""

from __future__ import annotations

import argparse
import os
import socket

from engine.errors import ConfigError

QUEUE_KINDS = ("epochs", "baselines")


def add_parser(subparsers) -> None:
    """Register the subcommand."""
    parser = subparsers.add_parser(
        "worker",
        help="start a Celery worker (needs HYPERQUEST_REDIS_URL)",
        description="Start one Celery worker. It trains one epoch at a time in a single pool process, so CUDA is "
        "initialised only there; run one worker per GPU (CUDA_VISIBLE_DEVICES=N) and as many as you like per machine.",
    )
    parser.add_argument("--queues", default="epochs,baselines",
                        help="job kinds to take, comma-separated: epochs, baselines (default both)")
    parser.add_argument("--name", default=None, help="worker name (default hyperquest-PID@HOST)")
    parser.add_argument("--loglevel", default="INFO", choices=("DEBUG", "INFO", "WARNING", "ERROR"))
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Validate the settings, then hand over to Celery's worker until it is stopped."""
    from app.settings import load_settings

    settings = load_settings()
    if not settings.redis_url:
        raise ConfigError("set HYPERQUEST_REDIS_URL: workers exist only in the scaled-out mode")
    kinds = [k.strip() for k in args.queues.split(",") if k.strip()]
    unknown = [k for k in kinds if k not in QUEUE_KINDS]
    if unknown or not kinds:
        raise ConfigError(f"unknown queues {unknown}; choose from {', '.join(QUEUE_KINDS)}")

    from worker.celery_app import app
    from worker.config import queue_names

    names = queue_names(settings)
    name = args.name or f"hyperquest-{os.getpid()}@{socket.gethostname()}"
    # prefork with one child: time limits and reject-on-worker-lost need a pool parent that
    # survives its child, and the child (not the parent) is where CUDA gets initialised.
    app.worker_main([
        "worker", "--pool", "prefork", "--concurrency", "1", "--queues", ",".join(names[k] for k in kinds),
        "--hostname", name, "--loglevel", args.loglevel, "--without-gossip", "--without-mingle",
    ])
    return 0
