"""Staff accounts and the role checks that guard instructor and researcher pages."""

from __future__ import annotations

import re

from fastapi import Request
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.errors import Forbidden, WebError
from app.staff.models import ROLES, StaffAccount
from app.staff.passwords import MIN_LENGTH, dummy_check, hash_password, verify_password

USERNAME_PATTERN = re.compile(r"^[A-Za-z0-9_.@-]{3,64}$")
SESSION_KEY = "staff_pk"


class StaffLoginRequired(WebError):
    """No staff member is logged in (GET requests are sent to the staff login page)."""

    status_code = 401


def create_account(db: Session, username: str, password: str, role: str) -> StaffAccount:
    """A new instructor or researcher account; WebError on a bad name, weak password or duplicate."""
    if not USERNAME_PATTERN.match(username):
        raise WebError("username must be 3-64 letters, digits, dots, dashes, underscores or @", 422)
    if role not in ROLES:
        raise WebError(f"role must be one of {', '.join(ROLES)}", 422)
    if len(password) < MIN_LENGTH:
        raise WebError(f"password must be at least {MIN_LENGTH} characters", 422)
    if db.scalar(select(StaffAccount.id).where(StaffAccount.username == username)) is not None:
        raise WebError(f"an account named {username!r} already exists", 409)
    account = StaffAccount(username=username, password_hash=hash_password(password), role=role)
    db.add(account)
    db.flush()
    return account


def authenticate(db: Session, username: str, password: str) -> StaffAccount | None:
    """The account if the password matches; same work whether or not the username exists."""
    account = db.scalar(select(StaffAccount).where(StaffAccount.username == username))
    if account is None:
        dummy_check(password)
        return None
    return account if verify_password(password, account.password_hash) else None


def current_staff(request: Request, db: Session) -> StaffAccount | None:
    """The logged-in staff account, or None."""
    staff_pk = request.session.get(SESSION_KEY)
    return db.get(StaffAccount, staff_pk) if staff_pk is not None else None


def require_role(request: Request, db: Session, role: str) -> StaffAccount:
    """The logged-in staff account with ``role``: 403 for students and other roles, login otherwise."""
    account = current_staff(request, db)
    if account is not None:
        if account.role != role:
            raise Forbidden(f"this page is for {role}s")
        return account
    if request.session.get("student_pk") is not None:
        raise Forbidden(f"this page is for {role}s")
    raise StaffLoginRequired("please log in with a staff account")
