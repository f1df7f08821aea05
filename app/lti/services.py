"""LTI Advantage services from the tool's side: the OAuth2 access token and the AGS client of a course."""

from __future__ import annotations

import requests
from pylti1p3.assignments_grades import AssignmentsGradesService
from pylti1p3.service_connector import REQUESTS_USER_AGENT, ServiceConnector
from sqlalchemy.orm import Session

from app.errors import WebError
from app.lti.config import registration_of
from app.lti.models import LtiContext, LtiPlatform

#: Seconds before a call to a platform (key set, token, scores) gives up.
PLATFORM_TIMEOUT = 10.0


class TimeoutSession(requests.Session):
    """A requests session that never waits on a platform forever."""

    def __init__(self) -> None:
        super().__init__()
        self.headers["User-Agent"] = REQUESTS_USER_AGENT

    def request(self, method, url, **kwargs):  # type: ignore[override]
        kwargs.setdefault("timeout", PLATFORM_TIMEOUT)
        return super().request(method, url, **kwargs)


def service_connector(db: Session, platform_id: int) -> ServiceConnector:
    """pylti1p3's connector for the platform: it signs client-credentials JWTs with the tool's key."""
    platform = db.get(LtiPlatform, platform_id)
    if platform is None:
        raise WebError("unknown platform", 404)
    return ServiceConnector(registration_of(db, platform), TimeoutSession())


def access_token(db: Session, platform_id: int, scopes: list[str]) -> str:
    """An access token from the platform's token URL for ``scopes`` (LtiServiceException when refused)."""
    return service_connector(db, platform_id).get_access_token(scopes)


def ags_service(db: Session, context: LtiContext) -> AssignmentsGradesService:
    """The Assignment and Grade Services client of a course, from its latest launch's endpoint claim."""
    if not context.ags:
        raise WebError("this course's launches carried no grade service (AGS) endpoint", 409)
    return AssignmentsGradesService(service_connector(db, context.platform_id), context.ags)
