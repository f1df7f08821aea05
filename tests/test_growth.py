"""Net2Net growth and shrinking between epochs, on trained networks."""

import pytest
import torch

from engine import growth
from engine.config import HyperParams
from engine.session import continue_training
from engine.training import evaluate, logits_of, new_state, place, train_epoch

TOLERANCE = 1e-4


def trained(dataset, width=32, depth=2, epochs=2, dropout=0.0):
    """A network trained for a few epochs (so BatchNorm statistics and momentum are real)."""
    data = place(dataset)
    state = new_state(dataset, HyperParams(width, depth, 0.05, dropout=dropout), seed=0)
    for _ in range(epochs):
        train_epoch(state, data)
    return state, data


@pytest.mark.parametrize("kind", ["image_blobs", "vector_blobs"])
def test_widening_preserves_function_up_to_256(kind, request):
    dataset = request.getfixturevalue(kind)
    state, data = trained(dataset)
    reference = logits_of(state.network, data.val_x)
    reference_acc = evaluate(state.network, data.val_x, data.val_y)[1]
    for width in (64, 128, 256):
        state = growth.widen(state, width, torch.Generator().manual_seed(width))
        assert state.arch.width == width == state.hparams.width
        assert all(b.bn.running_var.shape == (width,) for b in state.network.blocks)
        logits = logits_of(state.network, data.val_x)
        assert (logits - reference).abs().max().item() <= TOLERANCE
        assert evaluate(state.network, data.val_x, data.val_y)[1] == reference_acc


@pytest.mark.parametrize("kind", ["image_blobs", "vector_blobs"])
def test_deepening_preserves_function_up_to_16(kind, request):
    dataset = request.getfixturevalue(kind)
    state, data = trained(dataset)
    reference = logits_of(state.network, data.val_x)
    reference_acc = evaluate(state.network, data.val_x, data.val_y)[1]
    for depth in (4, 8, 16):
        state = growth.deepen(state, depth, data.sample_x)
        assert len(state.network.blocks) == depth == state.hparams.depth
        logits = logits_of(state.network, data.val_x)
        assert (logits - reference).abs().max().item() <= TOLERANCE
        assert evaluate(state.network, data.val_x, data.val_y)[1] == reference_acc


def test_identity_block_is_centred_and_batchnorm_is_identity(image_blobs):
    state, data = trained(image_blobs, depth=2)
    deeper = growth.deepen(state, 4, data.sample_x)
    # Layout (1,1,0) -> (1,2,1): one block inserted after block 1 and one opening stage 2.
    new_block = deeper.network.blocks[2]
    kernel = new_block.layer.weight.detach()
    assert torch.equal(kernel[:, :, 1, 1], torch.eye(kernel.shape[0]))
    kernel_off_centre = kernel.clone()
    kernel_off_centre[:, :, 1, 1] = 0
    assert kernel_off_centre.abs().sum() == 0
    x = torch.rand(8, 32, 16, 16)
    new_block.eval()
    with torch.no_grad():
        assert (new_block.bn(x) - x).abs().max() < 1e-5


def test_replicated_batchnorm_statistics_go_to_every_replica(image_blobs):
    state, data = trained(image_blobs)
    old_bn = state.network.blocks[0].bn
    wide = growth.widen(state, 64, torch.Generator().manual_seed(0))
    new_bn = wide.network.blocks[0].bn
    old_means = {round(v, 6) for v in old_bn.running_mean.tolist()}
    # Every unit of the widened layer, original or replica, carries an old unit's statistics.
    for j in range(64):
        assert round(new_bn.running_mean[j].item(), 6) in old_means
        match = (old_bn.running_mean == new_bn.running_mean[j]).nonzero().flatten()
        i = match[0].item()
        assert new_bn.running_var[j] == old_bn.running_var[i]
        assert new_bn.weight[j] == old_bn.weight[i] and new_bn.bias[j] == old_bn.bias[i]


