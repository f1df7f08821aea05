"""Cross-site request forgery: a per-session token in every form, plus an Origin check.

The token is a random value kept in the server-side session and rendered into each form as a
hidden ``csrf_token`` field (or sent as an ``X-CSRF-Token`` header). The Origin middleware
refuses any state-changing request whose Origin (or, lacking it, Referer) names another site,
so even a page that somehow learned a token cannot post from elsewhere.
"""

from __future__ import annotations

import hmac
import secrets
from urllib.parse import urlsplit

from starlette.datastructures import FormData, Headers
from starlette.requests import Request
from starlette.responses import HTMLResponse

from app.errors import Forbidden

FIELD = "csrf_token"
HEADER = "x-csrf-token"
UNSAFE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
#: Endpoints a learning management system posts to from its own site (LTI 1.3 OIDC login and launch):
#: the OIDC state cookie, the platform-signed id_token and its one-time nonce protect them instead.
CROSS_SITE_PATHS = frozenset({"/lti/login", "/lti/launch"})
EXPIRED_MESSAGE = "This form has expired or did not come from this site. Reload the page and try again."


def csrf_token(request: Request) -> str:
    """This session's token, created on first use (so the first form a visitor sees starts their session)."""
    token = request.session.get("csrf")
    if not token:
        token = request.session["csrf"] = secrets.token_urlsafe(32)
    return token


def verify(request: Request, form: FormData) -> None:
    """Raise Forbidden (403) unless the request carries this session's token."""
    expected = request.session.get("csrf")
    given = str(form.get(FIELD) or request.headers.get(HEADER) or "")
    if not expected or not given or not hmac.compare_digest(expected.encode(), given.encode()):
        raise Forbidden(EXPIRED_MESSAGE)


def _origin_of(url: str) -> str | None:
    try:
        parts = urlsplit(url)
    except ValueError:  # unparseable, e.g. "http://[": not this site, so refused below
        return "invalid:"
    return f"{parts.scheme}://{parts.netloc}".lower() if parts.scheme and parts.netloc else None


class OriginCheckMiddleware:
    """Refuses state-changing requests that a browser says come from another origin (403)."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http" and scope["method"] in UNSAFE_METHODS and scope["path"] not in CROSS_SITE_PATHS:
            headers = Headers(scope=scope)
            claimed = headers.get("origin") or (_origin_of(headers["referer"]) if headers.get("referer") else None)
            if claimed and claimed != "null":
                own = f"{scope.get('scheme', 'http')}://{headers.get('host', '')}".lower()
                if _origin_of(claimed) != own:
                    await HTMLResponse(_FORBIDDEN_PAGE, status_code=403)(scope, receive, send)
                    return
            elif claimed == "null":  # sandboxed frames and some privacy modes: never trusted to change state
                await HTMLResponse(_FORBIDDEN_PAGE, status_code=403)(scope, receive, send)
                return
        await self.app(scope, receive, send)


_FORBIDDEN_PAGE = (
    "<!doctype html><html lang=en><head><meta charset=utf-8><title>Forbidden · HyperQuest</title>"
    "<link rel=stylesheet href=/static/css/hyperquest.css></head><body><main class=narrow><section class=card>"
    "<h1>403</h1><p>This request came from another site, so it was refused. Open HyperQuest directly and try again."
    "</p><p><a href=/>Back to HyperQuest</a></p></section></main></body></html>"
)
