"""The debrief in a real browser: findings, branches drawn beside the player's curve, a picked branch, desktop and phone."""

from __future__ import annotations

from playwright.sync_api import expect

from bench.processes import hyperquest_env, start_server
from tests.support.browser import log_in_and_train_epoch_1, shot, submit_training


def test_the_result_page_debriefs_the_run_with_branches(tmp_path, chromium):
    env = hyperquest_env(database_url=f"sqlite:///{tmp_path}/debrief.sqlite3", dataset_size="tiny", baseline_epochs=3,
                         pool_size=1, device="cpu")
    process, base = start_server(env)
    try:
        page = chromium.new_page(viewport={"width": 1280, "height": 800})
        log_in_and_train_epoch_1(page, base, "d1", "Grace Hopper")
        for _ in range(4):
            submit_training(page)
        page.check("input[name=kind][value=done]")
        page.click("form.action-form button[type=submit]")
        page.wait_for_url("**/result")
        expect(page.locator("#debrief h2")).to_have_text("Debrief")
        # Branches are computed in the background; the page follows them live and reloads once they are done.
        expect(page.locator("#debrief[data-busy='false']")).to_have_count(1, timeout=240_000)
        expect(page.locator("tr[data-branch][data-status='done']").first).to_be_visible()
        assert page.locator("tr[data-branch][data-status='done']").count() >= 1
        expect(page.locator("#debrief-chart canvas")).to_have_count(1)
        text = page.locator("#debrief").inner_text()
        assert "Automatic player reached" in text and "You and the reference players" in text
        shot(page, "21-result-debrief-desktop")

        # A pick from the keyboard-reachable form: one more branch, followed live, then drawn.
        before = page.locator("tr[data-branch]").count()
        page.select_option("#from-epoch", index=0)
        page.click("#branch-form button[type=submit]")
        page.wait_for_url("**/result*")
        expect(page.locator("tr[data-branch]")).to_have_count(before + 1)
        expect(page.locator("#debrief[data-busy='false']")).to_have_count(1, timeout=240_000)
        assert page.locator("tr[data-branch][data-status='done']").count() == before + 1
        legend = page.locator("#debrief .u-legend").inner_text()
        assert legend.count("bot from") == before + 1
        shot(page, "22-result-debrief-picked")

        phone = chromium.new_context(viewport={"width": 390, "height": 844}, storage_state=page.context.storage_state())
        mobile = phone.new_page()
        mobile.goto(page.url.split("#")[0])
        expect(mobile.locator("#debrief-chart canvas")).to_have_count(1)
        width = mobile.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"the result page scrolls sideways on a phone ({width}px)"
        shot(mobile, "23-result-debrief-phone")
        phone.close()
    finally:
        process.stop()
