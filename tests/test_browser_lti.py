"""One LTI 1.3 launch in a real browser (Chromium), the way an LMS embeds the game: in an iframe of a course page.

The test platform (tests/lti_platform.py) serves the course page on 127.0.0.1; the tool is reached at
localhost, another site, so its cookies are third-party ones inside the iframe (Chromium treats
localhost as a secure origin, so Secure cookies work over plain HTTP there).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time

from playwright.sync_api import expect

from bench.processes import hyperquest_env, start_server
from tests.lti_platform import Platform
from tests.support.browser import STAFF_PASSWORD, shot, start_when_ready


def _cli(env, *args: str, stdin: str | None = None) -> None:
    done = subprocess.run([sys.executable, "-m", "app.cli", *args], input=stdin, env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr


def test_launch_plays_inside_the_lms_iframe(chromium, tmp_path):
    env = hyperquest_env(database_url=f"sqlite:///{tmp_path}/lti-browser.sqlite3", dataset_size="tiny",
                         baseline_epochs=2, pool_size=1, device="cpu")
    with Platform() as lms:
        reg = lms.registration()
        _cli(env, "lti", "add-platform", "--issuer", reg["issuer"], "--client-id", reg["client_id"], "--deployment-id",
             reg["deployment_ids"], "--auth-login-url", reg["auth_login_url"], "--auth-token-url", reg["auth_token_url"],
             "--key-set-url", reg["key_set_url"], "--name", "Test LMS")
        _cli(env, "staff", "create", "prof", "--role", "instructor", stdin=STAFF_PASSWORD + "\n")
        process, base = start_server(env)
        tool = base.replace("127.0.0.1", "localhost")
        lms.tool_login_url = tool + "/lti/login"
        try:
            # The registration page an instructor copies the URLs from.
            staff = chromium.new_page(viewport={"width": 1280, "height": 800})
            staff.goto(tool + "/staff/login")
            staff.fill("#username", "prof")
            staff.fill("#password", STAFF_PASSWORD)
            staff.click("main button[type=submit]")
            staff.goto(tool + "/instructor/lti")
            expect(staff.locator("[data-lti-url=login]")).to_have_text(tool + "/lti/login")
            expect(staff.locator("text=Test LMS")).to_be_visible()
            shot(staff, "lti-01-registration")
            staff.close()

            # A student opens the course page: the iframe starts the OIDC login and comes back signed in.
            context = chromium.new_context(viewport={"width": 1280, "height": 800})
            page = context.new_page()
            page.goto(lms.url + "/course?user=student-7")
            frame = page.frame_locator("#tool")
            expect(frame.locator("text=What is your current education status?")).to_be_visible(timeout=30_000)
            expect(frame.locator(".who")).to_have_text("Ada Lovelace")  # the LMS name, not the derived lti:… ID
            shot(page, "lti-02-survey-in-iframe")
            # The game goes on inside the frame: a POST there carries the iframe session and its CSRF token.
            frame.locator("#education-2").check()
            frame.locator("#experience_years-1").check()
            frame.locator("#self_rating-1").check()
            frame.locator("#network_types-1").check()
            frame.locator("main button[type=submit]").click()
            expect(frame.locator("text=You have trained 0 networks so far!")).to_be_visible(timeout=30_000)
            shot(page, "lti-03-instructions-in-iframe")
            cookies = {c["name"]: c for c in context.cookies(tool)}
            session = cookies.get("hyperquest_session")
            assert session is None or (session["sameSite"] == "None" and session["secure"])

            # One run to its end inside the frame: its grade reaches the course gradebook.
            frame.locator("text=Start a dataset").click()
            # Wait on the tool frame's own URL: the old page's buttons match a selector until it has gone.
            tool_frame = page.frame(url=lambda url: url.startswith(tool))
            tool_frame.wait_for_url(re.compile(r"/(runs/new|configure)$"), timeout=60_000)
            if tool_frame.url.endswith("/runs/new"):
                start_when_ready(tool_frame)
            frame.locator("#config-title").wait_for(timeout=60_000)
            frame.locator("main form button[type=submit]").click()
            frame.locator("#train[data-busy='false']").wait_for(timeout=120_000)
            frame.locator("input[name=kind][value=done]").check()
            frame.locator("form.action-form button[type=submit]").click()
            expect(frame.locator("h1")).to_have_text("Run finished", timeout=60_000)
            shot(page, "lti-04-result-in-iframe")
            deadline = time.monotonic() + 30
            while not [b for path, _, b in lms.received if path.endswith("/scores")]:
                assert time.monotonic() < deadline, "no score reached the platform's gradebook"
                time.sleep(0.2)
            (score,) = [json.loads(b) for path, _, b in lms.received if path.endswith("/scores")]
            assert score["userId"] == "student-7" and score["scoreMaximum"] == 100 and 0 <= score["scoreGiven"] <= 100
            context.close()

            # The course's instructor, launched the same way, sees the post on the course's dashboard.
            teacher = chromium.new_context(viewport={"width": 1280, "height": 800})
            course = teacher.new_page()
            course.goto(lms.url + "/course?user=teacher-1")
            frame = course.frame_locator("#tool")
            expect(frame.locator("#grades")).to_contain_text("1 posted", timeout=30_000)
            frame.locator("#grades").scroll_into_view_if_needed()
            shot(course, "lti-05-instructor-grades-in-iframe")
            teacher.close()
        finally:
            process.stop()
