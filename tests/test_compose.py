"""docker-compose.yml and the Dockerfile cannot be run here (no Docker daemon), so their contract is
checked by reading them: the services docs/operations.md promises, commands that the `hyperquest` CLI
accepts, settings that exist, health checks on real routes, and an image that holds what the wheel
ships. tests/test_shipped_install.py then runs that install."""

from __future__ import annotations

import fnmatch
import importlib.util
import re
import shlex

from fastapi.testclient import TestClient

from app.cli import build_parser
from app.factory import create_app
from app.settings import Settings
from tests import shipped
from tests.support.compose import ROOT, compose_environment, load

def test_services_and_their_contract():
    services = load("docker-compose.yml")["services"]
    assert {"postgres", "redis", "migrate", "web", "worker", "flower"} <= set(services)
    assert "noeviction" in services["redis"]["command"]
    for name in ("postgres", "redis", "web", "worker"):
        assert "healthcheck" in services[name], name
    assert services["migrate"]["command"] == ["migrate"]
    for name in ("web", "worker"):
        assert services[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
        assert services[name]["environment"]["HYPERQUEST_REDIS_URL"].startswith("redis://redis:")
        assert services[name]["environment"]["HYPERQUEST_DATABASE_URL"].startswith("postgresql+psycopg://")
    gpu = services["worker"]["deploy"]["resources"]["reservations"]["devices"][0]
    assert gpu["capabilities"] == ["gpu"] and services["worker"]["environment"]["HYPERQUEST_DEVICE"] == "cuda"
    # Flower is opt-in and refuses to start without credentials.
    assert services["flower"]["profiles"] == ["monitoring"]
    assert any("--basic-auth=${FLOWER_BASIC_AUTH:?" in part for part in services["flower"]["entrypoint"])
    assert services["flower"]["ports"] == ["127.0.0.1:5555:5555"]


def test_cpu_variant_drops_the_gpu_reservation():
    for name in ("worker", "players"):
        worker = load("docker-compose.cpu.yml")["services"][name]
        assert worker["deploy"] is None and worker["environment"]["HYPERQUEST_DEVICE"] == "cpu"


def test_cpu_workers_share_the_cores_instead_of_each_taking_all():
    """worker and players train at once on the same cores: each gets a thread count (1 each on 2 cores)."""
    for name in ("worker", "players"):
        threads = load("docker-compose.cpu.yml")["services"][name]["environment"]["HYPERQUEST_TRAINING_THREADS"]
        (default,) = with_defaults([threads])
        assert threads.startswith("${HYPERQUEST_TRAINING_THREADS:-") and default == "1"
        assert Settings(training_threads=default, secret_key="compose-test-key").training_threads == 1


def test_one_worker_serves_every_lane_and_another_keeps_capacity_for_players():
    services = load("docker-compose.yml")["services"]
    general = build_parser().parse_args(with_defaults(services["worker"]["command"]))
    players = build_parser().parse_args(with_defaults(services["players"]["command"]))
    assert general.queues == "players,debrief,pool,background"  # the default: every lane, in priority order
    assert players.queues == "players"
    cpu = load("docker-compose.cpu.yml")["services"]["players"]
    assert build_parser().parse_args(with_defaults(cpu["command"])).queues == "players"
    assert services["players"]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"


def with_defaults(words: list[str]) -> list[str]:
    """A command with each ``${VAR:-default}`` replaced by its default, as compose would without a .env."""
    return [re.sub(r"\$\{[A-Za-z_]+:-([^}]*)\}", r"\1", str(word)) for word in words]


def test_every_command_is_one_the_cli_accepts():
    parser = build_parser()
    ours = {name for name, service in load("docker-compose.yml")["services"].items() if service.get("build")}
    for file in ("docker-compose.yml", "docker-compose.cpu.yml"):
        for name, service in load(file)["services"].items():
            if name in ours and "command" in service and service.get("entrypoint") is None:
                args = parser.parse_args(with_defaults(service["command"]))
                assert callable(args.run), (file, name)


def test_the_gpu_worker_serves_one_gpu_with_several_processes_and_the_cpu_one_does_not():
    gpu = build_parser().parse_args(with_defaults(load("docker-compose.yml")["services"]["worker"]["command"]))
    assert gpu.gpu == 0 and gpu.processes > 1
    cpu = build_parser().parse_args(with_defaults(load("docker-compose.cpu.yml")["services"]["worker"]["command"]))
    assert cpu.gpu is None and cpu.processes == 1


# --- the processes the files start, and the image they start them from ------------------------

def build_services(name: str = "docker-compose.yml") -> dict[str, dict]:
    """The services run from the HyperQuest image."""
    return {k: v for k, v in load(name)["services"].items() if v.get("build") or v.get("image", "").startswith("hyperquest")}


def celery_apps(service: dict) -> list[str]:
    """The ``-A`` modules of the service's celery commands (entrypoint and health check)."""
    words: list[str] = list(service.get("entrypoint") or [])
    test = (service.get("healthcheck") or {}).get("test") or []
    words += shlex.split(test[1]) if test[:1] == ["CMD-SHELL"] else test[1:]
    apps = []
    for i, word in enumerate(words[:-1]):
        if word in ("-A", "--app") and any(w.rsplit("/", 1)[-1] == "celery" for w in words[:i]):
            apps.append(words[i + 1])
        elif word.startswith("--app="):
            apps.append(word.split("=", 1)[1])
    return apps


def test_celery_apps_of_health_checks_and_entrypoints_exist():
    services = build_services()
    for name, service in services.items():
        for module in celery_apps(service):
            assert importlib.util.find_spec(module) is not None, f"{name}: celery -A {module} is not importable"
    assert celery_apps(services["worker"]) == ["worker.celery_app"]
    assert celery_apps(services["flower"]) == ["worker.celery_app"]


def test_every_hyperquest_variable_is_a_setting():
    assert Settings.model_config["env_prefix"] == "HYPERQUEST_"
    for name in ("docker-compose.yml", "docker-compose.cpu.yml"):
        variables = compose_environment(name)
        assert variables, name
        for key in variables:
            assert key.removeprefix("HYPERQUEST_").lower() in Settings.model_fields, f"{name}: {key} is not a setting"


def test_http_health_checks_hit_routes_the_app_serves(tmp_path):
    # Not started (no lifespan: no migrations, no runner); the health route only needs the database to answer.
    app = create_app(Settings(database_url=f"sqlite:///{tmp_path}/health.sqlite3", secret_key="compose-test-key"))
    client = TestClient(app)
    web = build_services()["web"]
    port = web["command"][web["command"].index("--port") + 1]
    checked = 0
    for name, service in build_services().items():
        test = " ".join((service.get("healthcheck") or {}).get("test") or [])
        for host_port, path in re.findall(r"https?://([^/'\"\s]+)(/[^'\"\s?]*)", test):
            response = client.get(path)
            assert response.status_code == 200, f"{name}: the health check's {path} answers {response.status_code}"
            assert host_port.endswith(f":{port}"), f"{name}: the health check asks {host_port}, web listens on {port}"
            checked += 1
    assert checked >= 1
    assert client.get("/no-such-page").status_code == 404  # so a 200 above means a real route


def test_the_image_holds_every_folder_the_wheel_ships():
    sources = set(shipped.dockerfile_copy_sources())
    needed = shipped.shipped_top_level()
    assert {"app", "engine", "worker", "templates", "static", "migrations"} <= needed
    project = shipped.pyproject()["project"]
    needed |= {"pyproject.toml", project["readme"]}  # setuptools reads the readme while building
    assert needed <= sources, f"the Dockerfile does not COPY {sorted(needed - sources)}"
    ignored = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
               if line.strip() and not line.startswith("#")]
    for source in sources:
        hits = [p for p in ignored if fnmatch.fnmatch(source, p.removeprefix("**/"))]
        assert not hits, f".dockerignore {hits} drops {source}, which the Dockerfile copies"
    assert {".git", ".venv", "var", "**/__pycache__", "**/*.sqlite3"} <= set(ignored)


def test_the_image_installs_extras_that_exist_and_the_pinned_torch():
    extras = shipped.pyproject()["project"]["optional-dependencies"]
    wanted = shipped.dockerfile_extras()
    assert wanted and set(wanted) <= set(extras), f"unknown extras {sorted(set(wanted) - set(extras))}"
    assert not {"test", "bench", "load"} & set(wanted), "the image ships no test tooling"
    assert shipped.dockerfile_torch_spec() == shipped.makefile_torch_spec()
    # The test extra brings everything the bench extra does, so the suite can run the benchmarks.
    assert set(extras["bench"]) <= set(extras["test"])
