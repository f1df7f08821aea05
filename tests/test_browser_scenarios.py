"""Scenario links in a real browser (Debian's Chromium via Playwright) against `hyperquest serve`:
the instructor's scenarios page, the landing page a link opens, and the pinned configure page.

Screenshots at desktop (1280×800) and phone (390×844) sizes go to artifacts/screenshots/.
"""

from __future__ import annotations


from playwright.sync_api import Page, expect

from tests.support.browser import shot, staff_login, submit_lr_only_scenario

DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


def both_sizes(page: Page, name: str) -> None:
    """A full-page screenshot at desktop size, then at phone size (the page is left at desktop size)."""
    page.set_viewport_size(DESKTOP)
    shot(page, f"scenario-{name}-desktop")
    page.set_viewport_size(PHONE)
    shot(page, f"scenario-{name}-phone")
    page.set_viewport_size(DESKTOP)


def create_lr_only_scenario(page: Page, base: str) -> str:
    """As the instructor: a link where only the learning rate may change; returns the link."""
    staff_login(page, base, "prof")
    page.wait_for_url("**/instructor")
    page.goto(base + "/instructor/scenarios")
    expect(page.locator("h1")).to_have_text("Scenario links")
    submit_lr_only_scenario(page)
    expect(page.locator(".saved")).to_contain_text("Created")
    row = page.locator("table.scenario-table tbody tr").first
    expect(row).to_contain_text("locked: network width, network depth, weight decay; hidden: dropout rate")
    both_sizes(page, "01-instructor")
    return page.locator("input.copy-link").first.input_value()


def log_in_through_link(page: Page, link: str) -> None:
    """Follow the link logged out: log in (and answer the survey), then come back to it."""
    page.goto(link)
    page.wait_for_url("**/login**")
    page.fill("#student_id", "s8")
    page.fill("#name", "Katherine Johnson")
    page.click("main button[type=submit]")
    if "/survey" in page.url:
        page.check("#education-2")
        page.check("#experience_years-1")
        page.check("#self_rating-1")
        page.check("#network_types-1")
        page.click("main button[type=submit]")
    if "/s/" not in page.url:  # a login without `next` support lands on the instructions
        page.goto(link)


def test_scenario_link_from_instructor_to_training(staffed_server, chromium):
    base = staffed_server
    prof = chromium.new_page(viewport=DESKTOP)
    link = create_lr_only_scenario(prof, base)
    assert link.startswith(base + "/s/")

    student = chromium.new_page(viewport=DESKTOP)
    log_in_through_link(student, link)
    expect(student.locator("h1#scenario-title")).to_have_text("Lecture 7: the learning rate")
    text = student.locator("main").inner_text()
    assert "Learning rate: you choose the starting value, you may change it during training." in text
    assert "Network width: starts at 32, fixed during training." in text
    assert "Dropout" not in text and "not shown" in text
    if student.locator("text=Preparing the dataset").count():
        both_sizes(student, "02-landing-preparing")
    start = student.locator("main form button[type=submit]")
    expect(start).to_be_enabled(timeout=120_000)  # the page refreshes itself until the baselines are done
    both_sizes(student, "02-landing")

    start.click()
    student.wait_for_url("**/configure")
    both_sizes(student, "03-configure")
    main = student.locator("main")
    expect(main).to_contain_text("set by this scenario")
    assert student.locator("input[type=radio][name=width]").count() == 0
    assert student.locator("input[name=dropout]").count() == 0
    student.check("input[name=lr][value='0.1']")
    student.check("input[name=depth][value='2']")
    student.click("main form button[type=submit]")
    student.wait_for_selector("#train[data-busy='false']", timeout=120_000)
    expect(student.locator("text=Width = 32").first).to_be_visible()
    both_sizes(student, "04-training")
    assert student.locator("#width-up").is_disabled() and student.locator("#lr-down").is_enabled()
    assert student.locator("fieldset.knob[data-knob=dropout]").count() == 0
    expect(student.locator("#width-fixed")).to_have_text("Fixed in this scenario.")

    student.goto(link + "/leaderboard")
    expect(student.locator("h1")).to_contain_text("Scenario leaderboard")
    both_sizes(student, "05-leaderboard")
