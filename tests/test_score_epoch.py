"""What the score means with reverts: the best validation accuracy of any epoch trained (reverted ones too), said
where the best is shown, and the hidden test accuracy measured on that same epoch's network."""

from __future__ import annotations

from sqlalchemy import select

from app.datasets import service as datasets
from app.datasets.models import DatasetRecord
from app.runs.models import CheckpointRecord, EpochRecord
from engine import checkpoint
from engine.training import evaluate
from tests.support.play import configured_run, sqlite_player


def test_a_reverted_best_epoch_is_the_score_and_the_tested_network(tmp_path):
    with sqlite_player(tmp_path, pool_size=1) as player:
        run_id = configured_run(player, lr="0.01")
        run = player.wait_ready(run_id)
        # The newest epoch must be the best so far (the first one always is, unless it diverged), then it is reverted.
        for _ in range(12):
            with player.app.state.session_factory() as db:
                last = db.scalar(select(EpochRecord).where(EpochRecord.run_id == run_id).order_by(EpochRecord.id.desc()))
            if last.checkpoint_id == run.best_checkpoint_id:
                break
            run = player.play_ready(run_id)
        else:
            raise AssertionError("no epoch became a new best")
        best_number = last.number
        player.play_ready(run_id, "revert")
        page = player.client.get(f"/runs/{run_id}").text
        assert f"Your score so far, from epoch {best_number}, which you reverted: reverted epochs still count" in page
        assert "reverted epochs included" in page  # the info text beside the best
        assert player.act(run_id, "done").status_code == 303
        run = player.wait_ready(run_id)
        result = player.client.get(f"/runs/{run_id}/result").text
        assert f"It comes from epoch {best_number}, which you later reverted" in result
        with player.app.state.session_factory() as db:
            best = db.get(CheckpointRecord, run.best_checkpoint_id)
            dataset = db.get(DatasetRecord, run.dataset_id)
            reverted = db.scalar(select(EpochRecord).where(EpochRecord.checkpoint_id == best.id))
            assert reverted.reverted and reverted.number == best_number and run.best_val_acc == reverted.val_acc
            state = checkpoint.from_bytes(best.data, "cpu")
        data = datasets.placed(dataset.family, dataset.seed, dataset.size, "cpu")
        assert evaluate(state.network, data.test_x, data.test_y)[1] == run.test_acc
