"""``hyperquest`` end to end, as a subprocess: JSON output, listings and clean errors."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

#: Every test here runs the `hyperquest` console script as a separate process.
pytestmark = pytest.mark.processes

# The console script installed beside this interpreter (the one `pip install -e .` made).
HYPERQUEST = Path(sys.executable).with_name("hyperquest")


def hyperquest(*args, check=True):
    command = [str(HYPERQUEST)] if HYPERQUEST.exists() else [sys.executable, "-m", "app.cli"]
    result = subprocess.run([*command, *args], capture_output=True, text=True, timeout=600)
    if check:
        assert result.returncode == 0, result.stderr
    return result


def test_train_json_end_to_end():
    result = hyperquest(
        "train", "--dataset", "shapes:3", "--size", "tiny", "--width", "32", "--depth", "2", "--lr", "0.01",
        "--dropout", "0", "--actions", "continue,continue:width=up,continue:depth=up;lr=down,revert,done", "--json",
    )
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    # The last line is the run's debrief (tests/test_branches.py checks it); one line per action before it.
    assert set(lines[-1]) == {"debrief"} and isinstance(lines[-1]["debrief"]["observations"], list)
    lines = lines[:-1]
    assert [line["kind"] for line in lines] == ["initial", "continue", "continue", "continue", "revert", "done"]
    assert [line["action"] for line in lines] == [1, 2, 3, 4, 5, 6]
    assert [line["epoch"] for line in lines] == [1, 2, 3, 4, 3, 3]
    for line in lines:
        assert set(line["config"]) == {"width", "depth", "lr", "weight_decay", "dropout"}
        for key in ("train_loss", "train_acc", "val_loss", "val_acc"):
            assert isinstance(line[key], float)
    widen, deepen = lines[2]["change"], lines[3]["change"]
    assert lines[2]["config"]["width"] == 64 and lines[3]["config"]["depth"] == 4 and lines[3]["config"]["lr"] == 0.003
    for change in (widen, deepen):
        assert abs(change["val_loss_after"] - change["val_loss_before"]) < 1e-5
        assert change["val_acc_after"] == change["val_acc_before"]
    assert lines[4]["config"]["width"] == 64 and lines[4]["config"]["depth"] == 2
    trained = [line["val_acc"] for line in lines if line["kind"] in ("initial", "continue")]
    assert lines[-1]["best_val_acc"] == max(trained)
    assert lines[-1]["ended"] is True


def test_train_text_output():
    result = hyperquest("train", "--dataset", "clusters:2", "--size", "tiny", "--width", "32", "--depth", "2",
                        "--actions", "continue:depth=down")
    assert "best validation accuracy" in result.stdout and "change:" in result.stdout


def test_datasets_lists_families_and_describes_one():
    listing = hyperquest("datasets").stdout
    for family in ("shapes", "textures", "motifs", "teacher", "clusters"):
        assert family in listing
    offered = {row["family"]: row["in_classes"] for row in map(json.loads, hyperquest("datasets", "--json").stdout.splitlines())}
    assert offered == {"clusters": True, "motifs": False, "shapes": True, "textures": True, "teacher": False}
    described = json.loads(hyperquest("datasets", "textures:4", "--size", "tiny", "--json").stdout)
    assert described["input_size"] == [3, 32, 32] and described["classes"] >= 2
    assert described["examples"]["train"] > 0 and described["examples"]["test"] > 0


@pytest.mark.parametrize(
    "args,message",
    [
        (["train", "--dataset", "nosuch:1"], "unknown dataset family"),
        (["train", "--dataset", "shapes"], "FAMILY:SEED"),
        (["train", "--dataset", "shapes:x"], "integer"),
        (["train", "--dataset", "shapes:1", "--size", "tiny", "--width", "0"], "width"),
        (["train", "--dataset", "shapes:1", "--size", "tiny", "--lr", "0"], "learning rate"),
        (["train", "--dataset", "shapes:1", "--size", "tiny", "--lr", "-1"], "learning rate"),
        (["train", "--dataset", "shapes:1", "--size", "tiny", "--lr", "nan"], "learning rate"),
        (["train", "--dataset", "shapes:1", "--size", "tiny", "--depth", "99"], "depth"),
        (["train", "--dataset", "shapes:1", "--size", "tiny", "--actions", "continue:width=sideways"], "up, down"),
        (["train", "--dataset", "shapes:1", "--size", "tiny", "--actions", "fly"], "unknown action"),
        (["train", "--dataset", "shapes:1", "--size", "tiny", "--width", "256", "--depth", "1",
          "--actions", "continue:width=up"], "maximum"),
        (["calibrate", "--families", "nosuch"], "unknown families"),
        (["calibrate", "--families", " , "], "unknown families"),
        (["calibrate", "--seeds", "0"], "--seeds"),
        (["calibrate", "--epochs", "0"], "--epochs"),
        (["calibrate", "--epochs", "31"], "--epochs"),
        (["calibrate", "--first-seed", "-1"], "seeds must lie"),
        (["worker"], "HYPERQUEST_REDIS_URL"),
    ],
)
def test_bad_input_is_one_line_and_nonzero(args, message, monkeypatch):
    monkeypatch.delenv("HYPERQUEST_REDIS_URL", raising=False)
    result = hyperquest(*args, check=False)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_calibrate_json_end_to_end():
    result = hyperquest("calibrate", "--families", "clusters", "--seeds", "2", "--epochs", "2", "--size", "tiny", "--json")
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(line["type"], line.get("seed")) for line in lines] == [("seed", 1), ("seed", 2), ("family", None)]
    seed, family = lines[0], lines[-1]
    assert set(seed["references"]) == {"lr 0.1 constant", "lr 0.1 step decay", "lr 0.01 step decay", "bot"}
    assert seed["gap"] == pytest.approx(max(seed["references"].values()) - seed["default"])
    assert seed["epochs"] == 2 and seed["epochs_trained"] < seed["epochs_separate"]
    for key in ("default_in_band", "gap_median", "gap_0.08", "gap_0.15", "bot_beats_default", "meets_targets"):
        assert key in family
    text = hyperquest("calibrate", "--families", "clusters", "--seeds", "1", "--epochs", "2", "--size", "tiny").stdout
    assert "clusters:1 " in text and "gap median" in text


def test_unknown_flag_is_a_usage_error():
    result = hyperquest("train", "--dataset", "shapes:1", "--widht", "3", check=False)
    assert result.returncode == 2 and "unrecognized arguments" in result.stderr and "Traceback" not in result.stderr


def test_bad_setting_from_environment_is_reported(monkeypatch):
    monkeypatch.setenv("HYPERQUEST_DATASET_SIZE", "huge")
    result = hyperquest("datasets", "shapes:1", check=False)
    assert result.returncode == 1 and "bad setting" in result.stderr and "Traceback" not in result.stderr


def test_worker_rejects_unknown_queues(monkeypatch):
    monkeypatch.setenv("HYPERQUEST_REDIS_URL", "redis://127.0.0.1:6379/0")
    result = hyperquest("worker", "--queues", "players,gpu", check=False)
    assert result.returncode == 1 and "unknown lanes ['gpu']" in result.stderr and "Traceback" not in result.stderr
