"""Benchmark: a dataset's reference players, each trained from scratch against sharing common epochs.

Before, a dataset's references job trained the random player and every reference schedule from
scratch, the default schedule included (the baselines had already trained it). Now the baselines
job notes where the schedules leave the default's and the automatic player's paths, and the
references job goes on from those fork points (engine/lockstep.py). For each dataset this plays:

- separately: the random player and every reference schedule, the default included, each alone
  from scratch (what the references job trained before; timed), then the automatic player alone;
- shared: the default schedule and the automatic player recording their fork points (the baselines
  job), then the reference players from those forks (the references job);

and prints the references' wall time and epochs both ways, and whether every curve is identical
(exit 1 if not).
Same process, same placed data, one warm-up epoch first:

    python bench/reference_sharing.py --datasets shapes:1,textures:1,clusters:1 --size small
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.timing import timed  # noqa: E402


def measure(ref: str, size: str, epochs: int) -> dict:
    """Both ways on one dataset: seconds, epochs and whether the curves agree."""
    from engine.bots import RuleBasedBot
    from engine.datasets import make_dataset
    from engine.lockstep import play_recording
    from engine.references import (SCHEDULES, RandomPlayer, curve_of, followers, play_default_recording, play_policy,
                                   play_schedule, reference_players)
    from engine.training import place

    family, seed = ref.split(":")
    dataset = make_dataset(family, int(seed), size)
    data = place(dataset, "cpu")
    play_schedule(dataset, SCHEDULES[0], 1, data=data)  # warm-up: first-epoch costs paid by neither side

    def separately() -> dict:
        # What the references job trained before: the random player and every schedule, each from scratch.
        curves = {s.name: curve_of(play_schedule(dataset, s, epochs, data=data)) for s in SCHEDULES}
        curves["random"] = curve_of(play_policy(RandomPlayer(0), dataset, epochs, data=data))
        return curves

    def baselines() -> tuple[list, list]:
        default, default_forks = play_default_recording(dataset, epochs, data=data)
        bot = RuleBasedBot()
        bot_outcomes, bot_forks = play_recording(bot, followers(bot.initial_config(), epochs), dataset, epochs,
                                                 data=data)
        return [default, bot_outcomes], [*default_forks, *bot_forks]

    separate, separate_seconds = timed(separately)
    separate["bot"] = curve_of(play_policy(RuleBasedBot(), dataset, epochs, data=data))  # a baseline: untimed
    (paths, forks), baselines_seconds = timed(baselines)
    default_curve = curve_of(paths[0])
    shared, references_seconds = timed(lambda: reference_players(dataset, epochs, data=data,
                                                                 known={"default": default_curve}, forks=forks))
    shared_curves = {**shared.schedules, "bot": curve_of(paths[1]), "random": shared.random}
    return {
        "dataset": ref, "identical": shared_curves == separate,
        "different": sorted(name for name in separate if shared_curves.get(name) != separate[name]),
        "before_references_seconds": separate_seconds, "after_references_seconds": references_seconds,
        "after_baselines_seconds": baselines_seconds,
        "before_references_epochs": sum(len(separate[name]) for name in ("random", *(s.name for s in SCHEDULES))),
        "after_references_epochs": shared.epochs_trained,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", default="shapes:1,textures:1,clusters:1", help="family:seed, comma-separated")
    parser.add_argument("--size", default="small", choices=("tiny", "small", "full"))
    parser.add_argument("--epochs", type=int, default=30, help="the budget (the game's: 30)")
    args = parser.parse_args()
    refs = [r.strip() for r in args.datasets.split(",") if r.strip()]
    if not refs or any(r.count(":") != 1 or not r.split(":")[1].isdigit() for r in refs):
        parser.error("--datasets takes family:seed entries, e.g. shapes:1,clusters:2")
    if not 1 <= args.epochs <= 30:
        parser.error(f"--epochs must be between 1 and 30, got {args.epochs}")
    import torch

    from engine.memory import keep_freed_memory

    keep_freed_memory()  # as every training thread does
    print(f"size={args.size} epochs={args.epochs} torch threads={torch.get_num_threads()}")
    print("dataset      curves     before: references s (epochs)   after: references s (epochs)   saved")
    totals = [0.0, 0.0]
    all_identical = True
    for ref in refs:
        row = measure(ref, args.size, args.epochs)
        before, after = row["before_references_seconds"], row["after_references_seconds"]
        totals[0] += before
        totals[1] += after
        all_identical &= row["identical"]
        print(f"{ref:<12} {'identical' if row['identical'] else 'DIFFER: ' + ','.join(row['different']):<10} "
              f"{before:>8.1f} s ({row['before_references_epochs']:>3})"
              f"{'':<18}{after:>8.1f} s ({row['after_references_epochs']:>3}){'':<14}{1 - after / before:>5.0%}")
    print(f"total: references {totals[0]:.0f} s before, {totals[1]:.0f} s after, {1 - totals[1] / totals[0]:.0%} less")
    return 0 if all_identical else 1


if __name__ == "__main__":
    sys.exit(main())
