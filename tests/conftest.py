"""Shared fixtures: the storage backends every web test runs on, and small, easy datasets built directly
so engine tests do not depend on family tuning."""

from __future__ import annotations

from contextlib import contextmanager

import pytest
import torch

from engine.datasets.base import Dataset
from tests.webutil import game, postgres_available, postgres_database


BACKENDS = ["sqlite", "postgresql"]


@contextmanager
def backend_url(kind: str, directory):
    """A fresh database of ``kind``: a SQLite file in ``directory``, or a new PostgreSQL database (dropped after)."""
    if kind == "sqlite":
        yield f"sqlite:///{directory}/game.sqlite3"
        return
    if not postgres_available():
        pytest.fail("PostgreSQL is not reachable at 127.0.0.1:5432 (.ci/run starts it)")
    with postgres_database() as url:
        yield url


@pytest.fixture(params=BACKENDS)
def database_url(request, tmp_path):
    """Each web test runs once per storage backend: a fresh SQLite file, or a fresh PostgreSQL database."""
    with backend_url(request.param, tmp_path) as url:
        yield url


@pytest.fixture
def player(database_url):
    """A running app on the backend (thread runner, tiny datasets) and a Player bound to it."""
    with game(database_url) as p:
        yield p


def blob_dataset(kind: str, n: int = 600, classes: int = 4, noise: float = 0.8, seed: int = 0) -> Dataset:
    """Gaussian class centres plus noise: learnable in a couple of epochs."""
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % classes
    y = y[torch.randperm(n, generator=g)]
    if kind == "image":
        # Class = a colour: easy for a CNN whose global average pooling sees mean colour.
        centres = torch.randn(classes, 3, 1, 1, generator=g)
        x = centres[y] + noise * torch.randn(n, 3, 32, 32, generator=g)
    else:
        centres = torch.randn(classes, 24, generator=g)
        x = centres[y] + noise * torch.randn(n, 24, generator=g)
    a, b = int(n * 0.6), int(n * 0.8)
    return Dataset(
        f"blobs-{kind}", seed, "tiny", classes, tuple(x.shape[1:]),
        x[:a].contiguous(), y[:a].contiguous(), x[a:b].contiguous(), y[a:b].contiguous(),
        x[b:].contiguous(), y[b:].contiguous(),
    )


@pytest.fixture(scope="session")
def image_blobs() -> Dataset:
    """An easy [3,32,32] dataset."""
    return blob_dataset("image")


@pytest.fixture(scope="session")
def vector_blobs() -> Dataset:
    """An easy [24] dataset."""
    return blob_dataset("vector")
