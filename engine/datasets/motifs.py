"""Image family "motifs": small colour motifs scattered over clutter, labelled by a hidden random scorer.

Each seed draws a bank of motifs (small smooth colour patches, all variations of one shared
pattern) and a random teacher: a linear score per class over how often each motif appears.
An image holds a few motifs at random places; its label is the teacher's top class. A CNN has
to learn to tell the motifs apart (local features) and to weigh them (the classifier over
pooled features); within a short budget a larger learning rate gets much further than the
default's.
"""

from __future__ import annotations

import torch

from engine.datasets import common
from engine.datasets.base import Dataset, Family, register

# Difficulty knobs (re-tune here). Ranges are drawn once per seed unless marked per example.
#: Number of classes: many, because with few the default schedule already reaches what a better
#: one does within the budget (docs/calibration.md).
CLASSES = (9, 10)
#: Motifs in the seed's bank.
MOTIFS = (8, 12)
#: Motifs placed in one image (per example; a motif may appear more than once).
PER_IMAGE = (2, 4)
#: Side of a motif, in pixels.
MOTIF_SIDE = 8
#: How much of every motif is the bank's shared pattern (0 = unrelated motifs, 1 = identical).
SHARED = (0.5, 0.7)
#: Strength of each placed motif (per example and motif), in units of the motifs' RMS.
AMPLITUDE = (0.6, 1.0)
#: Strength of the coarse colour clutter (4x4 noise upsampled) and std of the pixel noise.
CLUTTER = (0.6, 1.0)
NOISE = (0.2, 0.3)
#: Fraction of labels replaced by a wrong class.
LABEL_NOISE = (0.0, 0.05)
#: Training examples relative to the size preset: with the preset's 1,200 at small the default
#: fell below the band on hard seeds (docs/calibration.md has the sweeps).
TRAIN_SCALE = 2
#: ... at these sizes: "full" already has 8,500, and "tiny" (tests) is about speed, not play.
SCALED_SIZES = ("small",)
#: Reference images (motif counts only) used to even out the teacher's class frequencies.
REFERENCE = 4096
BALANCE_ROUNDS = 50


