"""Researcher pages: what the research export holds, and the export itself (zip of CSV or JSON Lines)."""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import PlainTextResponse, Response
from sqlalchemy.orm import Session

from app.errors import WebError
from app.research import export
from app.staff.models import RESEARCHER
from app.staff.service import require_role
from app.web import get_db, render

router = APIRouter()


@router.get("/research")
def research_home(request: Request, db: Session = Depends(get_db, scope="function")):
    """What an export contains now (row counts, every column) and the download links."""
    staff = require_role(request, db, RESEARCHER)
    counts = export.table_counts(db)
    return render(request, "research.html", {
        "student": None,
        "staff": staff,
        "schema_version": export.SCHEMA_VERSION,
        "formats": export.FORMATS,
        "tables": [(table, counts[name]) for name, table in export.TABLES.items()],
    })


@router.get("/research/schema.md")
def research_schema(request: Request, db: Session = Depends(get_db, scope="function")):
    """The documented schema (docs/export-schema.md) as plain text."""
    require_role(request, db, RESEARCHER)
    if not export.SCHEMA_DOC.exists():
        raise WebError("the schema document is missing from this installation", 404)
    return PlainTextResponse(export.SCHEMA_DOC.read_text(encoding="utf-8"), media_type="text/markdown; charset=utf-8")


@router.get("/research/export.zip")
def research_export(request: Request, fmt: str = Query("csv", alias="format"), db: Session = Depends(get_db, scope="function")):
    """The whole export as a zip: one file per table, manifest.json and SCHEMA.md."""
    require_role(request, db, RESEARCHER)
    if fmt not in export.FORMATS:
        raise WebError(f"format must be one of {', '.join(export.FORMATS)} (got {fmt[:20]!r})", 400)
    now = dt.datetime.now(dt.timezone.utc)
    files = export.export_files(db, request.app.state.settings.pseudonym_key, fmt, created_at=now)
    filename = f"hyperquest-export-v{export.SCHEMA_VERSION}-{now:%Y%m%d-%H%M%S}-{fmt}.zip"
    return Response(export.zip_bytes(files), media_type="application/zip",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"', "Cache-Control": "no-store"})
