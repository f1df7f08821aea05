"""Checkpoints: exact round trip, safe loading, clear errors."""

import io

import pytest
import torch

from engine import checkpoint, growth
from engine.config import HyperParams
from engine.errors import CheckpointError
from engine.training import new_state, place, train_epoch


def test_round_trip_continues_bit_identically(image_blobs):
    data = place(image_blobs)
    state = new_state(image_blobs, HyperParams(32, 2, 0.05, dropout=0.3), seed=0)
    train_epoch(state, data)
    state = growth.widen(state, 64, torch.Generator().manual_seed(0))
    train_epoch(state, data)
    restored = checkpoint.from_bytes(checkpoint.to_bytes(state))
    assert restored.arch == state.arch and restored.hparams == state.hparams and restored.epoch == state.epoch
    a, b = train_epoch(state, data), train_epoch(restored, data)
    assert (a.train_loss, a.train_acc, a.val_loss, a.val_acc) == (b.train_loss, b.train_acc, b.val_loss, b.val_acc)
    for (name, pa), (_, pb) in zip(state.network.state_dict().items(), restored.network.state_dict().items()):
        assert torch.equal(pa, pb), name
    for name in state.momentum:
        assert torch.equal(state.momentum[name], restored.momentum[name]), name


def test_checkpoint_loads_with_weights_only(vector_blobs):
    state = new_state(vector_blobs, HyperParams(32, 2, 0.01), seed=0)
    payload = torch.load(io.BytesIO(checkpoint.to_bytes(state)), weights_only=True)
    assert payload["arch"]["width"] == 32 and "rng_state" in payload


@pytest.mark.parametrize(
    "blob",
    [b"", b"not a checkpoint", b"PK\x03\x04garbage", None],
)
def test_corrupt_checkpoints_raise_checkpoint_error(blob):
    with pytest.raises(CheckpointError):
        checkpoint.from_bytes(blob)


def test_truncated_and_tampered_checkpoints_raise(vector_blobs):
    blob = checkpoint.to_bytes(new_state(vector_blobs, HyperParams(32, 2, 0.01), seed=0))
    with pytest.raises(CheckpointError):
        checkpoint.from_bytes(blob[: len(blob) // 2])
    other = io.BytesIO()
    torch.save({"format": "something-else"}, other)
    with pytest.raises(CheckpointError):
        checkpoint.from_bytes(other.getvalue())
    payload = torch.load(io.BytesIO(blob), weights_only=True)
    payload["arch"]["width"] = 64  # weights no longer fit the architecture
    tampered = io.BytesIO()
    torch.save(payload, tampered)
    with pytest.raises(CheckpointError):
        checkpoint.from_bytes(tampered.getvalue())


def test_pickled_code_is_refused():
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    buffer = io.BytesIO()
    torch.save({"format": "hyperquest-checkpoint", "x": Evil()}, buffer)
    with pytest.raises(CheckpointError):
        checkpoint.from_bytes(buffer.getvalue())
