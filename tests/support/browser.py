"""Browser tests' plumbing: Debian's Chromium through Playwright, a served game with staff, screenshots,
and the steps a person takes (log in, survey, consent, staff login)."""

from __future__ import annotations

import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

from playwright.sync_api import Frame, Page

from bench.processes import hyperquest_env, start_server

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
STAFF_PASSWORD = "a long staff password"
SHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
VIEWPORTS = {"desktop": DESKTOP, "phone": PHONE}


def create_staff(env: dict, username: str, role: str) -> None:
    """A staff account made with `hyperquest staff create` (password STAFF_PASSWORD)."""
    created = subprocess.run([sys.executable, "-m", "app.cli", "staff", "create", username, "--role", role],
                             input=STAFF_PASSWORD + "\n", env=env, capture_output=True, text=True, timeout=120)
    assert created.returncode == 0, created.stderr


@contextmanager
def served_game(tmp_path, **settings):
    """`hyperquest serve` (embedded, tiny datasets) with instructor "prof" and researcher "res"; yields (base, env)."""
    values = {"database_url": f"sqlite:///{tmp_path}/served.sqlite3", "dataset_size": "tiny", "baseline_epochs": 2,
              "pool_size": 1, "device": "cpu", **settings}
    env = hyperquest_env(**values)
    create_staff(env, "prof", "instructor")
    create_staff(env, "res", "researcher")
    process, base = start_server(env)
    try:
        yield base, env
    finally:
        process.stop()


def shot(page: Page, name: str) -> Path:
    """A full-page screenshot in artifacts/screenshots/NAME.png."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def both_sizes(page: Page, name: str) -> None:
    """Screenshots at desktop and phone size (the page is left at desktop size)."""
    for label, viewport in VIEWPORTS.items():
        page.set_viewport_size(viewport)
        shot(page, f"{name}-{label}")
    page.set_viewport_size(DESKTOP)


def log_in(page: Page, base_or_url: str, student_id: str, name: str) -> None:
    """Fill the login form at ``base_or_url`` (a site root, or a page that sends to the login) and submit."""
    page.goto(base_or_url if "/s/" in base_or_url else base_or_url + "/login")
    page.wait_for_url("**/login**")
    page.fill("#student_id", student_id)
    page.fill("#name", name)
    page.click("main button[type=submit]")


def answer_survey(page: Page) -> None:
    """Answer the four survey questions and submit."""
    page.wait_for_url("**/survey")
    for selector in ("#education-2", "#experience_years-1", "#self_rating-1", "#network_types-1"):
        page.check(selector)
    page.click("main button[type=submit]")


def staff_login(page: Page, base: str, username: str) -> None:
    """Log in as a staff account created by served_game."""
    page.goto(base + "/staff/login")
    page.fill("#username", username)
    page.fill("#password", STAFF_PASSWORD)
    page.click("main button[type=submit]")
    page.wait_for_load_state()


def enable_study(page: Page, base: str, consent: str = "Consent to take part in a study of how people train networks.") -> None:
    """As the researcher: research on, with a consent text (players are asked before the survey)."""
    staff_login(page, base, "res")
    page.goto(base + "/research/study")
    page.check("input[name=research_enabled]")
    page.fill("#consent_text", consent)
    page.click("main form button[type=submit]")
    page.wait_for_selector("p.saved")


def submit_lr_only_scenario(page: Page) -> None:
    """On /instructor/scenarios: create "Lecture 7", where only the learning rate may change (width pinned to 32)."""
    page.fill("#title", "Lecture 7: the learning rate")
    page.fill("#seed", "5")
    page.select_option("#pin_width", "32")
    for knob in ("width", "depth", "weight_decay"):
        page.check(f"input[name=lock][value={knob}]")
    page.check("input[name=hide][value=dropout]")
    page.click("form.scenario-form button[type=submit]")
    page.wait_for_url("**/instructor/scenarios?created=*")


def wait_trained(page: Page) -> None:
    """Wait until the training page shows a finished epoch (it reloads itself when the epoch ends)."""
    page.wait_for_selector("#train[data-busy='false']", timeout=120_000)


def start_when_ready(page: Page | Frame) -> None:
    """On the "preparing datasets" page (a tab, or the game's iframe in an LMS): wait (it refreshes itself) until Start is enabled, then press it."""
    page.wait_for_selector("main form button[type=submit]:not([disabled])", timeout=120_000)
    page.click("main form button[type=submit]")
    page.wait_for_url("**/configure")


def submit_training(page: Page) -> None:
    """Press the training form's Submit and wait until the page says the epoch is done."""
    page.click("form.action-form button[type=submit]")
    page.wait_for_selector("#train[data-busy='false']", timeout=120_000)


def answer_survey_and_start(page: Page) -> None:
    """On the survey: answer it, then start a dataset (waiting for the pool) and land on the configure page."""
    for selector in ("#education-2", "#experience_years-1", "#self_rating-1", "#network_types-1"):
        page.check(selector)
    page.click("main button[type=submit]")
    page.click("text=Start a dataset")
    if page.url.endswith("/runs/new"):
        start_when_ready(page)


def log_in_and_train_epoch_1(page: Page, base: str, student_id: str, name: str) -> None:
    """Log in, answer the survey, start a dataset and submit the default configuration (epoch 1)."""
    log_in(page, base, student_id, name)
    answer_survey_and_start(page)
    page.click("main form button[type=submit]")
    page.wait_for_selector("#train[data-busy='false']", timeout=120_000)
