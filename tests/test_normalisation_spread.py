"""bench/normalisation_spread.py on a database it is pointed at: the divisors' spread and the ranking flips."""

from __future__ import annotations

import json
import subprocess
import sys
import pytest
from pathlib import Path

from sqlalchemy.orm import sessionmaker

from app.db import migrate
from app.db.session import make_engine
from tests.support.records import dataset_with_baselines

#: Every test here runs the spread script as a separate process.
pytestmark = pytest.mark.processes

SCRIPT = Path(__file__).resolve().parents[1] / "bench" / "normalisation_spread.py"


def run(*args):
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=120)


def test_spread_of_both_scales_and_flips(tmp_path):
    url = f"sqlite:///{tmp_path}/spread.sqlite3"
    migrate.upgrade(url)
    engine = make_engine(url)
    with sessionmaker(engine)() as db:
        # The dataset of the report (bot barely above the default: the old divisor sits on its floor) and two others.
        dataset_with_baselines(db, default=0.961, bot=0.972)
        dataset_with_baselines(db, default=0.50, bot=0.70, linear=0.30, num_classes=4)
        dataset_with_baselines(db, default=0.40, bot=0.41, linear=0.20, num_classes=5, oracle=0.45, random_player=0.30)
        db.commit()
    engine.dispose()
    result = run("--database-url", url, "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["datasets"] == 3 and report["references_complete"] == 1 and report["entries"] == 11
    assert report["old"]["on_floor"] == 2
    assert report["old"]["divisor"]["min"] == 0.02 and report["new"]["divisor"]["min"] > 0.2
    for scale in ("old", "new"):  # 3 + 3 + 5 entries on 3 datasets: 39 pairs across datasets
        assert report[scale]["pairs"] == 39 and 0 <= report[scale]["flips"] <= 39
    # One validation example on the old scale is worth 0.13 on the report's dataset; on the new one 0.003.
    assert report["old"]["one_example"]["max"] > 0.12 and report["new"]["one_example"]["max"] < 0.02
    text = run("--database-url", url).stdout
    assert "flips within one example" in text and "old divisor on its 0.02 floor: 2 of 3 datasets" in text


def test_an_empty_or_missing_database_is_one_line(tmp_path):
    url = f"sqlite:///{tmp_path}/empty.sqlite3"
    migrate.upgrade(url)
    empty = run("--database-url", url)
    assert empty.returncode == 1 and "no dataset with done baselines" in empty.stderr
    missing = run("--database-url", f"sqlite:///{tmp_path}/no/such/dir/x.sqlite3")
    assert missing.returncode == 1 and len(missing.stderr.strip().splitlines()) == 1
    assert str(tmp_path / "no" / "such") in missing.stderr
