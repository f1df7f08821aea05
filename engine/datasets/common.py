"""Helpers shared by the dataset families: seeded randomness, split sizes, labels, standardisation."""

from __future__ import annotations

import hashlib

import torch

from engine.datasets.base import FAMILIES, SIZES, Dataset

#: Each split's size is its nominal size times a per-seed factor in [1 - SIZE_JITTER, 1 + SIZE_JITTER].
SIZE_JITTER = 0.1
#: Image standardisation statistics use at most this many training examples (plenty, and fast);
#: vectors are small enough to use every training example.
STATS_EXAMPLES = 1024
#: Images are rendered this many examples at a time so temporaries stay small and cached.
CHUNK = 1024
#: Side of every square image, in pixels.
IMAGE_SIDE = 32

SPLITS = ("train", "val", "test")


def generator(*parts: object) -> torch.Generator:
    """A CPU torch.Generator seeded by a stable hash of ``parts``."""
    # sha256 rather than hash(): Python salts str hashes per process.
    digest = hashlib.sha256(":".join(str(p) for p in parts).encode()).digest()
    return torch.Generator().manual_seed(int.from_bytes(digest[:8], "little") >> 1)


def uniform(g: torch.Generator, low: float, high: float) -> float:
    """One number drawn uniformly from [low, high)."""
    return low + (high - low) * float(torch.rand((), generator=g, dtype=torch.float64))


def randint(g: torch.Generator, low: int, high: int) -> int:
    """One integer drawn uniformly from [low, high] (both ends included)."""
    return int(torch.randint(low, high + 1, (), generator=g))


def uniforms(g: torch.Generator, shape: tuple[int, ...], low: float, high: float) -> torch.Tensor:
    """A float32 tensor drawn uniformly from [low, high)."""
    return torch.rand(shape, generator=g).mul_(high - low).add_(low)


def split_sizes(g: torch.Generator, size: str) -> dict[str, int]:
    """Examples per split: the preset's nominal size times a per-seed factor near 1."""
    factors = uniforms(g, (len(SPLITS),), 1 - SIZE_JITTER, 1 + SIZE_JITTER).tolist()
    return {name: round(SIZES[size][name] * f) for name, f in zip(SPLITS, factors)}


def family_split_sizes(g: torch.Generator, family: str, size: str) -> dict[str, int]:
    """split_sizes with the family's training-set factor at ``size`` applied (Family.train_factor), rounded."""
    sizes = split_sizes(g, size)
    sizes["train"] = round(sizes["train"] * FAMILIES[family].train_factor(size))
    return sizes


def balanced_labels(g: torch.Generator, n: int, num_classes: int) -> torch.Tensor:
    """``n`` labels in random order with every class equally often (up to one)."""
    return (torch.arange(n) % num_classes)[torch.randperm(n, generator=g)]


def flip_labels(g: torch.Generator, y: torch.Tensor, num_classes: int, rate: float) -> torch.Tensor:
    """Replace a ``rate`` fraction of labels by a different, random class."""
    flip = torch.rand(y.shape, generator=g, dtype=torch.float64) < rate
    shift = torch.randint(1, num_classes, y.shape, generator=g)
    return torch.where(flip, (y + shift) % num_classes, y)


def balancing_offsets(logits: torch.Tensor, rounds: int) -> torch.Tensor:
    """Per-class offsets [k] that make every class win the argmax of ``logits`` [n,k] about equally often."""
    k = logits.shape[1]
    shift = torch.zeros(k, dtype=logits.dtype)
    for _ in range(rounds):
        counts = torch.bincount((logits + shift).argmax(dim=1), minlength=k).double()
        shift -= 0.5 * torch.log((counts + 1) / (counts.sum() + k) * k)
    return shift


def pixel_grid() -> torch.Tensor:
    """Pixel-centre coordinates in [-1, 1] along one side of an image."""
    return (torch.arange(IMAGE_SIDE, dtype=torch.float32) + 0.5) / (IMAGE_SIDE / 2) - 1


def chunks(n: int) -> list[slice]:
    """Consecutive slices of at most CHUNK examples covering range(n)."""
    return [slice(i, min(i + CHUNK, n)) for i in range(0, n, CHUNK)]


