"""The game's networks: a CNN for images and an MLP for vectors, both made of blocks.

Both networks share one parameter layout so growth operations (engine.growth) can
treat them alike: ``blocks.{i}.layer`` (a bias-free Conv3x3 or Linear),
``blocks.{i}.bn`` (BatchNorm) and ``classifier`` (Linear). Width is the number of
channels/units of every block; depth is the number of blocks.
"""

from __future__ import annotations

import dataclasses

import torch
import torch.nn.functional as F
from torch import nn

from engine.errors import ConfigError
from engine.rng import DEFAULT_GENERATOR

#: Number of resolution stages of the CNN (32x32, 16x16, 8x8); average pooling between them.
CNN_STAGES = 3


@dataclasses.dataclass(frozen=True)
class Architecture:
    """Everything needed to rebuild a network's modules (weights excluded)."""

    kind: str  # "cnn" or "mlp"
    input_shape: tuple[int, ...]
    num_classes: int
    width: int
    depth: int

    def __post_init__(self) -> None:
        if self.kind not in ("cnn", "mlp"):
            raise ConfigError(f"network kind must be cnn or mlp, got {self.kind!r}")
        expected_dims = 3 if self.kind == "cnn" else 1
        if len(self.input_shape) != expected_dims:
            raise ConfigError(f"a {self.kind} needs a {expected_dims}-d input, got {list(self.input_shape)}")
        if self.num_classes < 2 or self.width < 1 or self.depth < 1:
            raise ConfigError("an architecture needs 2+ classes, width >= 1 and depth >= 1")
        object.__setattr__(self, "input_shape", tuple(int(d) for d in self.input_shape))

    @property
    def stages(self) -> tuple[int, ...]:
        """Blocks per stage; the layout is a function of depth so growth can target it."""
        return stage_layout(self.kind, self.depth)

    def block_stages(self) -> list[int]:
        """The stage index of each block, in order."""
        return [s for s, count in enumerate(self.stages) for _ in range(count)]

    def as_dict(self) -> dict:
        """Plain dict for checkpoints and JSON."""
        data = dataclasses.asdict(self)
        data["input_shape"] = list(self.input_shape)
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "Architecture":
        """Inverse of as_dict."""
        return cls(
            kind=str(data["kind"]),
            input_shape=tuple(int(d) for d in data["input_shape"]),
            num_classes=int(data["num_classes"]),
            width=int(data["width"]),
            depth=int(data["depth"]),
        )

    def replace(self, **changes: object) -> "Architecture":
        """Copy with some fields changed."""
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]


