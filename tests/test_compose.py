"""docker-compose.yml cannot be started here (no Docker daemon), so its contract is checked by
reading it: the services the README promises, and commands that the `hyperquest` CLI accepts."""

from __future__ import annotations

from pathlib import Path

import yaml

from app.cli import build_parser

ROOT = Path(__file__).resolve().parent.parent


class ComposeLoader(yaml.SafeLoader):
    """Compose's YAML, including its ``!reset`` tag."""


ComposeLoader.add_constructor("!reset", lambda loader, node: None)


def load(name: str) -> dict:
    return yaml.load((ROOT / name).read_text(), Loader=ComposeLoader)


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
    worker = load("docker-compose.cpu.yml")["services"]["worker"]
    assert worker["deploy"] is None and worker["environment"]["HYPERQUEST_DEVICE"] == "cpu"


def test_every_command_is_one_the_cli_accepts():
    parser = build_parser()
    for name, service in load("docker-compose.yml")["services"].items():
        if service.get("build") and "command" in service and service.get("entrypoint") is None:
            args = parser.parse_args(service["command"])
            assert callable(args.run), name
