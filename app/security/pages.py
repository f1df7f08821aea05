"""``/session/csrf``: the session's CSRF token for scripted clients (forms embed it already)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from app.security.csrf import csrf_token

router = APIRouter()


@router.get("/session/csrf")
def session_csrf(request: Request):
    """The token to send as the ``csrf_token`` form field or ``X-CSRF-Token`` header."""
    return JSONResponse({"csrf_token": csrf_token(request)}, headers={"Cache-Control": "no-store"})
