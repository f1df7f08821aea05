"""Pages of a run: start, initial configuration, training, live events, result."""

from __future__ import annotations


from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session

from app.accounts import pending
from app.accounts.pages import see_other
from app.accounts.models import Student
from app.classroom.service import allowed_families, class_of
from app.classview import messages as instructor_messages
from app.datasets.models import DatasetRecord
from app.datasets.service import pool_readiness
from app.debrief.service import debrief_view
from app.errors import Conflict, WebError
from app.leaderboard.scale import compared_with_references, scale_of
from app.leaderboard.service import rank_on_dataset
from app.research import conditions, instruments, study
from app.runs import decision, service, streams
from app.scenarios import rules as scenario_rules
from app.security.ratelimit import client_ip, limits_of
from app.runs.info import INFO
from app.runs.models import CONFIGURING, OVER, Run
from app.runs.view import best_epoch, chart_series, dataset_stats, training_view
from app.web import DbSession, PostedForm, RecordId, render, require_student
from engine.actions import KINDS, Action
from engine.config import INITIAL_CHOICES, KNOBS
from engine.errors import ActionSyntaxError

router = APIRouter()

@router.post("/runs")
def start(request: Request, _: PostedForm, db: DbSession):
    """"Start a dataset": draw a ready dataset from the pool and show the initial configuration."""
    student = require_student(request, db)
    limits_of(request).check("action", ip=client_ip(request), student=student.id)
    step = study.next_step(db, student, request.app.state.settings)
    if step is not None:  # consent or survey first
        return see_other(step)
    study.ensure_assignment(db, student, request.app.state.settings)
    run, _ = service.start_run(db, student, request.app.state.settings)
    db.commit()  # new pool datasets' baselines jobs go to the runner with this commit
    if run is None:
        return see_other("/runs/new")
    pending.forget(request)  # the player chose the pool over a scenario link they had followed
    return see_other(f"/runs/{run.id}/configure")


@router.get("/runs/new")
def preparing(request: Request, db: DbSession):
    """Shown while the pool's datasets still compute their baselines; refreshes itself."""
    student = require_student(request, db)
    settings = request.app.state.settings
    row = class_of(db, student, settings)
    pool = pool_readiness(db, row.pool_size, allowed_families(row), settings.dataset_size, settings.baseline_epochs)
    return render(request, "preparing.html", {"student": student, "pool": pool})


@router.get("/runs/{run_id}/configure")
def configure_page(run_id: RecordId, request: Request, db: DbSession):
    """The initial configuration page: beside the dataset statistics."""
    student = require_student(request, db)
    run = service.owned_run(db, student, run_id)
    if run.status != CONFIGURING:
        return see_other(f"/runs/{run.id}")
    return _configure(request, student, run, db, None, {}, 200)


def _configure(request, student, run, db, error, form, status_code):
    dataset = db.get(DatasetRecord, run.dataset_id)
    context = {
        "student": student,
        "run": run,
        "stats": dataset_stats(dataset),
        "choices": INITIAL_CHOICES,
        "selected": {k: form.get(k) for k in INITIAL_CHOICES} if form else {"width": "64", "lr": "0.01", "depth": "4", "dropout": "0"},
        "info": INFO,
        "error": error,
        "instruments": _instruments(request, db, student, run),
        "posted": form,
        "scenario": scenario_rules.view(db, run),
    }
    return render(request, "configure.html", context, status_code)


def _instruments(request: Request, db: Session, student: Student, run: Run) -> dict:
    row = class_of(db, student, request.app.state.settings)
    return instruments.page_context(db, run, row.predictions, row.reasons)


@router.post("/runs/{run_id}/configure")
def configure(run_id: RecordId, request: Request, posted: PostedForm, db: DbSession):
    """Submit the initial configuration: trains epoch 1 in the background."""
    student = require_student(request, db)
    limits_of(request).check("action", ip=client_ip(request), student=student.id)
    form = {k: str(v) for k, v in posted.items()}
    run = service.owned_run(db, student, run_id)
    if run.status != CONFIGURING:
        # A double-clicked Submit: the first one already started training.
        return see_other(f"/runs/{run.id}")
    try:
        row = class_of(db, student, request.app.state.settings)
        fields = instruments.action_fields(form, [], row.predictions, row.reasons, "initial")
        service.configure(db, student, run_id, form, fields, decision.parse_page_measure(form.get(decision.FIELD)))
    except WebError as exc:
        db.rollback()
        return _configure(request, student, run, db, exc.message, form, exc.status_code)
    db.commit()  # the epoch's job goes to the runner with this commit
    return see_other(f"/runs/{run_id}")


@router.get("/runs/{run_id}")
def training_page(run_id: RecordId, request: Request, db: DbSession):
    """The training page (or the result once the run has ended)."""
    student = require_student(request, db)
    run = service.owned_run(db, student, run_id)
    if run.status == CONFIGURING:
        return see_other(f"/runs/{run.id}/configure")
    if run.status in OVER:
        return see_other(f"/runs/{run.id}/result")
    return _training(request, student, run, db, None, 200)


