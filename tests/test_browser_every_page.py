"""Every page and state of every role in Chromium at 1280×800 and 390×844: nothing scrolls sideways, axe-core finds
no WCAG 2.0-2.2 A/AA violation, and the training page's charts are tall enough to read, with a data-table twin.

Screenshots go to artifacts/screenshots/tour-<state>-<desktop|phone>.png.
"""

from __future__ import annotations

from playwright.sync_api import Page

from tests.support.a11y import axe_violations, sideways_overflow
from tests.support.browser import (DESKTOP, VIEWPORTS, answer_survey, enable_study, log_in,
                                   served_game, shot, staff_login, wait_trained)

#: The smallest chart a phone may show, in CSS pixels (the plot area and its axes).
MIN_CHART_HEIGHT = 160


class Tour:
    """Visits page states at both sizes and collects what is wrong with each."""

    def __init__(self) -> None:
        self.problems: dict[str, list] = {}
        self.visited: list[str] = []

    def check(self, page: Page, name: str, reload: bool = True) -> None:
        """Both viewports: the page reloaded at that size (unless a POST made it), then overflow, axe, screenshot."""
        for size, viewport in VIEWPORTS.items():
            page.set_viewport_size(viewport)
            if reload:
                page.reload()
            page.wait_for_load_state("networkidle")
            state = f"{name}-{size}"
            self.visited.append(state)
            overflow = sideways_overflow(page)
            if overflow:
                self.problems.setdefault(state, []).append({"scrolls sideways": overflow})
            violations = axe_violations(page)
            if violations:
                self.problems.setdefault(state, []).append({"axe": violations})
            shot(page, f"tour-{state}")
        page.set_viewport_size(DESKTOP)


def charts_are_readable(page: Page) -> list[str]:
    """What is wrong with the training page's charts at the current size (empty: nothing)."""
    return page.evaluate("""min => {
        const wrong = [];
        for (const el of document.querySelectorAll('.chart[data-series]')) {
            const plot = el.uplot;
            if (!plot) { wrong.push(el.id + ': not drawn'); continue; }
            if (plot.height < min) wrong.push(el.id + ': ' + plot.height + ' px tall');
            const ticks = (plot.axes[1]._splits || []).length;
            if (ticks < 3) wrong.push(el.id + ': ' + ticks + ' ticks on the y axis');
            if (!el.getAttribute('aria-label') && !el.getAttribute('aria-labelledby')) wrong.push(el.id + ': no accessible name');
            const twin = document.getElementById(el.dataset.table);
            if (!twin || twin.querySelectorAll('tbody tr').length === 0) wrong.push(el.id + ': no data table');
        }
        if (!document.querySelectorAll('.chart[data-series]').length) wrong.push('no chart');
        return wrong;
    }""", MIN_CHART_HEIGHT)


def test_every_page_fits_a_phone_and_passes_axe(tmp_path, chromium):
    tour = Tour()
    with served_game(tmp_path) as (base, _):
        context = chromium.new_context(viewport=DESKTOP, bypass_csp=True)
        page = context.new_page()
        page.goto(base + "/login")
        tour.check(page, "login")
        page.fill("#student_id", "not valid!")
        page.fill("#name", "X")
        page.click("main button[type=submit]")
        tour.check(page, "login-error", reload=False)
        page.goto(base + "/nosuch")
        tour.check(page, "not-found")
        page.goto(base + "/staff/login")
        tour.check(page, "staff-login")

        # The researcher turns a study on (consent before the survey) and the instructor makes a scenario link.
        enable_study(page, base)
        tour.check(page, "research-study")
        page.goto(base + "/research")
        tour.check(page, "research-export")
        page.context.clear_cookies()
        staff_login(page, base, "prof")
        page.goto(base + "/instructor/scenarios")
        page.fill("#title", "Only the learning rate")
        page.fill("#seed", "2")
        page.check("input[name=lock][value=width]")
        page.click("form.scenario-form button[type=submit]")
        page.wait_for_url("**created=*")
        link = page.locator("input.copy-link").first.input_value()
        tour.check(page, "instructor-scenarios")
        page.goto(base + "/instructor/settings")
        tour.check(page, "instructor-settings")
        page.goto(base + "/instructor/lti")
        tour.check(page, "instructor-lti")
        page.context.clear_cookies()

        # A student: consent, survey, instructions, a pool run to its result, the boards, the scenario.
        log_in(page, base, "s1", "Ada Lovelace")
        page.wait_for_url("**/consent")
        tour.check(page, "consent")
        page.click("button[value=agree]")
        page.wait_for_url("**/survey")
        tour.check(page, "survey")
        answer_survey(page)
        page.wait_for_url("**/instructions")
        tour.check(page, "instructions")
        page.goto(base + "/runs/new")
        tour.check(page, "preparing")
        page.goto(base + "/instructions")
        page.click("main form button[type=submit]")
        if "/runs/new" in page.url:
            page.wait_for_selector("main form button[type=submit]:not([disabled])", timeout=120_000)
            page.click("main form button[type=submit]")
        page.wait_for_url("**/configure")
        tour.check(page, "configure")
        page.click("main form button[type=submit]")
        wait_trained(page)
        page.click("form.action-form button[type=submit]")
        wait_trained(page)
        page.check("#lr-down")
        page.click("form.action-form button[type=submit]")
        wait_trained(page)
        tour.check(page, "training")
        chart_problems = {}
        for size, viewport in VIEWPORTS.items():
            page.set_viewport_size(viewport)
            page.reload()
            page.wait_for_function("() => [...document.querySelectorAll('.chart[data-series]')].every(e => e.uplot)")
            wrong = charts_are_readable(page)
            if wrong:
                chart_problems[size] = wrong
        page.set_viewport_size(DESKTOP)
        page.check("input[name=kind][value=done]")
        page.click("form.action-form button[type=submit]")
        page.wait_for_url("**/result")
        # The page reloads itself once the debrief's branches are computed: checked after that, not during.
        page.wait_for_selector("#debrief[data-busy='false']", timeout=240_000)
        tour.check(page, "result")
        page.goto(base + "/leaderboard")
        tour.check(page, "leaderboard")
        page.goto(link)
        page.wait_for_selector("main form button[type=submit]:not([disabled])", timeout=120_000)
        tour.check(page, "scenario")
        page.goto(link + "/leaderboard")
        tour.check(page, "scenario-leaderboard")
        page.context.clear_cookies()

        # The instructor's view of that student.
        staff_login(page, base, "prof")
        page.goto(base + "/instructor")
        tour.check(page, "instructor-dashboard")
        page.click("table a[href^='/instructor/students/']")
        tour.check(page, "instructor-student")
        page.click("a[href$='/replay']")
        page.wait_for_function("() => document.querySelector('.replay-now').textContent.length > 0")
        tour.check(page, "instructor-replay")
        context.close()

    assert len(tour.visited) == 2 * 22
    report = [f"{state}: {problem}" for state, problem in tour.problems.items()]
    report += [f"charts at {size}: {wrong}" for size, wrong in chart_problems.items()]
    assert not report, "\n".join(report)
