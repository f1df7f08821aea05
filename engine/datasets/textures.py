"""Image family "textures": sums of oriented gratings; each class prefers one orientation and frequency band."""

from __future__ import annotations

import math

import torch

from engine.datasets import common
from engine.datasets.base import Dataset, Family, register

# Difficulty knobs (re-tune here). Ranges are drawn once per seed unless marked per example.
#: Number of classes.
CLASSES = (4, 10)
#: Class prototypes come from this grid: orientations evenly spaced over 180 degrees ...
ORIENTATIONS = 6
#: ... times these spatial frequencies, in cycles per image width.
FREQUENCIES = (2.0, 3.5, 6.0)
#: Gratings summed per image (per seed); each one follows the class or is a random distractor.
COMPONENTS = (3, 4)
#: Probability that a grating is a distractor with random orientation and frequency (per seed).
DISTRACTORS = (0.3, 0.5)
#: Std of a class grating's orientation (radians) and log-frequency around the prototype (per seed).
ORIENTATION_JITTER = (0.15, 0.25)
FREQUENCY_JITTER = (0.15, 0.25)
#: Colour distance of the texture from the background (per example).
CONTRAST = (0.4, 1.0)
#: Std of the pixel noise (per seed), in the same units as colours in [0, 1].
NOISE = (0.1, 0.3)


def _prototypes(g: torch.Generator, num_classes: int) -> torch.Tensor:
    """Distinct (orientation, frequency) class prototypes [k,2], slightly perturbed per seed."""
    cells = torch.randperm(ORIENTATIONS * len(FREQUENCIES), generator=g)[:num_classes]
    step = math.pi / ORIENTATIONS
    offset = common.uniform(g, 0, step)  # turn the whole grid so 0 degrees is not special
    orientation = (cells % ORIENTATIONS).double() * step + offset
    frequency = torch.tensor(FREQUENCIES, dtype=torch.float64)[cells // ORIENTATIONS]
    return torch.stack([orientation, frequency], dim=1)


def _gratings(
    g: torch.Generator, y: torch.Tensor, protos: torch.Tensor, distractors: float, jitter: tuple[float, float]
) -> torch.Tensor:
    """Orientation, frequency, phase and amplitude [n,4] of one grating per example."""
    n = len(y)
    own = protos[y]
    orientation = own[:, 0] + torch.randn(n, generator=g, dtype=torch.float64) * jitter[0]
    frequency = own[:, 1] * (torch.randn(n, generator=g, dtype=torch.float64) * jitter[1]).exp()
    lo, hi = math.log(FREQUENCIES[0]), math.log(FREQUENCIES[-1])
    random_orientation = torch.rand(n, generator=g, dtype=torch.float64) * math.pi
    random_frequency = (torch.rand(n, generator=g, dtype=torch.float64) * (hi - lo) + lo).exp()
    distract = torch.rand(n, generator=g, dtype=torch.float64) < distractors
    orientation = torch.where(distract, random_orientation, orientation)
    frequency = torch.where(distract, random_frequency, frequency)
    phase = torch.rand(n, generator=g, dtype=torch.float64) * (2 * math.pi)
    amplitude = torch.rand(n, generator=g, dtype=torch.float64) * 0.5 + 0.5
    return torch.stack([orientation, frequency, phase, amplitude], dim=1)


def _render(waves: torch.Tensor) -> torch.Tensor:
    """Add up gratings [m,c,4] into intensity fields [m,1,32,32].

    sin(ax + by + p) = sin(ax + p)cos(by) + cos(ax + p)sin(by): the sines are taken on small
    [m,32] tensors in float64 (exactly reproducible once rounded), the image needs only + and *.
    """
    grid = common.pixel_grid().double()
    m = waves.shape[0]
    field = torch.zeros((m, common.IMAGE_SIDE, common.IMAGE_SIDE))
    for wave in waves.unbind(1):
        orientation, frequency, phase, amplitude = wave.unbind(1)
        k = (math.pi * frequency).view(-1, 1)  # x spans 2 units, so pi*f radians per unit
        ax = grid * (k * orientation.cos().view(-1, 1)) + phase.view(-1, 1)
        by = grid * (k * orientation.sin().view(-1, 1))
        amp = amplitude.view(-1, 1)
        sin_x, cos_x = (ax.sin() * amp).float(), (ax.cos() * amp).float()
        sin_y, cos_y = by.sin().float(), by.cos().float()
        field.add_(sin_x.unsqueeze(1) * cos_y.unsqueeze(2)).add_(cos_x.unsqueeze(1) * sin_y.unsqueeze(2))
    return field.unsqueeze(1)


def generate(seed: int, size: str) -> Dataset:
    """Draw the "textures" dataset for (seed, size)."""
    pg = common.generator("textures", seed, "params")
    num_classes = common.randint(pg, *CLASSES)
    protos = _prototypes(pg, num_classes)
    sizes = common.split_sizes(pg, size)
    components = common.randint(pg, *COMPONENTS)
    distractors = common.uniform(pg, *DISTRACTORS)
    jitter = (common.uniform(pg, *ORIENTATION_JITTER), common.uniform(pg, *FREQUENCY_JITTER))
    noise = common.uniform(pg, *NOISE)

    g = common.generator("textures", seed, size, "examples")
    n = sum(sizes.values())
    y = common.balanced_labels(g, n, num_classes)
    waves = torch.stack([_gratings(g, y, protos, distractors, jitter) for _ in range(components)], dim=1)
    background = torch.rand((n, 3), generator=g)
    colours = common.colour_shifts(g, n, CONTRAST).div_(components**0.5)

    side = common.IMAGE_SIDE
    x = torch.empty((n, 3, side, side))
    for sl in common.chunks(n):
        xs = x[sl]
        xs.copy_(background[sl].view(-1, 3, 1, 1).expand_as(xs))
        common.add_pixel_noise(g, xs, noise)
        common.paint(xs, _render(waves[sl]), colours[sl])
    return common.assemble("textures", seed, size, num_classes, x, y, sizes)


register(
    Family(
        name="textures",
        kind="image",
        description="Noisy sums of coloured stripe patterns whose orientation and fineness depend on the class.",
        generate=generate,
    )
)
