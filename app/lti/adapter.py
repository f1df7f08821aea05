"""pylti1p3 for FastAPI: the request, cookie, session and redirect classes its Flask adapter has, in one module.

Launch data lives in the database, never in cookies or the browser session: a nonce is stored with
its state and the login's parameters at OIDC login, and the one launch that presents it marks it
used, so a replayed id_token is refused even when it is otherwise valid.
"""

from __future__ import annotations

import datetime as dt
import typing as t
from urllib.parse import parse_qs, urlsplit

from pylti1p3.cookie import CookieService
from pylti1p3.message_launch import MessageLaunch
from pylti1p3.oidc_login import OIDCLogin
from pylti1p3.redirect import Redirect
from pylti1p3.request import Request as LtiRequest
from pylti1p3.session import SessionService
from sqlalchemy import select, update
from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from app.db.base import as_utc, utcnow
from app.lti.errors import ALREADY_USED, LaunchRefused
from app.lti.models import LtiNonce
from app.security.sessions import IFRAME_COOKIE_ATTRIBUTES

#: The OIDC login parameters a platform may send, kept so the new-tab fallback can start the login again.
LOGIN_PARAMS = ("iss", "login_hint", "target_link_uri", "lti_message_hint", "lti_deployment_id", "client_id")
#: How long after OIDC login the platform has to come back with the launch.
NONCE_LIFETIME = dt.timedelta(minutes=10)
STATE_COOKIE_SECONDS = 5 * 60


class FastAPIRequest(LtiRequest):
    """The parts of a Starlette request pylti1p3 reads: parameters (query or form), cookies, HTTPS."""

    def __init__(self, request: Request, params: t.Mapping[str, str]) -> None:
        self._params = dict(params)
        self._cookies = dict(request.cookies)
        self._secure = request.url.scheme == "https"
        self._session: dict = {}  # unused: LaunchStore keeps launch data in the database

    @property
    def session(self):
        return self._session

    def get_param(self, key: str) -> str | None:
        value = self._params.get(key)
        return str(value) if value is not None else None

    def get_cookie(self, key: str) -> str | None:
        return self._cookies.get(key)

    def is_secure(self) -> bool:
        return self._secure


class IframeCookieService(CookieService):
    """pylti1p3's cookies (the OIDC state), written ``SameSite=None; Secure; Partitioned`` so they survive the iframe."""

    def __init__(self, request: FastAPIRequest) -> None:
        self._request = request
        self._to_set: dict[str, tuple[str, int | None]] = {}

    def _key(self, name: str) -> str:
        return f"{self._cookie_prefix}-{name}"

    def get_cookie(self, name: str) -> str | None:
        return self._request.get_cookie(self._key(name))

    def set_cookie(self, name: str, value, exp: int | None = 3600) -> None:
        self._to_set[self._key(name)] = (str(value), exp)

    def update_response(self, response: Response) -> Response:
        """Write the collected cookies onto ``response``."""
        for key, (value, exp) in self._to_set.items():
            max_age = f"; Max-Age={exp}" if exp else ""
            response.headers.append("Set-Cookie", f"{key}={value}; {IFRAME_COOKIE_ATTRIBUTES}{max_age}")
        return response


class LaunchStore(SessionService):
    """pylti1p3's session service backed by ``lti_nonces``; nothing else outlives the request."""

    def __init__(self, request: FastAPIRequest, db: Session) -> None:
        super().__init__(request)
        self.db = db
        self._memory: dict[str, object] = {}

    # Launch data, state params and the state-to-token hash matter only within one request here:
    # the AGS claim pylti1p3 would cache is kept per course in lti_contexts instead.
    def _set_value(self, key: str, value: object) -> None:
        self._memory[key] = value

    def _get_value(self, key: str):
        return self._memory.get(key)

    def save_nonce(self, nonce: str) -> None:
        """Nothing yet: OIDCLogin records the nonce together with its state once the redirect is built."""

    def record_login(self, platform_id: int, state: str, nonce: str, params: dict[str, str]) -> None:
        """Store a login's nonce, its state and its parameters (the launch must come back with all three)."""
        self.db.add(LtiNonce(nonce=nonce, platform_id=platform_id, state=state, login_params=params))
        self.db.flush()

    def nonce_row(self, nonce: str) -> LtiNonce | None:
        """The stored nonce, if this tool issued it."""
        return self.db.scalar(select(LtiNonce).where(LtiNonce.nonce == nonce))

    def check_nonce(self, nonce: str) -> bool:
        """True for a nonce issued here, unused and fresh; LaunchRefused says which of those it is not."""
        row = self.nonce_row(nonce)
        if row is None:
            raise LaunchRefused("the launch token's nonce was not issued by HyperQuest: start the activity from your "
                                "course", 401)
        if row.used_at is not None:
            raise LaunchRefused(ALREADY_USED, 403)
        if as_utc(row.created_at) < utcnow() - NONCE_LIFETIME:
            raise LaunchRefused("this launch took too long (over 10 minutes): start the activity again from your "
                                "course", 401)
        return True

    def consume(self, nonce: str, platform_id: int, state: str) -> None:
        """Mark the nonce used; exactly one launch wins, even when two arrive at once."""
        used = self.db.execute(update(LtiNonce)
                               .where(LtiNonce.nonce == nonce, LtiNonce.platform_id == platform_id,
                                      LtiNonce.state == state, LtiNonce.used_at.is_(None))
                               .values(used_at=utcnow())).rowcount
        if used != 1:
            row = self.nonce_row(nonce)
            if row is not None and row.used_at is None:
                raise LaunchRefused("the launch token's nonce belongs to another login", 401)
            raise LaunchRefused(ALREADY_USED, 403)


class FastAPIRedirect(Redirect):
    """A redirect (HTTP 302, or a script for platforms that want one) carrying the collected cookies."""

    def __init__(self, location: str, cookies: IframeCookieService) -> None:
        self._location = location
        self._cookies = cookies

    def do_redirect(self) -> Response:
        return self._cookies.update_response(RedirectResponse(self._location, status_code=302))

    def do_js_redirect(self) -> Response:
        # The site's CSP forbids inline scripts, so the "script" redirect is a plain HTTP one too.
        return self.do_redirect()

    def set_redirect_url(self, location: str) -> None:
        self._location = location

    def get_redirect_url(self) -> str:
        return self._location


class FastAPIOIDCLogin(OIDCLogin):
    """OIDC third-party initiated login that records its nonce and state in the database."""

    def get_redirect(self, url: str) -> FastAPIRedirect:
        return FastAPIRedirect(url, self._cookie_service)

    def _prepare_redirect_url(self, launch_url: str) -> str:
        url = super()._prepare_redirect_url(launch_url)
        query = parse_qs(urlsplit(url).query)
        params = {k: v for k in LOGIN_PARAMS if (v := self._get_request_param(k))}
        self._session_service.record_login(self._registration.platform_id, query["state"][0], query["nonce"][0], params)
        return url


class FastAPIMessageLaunch(MessageLaunch):
    """A resource link launch, validated by pylti1p3, whose nonce can be used once."""

    def _get_request_param(self, key: str) -> str | None:
        return self._request.get_param(key)

    def validate_and_consume(self) -> dict:
        """Validate the launch (state, signature, audience, deployment, message) and use up its nonce."""
        self.validate()
        body = self._get_jwt_body()
        self._session_service.consume(body["nonce"], self._registration.platform_id, self._request.get_param("state"))
        return dict(body)

    @property
    def platform_id(self) -> int:
        """The launching platform's row id (after validation)."""
        return self._registration.platform_id

