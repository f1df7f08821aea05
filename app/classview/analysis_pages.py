"""The analysis page after class, its JSON and a CSV download for every chart's table."""

from __future__ import annotations

import csv
import io

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from app.classroom.service import class_of
from app.classview import analysis, charts
from app.errors import NotFound
from app.instructor.service import spreadsheet_safe
from app.research.conditions import CONDITIONS
from app.staff.models import INSTRUCTOR
from app.staff.service import require_role
from app.web import DbSession, render

router = APIRouter(prefix="/instructor/analysis")


def _class_and_filters(request: Request, db, family, condition, scenario):
    staff = require_role(request, db, INSTRUCTOR)
    filters = analysis.parse_filters(family, condition, scenario)
    return staff, class_of(db, staff, request.app.state.settings).id, filters


#: Decisions listed on the page; a class of 300 has about 9,000, which belong in the CSV, not in 2 MB of HTML.
DECISION_TABLE_ROWS = 500


@router.get("")
def analysis_page(request: Request, db: DbSession, family: str | None = None, condition: str | None = None,
                  scenario: str | None = None):
    """Decisions against outcome, common mistakes, people beside algorithms, importance; filtered."""
    staff, class_id, filters = _class_and_filters(request, db, family, condition, scenario)
    data = analysis.analyse(db, class_id, filters)
    mistakes = data["mistakes"]
    return render(request, "instructor/analysis.html", {
        "student": None, "staff": staff, "data": data, "query": filters.query(), "conditions": CONDITIONS,
        "parallel": charts.parallel_chart("chart-decisions", data["decisions"]),
        "mistakes_chart": charts.bars_chart("chart-mistakes", "The class's most common mistakes", [
            (m["label"], m["count"], f"{m['count']} times, {m['runs']} runs") for m in mistakes],
            0, max([m["count"] for m in mistakes] + [1])),
        "people_charts": [charts.curves_chart(f"chart-people-{p['dataset_id']}", f"{p['dataset']}: students beside "
                                              "the automatic and reference players", p["curves"]) for p in data["people"]],
        "importance_chart": charts.bars_chart("chart-importance", "Habits against the final normalised score "
                                              "(Spearman's rank correlation)", [
            (r["label"], None if r["thin"] else r["rho"],
             ("too thin" if r["thin"] else f"ρ = {r['rho']:+.2f}") + f", n = {r['runs']}") for r in data["importance"]],
            -1, 1),
        "outcome_epochs": analysis.engine_decisions.OUTCOME_EPOCHS, "table_rows": DECISION_TABLE_ROWS,
    })


@router.get(".json")
def analysis_json(request: Request, db: DbSession, family: str | None = None, condition: str | None = None,
                  scenario: str | None = None):
    """The analysis page's data."""
    _, class_id, filters = _class_and_filters(request, db, family, condition, scenario)
    return JSONResponse(analysis.analyse(db, class_id, filters))


def _fmt(value) -> object:
    if isinstance(value, float):
        return f"{value:.4f}"
    if isinstance(value, list):
        return "; ".join(str(v) for v in value)
    return "" if value is None else spreadsheet_safe(value)


DECISION_COLUMNS = ("run_id", "student", "dataset", "condition", "action", "kind", "epoch", "val_acc", "train_acc",
                    "val_loss", "lr", "best", "change", "next_1", "next_2", "next_3", "delta", "mistakes")


def _tables(data: dict) -> dict[str, tuple[tuple[str, ...], list[dict]]]:
    """Every chart's table: name -> (columns, rows)."""
    return {
        "decisions": (DECISION_COLUMNS, data["decisions"]),
        "mistakes": (("label", "count", "runs", "share", "examples"),
                     [{**m, "examples": [f"run {e['run_id']} action {e['action']}" for e in m["examples"]]}
                      for m in data["mistakes"]]),
        "people": (("dataset", "name", "kind", "run_id", "best", "normalised"),
                   [{"dataset": p["dataset"], **s} for p in data["people"] for s in p["scores"]]),
        "curves": (("dataset", "name", "kind", "epoch", "val_acc"),
                   [{"dataset": p["dataset"], "name": c["name"], "kind": c["kind"], "epoch": i + 1, "val_acc": v}
                    for p in data["people"] for c in p["curves"] for i, v in enumerate(c["values"])]),
        "importance": (("label", "rho", "runs", "runs_with_it", "thin"), data["importance"]),
    }


@router.get("/{table}.csv")
def analysis_csv(table: str, request: Request, db: DbSession, family: str | None = None, condition: str | None = None,
                 scenario: str | None = None):
    """One table of the analysis page as CSV, with the page's filters."""
    _, class_id, filters = _class_and_filters(request, db, family, condition, scenario)
    tables = _tables(analysis.analyse(db, class_id, filters))
    if table not in tables:
        raise NotFound(f"there is no table {table!r}; tables are {', '.join(tables)}")
    columns, rows = tables[table]
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_fmt(row.get(c)) for c in columns])
    return Response(out.getvalue(), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="hyperquest-{table}.csv"'})
