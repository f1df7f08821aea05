"""``hyperquest pool``: compute a class's pool baselines before class, or show how ready the pool is.

A dataset is handed to players only once its three baselines exist. Left to the server, the
first players of a class wait on "preparing" while they compute; ``pool prepare`` does it ahead
of time: in embedded mode in local processes, scaled out by sending the jobs to the Celery
workers, which share them. Either way it shows the pool's progress until every dataset is ready.
"""

from __future__ import annotations

import argparse
import sys
import time

from app.cli.common import fmt, print_json, table
from app.datasets.models import JOB_DONE, JOB_FAILED, JOB_UNFINISHED
from engine.datasets import FAMILIES, SIZES
from engine.errors import ConfigError

#: How often the progress display re-reads the pool.
POLL_SECONDS = 0.5
#: Scaled out: how long without any progress before the command says no worker seems to be there.
NO_WORKER_HINT_SECONDS = 30.0


def add_parser(subparsers) -> None:
    """Register the subcommand."""
    parser = subparsers.add_parser(
        "pool", help="prepare the class's dataset pool (baselines) or show its readiness",
        description="Datasets are played only once their baselines (default schedule, linear classifier, "
                    "automatic player) are computed. Run `pool prepare` before class so players never wait.")
    actions = parser.add_subparsers(dest="pool_command", metavar="ACTION")
    actions.required = True

    prepare = actions.add_parser(
        "prepare", help="compute every missing baseline of the pool, with a progress bar",
        description="Create the class's pool datasets and compute their baselines, then their reference players. "
                    "Embedded mode (no HYPERQUEST_REDIS_URL): in --jobs local processes. Scaled out: the jobs go to "
                    "the Celery workers (`hyperquest worker`), which share them. Waits until every dataset is "
                    "ready (and its reference players computed, unless --playable); interrupting it loses nothing "
                    "(the next run or the server carries on). Jobs that failed before are retried.")
    _add_pool_arguments(prepare)
    prepare.add_argument("--jobs", type=int, default=None,
                         help="embedded mode: jobs run at once, one process each (default: CPU cores)")
    prepare.add_argument("--playable", action="store_true",
                         help="stop once every dataset is playable (the reference players, which only the "
                              "debrief needs, are then computed by the server or the workers)")
    prepare.set_defaults(run=run_prepare)

    status = actions.add_parser("status", help="show the pool's readiness",
                                description="One line per pool dataset: its baseline status and scores.")
    _add_pool_arguments(status)
    status.add_argument("--json", action="store_true", help="print JSON")
    status.set_defaults(run=run_status)


def _add_pool_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--size", default=None,
                        help=f"dataset size: {', '.join(SIZES)} (default: the HYPERQUEST_DATASET_SIZE setting)")
    parser.add_argument("--families", default=None,
                        help="comma-separated families (default: the class settings' families)")


def _parse_families(text: str | None) -> list[str] | None:
    """The families asked for, checked against those a class may play; None = the class settings'."""
    if text is None:
        return None
    families = sorted({f.strip() for f in text.split(",") if f.strip()})
    playable = sorted(name for name, family in FAMILIES.items() if family.playable)
    unknown = [f for f in families if f not in FAMILIES]
    if unknown or not families:
        raise ConfigError(f"unknown dataset families {unknown or [text]}; choose from {', '.join(playable)}")
    retired = [f for f in families if f not in playable]
    if retired:
        raise ConfigError(f"{', '.join(retired)} is not offered to classes (it misses the calibration targets); "
                          f"choose from {', '.join(playable)}")
    return families


def _target(args: argparse.Namespace):
    """(settings, session factory, pool size, families, size) of the pool the command works on."""
    if args.size is not None and args.size not in SIZES:
        raise ConfigError(f"unknown dataset size {args.size!r}; choose from {', '.join(SIZES)}")
    families = _parse_families(args.families)
    from sqlalchemy.exc import OperationalError

    from app.classroom.service import allowed_families, class_settings
    from app.db import migrate
    from app.db.session import make_engine, make_session_factory
    from app.settings import load_settings

    settings = load_settings()
    size = args.size or settings.dataset_size
    try:
        session_factory = make_session_factory(make_engine(settings.database_url))  # creates a SQLite file's folder
        migrate.upgrade(settings.database_url)
        with session_factory() as db:
            row = class_settings(db, settings)
            class_families = allowed_families(row)
            pool_size = row.pool_size
            db.commit()
    except OperationalError as exc:
        raise ConfigError(f"cannot reach the database: {str(exc.orig).strip().splitlines()[0]}") from None
    if families is not None and families != class_families:
        print(f"note: the class settings choose {', '.join(class_families)}; datasets of other families are "
              "prepared but handed out only once the settings choose them", file=sys.stderr)
    return settings, session_factory, pool_size, families or class_families, size


