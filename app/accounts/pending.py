"""The scenario link a player followed before they could play, kept in their session until a run starts.

A first-time player who opens ``/s/<token>`` logs in, may be asked for consent and the survey,
and would then land on the generic instructions; the link is remembered here so each of those
steps sends them back to it, and the instructions offer it, until a run (of it or of the pool) starts.
"""

from __future__ import annotations

import re

from fastapi import Request

SESSION_KEY = "pending_scenario"
#: A scenario's landing page, and nothing else, can be pending.
LANDING = re.compile(r"^/s/[A-Za-z0-9_-]{1,32}$")


def remember(request: Request, path: str | None) -> None:
    """Keep ``path`` (a scenario landing page) as the place to return to; anything else is ignored."""
    if path and LANDING.match(path):
        request.session[SESSION_KEY] = path


def pending(request: Request) -> str | None:
    """The remembered scenario landing page, if any."""
    value = request.session.get(SESSION_KEY)
    return value if isinstance(value, str) and LANDING.match(value) else None


def pending_token(request: Request) -> str | None:
    """The token of the remembered scenario link, if any."""
    path = pending(request)
    return path.rsplit("/", 1)[1] if path else None


def forget(request: Request) -> None:
    """A run has started: nothing is pending any more."""
    request.session.pop(SESSION_KEY, None)


def after_setup(request: Request) -> str:
    """Where a player goes once consent and survey are done: the pending scenario, else the instructions."""
    return pending(request) or "/instructions"
