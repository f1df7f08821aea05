"""Choosing the device training runs on."""

from __future__ import annotations

import torch

from engine.errors import ConfigError


def resolve_device(name: str = "auto") -> str:
    """Map ``auto``/``cpu``/``cuda`` to a usable device string; ConfigError if cuda is absent."""
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cpu":
        return "cpu"
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ConfigError("device cuda was requested but no GPU is visible")
        return name
    raise ConfigError(f"unknown device {name!r}; choose auto, cpu or cuda")
