"""An HTTP client that plays by the site's rules: it fetches and sends the CSRF token on every POST.

Needs httpx, which the shipped install does not have (the ``bench`` and ``test`` extras bring it):
import this module only where a scripted player is really about to play.
"""

from __future__ import annotations

import httpx


class CsrfMixin:
    """Adds this session's ``csrf_token`` to each POST's form data (unless the caller gave one)."""

    _csrf: tuple[str | None, str] | None = None  # (session cookie the token belongs to, token)

    def post(self, url, *args, data=None, **kwargs):  # type: ignore[override]
        """POST with the session's CSRF token added to the form."""
        if data is None or isinstance(data, dict):
            data = dict(data or {})
            if "csrf_token" not in data:
                data["csrf_token"] = self._token()
        return super().post(url, *args, data=data, **kwargs)

    def _token(self) -> str:
        """The token, fetched again only when the session changed (a login rotates it)."""
        cookie = self.cookies.get("hyperquest_session")
        if self._csrf is None or self._csrf[0] != cookie or cookie is None:
            token = self.get("/session/csrf").json()["csrf_token"]
            self._csrf = (self.cookies.get("hyperquest_session"), token)
        return self._csrf[1]


class GameClient(CsrfMixin, httpx.Client):
    """httpx.Client for scripted players (benchmarks, load tests, integration tests)."""
