"""Researcher pages: what the research export holds, and the export itself (zip of CSV, JSON Lines or Parquet)."""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter, Query, Request
from fastapi.responses import PlainTextResponse, Response

from app.errors import WebError
from app.research import export
from app.research.export_scope import class_flags
from app.staff.models import RESEARCHER
from app.staff.service import require_role
from app.web import DbSession, render

router = APIRouter()

FORMAT_LABELS = {"csv": "CSV", "jsonl": "JSON Lines", "parquet": "Parquet"}
_TRUE, _FALSE = ("1", "true", "on", "yes"), ("", "0", "false", "off", "no")


def _flag(name: str, raw: str) -> bool:
    """A checkbox value; anything else is a clear 400, not a validation dump."""
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise WebError(f"{name} must be 1 or 0 (got {raw[:20]!r})", 400)


@router.get("/research")
def research_home(request: Request, db: DbSession):
    """What an export contains now (row counts, every column) and the download form."""
    staff = require_role(request, db, RESEARCHER)
    counts = export.table_counts(db)
    return render(request, "research.html", {
        "student": None,
        "staff": staff,
        "schema_version": export.SCHEMA_VERSION,
        "formats": [(fmt, FORMAT_LABELS.get(fmt, fmt)) for fmt in export.FORMATS],
        "exact_allowed": class_flags(db).allow_exact_times,
        "any_study": bool(class_flags(db).research_classes),
        "tables": [(table, counts[name]) for name, table in export.TABLES.items()],
    })


@router.get("/research/schema.md")
def research_schema(request: Request, db: DbSession):
    """The documented schema (docs/export-schema.md, generated from the code) as plain text."""
    require_role(request, db, RESEARCHER)
    return PlainTextResponse(export.schema_markdown(), media_type="text/markdown; charset=utf-8")


@router.get("/research/export.zip")
def research_export(request: Request, db: DbSession, fmt: str = Query("csv", alias="format"),
                    session_day: str = Query(""), exact_times: str = Query("")):
    """The whole export as a zip: one file per table, manifest.json and SCHEMA.md."""
    require_role(request, db, RESEARCHER)
    if fmt not in export.FORMATS:
        raise WebError(f"format must be one of {', '.join(export.FORMATS)} (got {fmt[:20]!r})", 400)
    times = export.TimeOptions(session_day=_flag("session_day", session_day), exact=_flag("exact_times", exact_times))
    now = dt.datetime.now(dt.timezone.utc)
    try:
        files = export.export_files(db, request.app.state.settings.pseudonym_key, fmt, created_at=now, times=times)
    except export.ExactTimesRefused as exc:
        raise WebError(str(exc), 403) from None
    except export.ExportError as exc:
        raise WebError(str(exc), 400) from None
    filename = f"hyperquest-export-v{export.SCHEMA_VERSION}-{now:%Y%m%d-%H%M%S}-{fmt}.zip"
    return Response(export.zip_bytes(files), media_type="application/zip",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"', "Cache-Control": "no-store"})
