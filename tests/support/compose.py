"""docker-compose.yml and its CPU variant read as data: the services and the HYPERQUEST_* settings they set."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


class ComposeLoader(yaml.SafeLoader):
    """Compose's YAML, including its ``!reset`` tag."""


ComposeLoader.add_constructor("!reset", lambda loader, node: None)


def load(name: str) -> dict:
    return yaml.load((ROOT / name).read_text(), Loader=ComposeLoader)


def compose_environment(name: str) -> dict[str, str]:
    """Every HYPERQUEST_* variable the file sets on a HyperQuest service, ``${VAR:-default}`` replaced by its default
    (later services win where values differ)."""
    values: dict[str, str] = {}
    for service in load(name)["services"].values():
        for key, value in (service.get("environment") or {}).items():
            if key.startswith("HYPERQUEST_"):
                values[key] = re.sub(r"\$\{[A-Za-z_]+:-([^}]*)\}", r"\1", str(value))
    return values
