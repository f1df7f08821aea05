"""The pages as a new player sees them in a real browser, on a laptop (1280×800) and a phone (390×844): one knob
order, legends with numbers, a compact training page on a phone, survey questions inside their boxes, a result
that says how the run compares with each baseline, and an instructor header that wraps."""

from __future__ import annotations


from playwright.sync_api import Page, expect

from bench.processes import hyperquest_env, start_server
from tests.support.browser import (SHOTS, answer_survey_and_start, create_staff, log_in, shot, staff_login,
                                   submit_training)

DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
#: How tall the training page was on a phone before its knobs became rows and its numbers moved up.
OLD_PHONE_HEIGHT = 2550


def knob_order(page: Page, selector: str) -> list[str]:
    return page.eval_on_selector_all(selector, "els => els.map(e => e.dataset.knob)")


def legend_values(page: Page, scope: str) -> list[str]:
    return page.eval_on_selector_all(f"{scope} .u-legend .u-value", "els => els.map(e => e.textContent.trim())")


def phone_page(chromium, page: Page) -> Page:
    return chromium.new_context(viewport=PHONE, storage_state=page.context.storage_state()).new_page()


def survey_legends_inside(page: Page) -> None:
    """Every question's legend lies below its fieldset's top border, however many lines it takes."""
    boxes = page.eval_on_selector_all("form.survey fieldset", """els => els.map(f => {
        const l = f.querySelector('legend').getBoundingClientRect(), b = f.getBoundingClientRect();
        return {text: f.querySelector('legend').textContent, legend: l.top, lines: Math.round(l.height),
                border: b.top + parseFloat(getComputedStyle(f).borderTopWidth)};
    })""")
    assert boxes
    for box in boxes:
        assert box["legend"] >= box["border"] + 1, f"the question overlaps its box's top border: {box}"


