"""The in-process runner: live events, restart recovery and checkpoint retention."""

from __future__ import annotations

import json

from sqlalchemy import create_engine, func, select

from app.runs.models import ActionRecord, CheckpointRecord, EpochRecord
from tests.test_web_game import count, ready_player
from tests.webutil import game


def test_events_stream_progress_then_ready(tmp_path):
    with game(f"sqlite:///{tmp_path}/sse.sqlite3", dataset_size="small", baseline_epochs=1) as player:
        ready_player(player)
        run_id = player.start()
        player.configure(run_id)
        events = []
        with player.client.stream("GET", f"/runs/{run_id}/events") as stream:
            assert stream.headers["content-type"].startswith("text/event-stream")
            name = None
            for line in stream.iter_lines():
                if line.startswith("event:"):
                    name = line.split(":", 1)[1].strip()
                elif line.startswith("data:") and name:
                    events.append((name, json.loads(line.split(":", 1)[1])))
                    if name == "ready":
                        break
        kinds = [name for name, _ in events]
        assert kinds[0] == "progress" and kinds[-1] == "ready"
        assert events[-1][1]["busy"] is False and events[-1][1]["epoch"] == 1
        # Progress within the epoch was reported (batches done out of the total).
        assert any(data["total"] > 0 and 0 < data["done"] for name, data in events if name == "progress")


def test_epoch_interrupted_by_a_restart_is_trained_after_it(tmp_path):
    url = f"sqlite:///{tmp_path}/restart.sqlite3"
    with game(url, dataset_size="small", baseline_epochs=1) as player:
        ready_player(player)
        run_id = player.start()
        player.configure(run_id)
        assert player.run(run_id).busy
    # The server stopped mid-epoch: nothing was recorded, the action waits to be trained again.
    engine = create_engine(url)
    with engine.connect() as connection:
        assert connection.scalar(select(func.count()).select_from(EpochRecord).where(EpochRecord.run_id == run_id)) == 0
        assert connection.scalar(select(ActionRecord.status).where(ActionRecord.run_id == run_id)) in ("queued", "running")
    engine.dispose()
    with game(url, dataset_size="small", baseline_epochs=1) as player:
        run = player.wait_ready(run_id)
        assert run.epoch == 1 and run.status == "ready"
        assert count(player, EpochRecord, run_id=run_id) == 1


def test_only_reachable_and_best_checkpoints_are_kept(tmp_path):
    with game(f"sqlite:///{tmp_path}/keep.sqlite3") as player:
        ready_player(player)
        run_id = player.start()
        player.configure(run_id, width=32, depth=2)
        player.wait_ready(run_id)
        for _ in range(8):
            player.play_ready(run_id)
        run = player.run(run_id)
        with player.app.state.session_factory() as db:
            kept = set(db.scalars(select(CheckpointRecord.epoch_number).where(CheckpointRecord.run_id == run_id)))
            best_epoch = db.scalar(select(CheckpointRecord.epoch_number).where(CheckpointRecord.id == run.best_checkpoint_id))
        assert run.epoch == 9
        assert kept == {4, 5, 6, 7, 8, 9} | {best_epoch}
