"""Reference scores a player's run can be compared with (besides the default schedule)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from engine.datasets import Dataset

#: Fixed optimiser settings: inputs are standardised, so one learning rate suits every dataset.
LINEAR_LR = 0.01
LINEAR_MOMENTUM = 0.9
LINEAR_BATCH_SIZE = 128


def linear_classifier_score(dataset: Dataset, epochs: int = 30, seed: int = 0, device: str = "cpu") -> float:
    """Best validation accuracy over ``epochs`` of a linear classifier (SGD with momentum) on standardised inputs."""
    device = torch.device(device)
    train_x = dataset.train_x.reshape(len(dataset.train_y), -1).float().to(device)
    val_x = dataset.val_x.reshape(len(dataset.val_y), -1).float().to(device)
    train_y, val_y = dataset.train_y.to(device), dataset.val_y.to(device)
    # Standardise every feature with the training split's statistics only.
    mean, std = train_x.mean(0), train_x.std(0).clamp_min(1e-6)
    train_x, val_x = (train_x - mean) / std, (val_x - mean) / std

    # Zero start: the problem is convex. skip_init builds the layer without its random initialiser,
    # so nothing is drawn from torch's process-wide generator that seeded builds on other threads use.
    model = nn.utils.skip_init(nn.Linear, train_x.shape[1], dataset.num_classes, device=device)
    with torch.no_grad():
        model.weight.zero_()
        model.bias.zero_()
    optimizer = torch.optim.SGD(model.parameters(), lr=LINEAR_LR, momentum=LINEAR_MOMENTUM)
    rng = torch.Generator().manual_seed(seed)  # Only the data order depends on the seed.

    n = len(train_y)
    best = 0.0
    for _ in range(epochs):
        order = torch.randperm(n, generator=rng).to(device)
        for batch in order.split(LINEAR_BATCH_SIZE):
            loss = F.cross_entropy(model(train_x[batch]), train_y[batch])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        with torch.no_grad():
            accuracy = (model(val_x).argmax(1) == val_y).float().mean().item()
        best = max(best, accuracy)
    return best
