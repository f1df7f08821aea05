"""Network construction: shapes, layouts and block structure for both kinds."""

import pytest
import torch

from engine.config import HyperParams
from engine.errors import ConfigError
from engine.models import Architecture, architecture_for, build_network, count_flops, stage_layout


@pytest.mark.parametrize("width,depth", [(32, 2), (64, 4), (128, 8), (16, 1), (32, 16)])
def test_cnn_forward_shape_and_blocks(width, depth):
    arch = architecture_for((3, 32, 32), 7, width, depth)
    net = build_network(arch, dropout=0.5, seed=0)
    assert arch.kind == "cnn"
    assert len(net.blocks) == depth
    assert sum(arch.stages) == depth and arch.stages[0] == 1
    assert isinstance(net.blocks[0].layer, torch.nn.Conv2d) and net.blocks[0].layer.kernel_size == (3, 3)
    assert isinstance(net.blocks[-1].bn, torch.nn.BatchNorm2d)
    assert net(torch.randn(5, 3, 32, 32)).shape == (5, 7)


@pytest.mark.parametrize("width,depth", [(32, 2), (64, 4), (128, 8)])
def test_mlp_forward_shape(width, depth):
    arch = architecture_for((40,), 3, width, depth)
    net = build_network(arch, seed=0)
    assert arch.kind == "mlp" and arch.stages == (depth,)
    assert isinstance(net.blocks[0].layer, torch.nn.Linear) and isinstance(net.blocks[0].bn, torch.nn.BatchNorm1d)
    assert net(torch.randn(5, 40)).shape == (5, 3)


def test_stage_layout_only_grows_with_depth():
    # Net2DeeperNet relies on every stage keeping or gaining blocks as depth grows.
    for depth in range(1, 16):
        small, big = stage_layout("cnn", depth), stage_layout("cnn", depth + 1)
        assert all(b >= s for s, b in zip(small, big))


def test_seeded_initialisation_is_reproducible():
    arch = architecture_for((3, 32, 32), 4, 32, 2)
    a, b = build_network(arch, seed=3), build_network(arch, seed=3)
    for (na, pa), (_, pb) in zip(a.state_dict().items(), b.state_dict().items()):
        assert torch.equal(pa, pb), na


def test_dropout_is_active_only_in_training():
    arch = architecture_for((20,), 3, 32, 2)
    net = build_network(arch, dropout=0.5, seed=0)
    x = torch.randn(64, 20)
    net.eval()
    assert torch.equal(net(x), net(x))
    net.train()
    assert not torch.equal(net(x), net(x))


def test_flops_grow_with_size():
    assert count_flops(architecture_for((3, 32, 32), 10, 64, 4)) > count_flops(architecture_for((3, 32, 32), 10, 32, 2))


@pytest.mark.parametrize(
    "kwargs",
    [
        {"width": 0, "depth": 2, "lr": 0.01},
        {"width": 48, "depth": 2, "lr": 0.01},
        {"width": 32, "depth": 17, "lr": 0.01},
        {"width": 32, "depth": 0, "lr": 0.01},
        {"width": 32, "depth": 2, "lr": 0.0},
        {"width": 32, "depth": 2, "lr": -0.1},
        {"width": 32, "depth": 2, "lr": float("nan")},
        {"width": 32, "depth": 2, "lr": "abc"},
        {"width": 32, "depth": 2, "lr": 0.01, "dropout": 0.9},
        {"width": 32, "depth": 2, "lr": 0.01, "weight_decay": -1},
        {"width": 2.5, "depth": 2, "lr": 0.01},
        {"width": True, "depth": 2, "lr": 0.01},
    ],
)
def test_bad_hyperparameters_raise_config_error(kwargs):
    with pytest.raises(ConfigError):
        HyperParams(**kwargs)


def test_architecture_rejects_mismatched_input():
    with pytest.raises(ConfigError):
        Architecture("cnn", (20,), 3, 32, 2)
    with pytest.raises(ConfigError):
        Architecture("rnn", (20,), 3, 32, 2)


def test_seeded_networks_are_the_same_when_built_on_several_threads_at_once():
    """torch's default generator is shared by the process: engine.rng makes seeded builds take turns."""
    import threading

    import torch

    from engine.models import Architecture, build_network

    arch = Architecture("mlp", (24,), 4, 64, 4)
    expected = {seed: torch.cat([p.flatten() for p in build_network(arch, seed=seed).parameters()]) for seed in range(8)}
    got: dict[int, torch.Tensor] = {}
    start = threading.Barrier(8)

    def build(seed: int) -> None:
        start.wait()
        for _ in range(5):
            got[seed] = torch.cat([p.flatten() for p in build_network(arch, seed=seed).parameters()])

    threads = [threading.Thread(target=build, args=(seed,)) for seed in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(torch.equal(got[seed], expected[seed]) for seed in range(8))


def test_only_seeded_builds_touch_the_default_generator():
    """Restoring, growing and the linear baseline draw nothing from torch's process-wide generator.

    A seeded build on one runner thread takes engine.rng's lock; anything else drawing from the same
    generator meanwhile (without the lock) would change that build's weights, and the same seed would
    train differently depending on what else the process was doing.
    """
    import torch

    from tests.support.datasets import blob_dataset
    from engine import checkpoint, growth
    from engine.baselines import linear_classifier_score
    from engine.config import HyperParams
    from engine.training import new_state

    dataset = blob_dataset("vector", classes=4)
    state = new_state(dataset, HyperParams.from_dict({"width": 16, "depth": 2, "lr": 0.1}), seed=1)
    before = torch.random.get_rng_state()
    restored = checkpoint.from_bytes(checkpoint.to_bytes(state))
    growth.widen(restored, 32, torch.Generator().manual_seed(0))
    growth.deepen(restored, 3, dataset.train_x[:64])
    linear_classifier_score(dataset, epochs=1)
    assert torch.equal(torch.random.get_rng_state(), before)
