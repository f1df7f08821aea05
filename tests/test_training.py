"""One epoch of training: learning, determinism, divergence."""

import dataclasses
import math

import pytest
import torch

from engine.config import HyperParams
from engine.training import new_state, place, train_epoch


def test_epochs_improve_loss_on_easy_data(image_blobs):
    data = place(image_blobs)
    state = new_state(image_blobs, HyperParams(32, 2, 0.05), seed=0)
    first = train_epoch(state, data)
    for _ in range(3):
        last = train_epoch(state, data)
    assert state.epoch == 4 and last.epoch == 4
    assert last.train_loss < first.train_loss
    assert last.val_loss < first.val_loss
    assert last.val_acc > 1 / image_blobs.num_classes + 0.3
    assert not last.diverged


def test_mlp_epochs_improve_on_easy_vectors(vector_blobs):
    data = place(vector_blobs)
    state = new_state(vector_blobs, HyperParams(32, 2, 0.05), seed=0)
    first = train_epoch(state, data)
    for _ in range(3):
        last = train_epoch(state, data)
    assert last.val_loss < first.val_loss and last.val_acc > 0.8


def test_same_seed_same_curve(image_blobs):
    def curve(seed):
        data = place(image_blobs)
        state = new_state(image_blobs, HyperParams(16, 2, 0.05, dropout=0.3), seed=seed)
        return [dataclasses.replace(train_epoch(state, data), seconds=0) for _ in range(2)]

    assert curve(5) == curve(5)
    assert curve(5) != curve(6)


def test_hyperparameters_take_effect_each_epoch(vector_blobs):
    data = place(vector_blobs)
    a = new_state(vector_blobs, HyperParams(32, 2, 0.01), seed=0)
    b = new_state(vector_blobs, HyperParams(32, 2, 0.01), seed=0)
    train_epoch(a, data)
    train_epoch(b, data)
    b.hparams = b.hparams.replace(lr=0.1)
    assert train_epoch(a, data) != train_epoch(b, data)


def test_diverging_run_is_reported_not_raised(vector_blobs):
    data = place(vector_blobs)
    state = new_state(vector_blobs, HyperParams(32, 2, 1.0), seed=0)
    # Logits overflow float32 on the first batch: the loss becomes NaN, as when a step explodes.
    with torch.no_grad():
        state.network.classifier.weight.fill_(1e38)
    metrics = train_epoch(state, data)
    assert metrics.diverged
    assert math.isnan(metrics.train_loss) and math.isnan(metrics.val_loss)
    assert metrics.as_dict()["train_loss"] is None
    assert 0.0 <= metrics.val_acc <= 1.0


def test_progress_callback_reports_batches(image_blobs):
    seen = []
    data = place(image_blobs)
    state = new_state(image_blobs, HyperParams(16, 1, 0.05), seed=0)
    train_epoch(state, data, progress=lambda done, total: seen.append((done, total)))
    assert seen and seen[-1][0] == seen[-1][1]
    assert all(torch.tensor([d for d, _ in seen]).diff() > 0)


def test_cpu_bfloat16_can_be_switched_off(monkeypatch):
    """HYPERQUEST_CPU_BF16=0 keeps CPU training in float32 whatever the CPU offers."""
    from engine.devices import CPU_BF16_VARIABLE, cpu_has_native_bf16

    monkeypatch.setenv(CPU_BF16_VARIABLE, "0")
    cpu_has_native_bf16.cache_clear()
    try:
        assert cpu_has_native_bf16() is False
    finally:
        cpu_has_native_bf16.cache_clear()


def test_dropout_epochs_leave_the_default_generator_alone_and_never_wait_for_its_lock(image_blobs):
    """A dropout epoch draws from its own generator: the process-wide one (and engine.rng's lock) are untouched."""
    import threading

    from engine.rng import DEFAULT_GENERATOR

    data = place(image_blobs)
    state = new_state(image_blobs, HyperParams(16, 2, 0.05, dropout=0.5), seed=3)
    before = torch.random.get_rng_state()
    finished = threading.Event()

    def train() -> None:
        train_epoch(state, data)
        finished.set()

    with DEFAULT_GENERATOR:  # held by "another thread's" seeded build for the whole epoch
        worker = threading.Thread(target=train, daemon=True)
        worker.start()
        assert finished.wait(120), "the dropout epoch waited for the default generator's lock"
    assert torch.equal(torch.random.get_rng_state(), before)


def test_dropout_draws_repeatable_masks_at_the_set_rate_from_the_runs_own_seed(image_blobs):
    """Same seed, same mask; each rate keeps its share of units, scaled by 1/keep as F.dropout does."""
    from engine.models import Architecture, build_network

    network = build_network(Architecture("cnn", (3, 32, 32), 4, 16, 2), dropout=0.5, seed=0).train()
    x = image_blobs.train_x[:32]

    def dropped(seed: int) -> torch.Tensor:
        network.dropout_generator = torch.Generator().manual_seed(seed)
        return network._drop(x)

    assert torch.equal(dropped(11), dropped(11))
    assert not torch.equal(dropped(11), dropped(12))
    big = torch.ones(400_003)  # an odd count: the mask is drawn four units at a time
    for rate in (0.1, 0.3, 0.5, 0.7):
        network.dropout = rate
        network.dropout_generator = torch.Generator().manual_seed(3)
        out = network._drop(big)
        kept = out != 0
        assert float(kept.float().mean()) == pytest.approx(1 - rate, abs=0.005)
        assert torch.allclose(out[kept], torch.tensor(1 / (1 - rate)))
        # Every 16-bit lane of the 64-bit draws is uniform (a lane stuck at one sign would halve or double it).
        for lane in range(4):
            assert float(kept[lane::4].float().mean()) == pytest.approx(1 - rate, abs=0.01)


def test_warming_a_process_up_changes_no_run_s_curve(image_blobs):
    """engine.warmup trains tiny runs of its own: a seeded run trains the same before and after it."""
    from engine.warmup import warm_up

    def curve():
        data = place(image_blobs)
        state = new_state(image_blobs, HyperParams(16, 2, 0.05, dropout=0.3), seed=7)
        return [dataclasses.replace(train_epoch(state, data), seconds=0) for _ in range(2)]

    before = curve()
    torch.manual_seed(12345)  # whatever the global generator holds, runs draw from their own seeds
    assert warm_up("cpu") > 0
    assert curve() == before
