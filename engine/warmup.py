"""Warming a training process up, so that no player's epoch pays the process's one-off costs.

A process's first epoch of a convolutional network took 2.5 s where later ones took 1.0 s (64x4 on
textures:1 at `small`, one thread): PyTorch picks and builds its kernels for each layer shape and
grows its allocator on first use, whatever the dataset. One epoch on a tiny dataset of the game's
input shape pays that once, when the process starts, instead of in some player's first epoch.
"""

from __future__ import annotations

import time

from engine import checkpoint
from engine.config import default_hparams
from engine.datasets import make_dataset
from engine.training import new_state, place, train_epoch

#: One image family (the convolutional network, the games' 3x32x32 input) and one vector family (the MLP).
WARM_UP_DATASETS = (("shapes", 1), ("clusters", 1))


def warm_up(device: str = "cpu") -> float:
    """Train and checkpoint one epoch of the default network on each kind of tiny dataset; the seconds it took."""
    started = time.perf_counter()
    for family, seed in WARM_UP_DATASETS:
        dataset = make_dataset(family, seed, "tiny")
        state = new_state(dataset, default_hparams(), seed=0, device=device)
        train_epoch(state, place(dataset, device))
        checkpoint.from_bytes(checkpoint.to_bytes(state), device)
    return time.perf_counter() - started
