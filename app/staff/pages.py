"""Staff login and logout."""

from __future__ import annotations

from fastapi import APIRouter, Request

from app.accounts.pages import see_other
from app.security.csrf import csrf_token
from app.security.ratelimit import client_ip, limits_of
from app.staff.models import INSTRUCTOR
from app.staff.service import SESSION_KEY, authenticate, current_staff
from app.web import DbSession, PostedForm, render

router = APIRouter()


def home_of(role: str) -> str:
    """Where a staff member lands after logging in."""
    return "/instructor" if role == INSTRUCTOR else "/research"


@router.get("/staff/login")
def login_page(request: Request, db: DbSession):
    """The staff login form (instructors and researchers)."""
    return render(request, "staff_login.html", {"student": None, "staff": current_staff(request, db), "error": None,
                                                "username": ""})


@router.post("/staff/login")
def login(request: Request, form: PostedForm, db: DbSession):
    """Check the password; one message for an unknown name or a wrong password."""
    username = str(form.get("username", "")).strip()[:64]
    limits_of(request).check("login", ip=client_ip(request), account=f"staff:{username.lower()}")
    account = authenticate(db, username, str(form.get("password", ""))[:1024])
    if account is None:
        return render(request, "staff_login.html", {"student": None, "staff": None, "username": username,
                                                    "error": "Unknown username or wrong password."}, 401)
    request.session.clear()
    request.session[SESSION_KEY] = account.id
    csrf_token(request)  # the new session gets its token now, in the same write as the login
    return see_other(home_of(account.role))


@router.post("/staff/logout")
def logout(request: Request, _: PostedForm):
    """Forget the staff session."""
    request.session.clear()
    return see_other("/staff/login")
