"""The embedded runner's training process: epochs and baselines outside the web server's process.

Training a small network is mostly Python between short tensor operations, so on a training
thread inside the server it holds the interpreter lock most of the time and every page waits
for it (300 simulated students: page p95 over a second). In its own process it competes for
CPU only, and at a lower priority, so pages come first. The process opens its own database
connections, reports progress over a queue that a thread in the server relays to the live
pages, and exits when asked or when the server that started it is gone.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import queue
import threading
import time

from app.grades.sender import GradeSender
from app.runner.jobs import BASELINE, BRANCH, STOP, job_functions, queue_unfinished, serve_jobs
from app.runner.notify import Notifier
from app.runner.priority import prepare_training
from app.settings import Settings

log = logging.getLogger(__name__)

EPOCH = "epoch"
#: How often the training process checks that the server that started it still runs.
PARENT_CHECK_SECONDS = 1.0
#: How often the server checks, when no progress arrives, that its training process still runs.
PROCESS_CHECK_SECONDS = 1.0


class ProcessRunner:
    """The embedded default (app.runner.protocol.Runner): the jobs run in one child process with two threads."""

    def __init__(self, session_factory, settings: Settings, notifier: Notifier, device: str = "cpu") -> None:
        self.session_factory = session_factory
        self.settings = settings
        self.notifier = notifier
        self.device = device
        self._context = multiprocessing.get_context("spawn")  # never fork a server full of threads
        self._stopping = self._context.Event()
        self._jobs = self._nudges = None  # made by _spawn
        self._process: multiprocessing.process.BaseProcess | None = None
        self._relay: threading.Thread | None = None
        #: Always True: there is no broker to lose.
        self.healthy = True
        #: Posts grades to LMS gradebooks from this (the server's) process: network I/O, not training.
        self.grades = GradeSender(session_factory, settings)

    def start(self) -> None:
        """Start the training process and re-queue unfinished work."""
        self._spawn()
        self._relay = threading.Thread(target=self._relay_nudges, name="hq-trainer-nudges", daemon=True)
        self._relay.start()
        self.grades.start()
        queue_unfinished(self.session_factory, self.submit_action, self._jobs.put)

    def _spawn(self) -> None:
        # Fresh queues each time: a process killed while reading one may leave it locked.
        self._jobs, self._nudges = self._context.Queue(), self._context.Queue()
        self._process = self._context.Process(
            target=trainer_main, name="hq-trainer", daemon=True,
            args=(self.settings, self.device, self._jobs, self._nudges, self._stopping, os.getpid()),
        )
        self._process.start()

    def stop(self, timeout: float = 60.0) -> None:
        """Stop training; a job in the middle of an epoch is cancelled at its next batch and resumed later."""
        self._stopping.set()
        self.grades.stop()
        if self._process is None:
            return
        self._jobs.put(STOP)
        self._process.join(timeout)
        if self._process.is_alive():
            self._process.terminate()
            self._process.join(5)
        self._nudges.put(STOP)
        if self._relay is not None:
            self._relay.join(5)

    def submit_action(self, action_id: int) -> None:
        """Queue a committed action's epoch."""
        self._jobs.put((EPOCH, action_id))

    def submit_baseline(self, dataset_id: int) -> None:
        """Queue a committed dataset's baseline computation."""
        self._jobs.put((BASELINE, dataset_id))

    def submit_branch(self, branch_id: int) -> None:
        """Queue a committed debrief branch."""
        self._jobs.put((BRANCH, branch_id))

    def submit_grades(self) -> None:
        """Post the grades just planned (they are in the database; failed posts are retried by the sender)."""
        self.grades.wake()

    def _relay_nudges(self) -> None:
        """Pass progress on to the live pages; start a new training process if this one died."""
        while True:
            try:
                run_id = self._nudges.get(timeout=PROCESS_CHECK_SECONDS)
            except queue.Empty:
                if not self._stopping.is_set() and not self._process.is_alive():
                    log.error("the training process died (exit code %s); starting a new one", self._process.exitcode)
                    self._spawn()
                    queue_unfinished(self.session_factory, self.submit_action, self._jobs.put)  # and the lost epoch
                continue
            if run_id is STOP:
                return
            self.notifier.publish(run_id)


def trainer_main(settings: Settings, device: str, jobs, nudges, stopping, parent_pid: int) -> None:
    """The training process: route jobs to an epoch thread and a background thread until told to stop."""
    from app.db.session import make_engine, make_session_factory

    prepare_training(settings)  # inherited by every thread started below
    session_factory = make_session_factory(make_engine(settings.database_url))
    background: queue.Queue = queue.Queue()
    run_epoch, run_background = job_functions(session_factory, settings, device, stopping, nudges.put, background.put)
    local = {EPOCH: queue.Queue(), BASELINE: background}
    workers = [threading.Thread(target=serve_jobs, args=(local[EPOCH], run_epoch), name="hq-epochs", daemon=True),
               threading.Thread(target=serve_jobs, args=(background, run_background), name="hq-background", daemon=True)]
    for worker in workers:
        worker.start()
    threading.Thread(target=_exit_with_parent, args=(parent_pid,), name="hq-parent-watch", daemon=True).start()
    while True:
        job = jobs.get()
        if job is STOP:
            break
        kind, job_id = job
        if kind == EPOCH:
            local[EPOCH].put(job_id)
        else:
            background.put((kind, job_id))
    for kind in local:
        local[kind].put(STOP)
    for worker in workers:
        worker.join()


def _exit_with_parent(parent_pid: int) -> None:
    # A killed server leaves its training process behind otherwise; its half-trained epoch is
    # re-queued by the next server's start.
    while os.getppid() == parent_pid:
        time.sleep(PARENT_CHECK_SECONDS)
    os._exit(0)
