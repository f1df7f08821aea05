"""A whole run with the keyboard only (Tab, arrows, Space, Enter; no mouse): login, survey, start, configure,
three epochs with a knob moved, an info icon opened, Done, the result. Each step's control is reached by Tab
from where the focus was, so nothing needed is out of the keyboard's reach."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.support.browser import DESKTOP, served_game, shot, wait_trained

#: Tab presses allowed to reach a control from anywhere on a page (the training page has the most stops).
MAX_TABS = 120


def tab_to(page: Page, selector: str) -> None:
    """Press Tab until the focused element matches ``selector`` (fails if it never does)."""
    for _ in range(MAX_TABS):
        if page.evaluate("s => document.activeElement && document.activeElement.matches(s)", selector):
            return
        page.keyboard.press("Tab")
    raise AssertionError(f"{selector} is not reachable with Tab on {page.url}")


def focused(page: Page) -> str:
    return page.evaluate("() => document.activeElement.outerHTML.slice(0, 120)")


def test_a_whole_run_with_the_keyboard_only(tmp_path, chromium):
    with served_game(tmp_path) as (base, _):
        page = chromium.new_context(viewport=DESKTOP).new_page()
        page.goto(base + "/login")
        tab_to(page, "#student_id")
        page.keyboard.type("k1")
        tab_to(page, "#name")
        page.keyboard.type("Keyboard Player")
        page.keyboard.press("Enter")
        page.wait_for_url("**/survey")
        for group in ("education", "experience_years", "self_rating"):
            tab_to(page, f"input[name={group}]")
            page.keyboard.press("Space")  # a radio group takes the focus on its first option: Space picks it
        tab_to(page, "input[name=network_types]")
        page.keyboard.press("Space")
        tab_to(page, "main button[type=submit]")
        page.keyboard.press("Enter")
        page.wait_for_url("**/instructions")
        tab_to(page, "main form button[type=submit]")
        page.keyboard.press("Enter")
        page.wait_for_url(re.compile(r"/runs/(new|\d+/configure)$"))
        if page.url.endswith("/runs/new"):  # the pool is preparing: the page refreshes itself until Start is enabled
            page.wait_for_selector("main form button[type=submit]:not([disabled])", timeout=120_000)
            tab_to(page, "main form button[type=submit]")
            page.keyboard.press("Enter")
        page.wait_for_url("**/configure")
        tab_to(page, "main form button[type=submit]")
        page.keyboard.press("Enter")
        wait_trained(page)

        # Epoch 2 with the learning rate one step down: Tab into its radio group, arrow to "Down", submit.
        tab_to(page, "input[name=lr]")
        page.keyboard.press("ArrowRight")
        page.keyboard.press("ArrowRight")
        assert page.evaluate("() => document.querySelector('#lr-down').checked"), focused(page)
        # An info icon opens from the keyboard and says what the term means.
        tab_to(page, "fieldset.knob[data-knob=lr] summary")
        page.keyboard.press("Enter")
        expect(page.locator("fieldset.knob[data-knob=lr] details.info[open] .info-text")).to_be_visible()
        page.keyboard.press("Enter")
        tab_to(page, "form.action-form button[type=submit]")
        page.keyboard.press("Enter")
        wait_trained(page)
        assert "Learning rate = 0.003" in page.locator(".history").inner_text()
        # The chart's numbers are a keyboard-openable table too.
        tab_to(page, "#chart-acc ~ details summary")
        page.keyboard.press("Enter")
        expect(page.locator("#acc-table tbody tr")).to_have_count(2)
        # The live region says the epoch's numbers.
        expect(page.locator("#epoch-announcement")).to_contain_text("Epoch 2: training accuracy")

        tab_to(page, "form.action-form button[type=submit]")
        page.keyboard.press("Enter")
        wait_trained(page)
        tab_to(page, "input[name=kind]")
        page.keyboard.press("ArrowRight")  # Continue -> Done training
        assert page.evaluate("() => document.querySelector('input[name=kind][value=done]').checked"), focused(page)
        tab_to(page, "form.action-form button[type=submit]")
        page.keyboard.press("Enter")
        page.wait_for_url("**/result")
        expect(page.locator("h1")).to_have_text("Run finished")
        # While the hidden test accuracy is measured the page reloads itself once it is ready (result.js):
        # tab from the page as it stays, or the reload ends the Tab walk half-way.
        expect(page.locator("#test-accuracy[data-pending]")).to_have_count(0, timeout=60_000)
        page.wait_for_load_state()
        tab_to(page, "main a.button")  # the leaderboard, reached from the result
        page.keyboard.press("Enter")
        page.wait_for_url("**/leaderboard")
        expect(page.locator("main")).to_contain_text("Keyboard Player")
        shot(page, "keyboard-leaderboard")
