"""The in-process runner: live events, restart recovery and checkpoint retention."""

from __future__ import annotations

import json
import os
import signal
import time

import pytest

from sqlalchemy import create_engine, func, select

from app.classroom.models import ClassSettings
from app.db import migrate
from app.debrief.retention import epoch_point
from app.jobs import lease
from app.runs.models import ActionRecord, CheckpointRecord, EpochRecord
from engine import debrief
from tests.support.jobs import epoch_jobs, finished_epoch_job
from tests.support.players import ready_player
from tests.support.stack import Browserless, Stack
from tests.webutil import count, game


@pytest.mark.processes
@pytest.mark.parametrize("runner", ["thread", "process"])
def test_events_stream_progress_then_ready(tmp_path, runner):
    with game(f"sqlite:///{tmp_path}/sse.sqlite3", dataset_size="small", baseline_epochs=1, embedded_runner=runner) as player:
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


@pytest.mark.processes
@pytest.mark.parametrize("runner", ["thread", "process"])
def test_epoch_interrupted_by_a_restart_is_trained_after_it(tmp_path, runner):
    url = f"sqlite:///{tmp_path}/restart.sqlite3"
    with game(url, dataset_size="small", baseline_epochs=1, embedded_runner=runner) as player:
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
    with game(url, dataset_size="small", baseline_epochs=1, embedded_runner=runner) as player:
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
            path = list(db.scalars(select(EpochRecord).where(EpochRecord.run_id == run_id).order_by(EpochRecord.number)))
        assert run.epoch == 9
        # The debrief's branch points depend on this run's curve (the epoch before a big fall may be early).
        debrief_epochs = debrief.kept_epochs([epoch_point(e) for e in path])
        assert debrief_epochs <= {e.number for e in path}
        assert kept == {4, 5, 6, 7, 8, 9} | {best_epoch} | debrief_epochs
        assert not kept & {1, 2, 3} - debrief_epochs - {best_epoch}  # the rest of the early epochs are pruned


def _children(pid: int) -> list[int]:
    found = []
    for task in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{task}/children") as handle:
            found += [int(p) for p in handle.read().split()]
    return found


def _alive(pid: int) -> bool:
    """Running and not a zombie (an orphan's zombie may linger where nothing reaps it)."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.processes
def test_killed_server_takes_its_training_process_along_and_the_next_server_trains_the_epoch(tmp_path):
    """The embedded default: epochs train in a child process, which never outlives its server."""
    url = f"sqlite:///{tmp_path}/process.sqlite3"
    migrate.upgrade(url)
    settings = {"database_url": url, "dataset_size": "small", "baseline_epochs": "1", "pool_size": "1", "device": "cpu",
                "secret_key": "test-secret-key", "embedded_runner": "process"}
    deployment = Stack(url, settings)
    try:
        with deployment.db() as db:  # a CNN on images: an epoch long enough to be killed in the middle
            db.add(ClassSettings(id=1, class_code=None, pool_size=1, allowed_families=["shapes"], reveal_test_accuracy=False))
            db.commit()
        deployment.start_web()
        trainers = [pid for pid in _children(deployment.server.popen.pid)
                    if b"spawn_main" in open(f"/proc/{pid}/cmdline", "rb").read()]
        assert len(trainers) == os.cpu_count()  # one executor per core
        player = Browserless(deployment)
        run_id = player.start(width=128, depth=8, lr=0.01)
        deployment.wait(lambda: (lambda r: r.status == "training" and r.progress_done > 0)(deployment.run(run_id)),
                        120, "the epoch to be in progress")
        os.kill(deployment.server.popen.pid, signal.SIGKILL)  # the server alone, not its process group
        deployment.server.popen.wait(30)
        deployment.wait(lambda: not any(_alive(pid) for pid in trainers), 15, "the training processes to exit with their server")
        assert deployment.epochs(run_id=run_id) == 0
        deployment.start_web()
        run = deployment.wait_ready(run_id, timeout=180)
        assert run.status == "ready" and run.epoch == 1
        assert deployment.epochs(run_id=run_id) == 1
    finally:
        deployment.close()


@pytest.mark.processes
def test_a_training_process_that_dies_is_replaced_and_its_epoch_trained(tmp_path):
    url = f"sqlite:///{tmp_path}/died.sqlite3"
    migrate.upgrade(url)
    engine = create_engine(url)
    with engine.begin() as connection:  # a CNN on images: an epoch long enough to be killed in the middle
        connection.execute(ClassSettings.__table__.insert().values(
            id=1, class_code=None, pool_size=1, allowed_families=["shapes"], reveal_test_accuracy=False))
    engine.dispose()
    with game(url, dataset_size="small", baseline_epochs=1, pool_size=1, embedded_runner="process") as player:
        ready_player(player)
        run_id = player.start()
        player.configure(run_id, width=128, depth=8, lr=0.01)
        runner = player.app.state.runner
        deadline = time.monotonic() + 120
        while not (player.run(run_id).status == "training" and player.run(run_id).progress_done > 0):
            assert time.monotonic() < deadline, "the epoch never got under way"
            time.sleep(0.1)
        with player.app.state.session_factory() as db:
            (job,) = epoch_jobs(db, run_id)
        holder = lease.holder_process(job.leased_by)[1]  # the executor process training it
        processes = {p.pid: p for p in runner._processes}
        os.kill(holder, signal.SIGKILL)  # out of memory, say
        run = player.wait_ready(run_id, timeout=180)
        assert run.status == "ready" and run.epoch == 1
        assert count(player, EpochRecord, run_id=run_id) == 1
        replaced = [p for p in runner._processes if p.pid not in processes]
        assert len(replaced) == 1 and replaced[0].is_alive() and holder not in {p.pid for p in runner._processes}
        # Re-queued at once when its process died (not after a stale heartbeat); the dead start counts.
        assert finished_epoch_job(player.app.state.session_factory, run_id).attempts == 2
