"""``hyperquest worker --gpu N --processes K``: validation, the Celery arguments, the GPU set-up, a real pool."""

import argparse
import os
import subprocess
import sys
import uuid

import pytest
import torch

from worker import cli as worker_cli
from bench.processes import ROOT, Process, hyperquest_env
from engine.errors import ConfigError
from tests.services import REDIS_URL, delete_prefix, redis_available

NO_GPU = torch.version.cuda is None or not torch.cuda.is_available()


def hyperquest_worker(*args: str) -> subprocess.CompletedProcess:
    env = hyperquest_env(redis_url=REDIS_URL, redis_prefix=f"test-{uuid.uuid4().hex[:8]}")
    return subprocess.run([sys.executable, "-m", "app.cli", "worker", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


def assert_one_line_error(result: subprocess.CompletedProcess, text: str) -> None:
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("hyperquest worker: error: ") and text in lines[0], lines


@pytest.mark.processes
@pytest.mark.skipif(not NO_GPU, reason="a GPU is visible: --gpu 0 would start a real worker")
def test_gpu_without_cuda_is_one_line_and_nonzero():
    result = hyperquest_worker("--gpu", "0", "--processes", "4")
    assert_one_line_error(result, "--gpu 0: ")
    assert result.stdout == ""


@pytest.mark.parametrize("args,text", [
    (["--processes", "0"], "--processes must be between 1 and 64, got 0"),
    (["--processes", "65"], "--processes must be between 1 and 64, got 65"),
    (["--gpu", "-1"], "--gpu must be 0 or more, got -1"),
])
def test_bad_values_are_one_line_errors(args, text, monkeypatch, capsys):
    from app.cli import main

    monkeypatch.setenv("HYPERQUEST_REDIS_URL", REDIS_URL)
    code = main(["worker", *args])
    captured = capsys.readouterr()
    assert_one_line_error(subprocess.CompletedProcess([], code, captured.out, captured.err), text)


def test_celery_argv_carries_the_processes_as_concurrency():
    argv = worker_cli.celery_argv(["hq.players", "hq.pool"], "w@h", "INFO", processes=3)
    assert argv[argv.index("--concurrency") + 1] == "3"
    assert argv[argv.index("--pool") + 1] == "prefork"
    assert argv[argv.index("--queues") + 1] == "hq.players,hq.pool"
    assert argv[argv.index("--hostname") + 1] == "w@h"
    default = worker_cli.celery_argv(["q"], "w@h", "INFO")
    assert default[default.index("--concurrency") + 1] == "1"


def test_default_name_includes_the_gpu():
    assert worker_cli.default_name(2).startswith(f"hyperquest-gpu2-{os.getpid()}@")
    assert worker_cli.default_name(None).startswith(f"hyperquest-{os.getpid()}@")


def test_gpu_index_counts_among_the_visible_gpus():
    probe = {"torch": "2.13.0", "cuda": "12.8", "count": 2, "name": "Some GPU"}
    assert worker_cli.select_gpu(1, probe, None) == "1"
    assert worker_cli.select_gpu(1, probe, "2,3") == "3"
    with pytest.raises(ConfigError, match="only 2 GPU"):
        worker_cli.select_gpu(2, probe, "2,3")
    with pytest.raises(ConfigError, match="CPU-only build"):
        worker_cli.select_gpu(0, {**probe, "cuda": None, "count": 0}, None)
    with pytest.raises(ConfigError, match="no CUDA GPU is visible"):
        worker_cli.select_gpu(0, {**probe, "count": 0}, None)


@pytest.mark.parametrize("mps", [True, False])
def test_gpu_sets_the_pool_environment_without_touching_cuda(monkeypatch, capsys, tmp_path, mps):
    """The parent only probes (faked here) and sets the environment the forked pool inherits."""
    from engine import devices

    for name in ("CUDA_VISIBLE_DEVICES", "HYPERQUEST_DEVICE", "HYPERQUEST_TRAINING_THREADS"):
        monkeypatch.setenv(name, "")  # so that monkeypatch restores what run() sets
        monkeypatch.delenv(name)
    monkeypatch.setenv("HYPERQUEST_REDIS_URL", REDIS_URL)
    from worker.celery_app import app  # needs the Redis URL at import

    monkeypatch.setenv("CUDA_MPS_PIPE_DIRECTORY", str(tmp_path if mps else tmp_path / "absent"))
    monkeypatch.setattr(devices, "DEFAULT_MPS_PIPE_DIRECTORY", str(tmp_path / "absent"))
    monkeypatch.setattr(devices.shutil, "which", lambda name: f"/usr/bin/{name}")
    probe = {"torch": "x", "cuda": "12.8", "count": 2, "name": "GPU B"}
    monkeypatch.setattr(worker_cli, "probe_cuda", lambda gpu: probe)
    started = []
    monkeypatch.setattr(app, "worker_main", started.append)
    monkeypatch.setattr(worker_cli, "cpu_cores", lambda: 16)

    args = argparse.Namespace(queues="players", gpu=1, processes=4, name=None, loglevel="INFO")
    assert worker_cli.run(args) == 0
    (argv,) = started
    assert argv[argv.index("--concurrency") + 1] == "4"
    assert argv[argv.index("--hostname") + 1].startswith("hyperquest-gpu1-")
    assert os.environ["CUDA_VISIBLE_DEVICES"] == "1" and os.environ["HYPERQUEST_DEVICE"] == "cuda"
    assert os.environ["HYPERQUEST_TRAINING_THREADS"] == "4"
    out = capsys.readouterr().out.splitlines()
    assert "4 pool processes on GPU 1 (GPU B, CUDA_VISIBLE_DEVICES=1)" in out[0]
    if mps:
        assert len(out) == 1 and f"CUDA MPS in use ({tmp_path})" in out[0]
    else:
        assert len(out) == 2 and "CUDA MPS not running" in out[0] and "nvidia-cuda-mps-control -d" in out[1]


@pytest.mark.processes
@pytest.mark.skipif(not redis_available(), reason="Redis is not reachable at 127.0.0.1:6379")
def test_a_real_worker_runs_two_pool_processes():
    prefix = f"test-{uuid.uuid4().hex[:8]}"
    env = hyperquest_env(redis_url=REDIS_URL, redis_prefix=prefix, device="cpu")
    process = Process([sys.executable, "-m", "app.cli", "worker", "--processes", "2", "--queues", "players",
                       "--name", f"{prefix}@localhost"], env, "worker")
    try:
        process.wait_for_line("ready.", timeout=60)
        assert f"hyperquest worker {prefix}@localhost: 2 pool processes on device cpu" in process.output
        assert "lanes players" in process.output
        # Its own players' queue first, then the lane's: the order the broker takes them in.
        assert f"{prefix}.players.{prefix}@localhost" in process.output and f"{prefix}.players" in process.output
        assert "concurrency: 2 (prefork)" in process.output
    finally:
        process.stop()
        delete_prefix(REDIS_URL, prefix)
