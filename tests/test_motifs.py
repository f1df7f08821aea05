"""Tests for the "motifs" family's parts: the motif bank, motif placement and the hidden teacher."""

from __future__ import annotations

import pytest
import torch

from engine.datasets import common, make_dataset
from engine.datasets import motifs


def test_motifs_are_round_have_no_flat_colour_and_unit_rms():
    bank = motifs.motif_bank(common.generator("test", "bank"), 9)
    assert bank.shape == (9, 3, motifs.MOTIF_SIDE, motifs.MOTIF_SIDE)
    r = (torch.arange(motifs.MOTIF_SIDE) + 0.5) / (motifs.MOTIF_SIDE / 2) - 1
    outside = r.view(-1, 1) ** 2 + r.view(1, -1) ** 2 >= 1  # beyond the motif's round edge
    assert outside.any() and bank[..., outside].abs().max() == 0
    assert bank.mean(dim=(2, 3)).abs().max() < 1e-5
    assert torch.allclose(bank.pow(2).mean(dim=(1, 2, 3)), torch.ones(9), atol=1e-5)
    # Motifs share a pattern but are not copies of one another.
    flat = bank.flatten(1)
    similarity = (flat @ flat.T) / flat.shape[1]
    off_diagonal = similarity[~torch.eye(9, dtype=torch.bool)]
    assert off_diagonal.abs().max() < 0.95


def test_a_placed_motif_lands_whole_inside_the_image_with_its_strength():
    g = common.generator("test", "place")
    bank = motifs.motif_bank(g, 4)
    x = torch.zeros((50, 3, 32, 32))
    ids = torch.randint(0, 4, (50, 1), generator=g)
    strength = torch.full((50, 1), 0.5)
    motifs.place_motifs(g, x, bank, ids, strength)
    side = motifs.MOTIF_SIDE
    corners = [(t, l) for t in range(32 - side + 1) for l in range(32 - side + 1)]
    for image, motif in zip(x, ids[:, 0]):
        expected = 0.5 * bank[motif]
        at = [c for c in corners if torch.equal(image[:, c[0]:c[0] + side, c[1]:c[1] + side], expected)]
        assert len(at) == 1
        top, left = at[0]
        image[:, top:top + side, left:left + side] = 0
        assert image.abs().max() == 0  # nothing outside the motif's square


def test_unused_slots_add_nothing():
    g = common.generator("test", "unused")
    bank = motifs.motif_bank(g, 4)
    x = torch.zeros((10, 3, 32, 32))
    motifs.place_motifs(g, x, bank, torch.zeros((10, 2), dtype=torch.long), torch.zeros((10, 2)))
    assert x.abs().max() == 0


@pytest.mark.parametrize("seed", range(5))
def test_teacher_spreads_its_labels_over_every_class(seed):
    g = common.generator("test", "teacher", seed)
    classes = 4 + seed
    teacher = motifs.Teacher(g, classes, 10)
    _, _, counts = motifs.draw_placements(g, 4000, 10)
    share = torch.bincount(teacher.labels(counts), minlength=classes).double() / 4000
    assert share.min() >= 0.5 / classes and share.max() <= 1.5 / classes


def test_labels_are_the_teachers_top_class_of_the_placed_motifs():
    # Rebuild the generator's draws: with the label-noise rate drawn as 0, every label must match.
    ds = make_dataset("motifs", 3, "tiny")
    pg = common.generator("motifs", 3, "params")
    num_classes = common.randint(pg, *motifs.CLASSES)
    num_motifs = common.randint(pg, *motifs.MOTIFS)
    common.split_sizes(pg, "tiny")
    motifs.motif_bank(pg, num_motifs)
    teacher = motifs.Teacher(pg, num_classes, num_motifs)
    g = common.generator("motifs", 3, "tiny", "examples")
    n = len(ds.train_y) + len(ds.val_y) + len(ds.test_y)
    _, _, counts = motifs.draw_placements(g, n, num_motifs)
    clean = teacher.labels(counts)
    labels = torch.cat([ds.train_y, ds.val_y, ds.test_y])
    agreement = (clean == labels).double().mean().item()
    assert ds.num_classes == num_classes
    assert agreement >= 1 - motifs.LABEL_NOISE[1] - 0.03  # only the flipped labels differ
