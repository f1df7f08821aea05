"""``hyperquest pool``: compute a class's pool baselines before class, or show how ready the pool is.

A dataset is handed to players only once its three baselines exist. Left to the server, the
first players of a class wait on "preparing" while they compute; ``pool prepare`` does it ahead
of time: in embedded mode in local processes, scaled out by sending the jobs to the Celery
workers, which share them. Either way it shows the pool's progress until every dataset is ready.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

from app.cli.common import fmt, print_json, table
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
        description="Create the class's pool datasets and compute their baselines. Embedded mode (no "
                    "HYPERQUEST_REDIS_URL): in --jobs local processes. Scaled out: the jobs go to the Celery "
                    "workers (`hyperquest worker`), which share them. Waits until every dataset is ready; "
                    "interrupting it loses nothing (the next run or the server carries on).")
    _add_pool_arguments(prepare)
    prepare.add_argument("--jobs", type=int, default=None,
                         help="embedded mode: datasets computed at once, one process each (default: CPU cores)")
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
    if args.json:
        print_json(readiness.as_dict())
        return 0
    _print_table(readiness)
    print(f"{readiness.ready} of {pool_size} datasets playable ({size}; {', '.join(families)})")
    return 0


def _print_table(readiness) -> None:
    rows = [[r.ref, r.baseline_status, f"{r.baseline_done}/{r.baseline_total}", fmt(r.baseline_default),
             fmt(r.baseline_linear), fmt(r.baseline_bot), fmt(r.baseline_seconds, 0)] for r in readiness.datasets]
    table(rows, ["dataset", "status", "epochs", "default", "linear", "bot", "seconds"])


def run_prepare(args: argparse.Namespace) -> int:
    """Create the pool's datasets, get their baselines computed, and show progress until all are ready."""
    if args.jobs is not None and not 1 <= args.jobs <= 256:
        raise ConfigError(f"--jobs must be between 1 and 256, got {args.jobs}")
    settings, session_factory, pool_size, families, size = _target(args)
    from sqlalchemy import update

    from app.datasets.models import JOB_FAILED, DatasetRecord
    from app.datasets.service import ensure_pool, pool_records

    with session_factory() as db:
        ensure_pool(db, pool_size, families, size)
        # Asked to prepare: a dataset whose baselines failed before gets another try.
        ids = [r.id for r in pool_records(db, pool_size, families, size)]
        db.execute(update(DatasetRecord).where(DatasetRecord.id.in_(ids), DatasetRecord.baseline_status == JOB_FAILED)
                   .values(baseline_status="pending", baseline_error=None))
        db.commit()
    readiness = _readiness(session_factory, settings, pool_size, families, size)
    todo = [r.id for r in readiness.datasets if r.baseline_status in ("pending", "running")]
    print(f"pool: {pool_size} {size} datasets ({', '.join(families)}); {readiness.ready} ready, {len(todo)} to compute "
          f"({'embedded: local processes' if settings.embedded else 'scaled out: Celery workers'})", flush=True)
    started = time.monotonic()
    if todo:
        local = None
        if settings.embedded:
            local = LocalJobs(settings, todo, args.jobs)
        else:
            _send_to_workers(settings, todo)
        try:
            _watch(session_factory, settings, pool_size, families, size, local, started)
        except KeyboardInterrupt:
            print("pool prepare: interrupted; what is computed is kept, the rest continues with the next "
                  "`pool prepare` or server start", file=sys.stderr)
            return 130
        finally:
            if local is not None:
                local.stop()
    readiness = _readiness(session_factory, settings, pool_size, families, size)
    _print_table(readiness)
    print(f"{readiness.ready} of {pool_size} datasets playable after {_duration(time.monotonic() - started)}")
    if readiness.failed:
        failed = [f"{r.ref} ({r.baseline_error})" for r in readiness.datasets if r.baseline_status == JOB_FAILED]
        raise ConfigError(f"baselines failed for {'; '.join(failed)}")
    return 0


def _duration(seconds: float) -> str:
    minutes, seconds = divmod(int(round(seconds)), 60)
    return f"{minutes}m{seconds:02d}s" if minutes else f"{seconds}s"


