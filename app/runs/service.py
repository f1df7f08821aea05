"""The request side of a run: starting it, taking actions under the rules of play (engine.play), ending it.

No torch here: what needs a network (training an epoch, building checkpoint 0, measuring the
test accuracy) is enqueued as a job (app.jobs) in the request's transaction: app.runs.epoch_job
and app.runs.test_accuracy do it. A bot's moves come through here too, but its driver trains them
itself (app.bots.player), so only human players' work is enqueued.
"""

from __future__ import annotations

import math
import random

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from app.accounts.models import Student
from app.classroom.service import allowed_families, class_of
from app.datasets import service as datasets
from app.db.base import utcnow
from app.debrief import planning as debrief_planning
from app.debrief.retention import is_player_run, kept_checkpoint_ids
from app.errors import Conflict, Forbidden, NotFound, WebError
from app.grades import service as grades
from app.jobs.queue import enqueue
from app.research import conditions, study
from app.jobs.models import UNFINISHED, Job
from app.runs import abandon, decision
from app.runs.models import (ACTION_DONE, CONFIGURING, ENDED, EPOCH_JOB, FAILED, OVER, QUEUED, TEST_ACCURACY_JOB, ActionRecord,
                             CheckpointRecord, EpochRecord, Run)
from app.scenarios import rules as scenario_rules
from app.settings import Settings
from engine import play, rules
from engine.actions import Action
from engine.config import INITIAL_CHOICES, HyperParams
from engine.errors import HyperQuestError
from engine.ladders import apply_changes

#: Checkpoints Revert can still reach: the current one and the five before it.
REACHABLE_CHECKPOINTS = play.REVERT_WINDOW

# ----------------------------------------------------------------------------- lookups


def owned_run(db: Session, student: Student, run_id: int, lock: bool = False) -> Run:
    """The run ``run_id`` if it belongs to ``student`` (404 if missing, 403 if someone else's)."""
    query = select(Run).where(Run.id == run_id)
    if lock:
        # populate_existing: the run may already be in this session, loaded before the lock was
        # taken; its counters must be re-read under the lock or two requests both pass the checks.
        query = query.with_for_update().execution_options(populate_existing=True)
    run = db.scalar(query)
    if run is None:
        raise NotFound(f"there is no run {run_id}")
    if run.student_pk != student.id:
        raise Forbidden("this run belongs to another player")
    return run


def path_epochs(db: Session, run: Run) -> list[EpochRecord]:
    """Epochs on the current path (not reverted), oldest first."""
    return list(
        db.scalars(select(EpochRecord).where(EpochRecord.run_id == run.id, EpochRecord.reverted.is_(False)).order_by(EpochRecord.number))
    )


def all_epochs(db: Session, run: Run) -> list[EpochRecord]:
    """Every epoch the run trained, reverted ones included, in training order."""
    return list(db.scalars(select(EpochRecord).where(EpochRecord.run_id == run.id).order_by(EpochRecord.id)))


def counters_of(run: Run) -> play.RunCounters:
    """The run's counters as the rules of play (engine.play) see them."""
    return play.RunCounters(run.actions_used, run.epoch, run.consecutive_reverts, run.best_val_acc,
                            run.status in OVER, run.end_reason)


def progress_of(run: Run) -> rules.Progress:
    """The counters engine.rules checks."""
    return counters_of(run).progress


def apply_counters(db: Session, run: Run, counters: play.RunCounters) -> None:
    """Store a transition's counters on the run; a run the transition ended is ended here (debrief, grade)."""
    run.actions_used, run.epoch, run.consecutive_reverts = counters.actions, counters.epoch, counters.consecutive_reverts
    run.best_val_acc = counters.best_val_acc
    if counters.ended and run.status not in OVER:
        end_run(db, run, counters.end_reason)


def runs_per_dataset(db: Session, student: Student) -> dict[int, int]:
    """How many runs the student has started on each dataset (any status, scenario runs too), by dataset id."""
    return dict(db.execute(select(Run.dataset_id, func.count()).where(Run.student_pk == student.id)
                           .group_by(Run.dataset_id)).all())


def runs_finished(db: Session, student: Student) -> int:
    """How many networks the student has trained to the end."""
    return db.scalar(select(func.count()).select_from(Run).where(Run.student_pk == student.id, Run.status == ENDED)) or 0


# ----------------------------------------------------------------------------- starting


