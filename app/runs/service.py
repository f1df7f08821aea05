"""The game's server side: starting runs, taking actions under the rules, and the epoch job."""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import math
import random
import time
from typing import Callable

from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from app.accounts.models import Student
from app.classroom.service import allowed_families, class_of
from app.datasets import service as datasets
from app.datasets.models import DatasetRecord
from app.db.base import utcnow
from app.debrief import planning as debrief_planning
from app.debrief.retention import kept_checkpoint_ids
from app.errors import Conflict, Forbidden, JobCancelled, NotFound, WebError
from app.grades import service as grades
from app.research import conditions, study
from app.runs.models import ENDED, FAILED, QUEUED, READY, TRAINING, ActionRecord, CheckpointRecord, EpochRecord, Run
from app.scenarios import rules as scenario_rules
from app.settings import Settings
from engine import checkpoint, play, rules
from engine.actions import Action
from engine.config import INITIAL_CHOICES, HyperParams
from engine.errors import HyperQuestError
from engine.ladders import apply_changes
from engine.session import continue_training
from engine.training import evaluate, new_state

log = logging.getLogger(__name__)

CONFIGURING = "configuring"
#: Actions whose job trains an epoch; the others' job (if any) only measures the test accuracy.
TRAINING_KINDS = ("initial", "continue")
#: Checkpoints Revert can still reach: the current one and the five before it.
REACHABLE_CHECKPOINTS = play.REVERT_WINDOW

ProgressSink = Callable[[int, int, int], None]  # (run_id, batches done, batches total)


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
                            run.status in (ENDED, FAILED), run.end_reason)


def progress_of(run: Run) -> rules.Progress:
    """The counters engine.rules checks."""
    return counters_of(run).progress


def _apply(db: Session, run: Run, counters: play.RunCounters) -> None:
    """Store a transition's counters on the run; a run the transition ended is ended here (debrief, grade)."""
    run.actions_used, run.epoch, run.consecutive_reverts = counters.actions, counters.epoch, counters.consecutive_reverts
    run.best_val_acc = counters.best_val_acc
    if counters.ended and run.status not in (ENDED, FAILED):
        _end(db, run, counters.end_reason)


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
    dataset = datasets.pick_for_new_run(db, row.pool_size, families, settings.dataset_size, rng)
    if dataset is None:
        return None, created
    debrief_planning.release_earlier_debriefs(db, student.id)
    run = Run(
        student_pk=student.id,
        dataset_id=dataset.id,
        seed=(rng or random).randrange(2**31),
        status=CONFIGURING,
        initial_config={},
        config={},
    )
    db.add(run)
    db.flush()
    return run, created


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


def configure(db: Session, student: Student, run_id: int, form: dict[str, str], instruments: dict | None = None) -> ActionRecord:
    """Submit the initial configuration: action 1, which trains epoch 1 (queued).

    ``instruments``: the research columns of the action (app.research.instruments.action_fields).
    """
    run = owned_run(db, student, run_id, lock=True)
    if run.status != CONFIGURING:
        raise Conflict("this run is already configured")
    hparams = parse_initial_config(scenario_rules.pin_configuration(db, run, form))
    # The network itself (checkpoint 0) is built by the job that trains epoch 1: no torch in a request.
    run.initial_config = hparams.as_dict()
    run.config = hparams.as_dict()
    run.status = QUEUED
    _apply(db, run, play.start(counters_of(run)))
    action = ActionRecord(run_id=run.id, index=1, kind="initial", choices=hparams.as_dict(), shown=_shown(db, run),
                          **_research_columns(db, student, run, instruments))
    db.add(action)
    db.flush()
    return action


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
           instruments: dict | None = None) -> ActionRecord:
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

    record = ActionRecord(
        run_id=run.id, index=run.actions_used + 1, kind=action.kind, choices=action.change_map, shown=_shown(db, run),
        **_research_columns(db, student, run, instruments),
    )
    db.add(record)
    if action.kind == "continue":
        _apply(db, run, counters)  # the epoch's own transition (play.after_epoch) comes with the trained epoch
        run.status = QUEUED
        run.error = None
    else:
        if action.kind == "revert":
            _revert(db, run, counters)
        else:
            _apply(db, run, play.finish(counters))
            _prune_checkpoints(db, run)
        if needs_test_accuracy(run):
            record.status = "queued"  # the runner measures the hidden test accuracy: no torch in a request
        else:
            record.status = "done"
            record.finished_at = record.created_at
    db.flush()
    return record


