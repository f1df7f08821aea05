"""Measurements behind ``hyperquest bench``: data generation, epochs, Net2Net, checkpoints.

The reference loop is a plain PyTorch epoch written the simple way (NCHW float32
batches from a shuffling DataLoader over a TensorDataset), on the same network,
data and optimiser settings, so the ratio isolates what engine.training does
differently.
"""

from __future__ import annotations

import dataclasses
import time

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

from engine import checkpoint, growth
from engine.config import HyperParams
from engine.datasets import FAMILIES, make_dataset
from engine.devices import cpu_has_native_bf16
from engine.models import architecture_for, build_network, count_flops
from engine.training import BATCH_SIZE, MOMENTUM, evaluate, new_state, place, train_epoch

EPOCH_CONFIGS = ((32, 2), (64, 4), (128, 8))
#: Backward costs about twice the forward, so one training step is ~3 forward passes.
TRAIN_FLOP_FACTOR = 3


@dataclasses.dataclass(frozen=True)
class EpochBench:
    """Our epoch against the plain loop on one (size, width, depth)."""

    size: str
    width: int
    depth: int
    examples: int
    ours_seconds: float
    plain_seconds: float
    ours_val_acc: float
    plain_val_acc: float
    gflops: float

    @property
    def speedup(self) -> float:
        """Plain loop time divided by ours."""
        return self.plain_seconds / self.ours_seconds


def training_dtype() -> torch.dtype:
    """The precision our CPU training passes compute in (bfloat16 where the CPU has it natively)."""
    return torch.bfloat16 if cpu_has_native_bf16() else torch.float32


def matmul_peak_gflops(n: int = 1024, repeats: int = 10, dtype: torch.dtype = torch.float32) -> float:
    """Achieved GFLOP/s of a square matmul in ``dtype``: the machine's practical peak."""
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    a @ b  # warm-up
    started = time.perf_counter()
    for _ in range(repeats):
        a @ b
    return 2 * n**3 * repeats / (time.perf_counter() - started) / 1e9


def generation_seconds(size: str) -> dict[str, tuple[int, float]]:
    """Per family: examples generated (all splits) and seconds taken, at ``size``."""
    out = {}
    for family in FAMILIES:
        make_dataset(family, 0, "tiny")  # warm-up: first-call overheads are not generation
        started = time.perf_counter()
        dataset = make_dataset(family, 1, size)
        seconds = time.perf_counter() - started
        out[family] = (len(dataset.train_y) + len(dataset.val_y) + len(dataset.test_y), seconds)
    return out


def plain_epoch(dataset, hparams: HyperParams, seed: int) -> tuple[float, float]:
    """The reference: one epoch the simple way. Returns (seconds, val accuracy)."""
    torch.manual_seed(seed)
    arch = architecture_for(dataset.input_shape, dataset.num_classes, hparams.width, hparams.depth)
    network = build_network(arch, hparams.dropout, seed=seed)
    optimizer = torch.optim.SGD(network.parameters(), lr=hparams.lr, momentum=MOMENTUM, weight_decay=hparams.weight_decay)
    loader = DataLoader(TensorDataset(dataset.train_x, dataset.train_y), batch_size=BATCH_SIZE, shuffle=True)
    started = time.perf_counter()
    network.train()
    for x, y in loader:
        optimizer.zero_grad()
        loss = F.cross_entropy(network(x), y)
        loss.backward()
        optimizer.step()
    network.eval()
    correct = 0
    with torch.no_grad():
        for x, y in DataLoader(TensorDataset(dataset.val_x, dataset.val_y), batch_size=BATCH_SIZE):
            correct += int((network(x).argmax(1) == y).sum())
    return time.perf_counter() - started, correct / len(dataset.val_y)


def epoch_bench(size: str, width: int, depth: int, family: str = "shapes", seed: int = 1,
                dropout: float = 0.0) -> EpochBench:
    """Time one epoch (train + val evaluation) ours vs the plain loop; both from the same init."""
    dataset = make_dataset(family, seed, size)
    hparams = HyperParams(width, depth, 0.01, dropout=dropout)
    # Warm-up on a slice: the first pass through a network shape pays one-off kernel set-up
    # costs (oneDNN primitives, allocator growth) that no later epoch pays, in either loop.
    warm = dataclasses.replace(dataset, train_x=dataset.train_x[:256], train_y=dataset.train_y[:256])
    train_epoch(new_state(warm, hparams, seed), place(warm))
    plain_epoch(warm, hparams, seed)
    data = place(dataset)
    state = new_state(dataset, hparams, seed)
    metrics = train_epoch(state, data)
    plain_seconds, plain_acc = plain_epoch(dataset, hparams, seed)
    flops = count_flops(state.arch) * TRAIN_FLOP_FACTOR * len(dataset.train_y) + count_flops(state.arch) * len(dataset.val_y)
    return EpochBench(
        size, width, depth, len(dataset.train_y), metrics.seconds, plain_seconds, metrics.val_acc, plain_acc,
        flops / metrics.seconds / 1e9,
    )


def net2net_seconds(family: str = "shapes", size: str = "tiny") -> dict[str, float]:
    """Time Net2WiderNet 64->128 and Net2DeeperNet 4->8 on a trained width-64 depth-4 CNN."""
    dataset = make_dataset(family, 1, size)
    data = place(dataset)
    state = new_state(dataset, HyperParams(64, 4, 0.01), 0)
    train_epoch(state, data)
    out = {}
    started = time.perf_counter()
    growth.widen(state, 128, torch.Generator().manual_seed(0))
    out["widen 64->128"] = time.perf_counter() - started
    started = time.perf_counter()
    growth.deepen(state, 8, data.sample_x)
    out["deepen 4->8"] = time.perf_counter() - started
    started = time.perf_counter()
    growth.narrow(state, 32)
    out["narrow 64->32"] = time.perf_counter() - started
    started = time.perf_counter()
    growth.shallow(state, 2, data.sample_x)
    out["shallow 4->2"] = time.perf_counter() - started
    return out


def checkpoint_bench(width: int = 256, depth: int = 16) -> dict[str, float]:
    """Size, save and load time of the largest network's checkpoint (with momentum buffers)."""
    dataset = make_dataset("shapes", 1, "tiny")
    data = place(dataset)
    state = new_state(dataset, HyperParams(width, depth, 0.01), 0)
    # One short epoch so momentum buffers exist, as in any real checkpoint.
    small = dataclasses.replace(data, train_x=data.train_x[:128], train_y=data.train_y[:128])
    train_epoch(state, small)
    started = time.perf_counter()
    blob = checkpoint.to_bytes(state)
    save = time.perf_counter() - started
    started = time.perf_counter()
    restored = checkpoint.from_bytes(blob)
    load = time.perf_counter() - started
    assert evaluate(restored.network, data.val_x, data.val_y) == evaluate(state.network, data.val_x, data.val_y)
    return {"width": width, "depth": depth, "megabytes": len(blob) / 2**20, "save_seconds": save, "load_seconds": load}
