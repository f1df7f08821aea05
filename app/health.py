"""``/healthz``: for load balancers and container health checks."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text

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