def _replica_divergence(dataset, monkeypatch, share_range):
    """Relative difference of every replica pair's incoming weights after one epoch."""
    monkeypatch.setattr(growth, "SPLIT_SHARE_RANGE", share_range)
    state, data = trained(dataset)
    wide = growth.widen(state, 64, torch.Generator().manual_seed(1))
    rows = wide.network.blocks[1].layer.weight.detach().clone()
    pairs = [(i, j) for i in range(64) for j in range(i + 1, 64) if torch.equal(rows[i], rows[j])]
    assert len(pairs) >= 32, "widening 32 -> 64 should create at least 32 replica pairs"
    train_epoch(wide, data)
    after = wide.network.blocks[1].layer.weight.detach()
    return torch.tensor([((after[i] - after[j]).norm() / after[i].norm()).item() for i, j in pairs])


def test_replicas_diverge_after_an_epoch(vector_blobs, monkeypatch):
    differences = _replica_divergence(vector_blobs, monkeypatch, growth.SPLIT_SHARE_RANGE)
    assert (differences > 0).all(), "some replicas stayed exact copies"
    assert differences.median() > 1e-3


def test_equal_split_would_keep_replicas_symmetric(vector_blobs, monkeypatch):
    # The control for the test above: with equal shares, replicas get equal gradients forever.
    differences = _replica_divergence(vector_blobs, monkeypatch, (1.0, 1.0))
    assert (differences == 0).all()


def test_momentum_follows_widening(vector_blobs):
    state, data = trained(vector_blobs)
    old_momentum = {k: v.clone() for k, v in state.momentum.items()}
    wide = growth.widen(state, 64, torch.Generator().manual_seed(2))
    names = {n for n, _ in wide.network.named_parameters()}
    assert set(wide.momentum) == names  # nothing silently reset
    # Incoming rows are copied: the first 32 units keep their buffers exactly.
    assert torch.equal(wide.momentum["blocks.0.layer.weight"][:32], old_momentum["blocks.0.layer.weight"])
    # Outgoing columns are split: replicas' shares add up to the original buffer.
    old_cols = old_momentum["classifier.weight"]
    new_cols = wide.momentum["classifier.weight"]
    rows = wide.network.blocks[-1].layer.weight.detach()
    for i in range(32):
        replicas = [j for j in range(64) if torch.equal(rows[j], rows[i])]
        total = new_cols[:, replicas].sum(dim=1)
        assert torch.allclose(total, old_cols[:, i], atol=1e-6)


def test_momentum_is_zero_for_new_blocks(image_blobs):
    state, data = trained(image_blobs)
    deep = growth.deepen(state, 4, data.sample_x)
    names = {n for n, _ in deep.network.named_parameters()}
    assert set(deep.momentum) == names
    for name in ("blocks.2.layer.weight", "blocks.2.bn.weight", "blocks.2.bn.bias"):
        assert deep.momentum[name].abs().sum() == 0
    assert torch.equal(deep.momentum["blocks.0.layer.weight"], state.momentum["blocks.0.layer.weight"])


def test_width_and_depth_down_shrink_and_report(image_blobs):
    state, data = trained(image_blobs, width=64, depth=4)
    state, metrics, change = continue_training(state, {"width": "down", "depth": "down"}, data)
    assert state.arch.width == 32 and state.arch.depth == 2
    assert [s.knob for s in change.steps] == ["width", "depth"]
    assert all(s.direction == "down" for s in change.steps)
    assert change.val_acc_before != change.val_acc_after or change.val_loss_before != change.val_loss_after
    assert set(state.momentum) == {n for n, _ in state.network.named_parameters()}
    assert metrics.epoch == 3 and not metrics.diverged


def test_shallow_drops_the_block_closest_to_identity(image_blobs):
    state, data = trained(image_blobs, depth=2)
    deep = growth.deepen(state, 4, data.sample_x)  # adds two exact identity blocks
    scores = growth.block_usefulness(deep, data.sample_x)
    assert scores[2] < 1e-4 and scores[3] < 1e-4
    back = growth.shallow(deep, 2, data.sample_x)
    for name, value in state.network.state_dict().items():
        assert torch.equal(back.network.state_dict()[name], value), name


def test_up_change_report_shows_equal_before_and_after(vector_blobs):
    state, data = trained(vector_blobs)
    state, metrics, change = continue_training(state, {"width": "up", "depth": "up", "lr": "down"}, data)
    assert state.hparams.width == 64 and state.hparams.depth == 4 and state.hparams.lr == 0.03
    assert abs(change.val_loss_after - change.val_loss_before) < 1e-5
    assert change.val_acc_after == change.val_acc_before
