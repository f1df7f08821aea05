"""The whole game in a real browser (Debian's Chromium via Playwright) against `hyperquest serve`,
in embedded mode and scaled out (Celery worker, Redis, PostgreSQL).

Screenshots of every screen go to artifacts/screenshots/ for a person to look at.
"""

from __future__ import annotations

import uuid

import pytest
from playwright.sync_api import Page, expect

from bench.processes import hyperquest_env, start_server, start_worker
from tests.services import REDIS_URL, delete_prefix
from tests.support.browser import (create_staff, log_in_and_train_epoch_1, shot, staff_login, start_when_ready,
                                   submit_training)
from tests.webutil import postgres_database


@pytest.fixture(params=["embedded", "celery"])
def server(request, tmp_path):
    """`hyperquest serve` on a free port with tiny datasets: embedded (its own SQLite file), or
    scaled out (a fresh PostgreSQL database, a Redis key prefix and a `hyperquest worker`)."""
    common = {"dataset_size": "tiny", "baseline_epochs": 2, "pool_size": 2, "device": "cpu"}
    if request.param == "embedded":
        process, base = start_server(hyperquest_env(database_url=f"sqlite:///{tmp_path}/browser.sqlite3", **common))
        yield base
        process.stop()
        return
    prefix = f"hqtest-{uuid.uuid4().hex[:10]}"
    with postgres_database() as url:
        env = hyperquest_env(database_url=url, redis_url=REDIS_URL, redis_prefix=prefix, **common)
        process, base = start_server(env)
        worker = start_worker(env)
        try:
            yield base
        finally:
            worker.stop()
            process.stop()
            delete_prefix(REDIS_URL, prefix)


def test_play_a_whole_game(server, chromium, request):
    mode = request.node.callspec.params["server"]
    page = chromium.new_page(viewport={"width": 1280, "height": 900})
    page.goto(server + "/")
    shot(page, f"{mode}-01-login")
    page.fill("#student_id", "s42")
    page.fill("#name", "Grace Hopper")
    page.click("main button[type=submit]")
    expect(page.locator("text=Please tell us a little bit about yourself.")).to_be_visible()
    shot(page, f"{mode}-02-survey")
    page.check("#education-2")
    page.check("#experience_years-1")
    page.check("#self_rating-1")
    page.check("#network_types-1")
    page.check("#network_types-2")
    page.click("main button[type=submit]")
    expect(page.locator("text=You have trained 0 networks so far!")).to_be_visible()
    assert page.locator(".who").inner_text() == "s42"
    shot(page, f"{mode}-03-instructions")

    page.click("text=Start a dataset")
    if page.url.endswith("/runs/new"):  # the pool's baselines are still computing
        shot(page, f"{mode}-03b-preparing")
        start_when_ready(page)
    assert page.locator("h1#config-title").inner_text() == "Initial Network Configuration"
    page.click("fieldset >> nth=0 >> summary")  # an info icon opens its definition
    expect(page.locator(".info[open] .info-text")).to_be_visible()
    shot(page, f"{mode}-04-configure")
    page.check("input[name=width][value='32']")
    page.check("input[name=lr][value='0.1']")
    page.check("input[name=depth][value='2']")
    page.click("main form button[type=submit]")
    page.wait_for_selector("#train[data-busy='false']", timeout=120_000)
    expect(page.locator("text=Action 1 of max 60")).to_be_visible()
    expect(page.locator("text=After training 1 of max 30 epochs on the current network")).to_be_visible()

    for _ in range(2):
        submit_training(page)
    expect(page.locator("text=After training 3 of max 30 epochs on the current network")).to_be_visible()
    shot(page, f"{mode}-05-training")

    page.check("#width-up")
    assert page.locator("output[name=width-next]").inner_text() == "64"
    submit_training(page)
    expect(page.locator(".change.grow").first).to_be_visible()
    page.check("#depth-up")
    submit_training(page)
    expect(page.locator("text=Depth 2 → 4")).to_be_visible()
    # Both charts drew (after the page's history fetch, which a busy training process can delay).
    expect(page.locator("canvas")).to_have_count(2, timeout=30_000)
    shot(page, f"{mode}-06-training-grown")

    page.check("input[name=kind][value=revert]")
    submit_training(page)
    expect(page.locator("text=After training 4 of max 30 epochs on the current network (5 trained in all, 1 reverted)")).to_be_visible()
    shot(page, f"{mode}-07-after-revert")

    page.check("input[name=kind][value=done]")
    page.click("form.action-form button[type=submit]")
    page.wait_for_url("**/result")
    assert "Your score" in page.locator(".score").inner_text()
    shot(page, f"{mode}-08-result")

    page.get_by_role("link", name="Leaderboard", exact=True).last.click()  # the result's button, after the header's
    page.wait_for_url("**/leaderboard")
    expect(page.locator("text=Grace Hopper").first).to_be_visible()
    shot(page, f"{mode}-09-leaderboard")

    phone = chromium.new_context(viewport={"width": 390, "height": 844})
    phone.add_cookies(page.context.cookies())
    mobile = phone.new_page()
    mobile.goto(server + "/instructions")
    mobile.click("text=Start a dataset")
    if mobile.url.endswith("/runs/new"):
        start_when_ready(mobile)
    mobile.click("main form button[type=submit]")
    mobile.wait_for_selector("#train[data-busy='false']", timeout=120_000)
    shot(mobile, f"{mode}-10-training-phone")
    phone.close()