def add_pixel_noise(g: torch.Generator, x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Add zero-mean triangular noise of std ``sigma`` to ``x`` in place.

    Built from random bytes (the difference of two uniform bytes): eight noise values per
    64-bit draw instead of one, which makes noise three times cheaper than normal_().
    """
    bits = torch.empty(x.numel() // 4 + 1, dtype=torch.int64).random_(-(2**63), None, generator=g)
    pairs = bits.view(torch.uint8)[: 2 * x.numel()].view(2, *x.shape)
    noise = pairs[0].float().sub_(pairs[1])  # std 256 / sqrt(6)
    return x.add_(noise.mul_(sigma * 6**0.5 / 256))


def paint(x: torch.Tensor, field: torch.Tensor, colour: torch.Tensor) -> torch.Tensor:
    """Add ``field`` [N,1,H,W] times a per-example ``colour`` [N,3] to ``x`` [N,3,H,W] in place."""
    return x.add_(field * colour.view(-1, 3, 1, 1))


def random_poses(
    g: torch.Generator, n: int, scale: tuple[float, float], rotation: float
) -> torch.Tensor:
    """Random placements [n,4] (centre x, centre y, cos/scale, sin/scale) of objects in the image."""
    s = uniforms(g, (n,), *scale)
    room = 1 - s  # keep the centre far enough in for most of the object to show
    cx = uniforms(g, (n,), -1, 1).mul_(room)
    cy = uniforms(g, (n,), -1, 1).mul_(room)
    angle = uniforms(g, (n,), -rotation, rotation).double()
    # cos/sin in float64 on a small tensor, then rounded: no dependence on the SIMD code path.
    return torch.stack([cx, cy, (angle.cos() / s).float(), (angle.sin() / s).float()], dim=1)


def pose_coords(pose: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Pixel coordinates [m,H,W] in each object's frame (unit = its radius) for poses [m,4]."""
    grid = pixel_grid()
    cx, cy, cos, sin = (col.view(-1, 1, 1) for col in pose.unbind(1))
    px = grid.view(1, 1, -1) - cx  # [m,1,W]
    py = grid.view(1, -1, 1) - cy  # [m,H,1]
    return px * cos + py * sin, py * cos - px * sin


def colour_shifts(g: torch.Generator, n: int, length: tuple[float, float]) -> torch.Tensor:
    """Random colour differences [n,3] in uniformly random directions, lengths drawn from ``length``."""
    direction = torch.randn((n, 3), generator=g, dtype=torch.float64)
    size = uniforms(g, (n, 1), *length).double()
    # float64 norm: a reduction, so its rounding must not depend on how threads split it.
    return direction.div_(direction.norm(dim=1, keepdim=True).clamp_(min=1e-3)).mul_(size).float()


def upsample(x: torch.Tensor, factor: int) -> torch.Tensor:
    """Bilinear upsampling of [..., h, w] by an integer ``factor`` (align_corners=False, edges clamped).

    Hand-written from slices, multiplies and adds so every element is rounded the same way
    whatever the thread count (F.interpolate gives no such promise), and fast.
    """
    return _stretch(_stretch(x, -1, factor), -2, factor)


def _stretch(x: torch.Tensor, dim: int, factor: int) -> torch.Tensor:
    """Linear interpolation along one negative axis ``dim`` to ``factor`` times as many samples."""
    n = x.shape[dim]
    padded = torch.cat([x.narrow(dim, 0, 1), x, x.narrow(dim, n - 1, 1)], dim=dim)
    before, here, after = (padded.narrow(dim, k, n) for k in range(3))
    out = x.new_empty(x.shape[:dim] + (n, factor) + x.shape[dim:][1:])
    for r in range(factor):
        offset = (r + 0.5) / factor - 0.5  # output sample's distance from its source sample
        neighbour = after if offset > 0 else before
        # Written straight into the output: no stack/copy of a full-size temporary.
        torch.mul(here, 1 - abs(offset), out=out.select(dim, r)).add_(neighbour * abs(offset))
    return out.flatten(dim - 1, dim)


def standardise(x: torch.Tensor, n_train: int) -> torch.Tensor:
    """Shift and scale ``x`` in place to zero mean, unit std per channel/feature (train statistics)."""
    dims = [0] + list(range(2, x.dim()))  # every axis except the channel / feature axis
    sample = x[: n_train if x.dim() == 2 else min(n_train, STATS_EXAMPLES)]
    # float64 sums: rounding then stays far below float32 resolution whatever the thread count.
    mean = sample.mean(dim=dims, keepdim=True, dtype=torch.float64).float()
    centred = sample - mean
    std = centred.mul_(centred).mean(dim=dims, keepdim=True, dtype=torch.float64).sqrt_()
    return x.sub_(mean).div_(std.float().clamp_(min=1e-6))


def assemble(
    family: str,
    seed: int,
    size: str,
    num_classes: int,
    x: torch.Tensor,
    y: torch.Tensor,
    sizes: dict[str, int],
) -> Dataset:
    """Standardise examples generated in one go and cut them into train / val / test."""
    x = standardise(x, sizes["train"])
    cuts = [sizes[name] for name in SPLITS]
    # Contiguous views of one block: no copy, and the three splits are always kept together.
    parts = {}
    for name, xi, yi in zip(SPLITS, x.split(cuts), y.split(cuts)):
        parts[f"{name}_x"], parts[f"{name}_y"] = xi, yi
    return Dataset(
        family=family,
        seed=seed,
        size=size,
        num_classes=num_classes,
        input_shape=tuple(x.shape[1:]),
        **parts,
    )
