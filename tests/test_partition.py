"""A network partition between the web app and PostgreSQL: pages answer 503 within seconds, then recover.

The server runs in its own network namespace (tests/support/netns.py) and reaches PostgreSQL through
a link that the test takes down: packets vanish, nothing is refused or reset. Without connection
timeouts a request would then wait for TCP to give up (minutes); with them it is a 503 page.
"""

from __future__ import annotations

import time

import httpx
import pytest

from app.db import migrate
from bench.processes import Process, free_port, hyperquest_command, hyperquest_env
from tests.services import TcpProxy
from tests.support.netns import private_network
from tests.webutil import postgres_available, postgres_database

#: The test starts `hyperquest serve` inside a network namespace.
pytestmark = pytest.mark.processes

#: What "within seconds" means here: the connection timeouts (3 s to connect, 5 s of unanswered data) plus slack.
ANSWER_WITHIN_SECONDS = 20


@pytest.fixture(autouse=True)
def postgres_up():
    if not postgres_available():
        pytest.fail("PostgreSQL is not reachable at 127.0.0.1:5432 (.ci/run starts it)")


def _get(url: str) -> tuple[int | None, float]:
    started = time.monotonic()
    try:
        status = httpx.get(url, timeout=ANSWER_WITHIN_SECONDS * 3).status_code
    except httpx.HTTPError:
        status = None
    return status, time.monotonic() - started


def test_a_partition_from_postgresql_answers_503_within_seconds_then_recovers():
    with postgres_database() as url, private_network() as net:
        migrate.upgrade(url)
        proxy = TcpProxy(5432, host=net.db_host)
        port = free_port()
        inside_url = url.replace("127.0.0.1:5432", f"{net.db_host}:{proxy.port}")
        env = hyperquest_env(database_url=inside_url, dataset_size="tiny", pool_size="1", baseline_epochs="1",
                             device="cpu", secret_key="test-secret-key", embedded_runner="thread")
        server = Process([*net.exec_prefix(), *hyperquest_command(), "serve", "--host", net.web_inside, "--port",
                          str(port)], env, "server")
        base = f"http://{net.web_inside}:{port}"
        try:
            deadline = time.monotonic() + 90
            while _get(base + "/healthz")[0] != 200:
                assert time.monotonic() < deadline and server.popen.poll() is None, server.output
                time.sleep(0.5)
            assert _get(base + "/login")[0] == 200  # a pooled connection is now open to PostgreSQL

            net.cut_database()
            for path in ("/healthz", "/login"):
                status, seconds = _get(base + path)
                assert status == 503 and seconds < ANSWER_WITHIN_SECONDS, (path, status, seconds, server.output)

            net.restore_database()
            deadline = time.monotonic() + 60
            while _get(base + "/healthz")[0] != 200:
                assert time.monotonic() < deadline, server.output
                time.sleep(1)
            assert _get(base + "/login")[0] == 200
        finally:
            server.stop()
            proxy.close()
