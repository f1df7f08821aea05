"""Serialising a TrainingState to bytes and back.

A checkpoint carries the architecture with the weights (Net2Net changes it), the
SGD momentum buffers, the hyperparameters, the RNG state and the epoch, so that
training on from a loaded checkpoint is bit-identical to never having saved. It
is written with ``torch.save`` and read with ``torch.load(weights_only=True)``,
which refuses anything but tensors and plain containers: a checkpoint from the
database can never execute code.
"""

from __future__ import annotations

import io
import pickle
import zipfile

import torch

from engine.config import HyperParams
from engine.errors import CheckpointError, HyperQuestError
from engine.models import Architecture, empty_network
from engine.training import TrainingState, prepare_network

FORMAT = "hyperquest-checkpoint"
VERSION = 1


def to_bytes(state: TrainingState) -> bytes:
    """Serialise everything needed to continue training exactly where ``state`` is."""
    payload = {
        "format": FORMAT,
        "version": VERSION,
        "arch": state.arch.as_dict(),
        "hparams": state.hparams.as_dict(),
        "epoch": state.epoch,
        "weights": {k: v.detach().cpu() for k, v in state.network.state_dict().items()},
        "momentum": {k: v.detach().cpu() for k, v in state.momentum.items()},
        "rng_state": state.rng.get_state(),
    }
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    return buffer.getvalue()


def from_bytes(blob: bytes, device: str | torch.device = "cpu") -> TrainingState:
    """Rebuild a TrainingState from ``to_bytes`` output; CheckpointError if it is not one."""
    if not isinstance(blob, (bytes, bytearray, memoryview)) or len(blob) == 0:
        raise CheckpointError("checkpoint is empty")
    try:
        payload = torch.load(io.BytesIO(bytes(blob)), map_location="cpu", weights_only=True)
    except (RuntimeError, EOFError, pickle.UnpicklingError, zipfile.BadZipFile, ValueError, KeyError) as exc:
        raise CheckpointError(f"checkpoint is corrupt or not a checkpoint ({type(exc).__name__})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError("data is not a HyperQuest checkpoint")
    if payload.get("version") != VERSION:
        raise CheckpointError(f"unsupported checkpoint version {payload.get('version')!r}")
    try:
        arch = Architecture.from_dict(payload["arch"])
        hparams = HyperParams.from_dict(payload["hparams"])
        network = empty_network(arch, hparams.dropout)
        network.load_state_dict(payload["weights"])
        rng = torch.Generator()
        rng.set_state(payload["rng_state"])
        epoch = int(payload["epoch"])
        momentum = dict(payload["momentum"])
    except HyperQuestError as exc:
        raise CheckpointError(f"checkpoint describes an invalid network: {exc}") from None
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise CheckpointError(f"checkpoint is incomplete or inconsistent ({type(exc).__name__}: {exc})") from None
    if set(momentum) - set(dict(network.named_parameters())):
        raise CheckpointError("checkpoint momentum names parameters the network does not have")
    network = prepare_network(network, torch.device(device))
    momentum = {k: v.to(device) for k, v in momentum.items()}
    return TrainingState(arch, hparams, network, momentum, rng, epoch)
