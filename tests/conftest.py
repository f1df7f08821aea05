"""Every fixture more than one test module uses, and the tiers the tests fall into.

Fixtures: the storage backends every web test runs on, small easy datasets built directly (engine tests
do not depend on family tuning), Debian's Chromium, a served game with staff, a local LMS, and the
check that PostgreSQL and Redis are up. Helpers (plain functions and classes) live in tests/support/,
tests/webutil.py and tests/services.py; no test module imports another.

Tiers (markers registered in pyproject.toml): ``processes`` (the test starts a separate process),
``browser`` (it drives Chromium) and ``shipped`` (it builds the Docker image's virtualenv). Asking for
a fixture in FIXTURE_MARKS marks a test automatically; a module that starts processes by itself says so
with ``pytestmark`` (tests/test_test_layout.py checks that none is missed). ``make check`` runs the rest.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.datasets.base import Dataset
from tests.lti_platform import Platform
from tests.services import redis_available
from tests.support.datasets import blob_dataset
from tests.support.tiers import runs_on_postgresql
from tests.webutil import BACKENDS, backend_url, game, postgres_available

#: Fixtures that put every test using them (directly or through another fixture) in a tier.
FIXTURE_MARKS: dict[str, tuple[str, ...]] = {
    "chromium": ("browser", "processes"),  # Chromium and Playwright's driver are processes of their own
    "staffed_server": ("processes",),
}


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects by marker
def pytest_collection_modifyitems(config, items):
    for item in items:
        for name in getattr(item, "fixturenames", ()):
            for marker in FIXTURE_MARKS.get(name, ()):
                item.add_marker(marker)
        # The PostgreSQL run of a test needs the PostgreSQL server, a process of its own: `make test` runs it,
        # `make check` keeps the SQLite run of the same test.
        callspec = getattr(item, "callspec", None)
        if callspec is not None and runs_on_postgresql(callspec.params):
            item.add_marker("postgresql")


@pytest.fixture(params=BACKENDS)
def database_url(request, tmp_path):
    """Each web test runs once per storage backend: a fresh SQLite file, or a fresh PostgreSQL database."""
    with backend_url(request.param, tmp_path) as url:
        yield url


@pytest.fixture
def player(database_url):
    """A running app on the backend (thread runner, tiny datasets) and a Player bound to it."""
    with game(database_url) as p:
        yield p


@pytest.fixture(scope="session")
def image_blobs() -> Dataset:
    """An easy [3,32,32] dataset."""
    return blob_dataset("image")


@pytest.fixture(scope="session")
def vector_blobs() -> Dataset:
    """An easy [24] dataset."""
    return blob_dataset("vector")


@pytest.fixture
def services_up():
    """PostgreSQL and Redis answer (a clear failure, not a skip: .ci/run starts them)."""
    if not postgres_available():
        pytest.fail("PostgreSQL is not reachable at 127.0.0.1:5432 (.ci/run starts it)")
    if not redis_available():
        pytest.fail("Redis is not reachable at 127.0.0.1:6379 (.ci/run starts it)")


@pytest.fixture
def lms():
    """A local LTI 1.3 platform (tests/lti_platform.py) on a free port, in a thread of this process."""
    with Platform() as platform:
        yield platform


@pytest.fixture
def chromium():
    """A headless Chromium (Debian's, never a downloaded one)."""
    from playwright.sync_api import sync_playwright

    from tests.support.browser import CHROMIUM, CHROMIUM_ARGS

    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs Debian's chromium")
    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield instance
        instance.close()


@pytest.fixture
def staffed_server(tmp_path):
    """An embedded `hyperquest serve` plus an instructor "prof" and a researcher "res" created with
    `hyperquest staff create`; yields the base URL."""
    from bench.processes import hyperquest_env, start_server
    from tests.support.browser import create_staff

    env = hyperquest_env(database_url=f"sqlite:///{tmp_path}/staff.sqlite3", dataset_size="tiny", baseline_epochs=2,
                         pool_size=1, device="cpu")
    for username, role in (("prof", "instructor"), ("res", "researcher")):
        create_staff(env, username, role)
    process, base = start_server(env)
    yield base
    process.stop()
