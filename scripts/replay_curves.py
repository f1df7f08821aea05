#!/usr/bin/env python3
"""Rebuild a run's training curves from a HyperQuest research export alone (standard library; pyarrow for Parquet).

    python scripts/replay_curves.py EXPORT_DIR --run 12      # one run
    python scripts/replay_curves.py EXPORT_DIR               # every run, keyed by run id

EXPORT_DIR is an unzipped export (CSV, JSON Lines or Parquet; manifest.json says which). The output is
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

# 2 and 3 added (and 3 renamed time) columns this script does not read.
SUPPORTED_SCHEMAS = ("1", "2", "3", "4", "5")  # 5 added the messages table, which curves do not need


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


def _read_parquet(path: Path) -> list[dict]:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise SystemExit("replay_curves: error: a Parquet export needs pyarrow (or export as csv or jsonl)") from None
    rows = pq.read_table(path).to_pylist()
    for row in rows:
        # JSON columns are JSON text in Parquet, as in CSV.
        if isinstance(row.get("change"), str):
            row["change"] = json.loads(row["change"])
    return rows


READERS = {"csv": _read_csv, "jsonl": _read_jsonl, "parquet": _read_parquet}


def _run_ids(path: Path, fmt: str) -> list[int]:
    if fmt == "csv":
        with path.open(newline="", encoding="utf-8") as handle:
            return [int(row["run_id"]) for row in csv.DictReader(handle)]
    return [int(row["run_id"]) for row in READERS[fmt](path)]


def load(directory: Path) -> tuple[list[int], dict[int, list[dict]]]:
    """(every run id, epochs per run in training order) from an export directory."""
    manifest_path = directory / "manifest.json"
    if not manifest_path.exists():
        raise SystemExit(f"replay_curves: error: {directory} has no manifest.json (is it an unzipped export?)")
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    if str(manifest.get("schema_version")) not in SUPPORTED_SCHEMAS:
        raise SystemExit(f"replay_curves: error: schema version {manifest.get('schema_version')} is not supported "
                         f"(this script reads versions {', '.join(SUPPORTED_SCHEMAS)})")
    fmt = manifest.get("format")
    if fmt not in READERS:
        raise SystemExit(f"replay_curves: error: unknown export format {fmt!r} in manifest.json")
    epochs = READERS[fmt](directory / manifest["tables"]["epochs"]["file"])
    run_ids = _run_ids(directory / manifest["tables"]["runs"]["file"], fmt)
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
