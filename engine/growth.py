"""Changing a network's width or depth between epochs.

Up is function-preserving: Net2WiderNet and Net2DeeperNet (Chen, Goodfellow &
Shlens 2015; Wei et al. 2016, Network Morphism). Down shrinks the network and
changes its function; callers measure and report the difference.

Every operation is a pure function of a TrainingState: it reads the weights and
SGD momentum buffers by parameter name and returns a new state with a new
network. Momentum follows the parameters: copied where a unit is replicated,
split in the same proportions where outgoing weights are split, sliced where
units are removed, and zero for new identity blocks.
"""

from __future__ import annotations

import dataclasses

import torch

from engine.models import Architecture, Network, empty_network
from engine.training import TrainingState, prepare_network

BN_FIELDS = ("weight", "bias", "running_mean", "running_var")
#: Range of the random split of a replicated unit's outgoing weights. Unequal shares give
#: replicas different gradients, so they drift apart instead of staying copies forever.
SPLIT_SHARE_RANGE = (0.5, 1.5)


def _layer(i: int) -> str:
    return f"blocks.{i}.layer.weight"


def _bn(i: int, field: str) -> str:
    return f"blocks.{i}.bn.{field}"


def _consumer(arch: Architecture, i: int) -> str:
    """Name of the weight that reads block ``i``'s output channels on its dim 1."""
    return _layer(i + 1) if i + 1 < arch.depth else "classifier.weight"


def _rebuild(state: TrainingState, arch: Architecture, weights: dict, momentum: dict) -> TrainingState:
    """A new TrainingState holding ``weights`` in a network built for ``arch``."""
    network = empty_network(arch, state.hparams.dropout)
    network.load_state_dict(weights)
    network = prepare_network(network, state.device)
    hparams = state.hparams.replace(width=arch.width, depth=arch.depth)
    rng = torch.Generator().set_state(state.rng.get_state())
    return TrainingState(arch, hparams, network, momentum, rng, state.epoch)


def _snapshot(state: TrainingState) -> tuple[dict, dict]:
    """Detached copies of the weights and momentum buffers (contiguous, NCHW)."""
    weights = {k: v.detach().clone().contiguous() for k, v in state.network.state_dict().items()}
    momentum = {k: v.detach().clone().contiguous() for k, v in state.momentum.items()}
    return weights, momentum


def _columns(tensor: torch.Tensor, index: torch.Tensor, scale: torch.Tensor | None = None) -> torch.Tensor:
    """Select dim-1 slices of ``tensor`` by ``index``, optionally multiplying each by ``scale``."""
    out = tensor.index_select(1, index)
    if scale is not None:
        shape = [1, -1] + [1] * (tensor.dim() - 2)
        out = out * scale.to(out.dtype).view(shape)
    return out


def widen(state: TrainingState, new_width: int, generator: torch.Generator) -> TrainingState:
    """Net2WiderNet: every block gets ``new_width`` units computing the same function."""
    arch = state.arch
    old = arch.width
    if new_width <= old:
        raise ValueError(f"widen needs a larger width than {old}, got {new_width}")
    weights, momentum = _snapshot(state)
    device = weights[_layer(0)].device
    for i in range(arch.depth):
        # Units 0..old-1 keep their place; each new unit replicates a random old one.
        mapping = torch.cat([torch.arange(old), torch.randint(0, old, (new_width - old,), generator=generator)])
        shares = torch.empty(new_width, dtype=torch.float64).uniform_(*SPLIT_SHARE_RANGE, generator=generator)
        totals = torch.zeros(old, dtype=torch.float64).index_add_(0, mapping, shares)
        split = (shares / totals[mapping]).to(device)
        mapping = mapping.to(device)

        for name in [_layer(i)] + [_bn(i, f) for f in BN_FIELDS]:
            weights[name] = weights[name].index_select(0, mapping)
            if name in momentum:
                momentum[name] = momentum[name].index_select(0, mapping)
        consumer = _consumer(arch, i)
        weights[consumer] = _columns(weights[consumer], mapping, split)
        if consumer in momentum:
            momentum[consumer] = _columns(momentum[consumer], mapping, split)
    return _rebuild(state, arch.replace(width=new_width), weights, momentum)


