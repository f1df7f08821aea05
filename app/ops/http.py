"""An HTTP client that plays by the site's rules: it fetches and sends the CSRF token on every POST."""

from __future__ import annotations

import httpx


class CsrfMixin:
    """Adds this session's ``csrf_token`` to each POST's form data (unless the caller gave one)."""

    def post(self, url, *args, data=None, **kwargs):  # type: ignore[override]
        """POST with the session's CSRF token added to the form."""
        if data is None or isinstance(data, dict):
            data = dict(data or {})
            if "csrf_token" not in data:
                data["csrf_token"] = self.get("/session/csrf").json()["csrf_token"]
        return super().post(url, *args, data=data, **kwargs)


class GameClient(CsrfMixin, httpx.Client):
    """httpx.Client for scripted players (benchmarks, load tests, integration tests)."""
