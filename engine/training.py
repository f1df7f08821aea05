"""One epoch of training and the evaluation that follows it.

The loop is written for speed on small CNNs: the whole dataset lives in one tensor
on the training device (no DataLoader collation), images use the channels-last
memory layout that oneDNN and cuDNN convolutions prefer, the training passes run in
bfloat16 autocast wherever the hardware computes it natively (CUDA, CPUs with AVX512-BF16
or AMX), and evaluation runs under ``torch.inference_mode`` in large batches.
"""

from __future__ import annotations

import dataclasses
import math
import time
from typing import Callable

import torch
import torch.nn.functional as F

from engine.config import HyperParams
from engine.datasets import Dataset
from engine.devices import cpu_has_native_bf16
from engine.models import Architecture, Network, architecture_for, build_network

MOMENTUM = 0.9
BATCH_SIZE = 128
EVAL_BATCH_SIZE = 1000
#: How often (in batches) the loop checks for a non-finite loss; each check syncs a GPU.
DIVERGENCE_CHECK_EVERY = 8

ProgressCallback = Callable[[int, int], None]


@dataclasses.dataclass(frozen=True)
class DeviceData:
    """A dataset's splits placed on the training device in the layout the loop wants."""

    device: torch.device
    train_x: torch.Tensor
    train_y: torch.Tensor
    val_x: torch.Tensor
    val_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor

    @property
    def sample_x(self) -> torch.Tensor:
        """A fixed slice of training inputs for statistics that growth operations need."""
        return self.train_x[:512]


def place(dataset: Dataset, device: str | torch.device = "cpu") -> DeviceData:
    """Move a dataset's splits to ``device`` once, in channels-last layout for images."""
    device = torch.device(device)

    def put(x: torch.Tensor) -> torch.Tensor:
        x = x.to(device)
        return x.contiguous(memory_format=torch.channels_last) if x.dim() == 4 else x

    return DeviceData(
        device,
        put(dataset.train_x),
        dataset.train_y.to(device),
        put(dataset.val_x),
        dataset.val_y.to(device),
        put(dataset.test_x),
        dataset.test_y.to(device),
    )


@dataclasses.dataclass
class TrainingState:
    """A network between two epochs: weights, momentum, configuration, RNG and epoch count."""

    arch: Architecture
    hparams: HyperParams
    network: Network
    #: SGD momentum buffers by parameter name; a missing name means "no step taken yet".
    momentum: dict[str, torch.Tensor]
    #: Drives data order and dropout masks; saved in checkpoints for exact replay.
    rng: torch.Generator
    epoch: int = 0

    @property
    def device(self) -> torch.device:
        """The device the network's weights live on."""
        return next(self.network.parameters()).device


@dataclasses.dataclass(frozen=True)
class EpochMetrics:
    """What one epoch measured."""

    epoch: int
    train_loss: float
    train_acc: float
    val_loss: float
    val_acc: float
    diverged: bool
    seconds: float

    def as_dict(self) -> dict:
        """JSON-ready dict; non-finite losses become None."""
        data = dataclasses.asdict(self)
        for key in ("train_loss", "val_loss"):
            if not math.isfinite(data[key]):
                data[key] = None
        return data


def prepare_network(network: Network, device: torch.device) -> Network:
    """Move a network to ``device`` in the memory layout the training loop uses."""
    network = network.to(device)
    if network.arch.kind == "cnn":
        network = network.to(memory_format=torch.channels_last)
    return network


def new_state(dataset: Dataset, hparams: HyperParams, seed: int, device: str | torch.device = "cpu") -> TrainingState:
    """A freshly initialised network for ``dataset``; ``seed`` fixes weights, data order and dropout."""
    arch = architecture_for(dataset.input_shape, dataset.num_classes, hparams.width, hparams.depth)
    network = prepare_network(build_network(arch, hparams.dropout, seed=seed), torch.device(device))
    rng = torch.Generator().manual_seed(seed)
    return TrainingState(arch, hparams, network, {}, rng, 0)


def _optimizer(state: TrainingState) -> tuple[torch.optim.SGD, dict[str, torch.nn.Parameter]]:
    """SGD for this epoch's hyperparameters, with the saved momentum buffers installed."""
    params = dict(state.network.named_parameters())
    optimizer = torch.optim.SGD(
        params.values(),
        lr=state.hparams.lr,
        momentum=MOMENTUM,
        weight_decay=state.hparams.weight_decay,
    )
    for name, param in params.items():
        buffer = state.momentum.get(name)
        if buffer is not None:
            # Match the parameter's memory layout so a restored buffer behaves like a kept one.
            optimizer.state[param]["momentum_buffer"] = torch.empty_like(param).copy_(buffer)
    return optimizer, params


