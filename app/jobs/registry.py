"""The registry of job kinds: each kind is declared once, with ``@job_kind``, beside the domain code it runs.

A declaration says what the job runs, its priority lane and its retry policy, plus the domain's
hooks: what a final failure means for the subject row, what an instructor's retry resets, where
scaled-out workers should preferably run it, and how the dashboard names it.
"""

from __future__ import annotations

import dataclasses
import importlib
from typing import TYPE_CHECKING, Callable

from sqlalchemy.orm import Session

from app.jobs.lanes import LANES

if TYPE_CHECKING:
    from app.jobs.context import JobContext
    from app.settings import Settings

#: The modules that declare job kinds; importing them fills the registry.
JOB_MODULES = (
    "app.runs.epoch_job",
    "app.runs.test_accuracy",
    "app.debrief.jobs",
    "app.datasets.jobs",
    "app.grades.jobs",
)


@dataclasses.dataclass(frozen=True)
class RetryPolicy:
    """How a kind of job is retried after its runner died, and after a transient failure."""

    #: Starts that may die with their runner (killed, out of memory) before the job gives up;
    #: None: the HYPERQUEST_MAX_ATTEMPTS setting.
    max_attempts: int | None = None
    #: Transient failures retried before giving up; None: never give up.
    max_retries: int | None = 30
    #: Back-off after the first transient failure (seconds), doubled per failure up to ``max_delay``.
    first_delay: float = 1.0
    max_delay: float = 60.0
    #: A setting that replaces ``first_delay`` (e.g. "grade_retry_seconds").
    first_delay_setting: str | None = None
    #: Every error counts as transient: for network I/O to another system, where any failure may pass.
    all_errors_transient: bool = False

    def attempts_limit(self, settings: Settings) -> int:
        """Starts allowed before the job gives up."""
        return self.max_attempts or settings.max_attempts

    def delay(self, retries: int, settings: Settings) -> float:
        """Seconds to wait after the ``retries``-th transient failure (1 = the first)."""
        first = getattr(settings, self.first_delay_setting) if self.first_delay_setting else self.first_delay
        return min(self.max_delay, first * 2 ** max(0, retries - 1))

    def gives_up_after(self, retries: int) -> bool:
        """True once ``retries`` transient failures are more than the policy allows."""
        return self.max_retries is not None and retries > self.max_retries


@dataclasses.dataclass(frozen=True)
class Subject:
    """What a job works on, as the dashboard shows it."""

    label: str
    #: The class whose instructors see the job; None: every class (a dataset's baselines are shared).
    class_id: int | None = None


@dataclasses.dataclass(frozen=True)
class JobKind:
    """One kind of background work."""

    name: str
    lane: str
    run: Callable[[JobContext, int], None]
    retry: RetryPolicy
    #: What the dashboard calls jobs of this kind ("debrief branches").
    label: str
    #: The subject's state once the job has finally failed: (db, subject id, error).
    gave_up: Callable[[Session, int, str], None] | None = None
    #: The subject's state when an instructor retries a failed job: (db, subject id).
    retried: Callable[[Session, int], None] | None = None
    #: Scaled-out mode: a preferred queue (the worker that holds the data), or None for the lane's queue.
    route: Callable[[Session, int], str | None] | None = None
    #: How the dashboard names the job's subject.
    describe: Callable[[Session, int], Subject] | None = None


KINDS: dict[str, JobKind] = {}


def job_kind(name: str, lane: str, *, label: str, retry: RetryPolicy = RetryPolicy(), gave_up=None, retried=None,
             route=None, describe=None):
    """Declare the decorated function ``run(ctx, subject_id)`` as the job kind ``name`` in ``lane``."""
    if lane not in LANES:
        raise ValueError(f"unknown lane {lane!r}")

    def register(run):
        existing = KINDS.get(name)
        if existing is not None and existing.run.__qualname__ != run.__qualname__:
            raise ValueError(f"job kind {name!r} is declared twice")
        KINDS[name] = JobKind(name, lane, run, retry, label, gave_up, retried, route, describe)
        return run

    return register


def load_all() -> dict[str, JobKind]:
    """Every kind (importing the modules that declare them)."""
    for module in JOB_MODULES:
        importlib.import_module(module)
    return KINDS


def kind(name: str) -> JobKind:
    """The kind called ``name``; KeyError if no module declares it."""
    if name not in KINDS:
        load_all()
    return KINDS[name]
