"""Server-side sessions behind a signed, opaque cookie (an ASGI middleware providing ``request.session``).

The cookie carries only a random session id signed with the secret key (HttpOnly, SameSite=Lax,
Secure over HTTPS). The session's contents (who is logged in, the CSRF token) live in the
``web_sessions`` table, so logging out revokes the id for good: a copied or replayed cookie is
refused afterwards, as is one whose signature does not match. Logging in (any change of who is
logged in) rotates the id, so a session id planted before login is worthless after it.

A session started by an LTI launch lives inside the LMS's iframe, where a SameSite=Lax cookie is
never sent: its cookie is ``SameSite=None; Secure; Partitioned`` instead (kept apart per embedding
site by the browser), and says so inside its signed value, so every later write keeps it that way.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets

import anyio
from itsdangerous import BadSignature, Signer
from sqlalchemy import delete, or_
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import sessionmaker
from starlette.datastructures import MutableHeaders
from starlette.requests import HTTPConnection, Request

from app.db.base import as_utc, utcnow
from app.security.models import WebSession

COOKIE_NAME = "hyperquest_session"
#: The keys a session may hold; anything else is a programming error.
KEYS = ("student_pk", "staff_pk", "csrf", "pending_scenario")
IDENTITY = ("student_pk", "staff_pk")
LIFETIME = dt.timedelta(days=7)
#: Cookie attributes inside an LMS iframe (third-party context): sent cross-site, partitioned per top-level site.
IFRAME_COOKIE_ATTRIBUTES = "Path=/; HttpOnly; SameSite=None; Secure; Partitioned"
#: Set in the request scope by a view (an LTI launch) whose session cookie must work inside an iframe.
IFRAME_SCOPE_KEY = "hyperquest.iframe_cookies"
#: Appended to the session id inside the signed cookie value of an iframe session.
IFRAME_MARK = "~iframe"
DATABASE_DOWN_MESSAGE = "The game's database is busy or restarting. Please try again in a few seconds."

log = logging.getLogger(__name__)


def _load(factory: sessionmaker, sid: str) -> dict | None:
    with factory() as db:
        row = db.get(WebSession, sid)
        if row is None or row.revoked_at is not None or as_utc(row.expires_at) < utcnow():
            return None
        return {k: v for k, v in (("student_pk", row.student_pk), ("staff_pk", row.staff_pk), ("csrf", row.csrf_token),
                                  ("pending_scenario", row.pending_scenario))
                if v is not None}


def _save(factory: sessionmaker, old_sid: str | None, data: dict, rotate: bool) -> str | None:
    """Persist ``data``; returns the session id the cookie must now carry (None: clear the cookie)."""
    with factory() as db:
        old = db.get(WebSession, old_sid) if old_sid else None
        if old is not None and (rotate or not data):
            old.revoked_at = utcnow()
            old = None
        sid = None
        if data:
            if old is None:
                old = WebSession(id=secrets.token_urlsafe(32), expires_at=utcnow() + LIFETIME)
                db.add(old)
            old.student_pk, old.staff_pk, old.csrf_token = data.get("student_pk"), data.get("staff_pk"), data.get("csrf")
            old.pending_scenario = data.get("pending_scenario")
            sid = old.id
        db.commit()
        return sid


def purge_sessions(factory: sessionmaker, keep_revoked: dt.timedelta = dt.timedelta(days=1)) -> int:
    """Delete expired sessions and those revoked more than ``keep_revoked`` ago; returns how many."""
    now = utcnow()
    with factory() as db:
        count = db.execute(delete(WebSession).where(or_(WebSession.expires_at < now,
                                                        WebSession.revoked_at < now - keep_revoked))).rowcount
        db.commit()
    return count


def use_iframe_cookies(request: Request) -> None:
    """Write this response's session cookie (and every later one of the session) for an LMS iframe."""
    request.scope[IFRAME_SCOPE_KEY] = True


async def _database_down_page(scope, receive, send) -> None:
    from app.web import render  # late: app.web imports this package's csrf module

    request = Request(scope, receive)
    request.scope.setdefault("session", {})
    response = render(request, "error.html", {"student": None, "staff": None, "status_code": 503,
                                              "message": DATABASE_DOWN_MESSAGE}, 503)
    await response(scope, receive, send)


class ServerSessionMiddleware:
    """Loads the session before the app runs and saves (or rotates, or revokes) it before the response starts."""

    def __init__(self, app, secret_key: str, session_factory: sessionmaker, https_only: bool = False) -> None:
        self.app = app
        self.signer = Signer(secret_key, salt="hyperquest-session")
        self.session_factory = session_factory
        self.https_only = https_only

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        connection = HTTPConnection(scope)
        raw = connection.cookies.get(COOKIE_NAME)
        sid, iframe = self._unsign(raw) if raw else (None, False)
        if iframe:
            scope[IFRAME_SCOPE_KEY] = True  # the headers middleware lets the platform frame this page
        try:
            loaded = await anyio.to_thread.run_sync(_load, self.session_factory, sid) if sid else None
        except SQLAlchemyError as exc:  # the database is down: the same friendly 503 the pages give
            log.warning("session not loaded, database unavailable: %s", exc)
            await _database_down_page(scope, receive, send)
            return
        if loaded is None:
            sid = None
        scope["session"] = dict(loaded or {})
        original = dict(loaded or {})
        had_cookie = raw is not None
        secure = self.https_only or scope.get("scheme") == "https"

        async def send_wrapper(message) -> None:
            if message["type"] == "http.response.start":
                data = {k: v for k, v in scope["session"].items() if k in KEYS and v is not None}
                if data != original:
                    # A login (even as the same person) clears the session, dropping its CSRF token: that,
                    # or any change of who is logged in, gets a new id.
                    token_dropped = bool(original.get("csrf")) and data.get("csrf") != original["csrf"]
                    rotate = token_dropped or any(data.get(k) != original.get(k) for k in IDENTITY)
                    try:
                        new_sid = await anyio.to_thread.run_sync(_save, self.session_factory, sid, data, rotate)
                        self._set_cookie(message, new_sid, secure, iframe or bool(scope.get(IFRAME_SCOPE_KEY)))
                    except SQLAlchemyError as exc:  # the page still goes out; the session change is lost
                        log.warning("session not saved, database unavailable: %s", exc)
                elif had_cookie and sid is None:
                    self._set_cookie(message, None, secure, iframe)  # a tampered, revoked or expired cookie is cleared
            await send(message)

        await self.app(scope, receive, send_wrapper)

    def _unsign(self, raw: str) -> tuple[str | None, bool]:
        """(session id, whether it is an iframe session); (None, False) for a bad signature."""
        try:
            value = self.signer.unsign(raw).decode()
        except BadSignature:
            return None, False
        return value.removesuffix(IFRAME_MARK), value.endswith(IFRAME_MARK)

    def _set_cookie(self, message, sid: str | None, secure: bool, iframe: bool = False) -> None:
        headers = MutableHeaders(scope=message)
        attributes = IFRAME_COOKIE_ATTRIBUTES if iframe else "Path=/; HttpOnly; SameSite=Lax" + ("; Secure" if secure else "")
        if sid is None:
            headers.append("Set-Cookie", f"{COOKIE_NAME}=; {attributes}; Max-Age=0")
        else:
            value = self.signer.sign(sid + (IFRAME_MARK if iframe else "")).decode()
            headers.append("Set-Cookie", f"{COOKIE_NAME}={value}; {attributes}; Max-Age={int(LIFETIME.total_seconds())}")
