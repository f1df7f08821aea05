"""Rate limits on logins and game actions, per IP address and per account.

Moving-window counters from the ``limits`` library: in memory in embedded mode, in Redis in
the scaled-out mode so every web process shares them. A class behind one campus NAT shares an
IP address, so per-IP limits are generous and the per-account ones are the tight ones. If Redis
is unreachable the limits fail open (logged): a game that cannot count must still be playable.
"""

from __future__ import annotations

import logging

from limits import parse
from limits.storage import MemoryStorage, storage_from_string
from limits.strategies import MovingWindowRateLimiter
from starlette.requests import Request

from app.errors import WebError
from app.settings import Settings

log = logging.getLogger(__name__)


class TooManyRequests(WebError):
    """A rate limit was hit (429)."""

    status_code = 429


class RateLimits:
    """The app's limits, keyed like ``login:ip:127.0.0.1`` or ``action:student:42``."""

    def __init__(self, settings: Settings) -> None:
        self.enabled = settings.rate_limits_enabled
        self.rules = {
            "login:ip": parse(settings.rate_limit_login_per_ip),
            "login:account": parse(settings.rate_limit_login_per_account),
            "action:ip": parse(settings.rate_limit_actions_per_ip),
            "action:student": parse(settings.rate_limit_actions_per_student),
        }
        if settings.redis_url:
            storage = storage_from_string(settings.redis_url, key_prefix=f"{settings.redis_prefix}:limits",
                                          socket_connect_timeout=1, socket_timeout=1)
        else:
            storage = MemoryStorage()
        self.limiter = MovingWindowRateLimiter(storage)

    def check(self, kind: str, **identities: object) -> None:
        """Count one hit of ``kind`` for each identity (e.g. ip=..., account=...); 429 if any is over its limit."""
        if not self.enabled:
            return
        for name, value in identities.items():
            rule = self.rules[f"{kind}:{name}"]
            try:
                allowed = self.limiter.hit(rule, kind, name, str(value))
            except Exception as exc:  # Redis down: fail open rather than lock the class out
                log.warning("rate limit %s:%s not checked: %s", kind, name, exc)
                continue
            if not allowed:
                raise TooManyRequests(
                    f"Too many attempts in a short time. Please wait a minute and try again ({rule} per {name}).")


def client_ip(request: Request) -> str:
    """The client's address as uvicorn saw it (it applies X-Forwarded-For only from trusted proxies)."""
    return request.client.host if request.client else "unknown"


def limits_of(request: Request) -> RateLimits:
    """The app's RateLimits."""
    return request.app.state.rate_limits
