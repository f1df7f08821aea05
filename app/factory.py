"""``create_app(settings)``: the FastAPI application, with no globals built at import."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.accounts.pages import router as accounts_router
from app.classroom.service import allowed_families, class_settings
from app.datasets.service import ensure_pool
from app.db import migrate
from app.db.session import make_engine, make_session_factory
from app.errors import LoginRequired, WebError
from app.health import router as health_router
from app.instructor.pages import router as instructor_router
from app.classview.pages import router as classview_router
from app.leaderboard.pages import router as leaderboard_router
from app.lti.pages import router as lti_router
from app.jobs.runners import make_runner
from app.live.notify import Notifier
from app.research.pages import router as research_router
from app.research.study_pages import router as study_router
from app.runs.pages import router as runs_router
from app.scenarios.pages import router as scenarios_router
from app.debrief.pages import router as debrief_router
from app.security.csrf import OriginCheckMiddleware
from app.security.headers import BodySizeLimitMiddleware, SecurityHeadersMiddleware
from app.security.ratelimit import RateLimits
from app.security.pages import router as security_router
from app.security.sessions import DATABASE_DOWN_MESSAGE, ServerSessionMiddleware, purge_sessions
from app.staff.pages import router as staff_router
from app.staff.service import StaffLoginRequired, current_staff
from app.settings import Settings, load_settings
from app.paths import STATIC
from app.web import current_student, render
from engine.devices import resolve_device

log = logging.getLogger(__name__)


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app for ``settings``: migrations run and the runner starts when it starts serving."""
    settings = settings or load_settings()
    engine = make_engine(settings.database_url)
    session_factory = make_session_factory(engine)
    notifier = Notifier()
    #: Nudges for instructors' messages, keyed by class id (app.classview.messages).
    message_notifier = Notifier()
    runner = make_runner(settings, session_factory, notifier, resolve_device(settings.device))

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        migrate.upgrade(settings.database_url)
        _prepare_pool(session_factory, settings)
        purge_sessions(session_factory)  # the table would otherwise grow with every anonymous visitor
        notifier.bind(asyncio.get_running_loop())
        message_notifier.bind(asyncio.get_running_loop())
        runner.start()
        try:
            yield
        finally:
            runner.stop()
            engine.dispose()

    app = FastAPI(title="HyperQuest", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.settings = settings
    app.state.session_factory = session_factory
    app.state.notifier = notifier
    app.state.message_notifier = message_notifier
    app.state.runner = runner
    app.state.rate_limits = RateLimits(settings)
    # Added innermost first. Outer to inner: security headers on every response (refusals included),
    # the cross-site Origin check, the body size cap, then the server-side session.
    app.add_middleware(ServerSessionMiddleware, secret_key=settings.secret_key, session_factory=session_factory,
                       https_only=settings.secure_cookies)
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(OriginCheckMiddleware)
    app.add_middleware(SecurityHeadersMiddleware)
    app.mount("/static", StaticFiles(directory=str(STATIC)), name="static")
    app.include_router(accounts_router)
    app.include_router(runs_router)
    app.include_router(debrief_router)
    app.include_router(leaderboard_router)
    app.include_router(health_router)
    app.include_router(security_router)
    app.include_router(staff_router)
    app.include_router(research_router)
    app.include_router(study_router)
    app.include_router(scenarios_router)
    app.include_router(lti_router)
    app.include_router(classview_router)
    app.include_router(instructor_router)
    _install_error_pages(app)
    return app


def _prepare_pool(session_factory, settings: Settings) -> None:
    """Create the class's pool datasets at start, so their baselines compute before players arrive."""
    with session_factory() as db:
        row = class_settings(db, settings)
        ensure_pool(db, row.pool_size, allowed_families(row), settings.dataset_size)
        db.commit()


def _error_page(request: Request, status_code: int, message: str):
    """The error page, with the header still showing who is logged in when that can be known."""
    student = staff = None
    if status_code not in (500, 503):  # those may mean the database itself is the problem
        try:
            with request.app.state.session_factory() as db:
                student = current_student(request, db)
                staff = current_staff(request, db)
        except Exception:  # the page must render even if the lookup fails
            student = staff = None
    context = {"student": student, "staff": staff, "status_code": status_code, "message": message}
    return render(request, "error.html", context, status_code)


def _install_error_pages(app: FastAPI) -> None:
    """Every failure a user can cause becomes a page with a clear message, never a traceback."""

    @app.exception_handler(LoginRequired)
    async def login_required(request: Request, exc: LoginRequired):
        if request.method == "GET":
            return RedirectResponse("/login", status_code=303)
        return _error_page(request, 401, "Please log in first.")

    @app.exception_handler(StaffLoginRequired)
    async def staff_login_required(request: Request, exc: StaffLoginRequired):
        if request.method == "GET":
            return RedirectResponse("/staff/login", status_code=303)
        return _error_page(request, 401, "Please log in with a staff account first.")

    @app.exception_handler(WebError)
    async def web_error(request: Request, exc: WebError):
        return _error_page(request, exc.status_code, exc.message)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        message = "There is no such page." if exc.status_code == 404 else str(exc.detail)
        return _error_page(request, exc.status_code, message)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError):
        # Path parameters such as /runs/abc land here: the page does not exist. A bad query value
        # (?after=abc) is on a page that does exist: say which value is wrong.
        query = [str(error["loc"][-1]) for error in exc.errors() if error.get("loc", ("",))[0] == "query"]
        if query and len(query) == len(exc.errors()):
            return _error_page(request, 422, f"The address has a value that is not allowed: {', '.join(sorted(set(query)))}.")
        return _error_page(request, 404, "There is no such page.")

    @app.exception_handler(OperationalError)
    async def database_down(request: Request, exc: OperationalError):
        log.warning("database unavailable: %s", exc)
        return _error_page(request, 503, DATABASE_DOWN_MESSAGE)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception):
        log.exception("unexpected error on %s", request.url.path)
        return _error_page(request, 500, "Something went wrong on our side. Your progress is saved; please try again.")
