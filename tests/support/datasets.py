"""Small easy datasets built directly, so engine tests do not depend on how the game's families are tuned."""

from __future__ import annotations

import torch

from engine.datasets.base import Dataset


def blob_dataset(kind: str, n: int = 600, classes: int = 4, noise: float = 0.8, seed: int = 0, side: int = 32) -> Dataset:
    """Gaussian class centres plus noise: learnable in a couple of epochs (images are ``side`` pixels square)."""
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % classes
    y = y[torch.randperm(n, generator=g)]
    if kind == "image":
        # Class = a colour: easy for a CNN whose global average pooling sees mean colour.
        centres = torch.randn(classes, 3, 1, 1, generator=g)
        x = centres[y] + noise * torch.randn(n, 3, side, side, generator=g)
    else:
        centres = torch.randn(classes, 24, generator=g)
        x = centres[y] + noise * torch.randn(n, 24, generator=g)
    a, b = int(n * 0.6), int(n * 0.8)
    return Dataset(
        f"blobs-{kind}", seed, "tiny", classes, tuple(x.shape[1:]),
        x[:a].contiguous(), y[:a].contiguous(), x[a:b].contiguous(), y[a:b].contiguous(),
        x[b:].contiguous(), y[b:].contiguous(),
    )
