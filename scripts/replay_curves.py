#!/usr/bin/env python3
"""Rebuild a run's training curves from a HyperQuest research export alone (standard library only).

    python scripts/replay_curves.py EXPORT_DIR --run 12      # one run
    python scripts/replay_curves.py EXPORT_DIR               # every run, keyed by run id

EXPORT_DIR is an unzipped export (CSV or JSON Lines; manifest.json says which). The output is
JSON in the structure the training page draws (app.runs.view.chart_series): the curves of the
run's current path (epochs not reverted, in training order) plus markers for width/depth changes
and for reverted epochs. Only the epochs table is needed (and runs, to list every run).
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

SUPPORTED_SCHEMAS = ("1", "2")  # 2 added columns this script does not read


def _number(text: str):
    return None if text == "" else float(text)


def _read_csv(path: Path) -> list[dict]:
    with path.open(newline="", encoding="utf-8") as handle:
        rows = []
        for raw in csv.DictReader(handle):
            rows.append({
                "run_id": int(raw["run_id"]),
                "sequence": int(raw["sequence"]),
                "number": int(raw["number"]),
                "train_loss": _number(raw["train_loss"]),
                "val_loss": _number(raw["val_loss"]),
                "train_acc": _number(raw["train_acc"]),
                "val_acc": _number(raw["val_acc"]),
                "reverted": raw["reverted"] == "true",
                "change": json.loads(raw["change"]) if raw["change"] else None,
            })
        return rows


def _read_jsonl(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def load(directory: Path) -> tuple[list[int], dict[int, list[dict]]]:
    """(every run id, epochs per run in training order) from an export directory."""
    manifest_path = directory / "manifest.json"
    if not manifest_path.exists():
        raise SystemExit(f"replay_curves: error: {directory} has no manifest.json (is it an unzipped export?)")
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    if str(manifest.get("schema_version")) not in SUPPORTED_SCHEMAS:
        raise SystemExit(f"replay_curves: error: schema version {manifest.get('schema_version')} is not supported "
                         f"(this script reads versions {', '.join(SUPPORTED_SCHEMAS)})")
    fmt = manifest["format"]
    reader = _read_csv if fmt == "csv" else _read_jsonl
    epochs = reader(directory / manifest["tables"]["epochs"]["file"])
    runs_file = directory / manifest["tables"]["runs"]["file"]
    if fmt == "csv":
        with runs_file.open(newline="", encoding="utf-8") as handle:
            run_ids = [int(row["run_id"]) for row in csv.DictReader(handle)]
    else:
        run_ids = [int(row["run_id"]) for row in _read_jsonl(runs_file)]
    per_run: dict[int, list[dict]] = {run_id: [] for run_id in run_ids}
    for epoch in epochs:
        per_run.setdefault(int(epoch["run_id"]), []).append(epoch)
    for rows in per_run.values():
        rows.sort(key=lambda e: e["sequence"])
    return sorted(per_run), per_run


def chart_series(epochs: list[dict]) -> dict:
    """The training page's curves, from epoch rows in training order."""
    path = [e for e in epochs if not e["reverted"]]
    return {
        "epochs": [e["number"] for e in path],
        "train_loss": [e["train_loss"] for e in path],
        "val_loss": [e["val_loss"] for e in path],
        "train_acc": [e["train_acc"] for e in path],
        "val_acc": [e["val_acc"] for e in path],
        "changes": [
            {"epoch": e["number"], "label": ", ".join(f"{s['knob']} {s['direction']}" for s in e["change"]["steps"])}
            for e in path
            if e["change"]
        ],
        "reverted": [{"epoch": e["number"], "val_acc": e["val_acc"], "val_loss": e["val_loss"]} for e in epochs if e["reverted"]],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Rebuild training curves from a HyperQuest research export.")
    parser.add_argument("export_dir", type=Path, help="an unzipped export (directory with manifest.json)")
    parser.add_argument("--run", type=int, help="the run id (default: every run, as an object keyed by run id)")
    args = parser.parse_args(argv)
    run_ids, per_run = load(args.export_dir)
    if args.run is not None:
        if args.run not in per_run:
            print(f"replay_curves: error: run {args.run} is not in this export", file=sys.stderr)
            return 1
        print(json.dumps(chart_series(per_run[args.run])))
    else:
        print(json.dumps({str(run_id): chart_series(per_run[run_id]) for run_id in run_ids}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
