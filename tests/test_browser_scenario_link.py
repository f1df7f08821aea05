"""A first-time student follows a scenario link in a real browser: login, consent, survey, then back on the link,
into the scenario's run; its result plays the scenario again and shows the scenario's board.

Screenshots (desktop 1280×800, phone 390×844) go to artifacts/screenshots/link-*.png.
"""

from __future__ import annotations

from playwright.sync_api import expect

from tests.support.browser import (DESKTOP, answer_survey, both_sizes, enable_study, log_in,
                                   served_game, staff_login, submit_lr_only_scenario, wait_trained)


def create_scenario(page, base: str) -> str:
    """As the instructor: only the learning rate may change; returns the link."""
    staff_login(page, base, "prof")
    page.goto(base + "/instructor/scenarios")
    submit_lr_only_scenario(page)
    return page.locator("input.copy-link").first.input_value()


def test_first_time_student_lands_in_the_scenario_run(tmp_path, chromium):
    with served_game(tmp_path) as (base, _):
        staff = chromium.new_context(viewport=DESKTOP).new_page()
        enable_study(staff, base)
        staff.context.clear_cookies()
        link = create_scenario(staff, base)

        page = chromium.new_context(viewport=DESKTOP).new_page()
        log_in(page, link, "first1", "Katherine Johnson")
        page.wait_for_url("**/consent")
        page.click("button[value=agree]")
        answer_survey(page)
        page.wait_for_url(link)  # back on the link, not the generic instructions
        expect(page.locator("h1#scenario-title")).to_have_text("Lecture 7: the learning rate")
        page.goto(base + "/instructions")  # the instructions offer the scenario while it is pending
        expect(page.locator("#pending-scenario")).to_contain_text("Lecture 7: the learning rate")
        both_sizes(page, "link-01-instructions-pending")
        page.click("#pending-scenario a")
        start = page.locator("main form button[type=submit]")
        expect(start).to_be_enabled(timeout=120_000)  # the landing page refreshes itself while the dataset prepares
        start.click()
        page.wait_for_url("**/configure")
        expect(page.locator("main")).to_contain_text("set by this scenario")
        page.check("input[name=lr][value='0.1']")
        page.check("input[name=depth][value='2']")
        page.click("main form button[type=submit]")
        wait_trained(page)
        assert page.locator("#width-up").is_disabled() and page.locator("#lr-down").is_enabled()
        page.check("input[name=kind][value=done]")
        page.click("form.action-form button[type=submit]")
        page.wait_for_url("**/result")
        both_sizes(page, "link-02-result")
        token = link.rsplit("/", 1)[1]
        expect(page.get_by_role("link", name="Scenario leaderboard")).to_have_attribute("href", f"/s/{token}/leaderboard")
        page.get_by_role("button", name="Play again").click()
        page.wait_for_url("**/configure")  # a new run of the same scenario
        expect(page.locator("main")).to_contain_text("set by this scenario")
        assert page.locator("input[type=radio][name=width]").count() == 0
        page.goto(base + f"/s/{token}/leaderboard")
        expect(page.locator("h1")).to_contain_text("Scenario leaderboard")