def _readiness(session_factory, settings, pool_size: int, families: list[str], size: str):
    from app.datasets.service import pool_readiness

    with session_factory() as db:
        return pool_readiness(db, pool_size, families, size, settings.baseline_epochs)


def run_status(args: argparse.Namespace) -> int:
    """Print the pool's readiness."""
    settings, session_factory, pool_size, families, size = _target(args)
    readiness = _readiness(session_factory, settings, pool_size, families, size)
    failed = _failed_jobs(session_factory, [r.id for r in readiness.datasets])
    if args.json:
        print_json({**readiness.as_dict(), "failed_jobs": failed})
        return 0
    _print_table(readiness)
    print(f"{readiness.ready} of {pool_size} datasets playable ({size}; {', '.join(families)}); "
          f"reference players of {readiness.references_done} computed")
    for job in failed:
        print(f"failed job {job['id']}: {job['kind']} of {job['dataset']} after {job['tries']} tries: {job['error']} "
              "(`hyperquest pool prepare` or the dashboard retries it)")
    return 0


def _failed_jobs(session_factory, dataset_ids: list[int]) -> list[dict]:
    """The pool's jobs that gave up (baselines, reference players), with their last error."""
    from sqlalchemy import select

    from app.datasets.models import BASELINES_JOB, REFERENCES_JOB, DatasetRecord
    from app.jobs.models import FAILED, Job

    with session_factory() as db:
        rows = db.execute(select(Job, DatasetRecord).join(DatasetRecord, DatasetRecord.id == Job.subject_id)
                          .where(Job.kind.in_((BASELINES_JOB, REFERENCES_JOB)), Job.subject_id.in_(dataset_ids),
                                 Job.status == FAILED).order_by(Job.id))
        return [{"id": job.id, "kind": job.kind, "dataset": dataset.ref, "tries": job.attempts + job.retries,
                 "error": job.last_error} for job, dataset in rows]


def _print_table(readiness) -> None:
    rows = [[r.ref, r.baseline_status, f"{r.baseline_done}/{r.baseline_total}", fmt(r.baseline_default),
             fmt(r.baseline_linear), fmt(r.baseline_bot), fmt(r.baseline_seconds, 0), r.references_status]
            for r in readiness.datasets]
    table(rows, ["dataset", "baselines", "epochs", "default", "linear", "bot", "seconds", "references"])
    for r in readiness.rejected:
        print(f"passed over {r.ref}: {r.rejected_reason}")


def run_prepare(args: argparse.Namespace) -> int:
    """Create the pool's datasets, get their baselines and reference players computed, and show progress."""
    if args.jobs is not None and not 1 <= args.jobs <= 256:
        raise ConfigError(f"--jobs must be between 1 and 256, got {args.jobs}")
    settings, session_factory, pool_size, families, size = _target(args)
    from app.datasets.service import ensure_pool, pool_records
    from app.jobs.service import retry_failed_of

    with session_factory() as db:
        ensure_pool(db, pool_size, families, size)  # new datasets' baselines jobs are enqueued with them
        ids = [r.id for r in pool_records(db, pool_size, families, size)]
        retried = retry_failed_of(db, ids)  # asked to prepare: what failed before gets another try
        db.commit()
    readiness = _readiness(session_factory, settings, pool_size, families, size)
    todo = [r.id for r in readiness.datasets if r.baseline_status in JOB_UNFINISHED]
    print(f"pool: {pool_size} {size} datasets ({', '.join(families)}); {readiness.ready} ready, {len(todo)} to compute"
          f"{f', {retried} failed job(s) retried' if retried else ''} "
          f"({'embedded: local processes' if settings.embedded else 'scaled out: Celery workers'})", flush=True)
    started = time.monotonic()
    local = None
    try:
        if settings.embedded:
            local = _start_local(settings, session_factory, args.jobs)
        else:
            _send_to_workers(settings, session_factory, ids)
        _watch(session_factory, settings, pool_size, families, size, local, started, args.playable)
    except KeyboardInterrupt:
        print("pool prepare: interrupted; what is computed is kept, the rest continues with the next "
              "`pool prepare` or server start", file=sys.stderr)
        return 130
    finally:
        if local is not None:
            local.stop()
    readiness = _readiness(session_factory, settings, pool_size, families, size)
    _print_table(readiness)
    print(f"{readiness.ready} of {pool_size} datasets playable after {_duration(time.monotonic() - started)}"
          + ("" if args.playable else f"; reference players of {readiness.references_done} computed"))
    if readiness.failed:
        failed = [f"{r.ref} ({r.baseline_error})" for r in readiness.datasets if r.baseline_status == JOB_FAILED]
        raise ConfigError(f"baselines failed for {'; '.join(failed)} (see `hyperquest pool status`)")
    return 0