def motif_bank(g: torch.Generator, count: int) -> torch.Tensor:
    """``count`` motifs [count,3,s,s]: smooth patches fading to zero at the edge, unit RMS."""
    side = MOTIF_SIDE

    def patterns(m: int) -> torch.Tensor:
        return common.upsample(torch.randn((m, 3, side // 2, side // 2), generator=g), 2)

    shared = common.uniform(g, *SHARED)
    base = patterns(1).mul_(shared)
    bank = patterns(count).mul_((1 - shared**2) ** 0.5).add_(base)
    r = (torch.arange(side, dtype=torch.float32) + 0.5 - side / 2) / (side / 2)
    window = (1 - r.view(-1, 1) ** 2 - r.view(1, -1) ** 2).clamp_(min=0)
    bank.mul_(window)
    # No flat colour: the mean of each channel is taken out in the window's shape.
    bank.sub_(bank.mean(dim=(2, 3), keepdim=True, dtype=torch.float64).float() * (window / window.mean()))
    return bank.div_(bank.pow(2).mean(dim=(1, 2, 3), keepdim=True, dtype=torch.float64).sqrt_().float())


class Teacher:
    """A random linear scorer over motif counts, its class offsets evened out on reference images."""

    def __init__(self, g: torch.Generator, num_classes: int, num_motifs: int) -> None:
        """Draw the weights, then balance the classes on REFERENCE random motif counts."""
        self.weights = torch.randn((num_classes, num_motifs), generator=g, dtype=torch.float64)
        self.offsets = torch.zeros(num_classes, dtype=torch.float64)  # while the reference is scored
        _, _, reference = draw_placements(g, REFERENCE, num_motifs)
        self.offsets = common.balancing_offsets(self.logits(reference), BALANCE_ROUNDS)

    def logits(self, counts: torch.Tensor) -> torch.Tensor:
        """Class scores [n,k] for motif counts [n,m]."""
        return counts @ self.weights.T + self.offsets

    def labels(self, counts: torch.Tensor) -> torch.Tensor:
        """The top class of each image."""
        return self.logits(counts).argmax(dim=1)


def draw_placements(
    g: torch.Generator, n: int, num_motifs: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Which motif fills each slot [n,slots], which slots are used [n,slots], motif counts [n,m]."""
    slots = PER_IMAGE[1]
    used = torch.randint(PER_IMAGE[0], slots + 1, (n,), generator=g)
    ids = torch.randint(0, num_motifs, (n, slots), generator=g)
    present = torch.arange(slots).view(1, -1) < used.view(-1, 1)
    counts = torch.zeros((n, num_motifs), dtype=torch.float64).scatter_add_(1, ids, present.double())
    return ids, present, counts


def place_motifs(
    g: torch.Generator, x: torch.Tensor, bank: torch.Tensor, ids: torch.Tensor, strength: torch.Tensor
) -> None:
    """Add motif ``ids`` [n,slots] times ``strength`` [n,slots] at random places in ``x`` in place."""
    n, channels, side, _ = x.shape
    ms = MOTIF_SIDE
    offsets = (torch.arange(ms).view(-1, 1) * side + torch.arange(ms).view(1, -1)).view(1, -1)
    flat = x.view(n, channels, side * side)
    for slot in range(ids.shape[1]):
        corner = torch.randint(0, side - ms + 1, (n, 2), generator=g)
        index = (corner[:, 1:] * side + corner[:, :1]) + offsets  # [n, ms*ms]
        values = bank[ids[:, slot]].view(n, channels, ms * ms) * strength[:, slot].view(-1, 1, 1)
        # One motif per image per slot: no index repeats within a call, so the sum is exact.
        flat.scatter_add_(2, index.unsqueeze(1).expand(n, channels, ms * ms), values)


def generate(seed: int, size: str) -> Dataset:
    """Draw the "motifs" dataset for (seed, size)."""
    pg = common.generator("motifs", seed, "params")
    num_classes = common.randint(pg, *CLASSES)
    num_motifs = common.randint(pg, *MOTIFS)
    sizes = common.family_split_sizes(pg, "motifs", size)
    bank = motif_bank(pg, num_motifs)
    teacher = Teacher(pg, num_classes, num_motifs)
    clutter = common.uniform(pg, *CLUTTER)
    noise = common.uniform(pg, *NOISE)
    label_noise = common.uniform(pg, *LABEL_NOISE)

    g = common.generator("motifs", seed, size, "examples")
    n = sum(sizes.values())
    ids, present, counts = draw_placements(g, n, num_motifs)
    y = common.flip_labels(g, teacher.labels(counts), num_classes, label_noise)
    strength = common.uniforms(g, ids.shape, *AMPLITUDE).mul_(present)

    side = common.IMAGE_SIDE
    x = torch.empty((n, 3, side, side))
    for sl in common.chunks(n):
        xs = x[sl]
        coarse = torch.randn((len(xs), 3, 4, 4), generator=g).mul_(clutter)
        xs.copy_(common.upsample(coarse, side // 4))
        common.add_pixel_noise(g, xs, noise)
        place_motifs(g, xs, bank, ids[sl], strength[sl])
    return common.assemble("motifs", seed, size, num_classes, x, y, sizes)


FAMILY = register(
    Family(
        name="motifs",
        kind="image",
        description="Small colour motifs scattered over clutter; a hidden random scorer of which motifs appear gives the label.",
        generate=generate,
        train_scale=TRAIN_SCALE,
        scaled_sizes=SCALED_SIZES,
        # At the game's 30 epochs the best reference beats the default by a median of 0.13, not the
        # 0.15 the targets ask, and neither fewer nor more training examples widened it
        # (docs/calibration.md): kept for research and for the runs already played on it, no longer given to classes.
        playable=False,
    )
)
