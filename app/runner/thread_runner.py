"""The thread runner (``HYPERQUEST_EMBEDDED_RUNNER=thread``): training on server threads (a Runner, app.runner.protocol).

The default runner trains in a child process instead (app/runner/trainer_process.py); this one
starts instantly, which the in-process tests rely on. One thread trains players' epochs in
submission order; a second runs the background jobs (dataset baselines, debrief branches) so they
never delay a player's epoch queue. On start, actions left queued or half-trained by a previous process are queued again:
nothing a player did is lost when the server restarts.
"""

from __future__ import annotations

import queue
import threading

from sqlalchemy.orm import sessionmaker

from app.grades.sender import GradeSender
from app.runner.jobs import BASELINE, BRANCH, STOP, job_functions, queue_unfinished, serve_jobs
from app.runner.notify import Notifier
from app.runner.priority import prepare_training
from app.settings import Settings


class ThreadRunner:
    """Training on two daemon threads of the server, fed by queues of IDs."""

    def __init__(self, session_factory: sessionmaker, settings: Settings, notifier: Notifier, device: str = "cpu") -> None:
        self.session_factory = session_factory
        self.settings = settings
        self.notifier = notifier
        self.device = device
        self._epochs: queue.Queue = queue.Queue()
        self._baselines: queue.Queue = queue.Queue()
        self._threads: list[threading.Thread] = []
        self._stopping = threading.Event()
        #: Always True: there is no broker to lose (the scaled-out runner's flag can be False).
        self.healthy = True
        #: Posts grades to LMS gradebooks (network I/O: a thread of its own, never behind training).
        self.grades = GradeSender(session_factory, settings)

    def start(self) -> None:
        """Start the threads and re-queue unfinished work."""
        run_epoch, run_background = job_functions(self.session_factory, self.settings, self.device, self._stopping,
                                                  self.notifier.publish, self._baselines.put)
        self._threads = [
            threading.Thread(target=self._loop, args=(self._epochs, run_epoch), name="hq-epochs", daemon=True),
            threading.Thread(target=self._loop, args=(self._baselines, run_background), name="hq-background", daemon=True),
        ]
        for thread in self._threads:
            thread.start()
        self.grades.start()
        queue_unfinished(self.session_factory, self.submit_action, self._baselines.put)

    def stop(self, timeout: float = 60.0) -> None:
        """Stop the threads; a job in the middle of an epoch is cancelled at its next batch and resumed later."""
        self._stopping.set()
        self.grades.stop()
        self._epochs.put(STOP)
        self._baselines.put(STOP)
        for thread in self._threads:
            thread.join(timeout)

    def submit_action(self, action_id: int) -> None:
        """Queue a committed action's epoch."""
        self._epochs.put(action_id)

    def submit_baseline(self, dataset_id: int) -> None:
        """Queue a committed dataset's baseline computation."""
        self._baselines.put((BASELINE, dataset_id))

    def submit_branch(self, branch_id: int) -> None:
        """Queue a committed debrief branch."""
        self._baselines.put((BRANCH, branch_id))

    def submit_grades(self) -> None:
        """Post the grades just planned (they are in the database; failed posts are retried by the sender)."""
        self.grades.wake()

    def _loop(self, jobs: queue.Queue, handler) -> None:
        prepare_training(self.settings)
        serve_jobs(jobs, handler)