def test_pages_for_a_new_player(tmp_path, chromium):
    env = hyperquest_env(database_url=f"sqlite:///{tmp_path}/pages.sqlite3", dataset_size="tiny", baseline_epochs=2,
                         pool_size=1, device="cpu")
    create_staff(env, "prof", "instructor")
    process, base = start_server(env)
    try:
        page = chromium.new_page(viewport=DESKTOP)
        log_in(page, base, "n1", "Mary Jackson")
        page.wait_for_url("**/survey")

        # Survey: a two-line question stays inside its box, on a laptop and on a phone.
        survey_legends_inside(page)
        shot(page, "41-survey-desktop")
        mobile = phone_page(chromium, page)
        mobile.goto(base + "/survey")
        survey_legends_inside(mobile)
        assert any(n > 30 for n in mobile.eval_on_selector_all("form.survey legend", "els => els.map(e => e.getBoundingClientRect().height)"))
        shot(mobile, "42-survey-phone")
        answer_survey_and_start(page)

        # Configure: architecture first, then optimisation; weight decay is explained before training starts.
        configure_order = knob_order(page, "main form [data-knob]")
        assert configure_order == ["width", "depth", "lr", "dropout", "weight_decay"]
        note = page.locator(".weight-decay-note")
        expect(note).to_contain_text("starts at 0")
        expect(note).to_contain_text("raise it during training")
        assert note.locator("details.info").count() == 1
        shot(page, "43-configure-desktop")
        mobile.goto(page.url)
        assert mobile.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        shot(mobile, "44-configure-phone")

        page.click("main form button[type=submit]")
        page.wait_for_selector("#train[data-busy='false']", timeout=120_000)
        # The same order on the training page, and in every history line.
        assert knob_order(page, "fieldset.knob") == configure_order
        page.check("#width-up")
        submit_training(page)
        expect(page.locator(".change.grow").first).to_contain_text("more capacity for the next epochs")
        submit_training(page)
        page.check("input[name=kind][value=revert]")
        submit_training(page)
        count = "After training 2 of max 30 epochs on the current network (3 trained in all, 1 reverted)"
        expect(page.locator("#epoch-count")).to_contain_text(count)
        config_line = page.locator(".history .config").first.inner_text()
        assert [part.split(" = ")[0] for part in config_line.split(", ")] == [
            "Width", "Depth", "Learning rate", "Dropout", "Weight decay"]

        # The legends show the last epoch's numbers as soon as the charts are drawn, before any hover.
        expect(page.locator("#train canvas")).to_have_count(2, timeout=30_000)
        values = legend_values(page, "#train")
        assert values and "--" not in values, values
        assert all(v.replace(".", "", 1).isdigit() for v in values), values
        # Every knob's label and info icon share one line (the icon never wraps on its own).
        for row in page.eval_on_selector_all("fieldset.knob > legend", """els => els.map(l => {
                const n = l.querySelector('.knob-name').getBoundingClientRect(), i = l.querySelector('details').getBoundingClientRect();
                return Math.abs((n.top + n.bottom) / 2 - (i.top + i.bottom) / 2); })"""):
            assert row < 8
        shot(page, "45-training-after-width-up-and-revert-desktop")

        mobile.goto(page.url)
        expect(mobile.locator("#train canvas")).to_have_count(2, timeout=30_000)
        width = mobile.evaluate("document.documentElement.scrollWidth")
        height = mobile.evaluate("document.documentElement.scrollHeight")
        print(f"training page at 390x844: {height}px tall, {width}px wide")
        assert width <= PHONE["width"], f"the training page scrolls sideways on a phone ({width}px)"
        assert height < OLD_PHONE_HEIGHT, f"the training page is {height}px tall on a phone"

        def top(selector: str) -> float:
            return mobile.locator(selector).bounding_box()["y"]

        assert top(".scores") < top("form.action-form") < top(".charts") < top(".history")
        assert top(".charts") < top(".stats")
        assert "--" not in legend_values(mobile, "#train")
        expect(mobile.locator("#epoch-count")).to_contain_text(count)
        shot(mobile, "46-training-after-width-up-and-revert-phone")

        # Result: the same epoch words, and how the run compares with each baseline in plain words.
        page.check("input[name=kind][value=done]")
        page.click("form.action-form button[type=submit]")
        page.wait_for_url("**/result")
        page.wait_for_selector("#debrief[data-busy='false']", timeout=240_000)
        expect(page.locator("#epoch-count")).to_contain_text("After training 2 epochs on the current network (3 trained in all, 1 reverted)")
        sentence = page.locator("#baseline-comparison").inner_text()
        assert sentence.startswith("Your best validation accuracy ")
        for name in ("the default schedule (", "the linear classifier (", "the automatic player ("):
            assert name in sentence, sentence
        expect(page.locator("#rank")).to_contain_text("(you are the only player on this dataset so far)")
        normalised = float(page.locator("text=Normalised score on this dataset").locator("strong").first.inner_text())
        if normalised < 0:
            expect(page.locator("main")).to_contain_text("below the default schedule")
        if page.locator("#debrief canvas").count():
            assert "--" not in legend_values(page, "#debrief")
        shot(page, "47-result-desktop")
        mobile.goto(page.url)
        assert mobile.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        shot(mobile, "48-result-phone")
        mobile.context.close()

        # An instructor's header on a phone wraps instead of scrolling sideways.
        staff = chromium.new_context(viewport=PHONE).new_page()
        staff_login(staff, base, "prof")
        staff.wait_for_url("**/instructor")
        header = staff.locator("header.site-header")
        assert staff.evaluate("document.querySelector('header.site-header nav').scrollWidth") <= PHONE["width"]
        box = header.bounding_box()
        assert box["x"] + box["width"] <= PHONE["width"]
        links = staff.eval_on_selector_all("header nav > *", "els => els.map(e => e.getBoundingClientRect().right)")
        assert max(links) <= PHONE["width"], links
        header.screenshot(path=str(SHOTS / "49-instructor-header-phone.png"))
        assert staff.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        shot(staff, "50-instructor-dashboard-phone")
        staff.goto(base + "/leaderboard")
        assert staff.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        shot(staff, "51-leaderboard-phone")
        staff.context.close()
    finally:
        process.stop()