def _autocast(device: torch.device, training: bool):
    """Mixed precision where the hardware computes bfloat16 natively, else float32.

    bfloat16 keeps float32's exponent range, so no loss scaling is needed. On CUDA both passes use
    it. On a CPU it doubles the speed of training only where the CPU has bf16 instructions, and
    evaluation stays float32 there so reported accuracies (and Net2Net checks) are exact.
    """
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return torch.autocast("cpu", dtype=torch.bfloat16, enabled=training and cpu_has_native_bf16())


def train_epoch(
    state: TrainingState,
    data: DeviceData,
    progress: ProgressCallback | None = None,
) -> EpochMetrics:
    """Train ``state`` in place for one epoch with its hyperparameters, then evaluate on val."""
    started = time.perf_counter()
    network = state.network
    network.dropout = state.hparams.dropout
    network.train()
    optimizer, params = _optimizer(state)

    n = len(data.train_y)
    order = torch.randperm(n, generator=state.rng).to(data.device)
    # Nearly equal batches (e.g. 2000 -> 16 x 125) so no batch is too small for BatchNorm.
    batches = order.tensor_split(max(1, round(n / BATCH_SIZE)))
    dropout_seed = int(torch.randint(0, 2**62, (1,), generator=state.rng))

    loss_sum = torch.zeros((), device=data.device, dtype=torch.float64)
    correct = torch.zeros((), device=data.device, dtype=torch.int64)
    seen = 0
    diverged = False
    # Dropout draws from a generator of this epoch's own, never from torch's process-wide default one,
    # so epochs trained at once on several threads neither wait for each other nor change each other.
    network.dropout_generator = torch.Generator(device=data.device).manual_seed(dropout_seed)
    try:
        for index, batch in enumerate(batches):
            x, y = data.train_x[batch], data.train_y[batch]
            with _autocast(data.device, training=True):
                logits = network(x)
                loss = F.cross_entropy(logits, y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            loss_sum += loss.detach().double() * len(y)
            correct += (logits.detach().argmax(1) == y).sum()
            seen += len(y)
            if (index + 1) % DIVERGENCE_CHECK_EVERY == 0 or index + 1 == len(batches):
                if not math.isfinite(float(loss_sum)):
                    diverged = True
                    break
                if progress is not None:
                    progress(index + 1, len(batches))
    finally:
        network.dropout_generator = None

    state.momentum = {
        name: optimizer.state[param]["momentum_buffer"].detach().clone()
        for name, param in params.items()
        if "momentum_buffer" in optimizer.state[param]
    }
    state.epoch += 1
    val_loss, val_acc = evaluate(network, data.val_x, data.val_y)
    train_loss = float(loss_sum) / max(seen, 1)
    if not math.isfinite(val_loss) or not _weights_finite(network):
        diverged = True
    if diverged:
        train_loss, val_loss = math.nan, math.nan
    return EpochMetrics(
        epoch=state.epoch,
        train_loss=train_loss,
        train_acc=int(correct) / max(seen, 1),
        val_loss=val_loss,
        val_acc=val_acc,
        diverged=diverged,
        seconds=time.perf_counter() - started,
    )


def _weights_finite(network: Network) -> bool:
    """False once any parameter holds NaN or infinity."""
    return all(bool(torch.isfinite(p).all()) for p in network.parameters())


@torch.inference_mode()
def evaluate(network: Network, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    """Mean cross-entropy and accuracy of ``network`` in eval mode."""
    was_training = network.training
    network.eval()
    loss_sum = torch.zeros((), device=x.device, dtype=torch.float64)
    correct = torch.zeros((), device=x.device, dtype=torch.int64)
    for start in range(0, len(y), EVAL_BATCH_SIZE):
        xb, yb = x[start : start + EVAL_BATCH_SIZE], y[start : start + EVAL_BATCH_SIZE]
        with _autocast(x.device, training=False):
            logits = network(xb).float()
        loss_sum += F.cross_entropy(logits, yb, reduction="sum").double()
        correct += (logits.argmax(1) == yb).sum()
    network.train(was_training)
    return float(loss_sum) / len(y), int(correct) / len(y)


@torch.inference_mode()
def logits_of(network: Network, x: torch.Tensor) -> torch.Tensor:
    """Eval-mode logits in float32, for function-preservation checks."""
    was_training = network.training
    network.eval()
    out = torch.cat([network(x[i : i + EVAL_BATCH_SIZE]).float() for i in range(0, len(x), EVAL_BATCH_SIZE)])
    network.train(was_training)
    return out
