"""Image family "teacher": smooth random images labelled by a random convolutional teacher network."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from engine.datasets import common
from engine.datasets.base import Dataset, Family, register

# Difficulty knobs (re-tune here). Ranges are drawn once per seed.
#: Number of classes.
CLASSES = (4, 10)
#: Side of the coarse image the teacher sees; the student sees it upsampled to 32x32.
COARSE = 8
#: Weight of a still coarser (4x4) layer mixed into the coarse image: large, slow colour blobs.
BLOBS = (0.5, 1.0)
#: Teacher width: feature maps in its two hidden layers.
TEACHER_WIDTH = (8, 16)
#: Fine detail (16x16 noise upsampled) and pixel noise the teacher never sees (std, per seed).
DETAIL = (0.2, 0.4)
NOISE = (0.1, 0.3)
#: Fraction of labels replaced by a wrong class (per seed).
LABEL_NOISE = (0.0, 0.08)
#: Reference images (drawn per seed) that calibrate the teacher, so every size gets the same teacher.
REFERENCE = 2048
#: Rounds of offset adjustment that even out the teacher's class frequencies.
BALANCE_ROUNDS = 50


class Teacher:
    """A random CNN in float64: 3x3 conv, ReLU, 2x2 average pool, 3x3 conv, ReLU, global pool, linear."""

    def __init__(self, g: torch.Generator, num_classes: int, width: int, blobs: float) -> None:
        """Draw the weights, then calibrate feature scales and class offsets on reference images."""
        w1 = torch.randn((width, 27), generator=g, dtype=torch.float64)
        # Zero-mean filters per input channel: flat colour alone must not decide the class.
        self.w1 = (w1.view(width, 3, 9) - w1.view(width, 3, 9).mean(dim=2, keepdim=True)).view(width, 27)
        self.b1 = torch.randn((width, 1), generator=g, dtype=torch.float64) * 0.5
        self.w2 = torch.randn((width, 9 * width), generator=g, dtype=torch.float64) / (9 * width) ** 0.5
        self.b2 = torch.randn((width, 1), generator=g, dtype=torch.float64) * 0.5
        self.w3 = torch.randn((num_classes, width), generator=g, dtype=torch.float64)
        self.mean = torch.zeros(width, dtype=torch.float64)
        self.std = torch.ones(width, dtype=torch.float64)
        self.offsets = torch.zeros(num_classes, dtype=torch.float64)
        reference = coarse_images(g, REFERENCE, blobs)
        feats = self.features(reference)
        self.mean, self.std = feats.mean(dim=0), feats.std(dim=0).clamp(min=1e-9)
        self.offsets += common.balancing_offsets(self.logits(reference), BALANCE_ROUNDS)

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """Pooled hidden features [n,width] of coarse images [n,3,h,w] (float64)."""
        out = []
        for sl in common.chunks(len(images)):
            # conv as unfold + matmul: float64 conv2d is an order of magnitude slower.
            m, _, side, _ = images[sl].shape
            h = F.relu(self.w1 @ F.unfold(images[sl], 3, padding=1) + self.b1)  # [m,width,h*w]
            # Pooling before the second conv: its features combine parts of a larger area.
            h = F.avg_pool2d(h.view(m, -1, side, side), 2)
            h = F.relu(self.w2 @ F.unfold(h, 3, padding=1) + self.b2)
            out.append(h.mean(dim=2))
        return torch.cat(out)

    def logits(self, images: torch.Tensor) -> torch.Tensor:
        """Class scores [n,k] of coarse images, offsets included."""
        return ((self.features(images) - self.mean) / self.std) @ self.w3.T + self.offsets


def coarse_images(g: torch.Generator, n: int, blobs: float) -> torch.Tensor:
    """Smooth random images [n,3,8,8] in float64: 8x8 noise plus upsampled 4x4 noise."""
    fine = torch.randn((n, 3, COARSE, COARSE), generator=g, dtype=torch.float64)
    coarse = torch.randn((n, 3, COARSE // 2, COARSE // 2), generator=g, dtype=torch.float64)
    return fine.add_(common.upsample(coarse, 2).mul_(blobs))


def generate(seed: int, size: str) -> Dataset:
    """Draw the "teacher" dataset for (seed, size)."""
    pg = common.generator("teacher", seed, "params")
    num_classes = common.randint(pg, *CLASSES)
    sizes = common.split_sizes(pg, size)
    blobs = common.uniform(pg, *BLOBS)
    teacher = Teacher(pg, num_classes, common.randint(pg, *TEACHER_WIDTH), blobs)
    detail = common.uniform(pg, *DETAIL)
    noise = common.uniform(pg, *NOISE)
    label_noise = common.uniform(pg, *LABEL_NOISE)

    g = common.generator("teacher", seed, size, "examples")
    n = sum(sizes.values())
    coarse = coarse_images(g, n, blobs)
    y = teacher.logits(coarse).argmax(dim=1)
    y = common.flip_labels(g, y, num_classes, label_noise)

    side = common.IMAGE_SIDE
    coarse = coarse.float()
    x = torch.empty((n, 3, side, side))
    for sl in common.chunks(n):
        xs = x[sl]
        # Detail joins at 16x16, then one upsampling to 32x32 (half the full-size work).
        details = torch.randn((len(xs), 3, side // 2, side // 2), generator=g).mul_(detail)
        xs.copy_(common.upsample(common.upsample(coarse[sl], side // 2 // COARSE).add_(details), 2))
        common.add_pixel_noise(g, xs, noise)
    return common.assemble("teacher", seed, size, num_classes, x, y, sizes)


register(
    Family(
        name="teacher",
        kind="image",
        description="Smooth random colour images whose labels come from a hidden random convolutional network.",
        generate=generate,
        # Misses the calibration targets (its default is near chance on some seeds): kept so that
        # runs already played on it keep their data, and for research, but no longer given to classes.
        playable=False,
    )
)