def narrow(state: TrainingState, new_width: int) -> TrainingState:
    """Keep each block's ``new_width`` most important units (|BN scale| x outgoing weight norm)."""
    arch = state.arch
    if not 0 < new_width < arch.width:
        raise ValueError(f"narrow needs a width below {arch.width}, got {new_width}")
    weights, momentum = _snapshot(state)
    for i in range(arch.depth):
        consumer = _consumer(arch, i)
        outgoing = weights[consumer].transpose(0, 1).reshape(arch.width, -1).norm(dim=1)
        importance = weights[_bn(i, "weight")].abs() * outgoing
        keep = importance.topk(new_width).indices.sort().values
        for name in [_layer(i)] + [_bn(i, f) for f in BN_FIELDS]:
            weights[name] = weights[name].index_select(0, keep)
            if name in momentum:
                momentum[name] = momentum[name].index_select(0, keep)
        weights[consumer] = _columns(weights[consumer], keep)
        if consumer in momentum:
            momentum[consumer] = _columns(momentum[consumer], keep)
    return _rebuild(state, arch.replace(width=new_width), weights, momentum)


@torch.inference_mode()
def _block_inputs(network: Network, sample_x: torch.Tensor) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """Eval-mode input and output activation of every block, plus each stage's input.

    Returns (block_io, stage_inputs): block_io[i] = (input, output) of block i, and
    stage_inputs[s] = the activation entering stage s (after pooling).
    """
    was_training = network.training
    network.eval()
    x = sample_x
    block_io: list[tuple[torch.Tensor, torch.Tensor]] = []
    stage_inputs: list[torch.Tensor] = []
    blocks = iter(network.blocks)
    for stage, count in enumerate(network.arch.stages):
        if stage > 0:
            x = torch.nn.functional.avg_pool2d(x, 2)
        stage_inputs.append(x)
        for _ in range(count):
            y = next(blocks)(x)
            block_io.append((x, y))
            x = y
    network.train(was_training)
    return block_io, stage_inputs


def _identity_block(kind: str, width: int, activation: torch.Tensor, eps: float) -> dict[str, torch.Tensor]:
    """Weights of a block that passes ``activation``-like inputs through unchanged in eval mode.

    The conv kernel is a centred identity (a 3x3 kernel's centre is [1, 1]). BatchNorm's
    running statistics are set to the input's own statistics and its affine part undoes
    the normalisation, so eval mode is exact and train mode starts close to identity too.
    The input follows a ReLU, so the block's ReLU changes nothing.
    """
    device, dtype = activation.device, activation.dtype
    if kind == "cnn":
        layer = torch.zeros(width, width, 3, 3, device=device, dtype=dtype)
        layer[torch.arange(width), torch.arange(width), 1, 1] = 1.0
        dims = (0, 2, 3)
    else:
        layer = torch.eye(width, device=device, dtype=dtype)
        dims = (0,)
    mean = activation.float().mean(dim=dims)
    var = activation.float().var(dim=dims, unbiased=False)
    return {
        "layer.weight": layer,
        "bn.weight": torch.sqrt(var + eps),
        "bn.bias": mean,
        "bn.running_mean": mean.clone(),
        "bn.running_var": var.clone(),
        "bn.num_batches_tracked": torch.zeros((), dtype=torch.long, device=device),
    }