def start_run(db: Session, student: Student, settings: Settings, rng: random.Random | None = None) -> tuple[Run | None, list[int]]:
    """A new run on a ready pool dataset, waiting for its initial configuration.

    Returns the run (None while no pool dataset has its baselines yet) and the ids of pool
    datasets created now, whose baselines the caller must have computed.
    """
    row = class_of(db, student, settings)  # each class (an LMS course, or the default one) has its own pool settings
    families = allowed_families(row)
    created = datasets.ensure_pool(db, row.pool_size, families, settings.dataset_size)
    dataset = datasets.pick_for_new_run(db, row.pool_size, families, settings.dataset_size, rng, runs_per_dataset(db, student))
    if dataset is None:
        return None, created
    return new_run(db, student, dataset.id, rng), created


def new_run(db: Session, student: Student, dataset_id: int, rng: random.Random | None = None,
            scenario_id: int | None = None) -> Run:
    """A run on ``dataset_id`` waiting for its initial configuration.

    The player's earlier debriefs are released, and their runs still waiting for them end as
    abandoned (app.runs.abandon): a player plays one run at a time.
    """
    debrief_planning.release_earlier_debriefs(db, student.id)
    abandon.abandon_others(db, student.id)
    run = Run(student_pk=student.id, dataset_id=dataset_id, scenario_id=scenario_id,
              seed=(rng or random).randrange(2**31), status=CONFIGURING, initial_config={}, config={})
    db.add(run)
    db.flush()
    return run


def parse_initial_config(form: dict[str, str]) -> HyperParams:
    """The initial configuration from the form; only the game's offered choices are accepted."""
    values = {}
    for knob, options in INITIAL_CHOICES.items():
        raw = form.get(knob)
        if raw is None or raw == "":
            raise WebError(f"choose a value for {knob}", 422)
        try:
            value = float(raw)
        except ValueError:
            raise WebError(f"{knob} must be one of {', '.join(f'{o:g}' for o in options)}", 422) from None
        if not any(math.isclose(value, option) for option in options):
            raise WebError(f"{knob} must be one of {', '.join(f'{o:g}' for o in options)}", 422)
        values[knob] = value
    return HyperParams(int(values["width"]), int(values["depth"]), values["lr"], 0.0, values["dropout"])


def configure(db: Session, student: Student, run_id: int, form: dict[str, str], instruments: dict | None = None,
              page_decision: float | None = None) -> ActionRecord:
    """Submit the initial configuration: action 1, which trains epoch 1 (queued).

    ``instruments``: the research columns of the action (app.research.instruments.action_fields);
    ``page_decision``: seconds the page measured from showing to submitting (app.runs.decision).
    """
    run = owned_run(db, student, run_id, lock=True)
    if run.status != CONFIGURING:
        raise Conflict("this run is already configured")
    hparams = parse_initial_config(scenario_rules.pin_configuration(db, run, form))
    # The network itself (checkpoint 0) is built by the job that trains epoch 1: no torch in a request.
    run.initial_config = hparams.as_dict()
    run.config = hparams.as_dict()
    run.status = QUEUED
    apply_counters(db, run, play.start(counters_of(run)))
    now = utcnow()
    action = ActionRecord(run_id=run.id, index=1, kind="initial", choices=hparams.as_dict(), shown=_shown(db, run),
                          created_at=now, **decision.decision_columns(db, run, page_decision, now),
                          **_research_columns(db, student, run, instruments))
    db.add(action)
    db.flush()
    _train_later(db, student, action)
    return action


def _train_later(db: Session, student: Student, action: ActionRecord) -> None:
    """Enqueue the epoch of a player's action (a bot's driver trains its own, app.bots.player)."""
    if not student.is_bot:
        enqueue(db, EPOCH_JOB, action.id)


# ----------------------------------------------------------------------------- actions


def _shown(db: Session, run: Run) -> dict:
    """What the player saw when deciding: counters, configuration and the latest metrics."""
    path = path_epochs(db, run)
    last = path[-1] if path else None
    return {
        "action": run.actions_used,
        "epoch": run.epoch,
        "config": dict(run.config),
        "best_val_acc": run.best_val_acc,
        "train_loss": last.train_loss if last else None,
        "train_acc": last.train_acc if last else None,
        "val_loss": last.val_loss if last else None,
        "val_acc": last.val_acc if last else None,
    }


def _research_columns(db: Session, student: Student, run: Run, instruments: dict | None) -> dict:
    """The action's research columns: the instruments' answers, the condition and the hint it showed."""
    condition = study.condition_of(db, student)
    # The hint is a pure function of the run as it stands, so recomputing it here gives what the page showed.
    return {**(instruments or {}), "condition": condition, "hint": conditions.hint_for(db, run, condition)}


