"""Errors the web layer turns into 4xx pages with a clear message."""

from __future__ import annotations


class WebError(Exception):
    """A request that cannot be served, with the status code and a message for the player."""

    status_code = 400

    def __init__(self, message: str, status_code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if status_code is not None:
            self.status_code = status_code


class NotFound(WebError):
    """The thing asked for does not exist."""

    status_code = 404


class Forbidden(WebError):
    """The thing exists but belongs to someone else, or needs a role the user lacks."""

    status_code = 403


class Conflict(WebError):
    """The request clashes with the current state (an epoch is training, a form was already sent)."""

    status_code = 409


class JobCancelled(Exception):
    """Raised inside a background job when its runner is shutting down; the job is resumed later."""


class LoginRequired(WebError):
    """No student is logged in."""

    status_code = 401
