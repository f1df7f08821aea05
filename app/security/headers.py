"""Security headers on every response, and a cap on request body size."""

from __future__ import annotations

import logging

import anyio
from starlette.datastructures import Headers, MutableHeaders
from starlette.responses import HTMLResponse

from app.security.sessions import IFRAME_SCOPE_KEY

log = logging.getLogger(__name__)

#: Only this site's own scripts, styles and connections; no inline script, no framing by anyone.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "font-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)
HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
    "Cross-Origin-Opener-Policy": "same-origin",
}


def framable_policy(ancestors: tuple[str, ...]) -> str:
    """The CSP for a page shown inside an LMS: framed by this site and the registered platforms only."""
    return CONTENT_SECURITY_POLICY.replace("frame-ancestors 'none'", "frame-ancestors " + " ".join(("'self'", *ancestors)))


async def _platform_origins(scope) -> tuple[str, ...]:
    from app.lti.framing import platform_origins  # late: the LTI package imports this one's sibling

    try:
        return await anyio.to_thread.run_sync(platform_origins, scope["app"].state.session_factory)
    except Exception as exc:  # the page still goes out, framable by this site only
        log.warning("platform origins unavailable: %s", exc)
        return ()


class SecurityHeadersMiddleware:
    """Adds HEADERS (and HSTS over HTTPS) to every HTTP response, error pages included.

    Responses of an LTI session (launched from an LMS, so shown in its iframe) may be framed by the
    registered platforms' origins instead of by no one.
    """

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                wanted = HEADERS
                if scope.get(IFRAME_SCOPE_KEY):
                    # frame-ancestors alone decides who may frame it (X-Frame-Options cannot name origins).
                    wanted = {**HEADERS, "Content-Security-Policy": framable_policy(await _platform_origins(scope))}
                    del wanted["X-Frame-Options"]
                for name, value in wanted.items():
                    if name not in headers:
                        headers[name] = value
                if scope.get("scheme") == "https":
                    headers["Strict-Transport-Security"] = "max-age=31536000"
            await send(message)

        await self.app(scope, receive, send_with_headers)


class BodyTooLarge(Exception):
    """The request body went past the limit while it was being read."""


class BodySizeLimitMiddleware:
    """Refuses request bodies over ``max_bytes`` with 413, by Content-Length or while streaming."""

    def __init__(self, app, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = Headers(scope=scope).get("content-length")
        if length is not None and (not (length.isascii() and length.isdigit()) or int(length) > self.max_bytes):
            await self._refuse(scope, receive, send)
            return
        received = 0
        started = False

        async def limited_receive():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge()
            return message

        async def tracking_send(message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except BodyTooLarge:
            if not started:
                await self._refuse(scope, receive, send)

    async def _refuse(self, scope, receive, send) -> None:
        page = ("<!doctype html><html lang=en><head><meta charset=utf-8><title>Too large · HyperQuest</title>"
                "<link rel=stylesheet href=/static/css/hyperquest.css></head><body><main class=narrow><section class=card>"
                f"<h1>413</h1><p>That request was larger than {self.max_bytes // 1024} KiB, so it was refused.</p>"
                "<p><a href=/>Back to HyperQuest</a></p></section></main></body></html>")
        await HTMLResponse(page, status_code=413)(scope, receive, send)
