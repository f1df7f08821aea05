"""bench.gpu_check: its CPU mode end to end (what a GPU machine runs, on a tiny scale) and clean errors."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from bench import gpu_check
from engine.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent


def gpu_check_run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    # One thread per process: this machine's cores are shared, and oversubscribed threads are slower.
    env["OMP_NUM_THREADS"] = "1"
    return subprocess.run([sys.executable, "-m", "bench.gpu_check", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)


@pytest.mark.processes
def test_cpu_mode_prints_positive_figures_for_every_part():
    result = gpu_check_run("--device", "cpu", "--size", "tiny", "--players", "1,2", "--configs", "32x2",
                           "--player-net", "32x2", "--epochs-per-player", "2", "--seconds", "90", "--json")
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    by_type = {}
    for record in records:
        by_type.setdefault(record["type"], []).append(record)
    assert set(by_type) == {"machine", "epoch", "players", "done"}, records

    (machine,) = by_type["machine"]
    assert machine["device"] == "cpu" and machine["torch"] == torch.__version__

    (epoch,) = by_type["epoch"]
    assert epoch["net"] == "32x2" and epoch["examples"] > 0 and epoch["device_epochs"] >= 1
    for key in ("device_seconds", "cpu_seconds", "cpu_over_device", "device_gflops"):
        assert isinstance(epoch[key], float) and epoch[key] > 0, (key, epoch)

    players = by_type["players"]
    assert [p["players"] for p in players] == [1, 2]
    for p in players:
        assert p["note"] is None, p
        assert p["epochs"] == 2 * p["players"]
        for key in ("seconds", "epochs_per_second", "latency_p50", "latency_p95", "train_seconds_mean",
                    "job_seconds_mean", "startup_seconds"):
            assert isinstance(p[key], float) and p[key] > 0, (key, p)
        assert p["latency_p95"] >= p["latency_p50"]
        # A Continue's latency covers its job, which covers its epoch.
        assert p["latency_p50"] >= min(p["job_seconds_mean"], p["train_seconds_mean"]) * 0.5

    (done,) = by_type["done"]
    assert done["complete"] is True and 0 < done["seconds"] <= 90


@pytest.mark.processes
@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is visible: the check would run for real")
def test_cuda_without_a_gpu_is_one_line_and_nonzero():
    result = gpu_check_run("--device", "cuda", timeout=60)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr and result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1
    assert result.stderr.startswith("gpu_check: error: --device cuda:")


@pytest.mark.parametrize("args", [["--configs", "64"], ["--players", "0"], ["--seconds", "1"], ["--device", "tpu"],
                                  ["--parts", "gpu"], ["--epochs-per-player", "0"]])
def test_bad_flags_are_one_line_errors(args, capsys):
    assert gpu_check.main([*args]) == 1
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.startswith("gpu_check: error: ")
    assert len(captured.err.strip().splitlines()) == 1


def test_parsers_and_percentile():
    assert gpu_check.parse_configs("32x2, 64X4") == [(32, 2), (64, 4)]
    assert gpu_check.parse_players("1,4,16") == [1, 4, 16]
    for text in ("32", "32x0", "axb"):
        with pytest.raises(ConfigError):
            gpu_check.parse_configs(text)
    with pytest.raises(ConfigError):
        gpu_check.parse_players("1,65")
    assert gpu_check.percentile([3.0], 95) == 3.0
    assert gpu_check.percentile([1.0, 2.0, 3.0, 4.0, 5.0], 50) == 3.0
    assert gpu_check.percentile([0.0, 10.0], 95) == pytest.approx(9.5)


def test_mps_is_detected_from_its_control_binary_and_pipe_directory(monkeypatch, tmp_path):
    from engine import devices

    monkeypatch.setattr(devices.shutil, "which", lambda name: None)
    monkeypatch.setenv("CUDA_MPS_PIPE_DIRECTORY", str(tmp_path))
    assert devices.mps_pipe_directory() is None  # no control binary
    monkeypatch.setattr(devices.shutil, "which", lambda name: f"/usr/bin/{name}")
    assert devices.mps_pipe_directory() == str(tmp_path)
    monkeypatch.setenv("CUDA_MPS_PIPE_DIRECTORY", str(tmp_path / "absent"))
    monkeypatch.setattr(devices, "DEFAULT_MPS_PIPE_DIRECTORY", str(tmp_path / "also-absent"))
    assert devices.mps_pipe_directory() is None


def test_text_output_prints_every_kind_of_record(capsys):
    printer = gpu_check.Printer(as_json=False)
    printer({"type": "machine", "device": "cuda", "device_name": "Some GPU", "memory_gib": 80.0, "capability": "9.0",
             "torch": "2.13.0", "cuda": "12.8", "cudnn": 91000, "cpu": "Some CPU", "cpu_threads": 16, "mps": None,
             "size": "full", "budget_seconds": 270})
    printer({"type": "epoch", "net": "32x2", "size": "full", "examples": 7818, "device": "cuda",
             "device_seconds": 0.25, "device_epochs": 3, "cpu_seconds": 1.4, "cpu_epochs": 2,
             "cpu_over_device": 5.6, "device_gflops": 700.0})
    printer({"type": "epoch", "net": "128x8", "size": "full", "examples": 7818, "device": "cuda",
             "device_seconds": None, "device_epochs": 0, "cpu_seconds": None, "cpu_epochs": 0,
             "cpu_over_device": None, "device_gflops": None})
    printer({"type": "players", "players": 4, "net": "64x4", "device": "cuda", "epochs": 48, "seconds": 12.0,
             "epochs_per_second": 4.0, "latency_p50": 0.9, "latency_p95": 1.2, "job_seconds_mean": 0.85,
             "train_seconds_mean": 0.8, "startup_seconds": 6.0, "threads_per_process": 4, "note": None})
    printer({"type": "skipped", "part": "players", "players": 16, "reason": "out of time"})
    printer({"type": "done", "seconds": 268.0, "budget_seconds": 270, "complete": False})
    out = capsys.readouterr().out
    assert "Some GPU" in out and "CUDA 12.8" in out and "CUDA MPS: not running" in out
    assert "5.60x" in out and "4.00" in out and "skipped (players, 16 players)" in out and "budget reached" in out