def stage_layout(kind: str, depth: int) -> tuple[int, ...]:
    """Blocks per stage for a given depth.

    The CNN keeps exactly one block (the stem) at full resolution, where convolutions
    are most expensive, and splits the rest between 16x16 and 8x8. Every stage's count
    never shrinks as depth grows, so Net2DeeperNet can always reach the next layout by
    inserting identity blocks. The MLP has a single stage.
    """
    if kind == "mlp":
        return (depth,)
    rest = depth - 1
    return (1, (rest + 1) // 2, rest // 2)


class Block(nn.Module):
    """Conv3x3 (or Linear) -> BatchNorm -> ReLU."""

    def __init__(self, kind: str, in_features: int, out_features: int) -> None:
        super().__init__()
        if kind == "cnn":
            self.layer: nn.Module = nn.Conv2d(in_features, out_features, 3, padding=1, bias=False)
            self.bn: nn.Module = nn.BatchNorm2d(out_features)
        else:
            self.layer = nn.Linear(in_features, out_features, bias=False)
            self.bn = nn.BatchNorm1d(out_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn(self.layer(x)))


def keep_mask(x: torch.Tensor, keep: float, generator: torch.Generator | None) -> torch.Tensor:
    """Dropout's mask for ``x``: 1/keep with probability ``keep``, else 0, drawn from ``generator``.

    What F.dropout multiplies by, drawn from the run's own generator instead of the default one, so
    the same seed gives bit-identical masks. Not ``bernoulli_``: on a CPU it draws one element at a
    time and was a third of a large network's epoch (docs/benchmarks.md). Filling 64-bit integers
    draws four 16-bit uniforms per draw instead; a 16-bit uniform below keep x 2^16 is the Bernoulli
    draw, so the rate is exact to 2^-16.
    """
    count = x.numel()
    draws = torch.empty((count + 3) // 4, dtype=torch.int64, device=x.device)
    # The full 64-bit range: random_() alone leaves the top bit 0, and with it every fourth 16-bit lane.
    draws.random_(-(2**63), 2**63 - 1, generator=generator)
    uniform16 = draws.view(torch.int16)[:count].view(x.shape)
    threshold = round(keep * 2**16) - 2**15
    return (uniform16 < threshold).to(x.dtype).mul_(1.0 / keep)


class Network(nn.Module):
    """A CNN or MLP built from an Architecture, with a settable dropout rate."""

    def __init__(self, arch: Architecture, dropout: float = 0.0) -> None:
        super().__init__()
        self.arch = arch
        self.dropout = float(dropout)
        #: Where dropout masks are drawn from while training: each run's own generator (set per epoch by
        #: engine.training), so no epoch touches torch's process-wide default generator.
        self.dropout_generator: torch.Generator | None = None
        in_features = arch.input_shape[0]
        blocks = []
        for i in range(arch.depth):
            blocks.append(Block(arch.kind, in_features if i == 0 else arch.width, arch.width))
        self.blocks = nn.ModuleList(blocks)
        self.classifier = nn.Linear(arch.width, arch.num_classes)
        self._stage_of_block = arch.block_stages()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.arch.kind == "mlp":
            return self._forward_mlp(x)
        return self._forward_cnn(x)

    def _drop(self, x: torch.Tensor) -> torch.Tensor:
        if self.dropout <= 0 or not self.training:
            return x
        return x * keep_mask(x, 1.0 - self.dropout, self.dropout_generator)

    def _forward_mlp(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            x = self._drop(block(x))
        return self.classifier(x)

    def _forward_cnn(self, x: torch.Tensor) -> torch.Tensor:
        # Average pooling (not max) between stages: a stage that is empty now and filled
        # later by Net2DeeperNet then leaves the function unchanged, because the mean of
        # 2x2 means is the global mean.
        blocks = iter(self.blocks)
        for stage, count in enumerate(self.arch.stages):
            if stage > 0:
                x = F.avg_pool2d(x, 2)
            for _ in range(count):
                x = next(blocks)(x)
            if count:
                x = self._drop(x)
        x = x.mean(dim=(2, 3))
        return self.classifier(x)


def build_network(arch: Architecture, dropout: float = 0.0, *, seed: int) -> Network:
    """A freshly initialised network whose initial weights ``seed`` makes reproducible."""
    with DEFAULT_GENERATOR, torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return Network(arch, dropout)


def empty_network(arch: Architecture, dropout: float = 0.0) -> Network:
    """A network of ``arch``'s shape with uninitialised weights, for a caller that loads its own."""
    # Built on the meta device, the layers' initialisers draw nothing from torch's process-wide
    # generator, so a checkpoint restored on one thread cannot shift a seeded build on another.
    with torch.device("meta"):
        network = Network(arch, dropout)
    return network.to_empty(device="cpu")


def architecture_for(input_shape: tuple[int, ...], num_classes: int, width: int, depth: int) -> Architecture:
    """The game's architecture for a dataset: a CNN for [C,H,W] inputs, an MLP for [D]."""
    kind = "cnn" if len(input_shape) == 3 else "mlp"
    return Architecture(kind, tuple(input_shape), num_classes, width, depth)


def count_flops(arch: Architecture) -> int:
    """Multiply-adds x2 of one forward pass for one example (convs, linears)."""
    if arch.kind == "mlp":
        d = arch.input_shape[0]
        macs = d * arch.width + (arch.depth - 1) * arch.width**2 + arch.width * arch.num_classes
        return 2 * macs
    channels, height, width = arch.input_shape
    macs = 0
    in_ch = channels
    for stage, count in enumerate(arch.stages):
        pixels = (height >> stage) * (width >> stage)
        for _ in range(count):
            macs += in_ch * arch.width * 9 * pixels
            in_ch = arch.width
    macs += arch.width * arch.num_classes
    return 2 * macs
