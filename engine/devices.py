"""Choosing the device training runs on."""

from __future__ import annotations

import functools
import os
import shutil

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


#: CPU flags meaning bfloat16 matrix arithmetic runs in hardware (not emulated, which is slower).
NATIVE_BF16_FLAGS = ("avx512_bf16", "amx_bf16")
#: Set to 0 to keep CPU training in float32 even where bfloat16 is native.
CPU_BF16_VARIABLE = "HYPERQUEST_CPU_BF16"


@functools.lru_cache(maxsize=1)
def cpu_has_native_bf16() -> bool:
    """True when this CPU computes bfloat16 in hardware (Linux /proc/cpuinfo flags)."""
    if os.environ.get(CPU_BF16_VARIABLE, "1").strip() in ("0", "false", "no"):
        return False
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    return any(flag in flags for flag in NATIVE_BF16_FLAGS)
    except OSError:
        pass
    return False


#: Where a CUDA MPS control daemon keeps its pipes unless CUDA_MPS_PIPE_DIRECTORY says otherwise.
DEFAULT_MPS_PIPE_DIRECTORY = "/tmp/nvidia-mps"


def mps_pipe_directory() -> str | None:
    """Where a CUDA MPS control daemon listens, when one looks to be running; else None.

    True when ``nvidia-cuda-mps-control`` is installed and its pipe directory
    (CUDA_MPS_PIPE_DIRECTORY, or the default /tmp/nvidia-mps) exists.
    """
    if shutil.which("nvidia-cuda-mps-control") is None:
        return None
    for path in (os.environ.get("CUDA_MPS_PIPE_DIRECTORY"), DEFAULT_MPS_PIPE_DIRECTORY):
        if path and os.path.isdir(path):
            return path
    return None
