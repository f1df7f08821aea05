"""The production install is the tested install.

The other tests import the checkout (an editable install with the test extras). Here the project is
installed the way the Dockerfile installs it (``pip install "<project>[<the Dockerfile's extras>]"``
after the pinned torch) into a virtualenv outside the repository (see tests/shipped.py), and that
venv's console scripts are run from a scratch directory, so only what the wheel ships is importable:
every ``--help``, every shipped module (and no measurement code: bench/ stays in the checkout), and
a whole game played over HTTP through its `migrate`, `serve` and `worker` with docker-compose.yml's
settings.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import json
import os
import re
import shlex
import subprocess
import uuid

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import sessionmaker

from app.cli import build_parser
from app.datasets.models import DatasetRecord
from bench.game_http import GameClient
from bench.processes import Process, free_port, hyperquest_env, start_server, start_worker
from app.research.export_schema import SCHEMA_VERSION
from app.runs.models import Run
from tests.services import REDIS_URL, delete_prefix, redis_available, wait_for
from tests.shipped import ShippedVenv, clean_env
from tests.support.compose import compose_environment, load
from tests.webutil import postgres_available, postgres_database

pytestmark = [pytest.mark.shipped, pytest.mark.processes]

#: Packages only the test, load and bench extras bring: the shipped install must run without them.
NOT_SHIPPED = ("pytest", "httpx", "playwright", "hypothesis", "locust")
#: Shipped modules that need an extra, and the package whose absence they report.
NEEDS_EXTRA: dict[str, str] = {}
PLAYER_NAME = "Shipped Install"


@pytest.fixture(scope="module")
def venv(request):
    shipped = ShippedVenv().prepare()
    if shipped.created_seconds is not None:
        line = f"shipped venv created in {shipped.created_seconds:.0f} s: {shipped.path}"
    else:
        line = f"shipped venv reused, project reinstalled in {shipped.install_seconds:.1f} s: {shipped.path}"
    reporter = request.config.pluginmanager.getplugin("terminalreporter")
    capture = request.config.pluginmanager.getplugin("capturemanager")
    if reporter and capture:
        with capture.global_and_fixture_disabled():
            reporter.ensure_newline()
            reporter.write_line(line)
    print(line)
    yield shipped
    shipped.release()


@pytest.fixture
def scratch(tmp_path):
    """The working directory of every child: nothing of the checkout next to it."""
    folder = tmp_path / "cwd"
    folder.mkdir()
    return folder


def run(args: list, cwd, env: dict[str, str] | None = None, timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run([str(a) for a in args], cwd=cwd, env=clean_env(env or dict(os.environ)),
                          capture_output=True, text=True, timeout=timeout)


def subcommands(parser, prefix=()) -> list[tuple[str, ...]]:
    """Every (nested) subcommand path of the parser, e.g. ("staff", "create")."""
    found = []
    for action in parser._subparsers._group_actions if parser._subparsers else ():
        for name, child in action.choices.items():
            found.append((*prefix, name))
            found += subcommands(child, (*prefix, name))
    return found


def test_the_venv_runs_the_installed_copy_and_lacks_the_test_extras(venv, scratch):
    probe = ("import importlib.util, json, app; from app import paths; from app.research import export; "
             "print(json.dumps({'app': app.__file__, 'missing': [n for n in %r if importlib.util.find_spec(n)], "
             "'paths': [str(p) for p in (paths.TEMPLATES, paths.STATIC, paths.MIGRATIONS, export.SCHEMA_DOC) "
             "if not p.exists()]}))" % (NOT_SHIPPED,))
    result = run([venv.python, "-c", probe], scratch)
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout)
    site = venv.site_packages()
    assert found["app"].startswith(str(site)), found
    assert found["missing"] == [], f"test-only packages in the shipped install: {found['missing']}"
    assert found["paths"] == [], f"app/paths.py points at files the install lacks: {found['paths']}"
    # The files app/paths.py expects next to the package.
    for path in ("templates/base.html", "templates/partials", "static/css/hyperquest.css",
                 "static/vendor/uplot/uPlot.iife.min.js", "migrations/env.py", "migrations/script.py.mako",
                 "migrations/versions", "docs/export-schema.md"):
        assert (site / path).exists(), f"{path} is not in the installed wheel"


def test_help_of_every_command(venv, scratch):
    top = run([venv.bin("hyperquest"), "--help"], scratch)
    assert top.returncode == 0 and "usage: hyperquest" in top.stdout, top.stderr
    commands = subcommands(build_parser())
    assert {("serve",), ("worker",), ("migrate",)} <= set(commands)
    assert ("bench",) not in set(commands)  # measurement is not part of the product (python -m bench)
    # One process for all of them (each start imports torch): the console script's own main().
    driver = ("import contextlib, io, json, sys; from app.cli import main\n"
              "codes = {}\n"
              "for argv in json.loads(sys.argv[1]):\n"
              "    with contextlib.redirect_stdout(io.StringIO()):\n"
              "        try:\n"
              "            main([*argv, '--help']); codes[' '.join(argv)] = 'returned'\n"
              "        except SystemExit as exc:\n"
              "            codes[' '.join(argv)] = exc.code\n"
              "print(json.dumps(codes))\n")
    result = run([venv.python, "-c", driver, json.dumps(commands)], scratch)
    assert result.returncode == 0, result.stderr
    codes = json.loads(result.stdout.strip().splitlines()[-1])
    assert codes == {" ".join(c): 0 for c in commands}, result.stderr


def test_every_shipped_module_imports(venv, scratch):
    driver = ("import importlib, json, pkgutil\n"
              "failed = {}\n"
              "for top in ('app', 'engine', 'worker'):\n"
              "    for module in pkgutil.walk_packages(importlib.import_module(top).__path__, top + '.'):\n"
              "        try:\n"
              "            importlib.import_module(module.name)\n"
              "        except BaseException as exc:\n"
              "            failed[module.name] = getattr(exc, 'name', None) or repr(exc)\n"
              "print(json.dumps(failed))\n")
    # worker.celery_app refuses to load without a Redis URL; importing it does not connect.
    result = run([venv.python, "-c", driver], scratch, dict(os.environ, HYPERQUEST_REDIS_URL=REDIS_URL))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == NEEDS_EXTRA


def test_the_install_holds_no_measurement_code(venv, scratch):
    result = run([venv.python, "-c", "import importlib.util; print(importlib.util.find_spec('bench'))"], scratch)
    assert result.returncode == 0 and result.stdout.strip() == "None", result.stdout + result.stderr


# --- a whole game through the shipped migrate, serve and worker --------------------------------

def deployment_env(database_url: str, prefix: str) -> dict[str, str]:
    """docker-compose.yml's HYPERQUEST_* settings of web and worker, pointed at this machine's services."""
    overrides = {"HYPERQUEST_DATABASE_URL": database_url, "HYPERQUEST_REDIS_URL": REDIS_URL,
                 "HYPERQUEST_DATASET_SIZE": "tiny", "HYPERQUEST_DEVICE": "cpu",
                 "HYPERQUEST_SECRET_KEY": "shipped-install-test-key"}
    values = compose_environment("docker-compose.yml")
    values.update(overrides)
    unresolved = {k: v for k, v in values.items() if re.search(r"@postgres:|//redis:|\$\{", v)}
    assert not unresolved, f"compose settings this test does not know how to point at local services: {unresolved}"
    # Not in the compose file: a Redis namespace of this test's own, and a quick pool.
    values.update({"HYPERQUEST_REDIS_PREFIX": prefix, "HYPERQUEST_POOL_SIZE": "1", "HYPERQUEST_BASELINE_EPOCHS": "1"})
    return clean_env(hyperquest_env(**{k.removeprefix("HYPERQUEST_").lower(): v for k, v in values.items()}))


def healthcheck_args(service: str) -> list[str]:
    test = load("docker-compose.yml")["services"][service]["healthcheck"]["test"]
    if test[0] == "CMD-SHELL":
        return shlex.split(test[1].replace("$$", "$"))
    assert test[0] == "CMD", test
    return list(test[1:])


@pytest.fixture
def services_up():
    if not postgres_available():
        pytest.fail("PostgreSQL is not reachable at 127.0.0.1:5432 (.ci/run starts it)")
    if not redis_available():
        pytest.fail("Redis is not reachable at 127.0.0.1:6379 (.ci/run starts it)")




def stop_all(processes: list[Process]) -> None:
    with concurrent.futures.ThreadPoolExecutor(max(1, len(processes))) as pool:
        list(pool.map(lambda p: p.stop(), processes))


def test_a_whole_game_on_the_shipped_migrate_serve_and_worker(venv, scratch, services_up):
    hyperquest = [str(venv.bin("hyperquest"))]
    prefix = f"hqshipped-{uuid.uuid4().hex[:10]}"
    processes: list[Process] = []
    with postgres_database() as url, contextlib.ExitStack() as cleanup:
        cleanup.callback(delete_prefix, REDIS_URL, prefix)
        env = deployment_env(url, prefix)
        migrated = run([*hyperquest, *load("docker-compose.yml")["services"]["migrate"]["command"]], scratch, env)
        assert migrated.returncode == 0 and "latest schema" in migrated.stdout, migrated.stderr

        port = free_port()
        with concurrent.futures.ThreadPoolExecutor(2) as pool:  # each start imports torch: seconds apiece
            starting_server = pool.submit(start_server, env, port, command=hyperquest, cwd=scratch)
            starting_worker = pool.submit(start_worker, env, command=hyperquest, cwd=scratch)
            for started in (starting_server, starting_worker):
                with contextlib.suppress(Exception):
                    found = started.result()
                    processes.append(found[0] if isinstance(found, tuple) else found)
        cleanup.callback(stop_all, processes)
        (_, base), worker = starting_server.result(), starting_worker.result()

        # The compose health checks, run with the venv's own tools.
        web_check = healthcheck_args("web")
        web_check = [str(venv.python) if a == "python" else a.replace(":8000/", f":{port}/") for a in web_check]
        checked = run(web_check, scratch, env, timeout=30)
        assert checked.returncode == 0, checked.stderr
        worker_name = worker.popen.args[worker.popen.args.index("--name") + 1]
        worker_check = [str(venv.bin("celery")) if a == "celery" else a for a in healthcheck_args("worker")]
        worker_check = [worker_name if a.startswith("worker@$") else a for a in worker_check]
        checked = run(worker_check, scratch, env, timeout=60)
        assert checked.returncode == 0 and "pong" in checked.stdout, checked.stdout + checked.stderr

        engine = create_engine(url)
        cleanup.callback(engine.dispose)
        db = sessionmaker(engine, expire_on_commit=False)

        def ready_run(run_id: int):
            with db() as session:
                found = session.get(Run, run_id)
                return found if not found.busy else None

        http = cleanup.enter_context(GameClient(base_url=base, follow_redirects=False, timeout=30))
        assert http.get("/healthz").json()["mode"] == "celery"
        assert http.post("/login", data={"student_id": "shipped1", "name": PLAYER_NAME}).status_code == 303
        survey = {"education": "Masters student", "experience_years": "Less than 6 months",
                  "self_rating": "Some experience", "network_types": ["Convolutional neural networks"]}
        assert http.post("/survey", data=survey).status_code == 303

        def pool_ready():
            with db() as session:
                return session.scalar(select(DatasetRecord.id).where(DatasetRecord.baseline_status == "done"))

        assert http.get("/runs/new").status_code == 200
        wait_for(pool_ready, 180, "the pool's baselines (trained by the worker)", processes)
        started = http.post("/runs")
        run_id = int(re.search(r"/runs/(\d+)/configure", started.headers["location"]).group(1))
        assert http.get(f"/runs/{run_id}/configure").status_code == 200
        configured = http.post(f"/runs/{run_id}/configure", data={"width": "32", "lr": "0.1", "depth": "2",
                                                                  "dropout": "0"})
        assert configured.status_code == 303
        assert wait_for(lambda: ready_run(run_id), 120, "epoch 1", processes).epoch == 1
        for epoch in (2, 3, 4):
            response = http.post(f"/runs/{run_id}/actions", data={"kind": "continue", "expected_action": str(epoch)})
            assert response.status_code == 303, response.text
            assert wait_for(lambda: ready_run(run_id), 120, f"epoch {epoch}", processes).epoch == epoch
        page = http.get(f"/runs/{run_id}")
        assert page.status_code == 200 and "After training 4 of max 30 epochs" in page.text
        done = http.post(f"/runs/{run_id}/actions", data={"kind": "done", "expected_action": "5"})
        assert done.status_code == 303
        assert ready_run(run_id).status == "ended"

        result = http.get(f"/runs/{run_id}/result")
        assert result.status_code == 200 and "Your score" in result.text
        with db() as session:
            dataset = session.get(DatasetRecord, session.get(Run, run_id).dataset_id)
        board = http.get("/leaderboard")
        assert board.status_code == 200
        assert f"Dataset {dataset.family} #{dataset.seed}" in board.text and PLAYER_NAME in board.text
        # The pages' assets come from the installed static/.
        for asset in ("/static/css/hyperquest.css", "/static/vendor/uplot/uPlot.iife.min.js", "/static/js/train.js"):
            assert http.get(asset).status_code == 200, asset

        # The research export in Parquet from the shipped install (pyarrow is a runtime dependency).
        out = scratch / "export-parquet"
        exported = run([*hyperquest, "export", "--out", out, "--format", "parquet"], scratch, env)
        assert exported.returncode == 0 and "parquet export" in exported.stdout, exported.stderr
        reader = ("import json, sys, pyarrow.parquet as pq; t = pq.read_table(sys.argv[1]); "
                  "print(json.dumps([t.num_rows, t.schema.metadata[b'hyperquest.schema_version'].decode()]))")
        read_back = run([venv.python, "-c", reader, out / "runs.parquet"], scratch)
        assert read_back.returncode == 0, read_back.stderr
        rows, version = json.loads(read_back.stdout)
        assert rows >= 1 and version == SCHEMA_VERSION