def _duration(seconds: float) -> str:
    minutes, seconds = divmod(int(round(seconds)), 60)
    return f"{minutes}m{seconds:02d}s" if minutes else f"{seconds}s"


def _watch(session_factory, settings, pool_size, families, size, local, started: float, playable_only: bool) -> None:
    """Show a progress bar (baseline epochs trained, with an ETA) until the pool is finished."""
    from tqdm import tqdm

    readiness = _readiness(session_factory, settings, pool_size, families, size)
    done, total = readiness.epochs
    finished_refs = {r.ref for r in readiness.datasets if r.baseline_status in (JOB_DONE, JOB_FAILED)}
    announced_references = readiness.references_finished
    last_progress, hinted = time.monotonic(), False
    # disable=None: a bar on a terminal, plain lines only (below) when the output is a log.
    with tqdm(total=total, initial=done, unit="epoch", desc="baselines", file=sys.stderr, disable=None,
              dynamic_ncols=True) as bar:
        while not (readiness.finished and (playable_only or readiness.references_finished)):
            time.sleep(POLL_SECONDS)
            readiness = _readiness(session_factory, settings, pool_size, families, size)
            done, total = readiness.epochs
            if done != bar.n:
                last_progress = time.monotonic()
            bar.total = total
            bar.update(done - bar.n)
            bar.set_postfix_str(f"{readiness.ready}/{pool_size} playable, references {readiness.references_done}/{pool_size}")
            for r in readiness.datasets:
                if r.baseline_status in (JOB_DONE, JOB_FAILED) and r.ref not in finished_refs:
                    finished_refs.add(r.ref)
                    bar.write(f"{r.ref}: {r.baseline_status} after {_duration(time.monotonic() - started)} "
                              f"(default {fmt(r.baseline_default)}, linear {fmt(r.baseline_linear)}, "
                              f"bot {fmt(r.baseline_bot)}); {readiness.ready} of {pool_size} playable")
            if readiness.references_finished and not announced_references:
                announced_references = True
                bar.write(f"reference players: all computed after {_duration(time.monotonic() - started)}")
            if local is not None and not local.alive():
                raise ConfigError("the local job processes stopped before the pool was ready; run it again")
            if local is None and not hinted and time.monotonic() - last_progress > NO_WORKER_HINT_SECONDS:
                hinted = True
                bar.write("no progress for 30 s: is a `hyperquest worker` serving the pool lane running? "
                          "The jobs wait in the queue until one is.")


def _send_to_workers(settings, session_factory, dataset_ids: list[int]) -> None:
    """Scaled out: hand the pool's unfinished jobs to the broker; every worker serving their lanes takes some."""
    from sqlalchemy import select

    from app.jobs.broker_signals import BrokerSignals
    from app.jobs.celery_config import make_celery
    from app.jobs.models import UNFINISHED, Job
    from app.jobs.runners.celery_dispatch import send_jobs
    from app.datasets.models import BASELINES_JOB, REFERENCES_JOB

    with session_factory() as db:
        job_ids = list(db.scalars(select(Job.id).where(Job.kind.in_((BASELINES_JOB, REFERENCES_JOB)),
                                                       Job.subject_id.in_(dataset_ids), Job.status.in_(UNFINISHED))))
    try:
        send_jobs(make_celery(settings), session_factory, settings, job_ids, BrokerSignals(settings))
    except Exception as exc:  # kombu raises OperationalError subclasses when Redis is down
        raise ConfigError(f"cannot reach Redis at {settings.redis_url}: {exc}") from None


def _start_local(settings, session_factory, jobs: int | None):
    """Embedded mode: executors in local processes serving the pool's lanes (baselines, then references)."""
    from app.jobs.lanes import BACKGROUND, POOL
    from app.jobs.runners.embedded import ProcessRunner
    from app.live.notify import Notifier
    from engine.devices import resolve_device

    runner = ProcessRunner(session_factory, settings, Notifier(), resolve_device(settings.device),
                           lanes=(POOL, BACKGROUND), slots=jobs, io_lane=False)
    runner.start()
    return runner
