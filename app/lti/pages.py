"""LTI endpoints: OIDC login initiation, launch, the tool's key set and the registration page."""

from __future__ import annotations

import re

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pylti1p3.exception import LtiException, OIDCException
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.accounts.pages import see_other
from app.errors import WebError
from app.lti import framing
from app.lti.adapter import (FastAPIMessageLaunch, FastAPIOIDCLogin, FastAPIRequest, IframeCookieService,
                             LaunchStore)
from app.lti.config import DatabaseToolConf
from app.lti.errors import explain
from app.lti.keys import jwks
from app.lti.launch import sign_in
from app.lti.models import LtiNonce
from app.lti.platforms import PlatformInput, platforms, save_platform, tool_urls
from app.lti.services import TimeoutSession
from app.security.csrf import csrf_token
from app.security.sessions import use_iframe_cookies
from app.staff.models import INSTRUCTOR
from app.staff.service import SESSION_KEY as STAFF_SESSION_KEY, require_role
from app.web import DbSession, PostedForm, render

router = APIRouter()

#: Longest parameter kept from a platform's request (id_tokens are a few KiB).
MAX_PARAM = 16 * 1024


async def lti_params(request: Request) -> dict[str, str]:
    """The query and (for POST) form parameters of a platform's request, without a CSRF check.

    The platform posts from its own site, so the site's CSRF token cannot be in it: the OIDC state
    cookie, the signed id_token and the one-time nonce are what protect these two endpoints.
    """
    params = {k: v for k, v in request.query_params.items()}
    if request.method == "POST":
        form = await request.form()
        params.update({k: v for k, v in form.items() if isinstance(v, str)})
    return {k: v[:MAX_PARAM] for k, v in params.items()}


def _launch_url(request: Request) -> str:
    return str(request.url_for("lti_launch"))


def _refuse(exc: Exception) -> WebError:
    status, message = explain(exc)
    return WebError(message[:1].upper() + message[1:] + ".", status)


@router.api_route("/lti/login", methods=["GET", "POST"])
def oidc_login(request: Request, db: DbSession, params: dict = Depends(lti_params)):
    """OIDC third-party initiated login: remember a nonce and state, send the browser to the platform."""
    use_iframe_cookies(request)
    adapter = FastAPIRequest(request, params)
    login = FastAPIOIDCLogin(adapter, DatabaseToolConf(db), LaunchStore(adapter, db), IframeCookieService(adapter))
    try:
        response = login.redirect(_launch_url(request))
    except (LtiException, OIDCException) as exc:
        raise _refuse(exc) from None
    db.commit()
    return response


@router.post("/lti/launch", name="lti_launch")
def launch(request: Request, db: DbSession, params: dict = Depends(lti_params)):
    """Validate the platform's id_token and sign its user in: students to the game, teachers to the dashboard."""
    use_iframe_cookies(request)
    adapter = FastAPIRequest(request, params)
    cookies = IframeCookieService(adapter)
    state = adapter.get_param("state") or ""
    if state and cookies.get_cookie(state) is None:
        pending = db.scalar(select(LtiNonce).where(LtiNonce.state == state, LtiNonce.used_at.is_(None)))
        if pending is not None:  # the iframe lost the state cookie: the browser blocks its cookies
            return render(request, "lti/new_tab.html", {"student": None, "staff": None,
                                                        "params": {**pending.login_params, "lti1p3_new_window": "1"}})
    message = FastAPIMessageLaunch(adapter, DatabaseToolConf(db), LaunchStore(adapter, db), cookies,
                                   requests_session=TimeoutSession())
    try:
        body = message.validate_and_consume()
    except (LtiException, OIDCException) as exc:
        raise _refuse(exc) from None
    landing = sign_in(db, request.app.state.settings, message.platform_id, body["iss"], body)
    db.commit()
    request.session.clear()
    if landing.staff_pk is not None:
        request.session[STAFF_SESSION_KEY] = landing.staff_pk
    else:
        request.session["student_pk"] = landing.student_pk
    csrf_token(request)  # the new session gets its token now, in the same write as the sign-in
    return see_other(landing.url)


@router.get("/lti/jwks.json")
def tool_jwks(db: DbSession):
    """The tool's public key set, which platforms use to check the tool's service tokens."""
    return JSONResponse(jwks(db), headers={"Cache-Control": "public, max-age=300"})


def _registration_page(request: Request, db: Session, form: dict, error: str | None, saved: str | None,
                       status_code: int = 200):
    staff = require_role(request, db, INSTRUCTOR)
    base = str(request.base_url)
    return render(request, "lti/registration.html", {
        "student": None, "staff": staff, "urls": tool_urls(base), "platforms": platforms(db),
        "form": form, "error": error, "saved": saved}, status_code)


@router.get("/instructor/lti")
def registration(request: Request, db: DbSession):
    """What to enter in the LMS, the registered platforms, and the form to add one."""
    saved = "Platform saved. Launches from it are accepted now." if request.query_params.get("saved") else None
    return _registration_page(request, db, {}, None, saved)


@router.post("/instructor/lti/platforms")
def add_platform(request: Request, form: PostedForm, db: DbSession):
    """Register (or update) a platform from the form."""
    require_role(request, db, INSTRUCTOR)
    fields = {k: str(form.get(k, ""))[:2000] for k in ("name", "issuer", "client_id", "deployment_ids",
                                                         "auth_login_url", "auth_token_url", "key_set_url")}
    given = PlatformInput(deployment_ids=re.split(r"[,\s]+", fields["deployment_ids"]),
                          **{k: v for k, v in fields.items() if k != "deployment_ids"})
    try:
        save_platform(db, given)
    except WebError as exc:
        return _registration_page(request, db, fields, exc.message[:1].upper() + exc.message[1:] + ".", None,
                                  exc.status_code)
    db.commit()
    framing.forget()
    return see_other("/instructor/lti?saved=1")
