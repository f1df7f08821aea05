"""``/healthz`` for load balancers and container health checks, and ``/favicon.ico`` that browsers ask for."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, JSONResponse
from sqlalchemy import text

from app.paths import STATIC

router = APIRouter()


@router.get("/healthz")
def healthz(request: Request):
    """200 when the database answers (503 otherwise, via the database-down handler); says if the queue is up."""
    with request.app.state.session_factory() as db:
        db.execute(text("SELECT 1"))
    runner = request.app.state.runner
    return JSONResponse({"status": "ok", "mode": "embedded" if request.app.state.settings.embedded else "celery",
                         "queue": "ok" if runner.healthy else "unavailable",
                         "open_streams": request.app.state.notifier.open_streams})


@router.get("/favicon.ico", include_in_schema=False)
def favicon():
    """The site icon at the address every browser asks for (pages also link static/favicon.svg)."""
    return FileResponse(STATIC / "favicon.ico", media_type="image/x-icon", headers={"Cache-Control": "public, max-age=86400"})