def submit(db: Session, student: Student, run_id: int, expected_action: int, action: Action,
           instruments: dict | None = None, page_decision: float | None = None) -> ActionRecord:
    """Take one training-page action; a Continue is queued, Revert and Done finish at once.

    ``expected_action`` is the action number the page was showing: a second submit of the
    same form (double click, replay, back button) no longer matches and trains nothing.
    """
    run = owned_run(db, student, run_id, lock=True)
    if run.status == CONFIGURING:
        raise Conflict("choose the initial configuration first")
    if run.busy:
        raise Conflict("an epoch is still training; wait for it to finish")
    if expected_action != run.actions_used + 1:
        raise Conflict("this form was already submitted; the page now shows the current state")
    try:
        counters = play.take(counters_of(run), action)
        if action.kind == "continue":
            apply_changes(HyperParams.from_dict(run.config), action.change_map)
    except HyperQuestError as exc:
        raise WebError(str(exc), 422) from None
    scenario_rules.check_action(db, run, action)

    now = utcnow()
    record = ActionRecord(
        run_id=run.id, index=run.actions_used + 1, kind=action.kind, choices=action.change_map, shown=_shown(db, run),
        created_at=now, **decision.decision_columns(db, run, page_decision, now),
        **_research_columns(db, student, run, instruments),
    )
    db.add(record)
    if action.kind == "continue":
        apply_counters(db, run, counters)  # the epoch's own transition (play.after_epoch) comes with the trained epoch
        run.status = QUEUED
        run.error = None
        db.flush()
        _train_later(db, student, record)
    else:
        if action.kind == "revert":
            _revert(db, run, counters)
        else:
            apply_counters(db, run, play.finish(counters))
            prune_checkpoints(db, run)
        record.status = ACTION_DONE
        record.finished_at = utcnow()
    db.flush()
    return record


def _revert(db: Session, run: Run, counters: play.RunCounters) -> None:
    """Back to the checkpoint before the last epoch, with that epoch's configuration."""
    path = path_epochs(db, run)
    path[-1].reverted = True
    previous = path[-2] if len(path) > 1 else None
    run.config = dict(previous.config) if previous else dict(run.initial_config)
    run.current_checkpoint_id = previous.checkpoint_id if previous else initial_checkpoint_id(db, run)
    apply_counters(db, run, play.after_revert(counters, previous.number if previous else 0))
    prune_checkpoints(db, run)


def initial_checkpoint_id(db: Session, run: Run) -> int | None:
    return db.scalar(select(CheckpointRecord.id).where(CheckpointRecord.run_id == run.id, CheckpointRecord.epoch_number == 0))


def end_run(db: Session, run: Run, reason: str, debrief: bool = True) -> None:
    """Mark the run ended; a player's run gets its hidden test accuracy measured by a job (app.runs.test_accuracy).

    A player's run also opens its debrief: the default branches are planned (jobs, for a runner
    to compute) and the checkpoints they start from are kept. ``debrief=False`` for a run that
    crashed its trainers: a branch from it would crash them too. A bot's driver measures its own.
    """
    run.status = ENDED
    run.end_reason = reason
    run.ended_at = run.updated_at = utcnow()
    if needs_test_accuracy(run) and is_player_run(db, run):
        enqueue(db, TEST_ACCURACY_JOB, run.id)
    if debrief:
        debrief_planning.open_debrief(db, run)
    # A player launched from an LMS: their new grade is planned here and posted by the runner's sender.
    grades.plan_for_ended_run(db, run)


def needs_test_accuracy(run: Run) -> bool:
    """The run has ended with a best network whose hidden test accuracy is not measured yet."""
    return run.status in (ENDED, FAILED) and run.test_acc is None and run.best_checkpoint_id is not None


def awaiting_test_accuracy(db: Session, run: Run) -> bool:
    """A runner still has to measure this ended run's test accuracy (its job is unfinished)."""
    if not needs_test_accuracy(run):
        return False
    return db.scalar(select(Job.id).where(Job.kind == TEST_ACCURACY_JOB, Job.subject_id == run.id,
                                          Job.status.in_(UNFINISHED))) is not None


def prune_checkpoints(db: Session, run: Run) -> None:
    """Keep only what Revert can still reach, the run's best and what its debrief needs; delete the rest."""
    keep = {run.best_checkpoint_id, run.current_checkpoint_id}
    path = path_epochs(db, run)
    keep.update(e.checkpoint_id for e in path[-REACHABLE_CHECKPOINTS:])
    if len(path) < REACHABLE_CHECKPOINTS:
        keep.add(initial_checkpoint_id(db, run))
    if run.status == ENDED:
        keep = {run.best_checkpoint_id}
    keep |= kept_checkpoint_ids(db, run, path)
    db.execute(
        delete(CheckpointRecord).where(CheckpointRecord.run_id == run.id, CheckpointRecord.id.not_in([k for k in keep if k]))
    )
