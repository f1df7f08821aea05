"""Which sites may frame the game: the origins of the registered platforms (read rarely, cached briefly)."""

from __future__ import annotations

import threading
import time
from urllib.parse import urlsplit

from sqlalchemy import select

from app.lti.models import LtiPlatform

#: A new platform may frame the game this long after it is registered, at the latest (other processes).
CACHE_SECONDS = 30.0
_cache: dict[int, tuple[float, tuple[str, ...]]] = {}
_lock = threading.Lock()


def origin_of(url: str) -> str | None:
    """``scheme://host[:port]`` of an http(s) URL, else None."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.netloc or any(c in parts.netloc for c in " ;,'\""):
        return None
    return f"{parts.scheme}://{parts.netloc}".lower()


def platform_origins(session_factory) -> tuple[str, ...]:
    """The origins (issuer, login and key set hosts) of every registered platform."""
    now = time.monotonic()
    with _lock:
        hit = _cache.get(id(session_factory))
        if hit and now - hit[0] < CACHE_SECONDS:
            return hit[1]
    with session_factory() as db:
        rows = db.execute(select(LtiPlatform.issuer, LtiPlatform.auth_login_url)).all()
    origins = tuple(sorted({o for row in rows for url in row if (o := origin_of(url))}))
    with _lock:
        _cache[id(session_factory)] = (now, origins)
    return origins


def forget() -> None:
    """Drop the cache (a platform was just registered in this process)."""
    with _lock:
        _cache.clear()