def _revert(db: Session, run: Run, counters: play.RunCounters) -> None:
    """Back to the checkpoint before the last epoch, with that epoch's configuration."""
    path = path_epochs(db, run)
    path[-1].reverted = True
    previous = path[-2] if len(path) > 1 else None
    run.config = dict(previous.config) if previous else dict(run.initial_config)
    run.current_checkpoint_id = previous.checkpoint_id if previous else _initial_checkpoint_id(db, run)
    _apply(db, run, play.after_revert(counters, previous.number if previous else 0))
    _prune_checkpoints(db, run)


def _initial_checkpoint_id(db: Session, run: Run) -> int | None:
    return db.scalar(select(CheckpointRecord.id).where(CheckpointRecord.run_id == run.id, CheckpointRecord.epoch_number == 0))


def _end(db: Session, run: Run, reason: str, debrief: bool = True) -> None:
    """Mark the run ended; its hidden test accuracy is measured by a runner (record_test_accuracy).

    A player's run also opens its debrief: the default branches are planned (pending, for a runner
    to compute) and the checkpoints they start from are kept. ``debrief=False`` for a run that
    crashed its trainers: a branch from it would crash them too.
    """
    run.status = ENDED
    run.end_reason = reason
    run.ended_at = run.updated_at = utcnow()
    if debrief:
        debrief_planning.open_debrief(db, run)
    # A player launched from an LMS: their new grade is planned here and posted by the runner's sender.
    grades.plan_for_ended_run(db, run)


def needs_test_accuracy(run: Run) -> bool:
    """The run has ended with a best network whose hidden test accuracy is not measured yet."""
    return run.status in (ENDED, FAILED) and run.test_acc is None and run.best_checkpoint_id is not None


def awaiting_test_accuracy(db: Session, run: Run) -> bool:
    """A runner still has to measure this ended run's test accuracy (its finishing action is queued)."""
    if not needs_test_accuracy(run):
        return False
    return db.scalar(select(func.count()).select_from(ActionRecord).where(
        ActionRecord.run_id == run.id, ActionRecord.status.in_(("queued", "running")))) > 0


def record_test_accuracy(db: Session, run: Run, device: str = "cpu") -> None:
    """Store the hidden test accuracy of the run's best checkpoint (players see it only if allowed)."""
    if not needs_test_accuracy(run):
        return
    blob = db.scalar(select(CheckpointRecord.data).where(CheckpointRecord.id == run.best_checkpoint_id))
    if blob is None:
        return
    dataset = db.get(DatasetRecord, run.dataset_id)
    data = datasets.placed(dataset.family, dataset.seed, dataset.size, device)
    state = checkpoint.from_bytes(blob, device)
    _, run.test_acc = evaluate(state.network, data.test_x, data.test_y)


def _prune_checkpoints(db: Session, run: Run) -> None:
    """Keep only what Revert can still reach, the run's best and what its debrief needs; delete the rest."""
    keep = {run.best_checkpoint_id, run.current_checkpoint_id}
    path = path_epochs(db, run)
    keep.update(e.checkpoint_id for e in path[-REACHABLE_CHECKPOINTS:])
    if len(path) < REACHABLE_CHECKPOINTS:
        keep.add(_initial_checkpoint_id(db, run))
    if run.status == ENDED:
        keep = {run.best_checkpoint_id}
    keep |= kept_checkpoint_ids(db, run, path)
    db.execute(
        delete(CheckpointRecord).where(CheckpointRecord.run_id == run.id, CheckpointRecord.id.not_in([k for k in keep if k]))
    )