def _renumber(weights: dict, momentum: dict, order: list[tuple[str, int | dict]]) -> tuple[dict, dict]:
    """Lay out blocks in a new order: each entry is ("old", index) or ("new", block weights)."""
    new_weights = {k: v for k, v in weights.items() if not k.startswith("blocks.")}
    new_momentum = {k: v for k, v in momentum.items() if not k.startswith("blocks.")}
    for position, (source, payload) in enumerate(order):
        if source == "old":
            prefix = f"blocks.{payload}."
            for key, value in weights.items():
                if key.startswith(prefix):
                    new_weights[f"blocks.{position}.{key[len(prefix):]}"] = value
            for key, value in momentum.items():
                if key.startswith(prefix):
                    new_momentum[f"blocks.{position}.{key[len(prefix):]}"] = value
        else:
            for key, value in payload.items():  # type: ignore[union-attr]
                new_weights[f"blocks.{position}.{key}"] = value
                if key in ("layer.weight", "bn.weight", "bn.bias"):
                    # New parameters start with no momentum: nothing has pushed them yet.
                    new_momentum[f"blocks.{position}.{key}"] = torch.zeros_like(value)
    return new_weights, new_momentum


def deepen(state: TrainingState, new_depth: int, sample_x: torch.Tensor) -> TrainingState:
    """Net2DeeperNet: insert identity blocks until the network has ``new_depth`` blocks."""
    arch = state.arch
    if new_depth <= arch.depth:
        raise ValueError(f"deepen needs a depth above {arch.depth}, got {new_depth}")
    target = arch.replace(depth=new_depth)
    weights, momentum = _snapshot(state)
    block_io, stage_inputs = _block_inputs(state.network, sample_x)
    eps = state.network.blocks[0].bn.eps
    order: list[tuple[str, int | dict]] = []
    first = 0
    for stage, (have, want) in enumerate(zip(arch.stages, target.stages)):
        old_blocks = list(range(first, first + have))
        first += have
        extra = want - have
        # Interleave: one identity block after each existing block, the rest at the stage's end.
        for i in old_blocks:
            order.append(("old", i))
            if extra > 0:
                order.append(("new", _identity_block(arch.kind, arch.width, block_io[i][1], eps)))
                extra -= 1
        entering = block_io[old_blocks[-1]][1] if old_blocks else stage_inputs[stage]
        for _ in range(extra):
            order.append(("new", _identity_block(arch.kind, arch.width, entering, eps)))
    weights, momentum = _renumber(weights, momentum, order)
    return _rebuild(state, target, weights, momentum)


def block_usefulness(state: TrainingState, sample_x: torch.Tensor) -> list[float]:
    """How much each block changes its input (relative L2); near 0 means nearly an identity."""
    block_io, _ = _block_inputs(state.network, sample_x)
    scores = []
    for i, (x, y) in enumerate(block_io):
        if i == 0:
            scores.append(float("inf"))  # the stem maps raw input to features: never removable
            continue
        scores.append(float((y - x).norm() / (x.norm() + 1e-12)))
    return scores


def shallow(state: TrainingState, new_depth: int, sample_x: torch.Tensor) -> TrainingState:
    """Remove the blocks that change their input least until ``new_depth`` remain."""
    arch = state.arch
    if not 0 < new_depth < arch.depth:
        raise ValueError(f"shallow needs a depth below {arch.depth}, got {new_depth}")
    target = arch.replace(depth=new_depth)
    weights, momentum = _snapshot(state)
    scores = block_usefulness(state, sample_x)
    order: list[tuple[str, int | dict]] = []
    first = 0
    for have, want in zip(arch.stages, target.stages):
        stage_blocks = list(range(first, first + have))
        first += have
        keep = sorted(sorted(stage_blocks, key=lambda i: scores[i], reverse=True)[:want])
        order.extend(("old", i) for i in keep)
    weights, momentum = _renumber(weights, momentum, order)
    return _rebuild(state, target, weights, momentum)


@dataclasses.dataclass(frozen=True)
class ChangeReport:
    """Validation loss/accuracy right before and right after a width/depth change."""

    knob: str
    direction: str
    old_value: int
    new_value: int
    val_loss_before: float
    val_loss_after: float
    val_acc_before: float
    val_acc_after: float

    @property
    def preserves_function(self) -> bool:
        """Up is designed to preserve the function; Down is not."""
        return self.direction == "up"

    def as_dict(self) -> dict:
        """JSON-ready dict."""
        return dataclasses.asdict(self) | {"preserves_function": self.preserves_function}
