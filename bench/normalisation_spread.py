"""How stable is each normalised-score scale on the stored datasets? The divisors' spread and ranking flips.

    python bench/normalisation_spread.py [--database-url URL] [--json]

Reads every dataset whose baselines are done from the database (HYPERQUEST_DATABASE_URL, or
``--database-url``) and compares two scales:

* old: (score − default) ÷ max(bot − default, 0.02), the leaderboard's scale before engine.scale;
* new: (score − chance) ÷ (best reference − chance), engine.scale (chance = 1 / classes; the best
  of default, linear, bot and, where computed, random player and best fixed schedule).

It prints, for each, the divisor's min / median / p90 / max over the datasets (and how often the old
one sat on its 0.02 floor), what one validation example is worth on the normalised scale, and how
often a pairwise ranking flips within one validation example: every stored reference score (and
every finished human run, if any) is an entry; for each pair of entries on different datasets, the
pair "flips" when moving each score by at most one validation example of its own dataset can
reverse the order of their normalised scores (the overall leaderboard compares players across
datasets exactly like this). Pairs on the same dataset never flip (both scales are monotone).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

OLD_FLOOR = 0.02


def percentile(values: list[float], q: float) -> float:
    """The q-quantile (0-1) by linear interpolation."""
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    position = q * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def spread(values: list[float]) -> dict:
    """min / median / p90 / max."""
    return {"min": min(values), "median": statistics.median(values), "p90": percentile(values, 0.9), "max": max(values)}


def _rows(connection, table, wanted: list[str]) -> list[dict]:
    """Every row of ``table`` with the ``wanted`` columns it has (a column an older schema lacks reads as None)."""
    from sqlalchemy import select

    present = [table.c[name] for name in wanted if name in table.c]
    return [{name: row._mapping.get(name) for name in wanted} for row in connection.execute(select(*present))]


def load(url: str) -> tuple[list[dict], list[dict]]:
    """The datasets with done baselines (their scores, classes and validation size) and the finished human runs.

    Reads the tables by reflection, so a database of any schema version since the baselines were
    stored works (the reference players' columns came later; without them a dataset counts as
    "references not computed").
    """
    from sqlalchemy import MetaData, Table, create_engine

    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            meta = MetaData()
            datasets_table = Table("datasets", meta, autoload_with=connection)
            stored = _rows(connection, datasets_table, [
                "id", "family", "seed", "num_classes", "val_examples", "baseline_status", "baseline_default",
                "baseline_linear", "baseline_bot", "baseline_random", "baseline_oracle", "references_status"])
            runs_table = Table("runs", meta, autoload_with=connection)
            students_table = Table("students", meta, autoload_with=connection)
            runs = _rows(connection, runs_table, ["dataset_id", "student_pk", "status", "best_val_acc", "scenario_id"])
            students = {s["id"]: s for s in _rows(connection, students_table, ["id", "student_id", "role"])}
    finally:
        engine.dispose()
    datasets = [{
        "id": d["id"], "ref": f"{d['family']}:{d['seed']}", "classes": d["num_classes"], "val": d["val_examples"],
        "default": d["baseline_default"], "linear": d["baseline_linear"], "bot": d["baseline_bot"],
        "random": d["baseline_random"], "oracle": d["baseline_oracle"], "complete": d["references_status"] == "done",
    } for d in stored if d["baseline_status"] == "done" and d["baseline_default"] is not None
        and d["baseline_bot"] is not None and d["val_examples"]]

    def human(student_pk) -> bool:
        student = students.get(student_pk) or {}
        return student.get("role") != "bot" and not str(student.get("student_id") or "").startswith("bot:")

    finished = [{"dataset": r["dataset_id"], "score": r["best_val_acc"]} for r in runs
                if r["status"] == "ended" and r["best_val_acc"] is not None and r["scenario_id"] is None
                and human(r["student_pk"])]
    return datasets, finished


def old_scale(d: dict):
    """(offset, divisor) of the old scale."""
    return d["default"], max(d["bot"] - d["default"], OLD_FLOOR)


def new_scale(d: dict):
    """(offset, divisor) of engine.scale."""
    from engine.scale import scale_for

    scale = scale_for(d["classes"], d["val"], {k: d[k] for k in ("default", "linear", "bot", "random", "oracle")},
                      d["complete"])
    return scale.chance, scale.divisor


def flips(entries: list[tuple[dict, float]], scale_of) -> tuple[int, int]:
    """(pairs whose order can reverse within one validation example each, pairs on different datasets)."""
    scaled = []
    for dataset, score in entries:
        offset, divisor = scale_of(dataset)
        step = (1.0 / dataset["val"]) / divisor
        scaled.append((dataset["id"], (score - offset) / divisor, step))
    flippable = total = 0
    for i in range(len(scaled)):
        for j in range(i + 1, len(scaled)):
            (di, vi, si), (dj, vj, sj) = scaled[i], scaled[j]
            if di == dj:
                continue
            total += 1
            if abs(vi - vj) < si + sj:
                flippable += 1
    return flippable, total


def measure(datasets: list[dict], runs: list[dict]) -> dict:
    """Every figure the script prints, as a dict."""
    by_id = {d["id"]: d for d in datasets}
    entries = [(d, d[key]) for d in datasets for key in ("default", "linear", "bot", "random", "oracle")
               if d[key] is not None]
    entries += [(by_id[r["dataset"]], r["score"]) for r in runs if r["dataset"] in by_id]
    report = {"datasets": len(datasets), "entries": len(entries), "human_runs": len(runs),
              "references_complete": sum(d["complete"] for d in datasets)}
    for name, scale_of in (("old", old_scale), ("new", new_scale)):
        divisors = [scale_of(d)[1] for d in datasets]
        steps = [(1.0 / d["val"]) / scale_of(d)[1] for d in datasets]
        flippable, total = flips(entries, scale_of)
        report[name] = {"divisor": spread(divisors), "one_example": spread(steps),
                        "flips": flippable, "pairs": total, "flip_share": flippable / total if total else 0.0}
        if name == "old":
            report[name]["on_floor"] = sum(abs(v - OLD_FLOOR) < 1e-12 for v in divisors)
    return report


def print_report(report: dict) -> None:
    """The figures as text."""
    print(f"{report['datasets']} datasets with baselines ({report['references_complete']} with the random player and "
          f"fixed schedules), {report['entries']} entries ({report['human_runs']} finished human runs)")
    print(f"{'scale':<5} {'divisor min':>11} {'median':>8} {'p90':>8} {'max':>8}   "
          f"{'1 example min':>13} {'median':>8} {'max':>8}   flips within one example")
    for name in ("old", "new"):
        r = report[name]
        d, s = r["divisor"], r["one_example"]
        print(f"{name:<5} {d['min']:>11.4f} {d['median']:>8.4f} {d['p90']:>8.4f} {d['max']:>8.4f}   "
              f"{s['min']:>13.4f} {s['median']:>8.4f} {s['max']:>8.4f}   "
              f"{r['flips']} of {r['pairs']} pairs ({100 * r['flip_share']:.1f}%)")
    print(f"old divisor on its {OLD_FLOOR} floor: {report['old']['on_floor']} of {report['datasets']} datasets")


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", help="SQLAlchemy URL (default: HYPERQUEST_DATABASE_URL or the default SQLite file)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    args = parser.parse_args(argv)
    url = args.database_url
    if not url:
        from app.settings import load_settings

        url = load_settings().database_url
    try:
        datasets, runs = load(url)
    except Exception as exc:  # noqa: BLE001 - one line, whatever the database said
        from app.cli.errors import database_problem

        print(f"normalisation_spread: error: {database_problem(exc, url) or exc}", file=sys.stderr)
        return 1
    if not datasets:
        print("normalisation_spread: error: no dataset with done baselines in this database "
              "(run `hyperquest pool prepare` first)", file=sys.stderr)
        return 1
    report = measure(datasets, runs)
    if args.json:
        print(json.dumps(report))
    else:
        print_report(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