# ----------------------------------------------------------------------------- the epoch job


@dataclasses.dataclass
class _Throttle:
    """Writes progress at most every ``interval`` seconds: the database is not a metronome."""

    interval: float
    last: float = 0.0

    def due(self) -> bool:
        now = time.monotonic()
        if now - self.last >= self.interval:
            self.last = now
            return True
        return False


#: Defaults of the job's recovery rules (settings override them; see Settings.stale_after_seconds).
STALE_AFTER_SECONDS = 60.0
MAX_ATTEMPTS = 3


def _claimable(stale_cutoff):
    """SQL condition: queued, or 'running' by a runner that stopped reporting (it died)."""
    return or_(
        ActionRecord.status == "queued",
        and_(ActionRecord.status == "running", or_(ActionRecord.heartbeat_at.is_(None), ActionRecord.heartbeat_at < stale_cutoff)),
    )


def claim_action(db: Session, action_id: int, stale_after: float, max_attempts: int, device: str = "cpu") -> bool:
    """Atomically take an action's epoch for this runner; False if it is done, taken, or gave up.

    One conditional UPDATE, so two workers handed the same action (a redelivery, a resend by
    the reconciler) cannot both train it: the database decides who won.
    """
    now = utcnow()
    cutoff = now - dt.timedelta(seconds=stale_after)
    claimed = db.execute(
        update(ActionRecord)
        .where(ActionRecord.id == action_id, ActionRecord.attempts < max_attempts, _claimable(cutoff))
        .values(status="running", attempts=ActionRecord.attempts + 1, started_at=now, heartbeat_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    if claimed:
        return True
    # Out of attempts: every earlier start died with its runner (e.g. out of memory). Stop here.
    gave_up = db.execute(
        update(ActionRecord)
        .where(ActionRecord.id == action_id, ActionRecord.attempts >= max_attempts, _claimable(cutoff))
        .values(status="failed", finished_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    if gave_up:
        action = db.get(ActionRecord, action_id)
        run = db.get(Run, action.run_id)
        _end(db, run, "stopped: an epoch kept crashing its trainer", debrief=False)
        run.status = FAILED
        record_test_accuracy(db, run, device)
        run.error = (
            f"Training this epoch stopped its trainer {action.attempts} times (for example by running out of memory), "
            "so this run has ended. Your best network so far is kept."
        )
        _prune_checkpoints(db, run)
    return False


def execute_action(
    session_factory: sessionmaker,
    action_id: int,
    progress: ProgressSink | None = None,
    device: str = "cpu",
    stale_after: float = STALE_AFTER_SECONDS,
    max_attempts: int = MAX_ATTEMPTS,
    served_by: str | None = None,
) -> None:
    """Train the epoch of a queued Continue (or initial) action: the one job every runner calls.

    Idempotent: a done, failed or currently trained action is left alone, and the epoch row is
    unique per action, so a second delivery of the same job adds nothing. ``served_by`` is the
    own queue of the worker running it, where the run's next epoch is sent (its data is there).
    """
    with session_factory() as db:
        if db.scalar(select(EpochRecord.id).where(EpochRecord.action_id == action_id)) is not None:
            db.execute(update(ActionRecord).where(ActionRecord.id == action_id).values(status="done"))
            db.commit()
            return
        if not claim_action(db, action_id, stale_after, max_attempts, device):
            db.commit()  # a give-up is recorded
            return
        action = db.get(ActionRecord, action_id)
        run = db.get(Run, action.run_id)
        if action.kind not in TRAINING_KINDS:
            # Done, or a Revert that used the last action: the run has ended and only its test
            # accuracy is left to measure, here rather than in the request that ended it.
            record_test_accuracy(db, run, device)
            action.status, action.finished_at = "done", utcnow()
            db.commit()
            if progress:
                progress(run.id, -1, -1)
            return
        dataset = db.get(DatasetRecord, run.dataset_id)
        checkpoint_id = run.current_checkpoint_id or _initial_checkpoint_id(db, run)
        if checkpoint_id is None:  # the run's first epoch: its untrained network is built (and kept for Revert) here
            blob = _store_initial_checkpoint(db, run, dataset)
        else:
            blob = db.scalar(select(CheckpointRecord.data).where(CheckpointRecord.id == checkpoint_id))
        run.status = TRAINING
        run.progress_done, run.progress_total = 0, 0
        db.commit()
        run_id, kind, choices = run.id, action.kind, dict(action.choices)
    if progress:
        progress(run_id, 0, 0)

    throttle = _Throttle(0.3)

    def on_batch(done: int, total: int) -> None:
        if throttle.due() or done == total:
            with session_factory() as progress_db:
                progress_db.execute(update(Run).where(Run.id == run_id).values(progress_done=done, progress_total=total))
                progress_db.execute(update(ActionRecord).where(ActionRecord.id == action_id).values(heartbeat_at=utcnow()))
                progress_db.commit()
        if progress:
            progress(run_id, done, total)  # may raise JobCancelled when the runner stops

    try:
        data = datasets.placed(dataset.family, dataset.seed, dataset.size, device)
        state = checkpoint.from_bytes(blob, device)
        state, metrics, change = continue_training(state, {} if kind == "initial" else choices, data, on_batch)
        new_blob = checkpoint.to_bytes(state)
    except JobCancelled:
        raise  # the action stays "running" and is trained again when a runner starts
    except Exception as exc:  # the player must see a message, never a stuck page
        log.exception("epoch of action %s failed", action_id)
        _fail_action(session_factory, action_id, f"training failed: {exc}")
        if progress:
            progress(run_id, -1, -1)
        return

    try:
        _record_epoch(session_factory, action_id, state, metrics, change, new_blob, device, served_by)
    except IntegrityError:
        # Another runner finished the same action first (we were presumed dead): its epoch stands.
        log.warning("action %s was already trained by another runner; this result is dropped", action_id)
    if progress:
        progress(run_id, -1, -1)


def _store_initial_checkpoint(db: Session, run: Run, dataset: DatasetRecord) -> bytes:
    """Checkpoint 0 of a run: its network as configured, before any training (Revert's way back to the start)."""
    state = new_state(datasets.generated(dataset.family, dataset.seed, dataset.size),
                      HyperParams.from_dict(run.initial_config), run.seed)
    blob = checkpoint.to_bytes(state)
    db.add(CheckpointRecord(run_id=run.id, epoch_number=0, data=blob, size_bytes=len(blob)))
    db.flush()
    return blob


def _record_epoch(session_factory: sessionmaker, action_id: int, state, metrics, change, new_blob: bytes,
                  device: str = "cpu", served_by: str | None = None) -> None:
    """Store a trained epoch, its checkpoint and the run's new state in one transaction."""
    with session_factory() as db:
        action = db.get(ActionRecord, action_id)
        run = db.get(Run, action.run_id)
        saved = CheckpointRecord(run_id=run.id, epoch_number=state.epoch, data=new_blob, size_bytes=len(new_blob))
        db.add(saved)
        db.flush()
        epoch = EpochRecord(
            run_id=run.id,
            action_id=action.id,
            number=state.epoch,
            config=state.hparams.as_dict(),
            train_loss=_finite(metrics.train_loss),
            train_acc=metrics.train_acc,
            val_loss=_finite(metrics.val_loss),
            val_acc=metrics.val_acc,
            diverged=metrics.diverged,
            seconds=metrics.seconds,
            change=change.as_dict() if change else None,
            checkpoint_id=saved.id,
        )
        db.add(epoch)
        db.flush()  # the unique action_id is checked here, before the run is touched
        run.config = state.hparams.as_dict()
        run.current_checkpoint_id = saved.id
        counters = counters_of(run)
        if play.is_new_best(counters, metrics.val_acc, metrics.diverged):
            run.best_checkpoint_id = saved.id
        run.status = READY
        run.progress_done = run.progress_total
        _apply(db, run, play.after_epoch(counters, state.epoch, metrics.val_acc, metrics.diverged))
        if run.status == ENDED:  # by a limit
            record_test_accuracy(db, run, device)
        action.status = "done"
        action.finished_at = utcnow()
        action.worker_queue = served_by
        db.flush()
        _prune_checkpoints(db, run)
        db.commit()


def _fail_action(session_factory: sessionmaker, action_id: int, message: str) -> None:
    """Record a failed epoch: the network is unchanged and the player may act again."""
    with session_factory() as db:
        action = db.get(ActionRecord, action_id)
        run = db.get(Run, action.run_id)
        action.status = "failed"
        action.finished_at = utcnow()
        run.status = READY if run.epoch > 0 else FAILED
        run.error = message[:2000]
        db.commit()


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _players_actions():
    """Actions of human players' runs: a bot's epochs are trained inside its baseline job, never queued."""
    return (
        select(ActionRecord.id)
        .join(Run, Run.id == ActionRecord.run_id)
        .join(Student, Student.id == Run.student_pk)
        .where(Student.role != "bot")
    )


def pending_actions(db: Session) -> list[int]:
    """Actions queued or interrupted mid-epoch (e.g. the process died): to be run again."""
    return list(db.scalars(_players_actions().where(ActionRecord.status.in_(("queued", "running"))).order_by(ActionRecord.id)))


def requeue_interrupted(db: Session) -> int:
    """Mark every 'running' action queued again: for a single-process runner starting up, none can be alive."""
    return db.execute(update(ActionRecord).where(ActionRecord.status == "running").values(status="queued")).rowcount


def actions_to_send(db: Session, stale_after: float, resend_after: float) -> list[int]:
    """Actions a scaled-out runner should (re)send: never sent, sent long ago and not started, or stale."""
    now = utcnow()
    unsent_or_lost = and_(
        ActionRecord.status == "queued",
        or_(ActionRecord.dispatched_at.is_(None), ActionRecord.dispatched_at < now - dt.timedelta(seconds=resend_after)),
    )
    dead = and_(ActionRecord.status == "running", ActionRecord.heartbeat_at < now - dt.timedelta(seconds=stale_after))
    return list(db.scalars(_players_actions().where(or_(unsent_or_lost, dead)).order_by(ActionRecord.id)))


def mark_dispatched(db: Session, action_id: int, queue: str | None = None) -> None:
    """Remember that the action's epoch was just handed to the task queue (``queue``: a worker's own one)."""
    db.execute(update(ActionRecord).where(ActionRecord.id == action_id)
               .values(dispatched_at=utcnow(), dispatched_queue=queue))


def sticky_queue(db: Session, action_id: int) -> str | None:
    """The own queue of the worker that trained the latest epoch of this action's run, if any."""
    run_id = select(ActionRecord.run_id).where(ActionRecord.id == action_id).scalar_subquery()
    return db.scalar(select(ActionRecord.worker_queue)
                     .where(ActionRecord.run_id == run_id, ActionRecord.id != action_id, ActionRecord.worker_queue.is_not(None))
                     .order_by(ActionRecord.index.desc()).limit(1))


def waiting_on_own_queues(db: Session) -> list[tuple[int, str]]:
    """(action, queue) of queued actions sent to a worker's own queue and not started yet."""
    return list(db.execute(_players_actions().add_columns(ActionRecord.dispatched_queue)
                           .where(ActionRecord.status == "queued", ActionRecord.dispatched_queue.is_not(None))).tuples())
