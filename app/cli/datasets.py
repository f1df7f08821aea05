"""``hyperquest datasets``: list the families, or describe one dataset."""

from __future__ import annotations

import argparse

from app.cli.common import add_size_argument, print_json, resolve_size, table
from engine.datasets import FAMILIES, load


def add_parser(subparsers) -> None:
    """Register the subcommand."""
    parser = subparsers.add_parser(
        "datasets",
        help="list dataset families or describe one dataset",
        description="Without an argument, list the families. With FAMILY:SEED, show that dataset's statistics.",
    )
    parser.add_argument("dataset", nargs="?", metavar="FAMILY:SEED", help="e.g. textures:12")
    add_size_argument(parser)
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """List or describe."""
    if args.dataset is None:
        if args.json:
            for f in FAMILIES.values():
                print_json({"family": f.name, "kind": f.kind, "in_classes": f.playable, "description": f.description})
        else:
            rows = [[f.name, f.kind, "yes" if f.playable else "no", f.description] for f in FAMILIES.values()]
            table(rows, ["family", "kind", "in classes", "description"])
        return 0
    dataset = load(args.dataset, resolve_size(args))
    stats = dataset.stats()
    counts = dataset.train_y.bincount(minlength=dataset.num_classes).tolist()
    stats["train_class_counts"] = counts
    stats["chance_accuracy"] = max(counts) / sum(counts)
    if args.json:
        print_json(stats)
        return 0
    examples = stats["examples"]
    print(f"Dataset {dataset.ref} ({dataset.size})")
    print(f"Classes: {stats['classes']}")
    print(f"Input data size: {stats['input_size']}")
    print(f"Examples per split: Train ({examples['train']}), Val ({examples['val']}), hidden Test ({examples['test']})")
    print(f"Train examples per class: {counts}")
    print(f"Chance accuracy (majority class): {stats['chance_accuracy']:.3f}")
    return 0