def _watch(session_factory, settings, pool_size, families, size, local: LocalJobs | None, started: float) -> None:
    """Show a progress bar (epochs trained, with an ETA) until the pool is finished."""
    from tqdm import tqdm

    readiness = _readiness(session_factory, settings, pool_size, families, size)
    done, total = readiness.epochs
    finished_refs = {r.ref for r in readiness.datasets if r.baseline_status in ("done", "failed")}
    last_progress, hinted = time.monotonic(), False
    # disable=None: a bar on a terminal, plain lines only (below) when the output is a log.
    with tqdm(total=total, initial=done, unit="epoch", desc="baselines", file=sys.stderr, disable=None,
              dynamic_ncols=True) as bar:
        while not readiness.finished:
            time.sleep(POLL_SECONDS)
            readiness = _readiness(session_factory, settings, pool_size, families, size)
            done, total = readiness.epochs
            if done != bar.n:
                last_progress = time.monotonic()
            bar.total = total
            bar.update(done - bar.n)
            bar.set_postfix_str(f"{readiness.ready}/{pool_size} playable")
            for r in readiness.datasets:
                if r.baseline_status in ("done", "failed") and r.ref not in finished_refs:
                    finished_refs.add(r.ref)
                    bar.write(f"{r.ref}: {r.baseline_status} after {_duration(time.monotonic() - started)} "
                              f"(default {fmt(r.baseline_default)}, linear {fmt(r.baseline_linear)}, "
                              f"bot {fmt(r.baseline_bot)}); {readiness.ready} of {pool_size} playable")
            if local is not None and not local.alive() and not readiness.finished:
                raise ConfigError("the local baseline processes stopped before the pool was ready; run it again")
            if local is None and not hinted and time.monotonic() - last_progress > NO_WORKER_HINT_SECONDS:
                hinted = True
                bar.write("no progress for 30 s: is a `hyperquest worker` (taking the baselines queue) running? "
                          "The jobs wait in the queue until one is.")


def _send_to_workers(settings, dataset_ids: list[int]) -> None:
    """Scaled out: queue one baseline job per dataset; every worker on the baselines queue takes some."""
    from app.runner.celery_config import COMPUTE_BASELINE, make_celery

    celery = make_celery(settings)
    try:
        for dataset_id in dataset_ids:
            celery.send_task(COMPUTE_BASELINE, args=[dataset_id], retry=True,
                             retry_policy={"max_retries": 3, "interval_start": 0.5, "interval_step": 1})
    except Exception as exc:  # kombu raises OperationalError subclasses when Redis is down
        raise ConfigError(f"cannot reach Redis at {settings.redis_url}: {exc}") from None


class LocalJobs:
    """Embedded mode: processes (spawned, one torch thread pool each) taking the datasets in pool order."""

    def __init__(self, settings, dataset_ids: list[int], jobs: int | None) -> None:
        import multiprocessing

        cores = os.cpu_count() or 1
        jobs = min(jobs or cores, len(dataset_ids))
        threads = max(1, cores // jobs)
        context = multiprocessing.get_context("spawn")
        self.queue = context.Queue()  # kept here: the children unpickle it after start() returns
        for dataset_id in dataset_ids:
            self.queue.put(dataset_id)
        self.processes = [context.Process(target=baseline_process, args=(settings, self.queue, threads),
                                          name=f"hq-baselines-{i}", daemon=True) for i in range(jobs)]
        for process in self.processes:
            process.start()

    def alive(self) -> bool:
        """True while any process is still working."""
        return any(p.is_alive() for p in self.processes)

    def stop(self) -> None:
        """Stop the processes; each gives its unfinished dataset back (pending)."""
        for process in self.processes:
            if process.is_alive():
                process.terminate()
        for process in self.processes:
            process.join(10)


def baseline_process(settings, queue, threads: int) -> None:
    """One local process of `pool prepare`: compute baselines of the queued datasets until none is left."""
    import queue as queues
    import signal

    import torch

    from app.datasets.jobs import compute_baseline
    from app.db.session import make_engine, make_session_factory
    from app.runner.priority import lower_training_priority
    from engine.devices import resolve_device

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and stops us
    torch.set_num_threads(threads)
    lower_training_priority(settings.training_niceness)  # a server on the same machine keeps serving
    session_factory = make_session_factory(make_engine(settings.database_url))
    device = resolve_device(settings.device)

    def release_on_terminate(*_args) -> None:
        raise SystemExit(0)  # compute_baseline gives its dataset back (pending) on the way out

    signal.signal(signal.SIGTERM, release_on_terminate)
    while True:
        try:
            dataset_id = queue.get(timeout=1)
        except queues.Empty:
            return
        compute_baseline(session_factory, dataset_id, settings.baseline_epochs, device,
                         stale_after=settings.stale_after_seconds)