def _training(request, student, run: Run, db, error, status_code, posted: dict | None = None):
    dataset = db.get(DatasetRecord, run.dataset_id)
    epochs = service.all_epochs(db, run)
    view = training_view(run, dataset, epochs, scenario=scenario_rules.view(db, run))
    if error:
        view["form_error"] = error
    context = {"student": student, "run": run, "stats": dataset_stats(dataset), "view": view, "info": INFO,
               "queue_down": not request.app.state.runner.healthy,
               "instruments": _instruments(request, db, student, run), "posted": posted or {},
               "hint": None if run.busy else conditions.hint_for(db, run, study.condition_of(db, student)),
               # The instructor's messages since this run started (new ones arrive over /messages/events).
               "messages": instructor_messages.for_student(db, student, since=run.created_at),
               "messages_after": instructor_messages.latest_id(db, student)}
    return render(request, "train.html", context, status_code)


def parse_action_form(form: dict[str, str]) -> tuple[int, Action]:
    """The action and the action number the page showed, from the training form."""
    try:
        expected = int(form.get("expected_action", ""))
    except ValueError:
        raise WebError("the form is missing its action number; reload the page", 400) from None
    kind = form.get("kind", "")
    if kind not in KINDS:
        raise WebError("choose Continue, Done training or Revert", 422)
    changes = []
    if kind == "continue":
        for knob in KNOBS:
            direction = form.get(knob, "same") or "same"
            changes.append((knob, direction))
    try:
        return expected, Action(kind, tuple(changes))
    except ActionSyntaxError as exc:
        raise WebError(str(exc), 422) from None


@router.post("/runs/{run_id}/actions")
def act(run_id: RecordId, request: Request, posted: PostedForm, db: DbSession):
    """Continue, Revert or Done, checked against the rules on the server."""
    student = require_student(request, db)
    limits_of(request).check("action", ip=client_ip(request), student=student.id)
    form = {k: str(v) for k, v in posted.items()}
    run = service.owned_run(db, student, run_id)
    if run.status == CONFIGURING:  # no training page to show yet: the configuration comes first
        return see_other(f"/runs/{run.id}/configure")
    try:
        expected, action = parse_action_form(form)
        row = class_of(db, student, request.app.state.settings)
        fields = instruments.action_fields(form, [str(v) for v in posted.getlist("reasons")], row.predictions, row.reasons,
                                           action.kind)
        service.submit(db, student, run_id, expected, action, fields, decision.parse_page_measure(form.get(decision.FIELD)))
    except WebError as exc:
        db.rollback()
        run = service.owned_run(db, student, run_id)
        if run.status in OVER and not isinstance(exc, Conflict):
            raise WebError(f"{exc.message}", exc.status_code) from None
        if run.status in OVER:
            raise
        return _training(request, student, run, db, exc.message, exc.status_code,
                         {**form, "reasons": [str(v) for v in posted.getlist("reasons")]})
    # An epoch's job, or for a run this action ended its test accuracy, its debrief's branches and (for a
    # player launched from an LMS) a grade post: all enqueued in this transaction, announced by its commit.
    db.commit()
    return see_other(f"/runs/{run_id}")


def _status_snapshot(session_factory, run_id: int) -> dict | None:
    with session_factory() as db:
        run = db.get(Run, run_id)
        if run is None:
            return None
        test_pending = service.awaiting_test_accuracy(db, run)
        return {
            "status": run.status,
            # Also busy while an ended run's test accuracy is measured: the result page waits for it.
            "busy": run.busy or test_pending,
            "test_pending": test_pending,
            "epoch": run.epoch,
            "actions": run.actions_used,
            "done": run.progress_done,
            "total": run.progress_total,
            "error": run.error,
        }


@router.get("/runs/{run_id}/events")
async def events(run_id: RecordId, request: Request):
    """Server-sent events: training progress, then "ready" when the epoch has finished."""
    return await streams.run_events(request, run_id, _status_snapshot)


@router.get("/runs/{run_id}/history.json")
def history(run_id: RecordId, request: Request, db: DbSession):
    """The curves for the charts."""
    student = require_student(request, db)
    run = service.owned_run(db, student, run_id)
    return JSONResponse(chart_series(service.all_epochs(db, run)))


@router.get("/runs/{run_id}/result")
def result(run_id: RecordId, request: Request, db: DbSession):
    """The result page: the score, the baseline, the rank on this dataset."""
    student = require_student(request, db)
    run = service.owned_run(db, student, run_id)
    if run.status not in OVER:
        return see_other(f"/runs/{run.id}")
    test_pending = service.awaiting_test_accuracy(db, run)
    if not test_pending and run.test_acc is None:
        db.refresh(run)  # the runner may have stored it after the run was read, before its action was
    dataset = db.get(DatasetRecord, run.dataset_id)
    rank, players = rank_on_dataset(db, run)
    scale = scale_of(dataset)
    epochs = service.all_epochs(db, run)
    context = {
        "student": student,
        "run": run,
        "dataset": dataset,
        "stats": dataset_stats(dataset),
        "rank": rank,
        "scenario": scenario_rules.view(db, run),
        "players": players,
        "epochs_trained": len(epochs),
        "best_epoch": best_epoch(run, epochs),
        "baseline_epochs": request.app.state.settings.baseline_epochs,
        "reveal_test": class_of(db, student, request.app.state.settings).reveal_test_accuracy,
        "test_pending": test_pending,
        "scale": scale,
        "normalised": None if scale is None else scale.normalised(run.best_val_acc),
        "comparisons": [] if run.best_val_acc is None else compared_with_references(dataset, run.best_val_acc),
        "info": INFO,
        "debrief": debrief_view(db, run),
        "calibration": instruments.calibration(instruments.run_predictions(db, run)),
        "overall_calibration": instruments.student_calibration(db, student),
    }
    return render(request, "result.html", context)
