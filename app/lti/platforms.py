"""Registering platforms (learning management systems): checked input, add or update, list."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.errors import WebError
from app.lti.models import LtiPlatform

URL_FIELDS = {"issuer": "issuer", "auth_login_url": "auth login URL", "auth_token_url": "auth token URL",
              "key_set_url": "key set URL"}
MAX_URL = 1000
MAX_ID = 255


@dataclass
class PlatformInput:
    """What an instructor enters to register a platform."""

    issuer: str
    client_id: str
    deployment_ids: list[str]
    auth_login_url: str
    auth_token_url: str
    key_set_url: str
    name: str = ""


def check_url(value: str, label: str) -> str:
    """``value`` trimmed when it is an http(s) URL; WebError (422) otherwise."""
    value = value.strip()
    try:
        parts = urlsplit(value)
    except ValueError:
        parts = None
    if not parts or parts.scheme not in ("http", "https") or not parts.netloc or len(value) > MAX_URL:
        raise WebError(f"the {label} must be an http(s) URL such as https://lms.example.edu (got {value[:80]!r})", 422)
    return value


def validated(given: PlatformInput) -> PlatformInput:
    """``given`` trimmed and checked; WebError (422) naming the first bad field."""
    urls = {field: check_url(getattr(given, field), label) for field, label in URL_FIELDS.items()}
    client_id = given.client_id.strip()
    if not client_id or len(client_id) > MAX_ID:
        raise WebError(f"the client ID must be 1-{MAX_ID} characters", 422)
    deployments = [d.strip() for d in given.deployment_ids if d.strip()]
    if not deployments or any(len(d) > MAX_ID for d in deployments):
        raise WebError(f"give at least one deployment ID (each 1-{MAX_ID} characters)", 422)
    name = " ".join(given.name.split())[:120] or urlsplit(urls["issuer"]).netloc
    return PlatformInput(client_id=client_id, deployment_ids=list(dict.fromkeys(deployments)), name=name, **urls)


def save_platform(db: Session, given: PlatformInput) -> tuple[LtiPlatform, bool]:
    """Add the platform, or update the one with the same issuer and client ID; returns (row, created)."""
    clean = validated(given)
    row = db.scalar(select(LtiPlatform).where(LtiPlatform.issuer == clean.issuer, LtiPlatform.client_id == clean.client_id))
    created = row is None
    if created:
        row = LtiPlatform(issuer=clean.issuer, client_id=clean.client_id)
        db.add(row)
    row.deployment_ids = clean.deployment_ids
    row.auth_login_url, row.auth_token_url, row.key_set_url = clean.auth_login_url, clean.auth_token_url, clean.key_set_url
    row.name = clean.name
    db.flush()
    return row, created


def platforms(db: Session) -> list[LtiPlatform]:
    """Every registered platform, oldest first."""
    return list(db.scalars(select(LtiPlatform).order_by(LtiPlatform.id)))


def tool_urls(base_url: str) -> dict[str, str]:
    """What an instructor pastes into the LMS, for the tool served at ``base_url``."""
    base = base_url.rstrip("/")
    return {"login_url": f"{base}/lti/login", "launch_url": f"{base}/lti/launch", "jwks_url": f"{base}/lti/jwks.json",
            "redirect_uris": f"{base}/lti/launch"}
