"""The study pages in a real browser: study settings, the consent screen, the dashboard's condition column.

Screenshots (desktop 1280×800 and phone 390×844) go to artifacts/screenshots/study-*.png.
"""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.support.browser import shot, staff_login

VIEWPORTS = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}
CONSENT = ("Consent to take part in a study of how people train neural networks\n\n"
           "What we record: every action you take in HyperQuest, under a pseudonym.\n"
           "What we do not record: your name or student ID.\n\n"
           "Taking part is voluntary. <b>Tags are shown as text.</b>")


def _set_up_study(page: Page, base: str) -> None:
    staff_login(page, base, "res")
    page.goto(base + "/research/study")
    page.check("input[name=research_enabled]")
    page.fill("#consent_text", CONSENT)
    page.check("input[name=arms][value=tip]")
    page.check("input[name=arms][value=suggestion]")
    page.fill("#assignment_seed", "fall-term")
    page.click("main form button[type=submit]")
    expect(page.locator("p.saved")).to_be_visible()


def test_study_settings_and_consent_screens(staffed_server, chromium):
    base = staffed_server
    context = chromium.new_context(viewport=VIEWPORTS["desktop"])
    page = context.new_page()
    _set_up_study(page, base)
    for name, viewport in VIEWPORTS.items():
        page.set_viewport_size(viewport)
        page.goto(base + "/research/study")
        shot(page, f"study-settings-{name}")
    context.close()

    for index, (name, viewport) in enumerate(VIEWPORTS.items()):
        context = chromium.new_context(viewport=viewport)
        page = context.new_page()
        page.goto(base + "/")
        page.fill("#student_id", f"s{index}")
        page.fill("#name", "Ada Lovelace")
        page.click("main button[type=submit]")
        page.wait_for_url("**/consent")
        text = page.locator(".consent-text")
        expect(text).to_contain_text("<b>Tags are shown as text.</b>")  # escaped, not markup
        assert "\n" in text.inner_text()  # the researcher's line breaks are kept
        shot(page, f"study-consent-{name}")
        page.click("button[value=agree]" if index == 0 else "button[value=decline]")
        expect(page.locator("text=Please tell us a little bit about yourself.")).to_be_visible()
        page.check("#education-2")
        page.check("#experience_years-1")
        page.check("#self_rating-1")
        page.check("#network_types-1")
        page.click("main button[type=submit]")
        expect(page.locator("text=You have trained 0 networks so far!")).to_be_visible()
        context.close()

    context = chromium.new_context(viewport=VIEWPORTS["desktop"])
    page = context.new_page()
    staff_login(page, base, "prof")
    page.wait_for_url("**/instructor")
    expect(page.locator(".consent-agreed")).to_have_count(1)
    expect(page.locator(".consent-declined")).to_have_count(1)
    expect(page.locator(".condition-tag")).to_have_count(1)
    shot(page, "study-dashboard-desktop")
    page.goto(base + "/research/study")
    expect(page.locator("table.balance")).to_be_visible()
    shot(page, "study-balance-desktop")
    for name, viewport in VIEWPORTS.items():
        page.set_viewport_size(viewport)
        page.goto(base + "/instructor/settings")
        expect(page.locator("legend", has_text="Research instruments")).to_be_visible()
        shot(page, f"study-instruments-{name}")
    context.close()
