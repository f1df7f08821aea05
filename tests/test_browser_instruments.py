"""Predictions and reason chips in a real browser: keyboard-reachable, required where the class asks, scored at the end."""

from __future__ import annotations

from playwright.sync_api import expect
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from app.classroom.models import ClassSettings
from app.classroom.service import PLAYABLE_FAMILIES
from bench.processes import hyperquest_env, start_server
from app.runs.models import ActionRecord
from tests.support.browser import answer_survey_and_start, log_in, shot, submit_training


def turn_on_instruments(url: str) -> None:
    """Predictions required, reason chips optional, and a study with two hint arms, as the settings pages store them."""
    engine = create_engine(url)
    with Session(engine) as db:
        row = db.get(ClassSettings, 1)
        if row is None:
            row = ClassSettings(id=1, class_code=None, pool_size=1, allowed_families=list(PLAYABLE_FAMILIES),
                                reveal_test_accuracy=False)
            db.add(row)
        row.predictions, row.reasons = "required", "optional"
        row.research_enabled, row.consent_text, row.consent_version = True, "We study how people tune networks.", 1
        row.arms, row.assignment_seed = ["tip", "suggestion"], "browser-test"
        db.commit()
    engine.dispose()


def actions(url: str, run_id: int) -> list[ActionRecord]:
    engine = create_engine(url)
    with Session(engine) as db:
        found = list(db.scalars(select(ActionRecord).where(ActionRecord.run_id == run_id).order_by(ActionRecord.index)))
    engine.dispose()
    return found


def test_predict_then_see_the_outcome_with_reason_chips(tmp_path, chromium):
    url = f"sqlite:///{tmp_path}/instruments.sqlite3"
    process, base = start_server(hyperquest_env(database_url=url, dataset_size="tiny", baseline_epochs=2, pool_size=1,
                                                device="cpu"))
    try:
        turn_on_instruments(url)
        page = chromium.new_page(viewport={"width": 1280, "height": 800})
        log_in(page, base, "p1", "Katherine Johnson")
        expect(page.locator("main")).to_contain_text("We study how people tune networks.")  # consent before the survey
        page.click("button[value=agree]")
        answer_survey_and_start(page)

        # Epoch 1: the configure page asks for the prediction before anything is trained.
        expect(page.locator("#prediction")).to_be_visible()
        page.fill("#prediction", "0.5")
        page.check("input[name=confidence][value='3']")
        shot(page, "31-configure-with-prediction")
        page.click("main form button[type=submit]")
        page.wait_for_selector("#train[data-busy='false']", timeout=120_000)
        expect(page.locator("aside.study-hint")).to_be_visible()  # either arm shows a hint after each epoch
        outcome = page.locator("#prediction-outcome")
        expect(outcome).to_contain_text("you predicted 0.500 ± 0.10 (confidence 3)")

        # A required prediction stops the browser's submit until it is given.
        page.click("form.action-form button[type=submit]")
        expect(page.locator("#prediction:invalid")).to_have_count(1)
        assert page.locator("#train").get_attribute("data-busy") == "false"

        # Chips and confidence from the keyboard alone; a look at the charts is counted.
        page.hover("#chart-acc")
        page.fill("#prediction", "0.55")
        page.focus("input[name=confidence][value='4']")
        page.keyboard.press("Space")
        page.focus("input[name=reasons][value='plateau']")
        page.keyboard.press("Space")
        page.keyboard.press("Tab")
        page.keyboard.press("Space")  # the next chip: overfitting
        page.fill("#reason_text", "validation stalled")
        expect(page.locator("input[name=reasons]:checked")).to_have_count(2)
        shot(page, "32-training-with-prediction-and-chips")
        submit_training(page)
        expect(page.locator("#prediction-outcome")).to_contain_text("you predicted 0.550 ± 0.05 (confidence 4)")
        shot(page, "33-training-prediction-outcome")

        phone = chromium.new_context(viewport={"width": 390, "height": 844}, storage_state=page.context.storage_state())
        mobile = phone.new_page()
        mobile.goto(page.url)
        expect(mobile.locator("#prediction")).to_be_visible()
        width = mobile.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"the training page scrolls sideways on a phone ({width}px)"
        shot(mobile, "34-training-instruments-phone")

        # Done trains nothing: the prediction disappears and is not required.
        page.check("input[name=kind][value=done]")
        expect(page.locator("[data-instrument=prediction]")).to_be_hidden()
        page.click("form.action-form button[type=submit]")
        page.wait_for_url("**/result")
        expect(page.locator("#calibration")).to_contain_text("Predictions in this run")
        expect(page.locator("#calibration dd").first).to_have_text("2")
        shot(page, "35-result-calibration")
        mobile.goto(page.url)
        expect(mobile.locator("#calibration")).to_be_visible()
        shot(mobile, "36-result-calibration-phone")
        phone.close()

        stored = actions(url, int(page.url.split("/runs/")[1].split("/")[0]))
        assert [(a.kind, a.prediction, a.confidence) for a in stored] == [
            ("initial", 0.5, 3), ("continue", 0.55, 4), ("done", None, None)]
        assert stored[1].reasons == ["plateau", "overfitting"] and stored[1].reason_text == "validation stalled"
        assert stored[1].chart_hovers >= 1
        assert stored[1].condition in ("tip", "suggestion") and stored[1].hint["text"]
    finally:
        process.stop()