def test_keyboard_only_login(server, chromium):
    page = chromium.new_page()
    page.goto(server + "/login")
    # The Student ID field has focus on load: Chromium moves it there at its next rendering update,
    # which can come after the load event on a busy machine, so wait for it rather than type at once.
    expect(page.locator("#student_id")).to_be_focused()
    page.keyboard.type("kb1")
    page.keyboard.press("Tab")
    page.keyboard.type("Keyboard User")
    page.keyboard.press("Enter")
    page.wait_for_url("**/survey")
    expect(page.locator("text=What is your current education status?")).to_be_visible()


def play_short_game(page: Page, base: str, student_id: str, name: str) -> None:
    """Log in, answer the survey, train two epochs, revert one, and finish."""
    log_in_and_train_epoch_1(page, base, student_id, name)
    submit_training(page)
    page.check("input[name=kind][value=revert]")
    submit_training(page)
    page.check("input[name=kind][value=done]")
    page.click("form.action-form button[type=submit]")
    page.wait_for_url("**/result")
    # The debrief's branches are computed in the background; the page reloads itself once they are.
    page.wait_for_selector("#debrief[data-busy='false']", timeout=240_000)
    shot(page, "11-result-with-baselines")
    assert "Automatic player" in page.locator("main").inner_text()


def test_instructor_dashboard_replay_and_research(staffed_server, chromium):
    base = staffed_server
    student = chromium.new_page(viewport={"width": 1280, "height": 900})
    play_short_game(student, base, "s7", "Alan Turing")
    student.goto(base + "/instructor")
    assert "this page is for instructors" in student.locator("main").inner_text()
    # Someone tries Alan's ID under another name: a new player, not an error, and not Alan's account.
    other = chromium.new_page(viewport={"width": 1280, "height": 900})
    other.goto(base + "/login")
    other.fill("#student_id", "s7")
    other.fill("#name", "Mallory")
    other.click("main button[type=submit]")
    other.wait_for_url("**/survey")

    page = chromium.new_page(viewport={"width": 1280, "height": 900})
    page.goto(base + "/staff/login")
    shot(page, "12-staff-login")
    staff_login(page, base, "prof")
    page.wait_for_url("**/instructor")
    assert "Alan Turing" in page.locator("main").inner_text()
    expect(page.locator(".id-note").first).to_have_text("2 names")  # s7 was used with two names
    shot(page, "13-instructor-dashboard")
    page.click("text=Alan Turing")
    page.click("td a:has-text('Replay')")
    page.wait_for_url("**/replay")
    page.wait_for_selector(".replay-now:has-text('Before action 1')")
    assert page.locator(".replay-column").count() == 2  # the player beside the automatic player
    page.locator("#replay-step").fill("3")  # the Revert: the curves before it show two epochs
    page.wait_for_selector(".replay-column >> nth=0 >> .replay-chart canvas")  # the step-through chart drew
    assert page.locator("#replay-step-label").inner_text() == "3"
    assert page.locator(".replay-column >> nth=0 >> tr.current").inner_text().startswith("3")
    assert "Before action 3: epoch 2" in page.locator(".replay-column >> nth=0 >> .replay-now").inner_text()
    shot(page, "14-instructor-replay")
    page.goto(base + "/instructor/settings")
    page.fill("#class_code", "turing-42")
    page.check("input[name=reveal_test_accuracy]")
    page.click("main button[type=submit]")
    expect(page.locator(".saved")).to_be_visible()
    shot(page, "15-instructor-settings")

    researcher = chromium.new_page(viewport={"width": 1280, "height": 900})
    staff_login(researcher, base, "res")
    researcher.wait_for_url("**/research")
    assert "participants" in researcher.locator("main").inner_text()
    shot(researcher, "16-research")

    login = chromium.new_page(viewport={"width": 1280, "height": 900})
    login.goto(base + "/login")
    expect(login.locator("#class_code")).to_be_visible()  # the class code is required now
    shot(login, "17-login-with-class-code")


def test_the_pool_gets_ready_live_and_the_test_accuracy_arrives_on_the_result(tmp_path, chromium):
    """A class's first minute: the dashboard follows the pool's baselines without a reload; after
    Done the result page shows the hidden test accuracy once the runner has measured it."""
    env = hyperquest_env(database_url=f"sqlite:///{tmp_path}/pool.sqlite3", dataset_size="tiny", baseline_epochs=20,
                         pool_size=2, device="cpu")
    create_staff(env, "prof", "instructor")
    process, base = start_server(env)
    try:
        page = chromium.new_page(viewport={"width": 1280, "height": 900})
        staff_login(page, base, "prof")
        page.wait_for_url("**/instructor")
        page.evaluate("window.loadedOnce = true")  # gone if the page reloads
        assert page.locator("#pool-ready").inner_text() != "2 of 2"
        shot(page, "18-dashboard-pool-preparing")
        expect(page.locator("#pool-ready")).to_have_text("2 of 2", timeout=180_000)
        assert page.evaluate("window.loadedOnce") is True  # updated live, not by reloading
        expect(page.locator("#pool-progress")).to_be_hidden()
        assert page.locator("#pool td[data-cell=status]:has-text('ready')").count() == 2
        shot(page, "19-dashboard-pool-ready")
        page.goto(base + "/instructor/settings")
        page.check("input[name=reveal_test_accuracy]")
        page.click("main button[type=submit]")
        expect(page.locator(".saved")).to_be_visible()

        student = chromium.new_page(viewport={"width": 390, "height": 844})
        play_short_game(student, base, "s8", "Ada Lovelace")
        expect(student.locator("main")).to_contain_text("Accuracy of your best network on the hidden test split")
        expect(student.locator("#test-accuracy")).to_have_count(0, timeout=60_000)  # the figure replaced "computing"
        text = student.locator("main").inner_text()
        assert "computing test accuracy" not in text
        shot(student, "20-result-phone-with-test-accuracy")
    finally:
        process.stop()
