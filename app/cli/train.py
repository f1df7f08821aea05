"""``hyperquest train``: play one game from the command line with a scripted list of actions."""

from __future__ import annotations

import argparse

from app.cli.common import add_size_argument, fmt, print_json, resolve_size
from engine import debrief, rules
from engine.actions import parse_actions, trains_an_epoch
from engine.config import HyperParams
from engine.datasets import load
from engine.devices import resolve_device
from engine.errors import RuleViolation
from engine.formatting import knob_value
from engine.memory import keep_freed_memory
from engine.bots import RuleBasedBot
from engine.branches import BranchStart, play_branch
from engine.game import Game

EXAMPLE = "continue,continue:width=up,continue:depth=up;lr=down,revert,done"


def add_parser(subparsers) -> None:
    """Register the subcommand."""
    parser = subparsers.add_parser(
        "train",
        help="play a game with scripted actions",
        description="Train on one dataset: epoch 1 from the initial configuration, then one action per token.",
        epilog=f'Example: hyperquest train --dataset shapes:3 --size tiny --actions "{EXAMPLE}" --json',
    )
    parser.add_argument("--dataset", required=True, metavar="FAMILY:SEED", help="e.g. shapes:3")
    add_size_argument(parser)
    parser.add_argument("--width", type=int, default=64, help="initial width (32, 64 or 128 in the game)")
    parser.add_argument("--depth", type=int, default=4, help="initial depth (2, 4 or 8 in the game)")
    parser.add_argument("--lr", type=float, default=0.01, help="initial learning rate")
    parser.add_argument("--dropout", type=float, default=0.0, help="initial dropout rate")
    parser.add_argument("--weight-decay", type=float, default=0.0, help="initial weight decay")
    parser.add_argument("--seed", type=int, default=0, help="seed for weights, data order and dropout")
    parser.add_argument(
        "--actions",
        default="",
        help="comma-separated actions after epoch 1: continue[:knob=up|down;...], revert, done "
        "(knobs: lr, weight_decay, dropout, width, depth)",
    )
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda")
    parser.add_argument("--json", action="store_true",
                        help="one JSON object per line per action, then a last line with the run's debrief")
    parser.add_argument("--branch-from", type=_branch_epoch, action="append", default=[], metavar="EPOCH",
                        help="after the actions, let the automatic player continue from this epoch's checkpoint "
                        "with the budget left then (repeatable)")
    parser.set_defaults(run=run)


def _branch_epoch(text: str) -> int:
    """An epoch a branch may start from: 1 to one before the epoch limit."""
    try:
        epoch = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an epoch number, got {text!r}") from None
    if not 1 <= epoch < rules.MAX_EPOCHS:
        raise argparse.ArgumentTypeError(f"must be between 1 and {rules.MAX_EPOCHS - 1}, got {epoch}")
    return epoch


def run(args: argparse.Namespace) -> int:
    """Validate everything first, then play the actions in order."""
    actions = parse_actions(args.actions)
    hparams = HyperParams(args.width, args.depth, args.lr, args.weight_decay, args.dropout)
    dataset = load(args.dataset, resolve_size(args))
    keep_freed_memory()
    game = Game(dataset, hparams, seed=args.seed, device=resolve_device(args.device))
    emit = print_json if args.json else _print_line
    if not args.json:
        stats = dataset.stats()
        print(
            f"dataset {dataset.ref} ({dataset.size}): {stats['classes']} classes, input {stats['input_size']}, "
            f"train {stats['examples']['train']}, val {stats['examples']['val']}"
        )
    wanted = set(args.branch_from)
    starts: dict[int, BranchStart] = {}
    outcome = game.start()
    outcomes = [outcome]
    _remember(game, outcome, wanted, starts)
    emit(outcome.as_dict())
    for action in actions:
        if outcome.ended:
            break
        outcome = game.act(action)
        outcomes.append(outcome)
        _remember(game, outcome, wanted, starts)
        emit(outcome.as_dict())
    missing = sorted(wanted - set(starts))
    if missing:
        path = [p.number for p in debrief.final_path(debrief.steps_from_outcomes(outcomes))]
        raise RuleViolation(f"cannot branch from epoch {', '.join(map(str, missing))}: not on the run's path "
                            f"(path epochs: {', '.join(map(str, path)) or 'none'}; diverged epochs cannot be branched from)")
    report = {"observations": [f.as_dict() for f in debrief.findings(debrief.steps_from_outcomes(outcomes))]}
    if wanted:
        report["branches"] = [play_branch(starts[e], dataset, RuleBasedBot(), data=game.data).as_dict()
                              for e in sorted(wanted)]
    if args.json:
        print_json({"debrief": report})
    else:
        print(f"best validation accuracy: {fmt(game.best_val_acc)}")
        _print_debrief(report)
    return 0


def _remember(game: Game, outcome, wanted: set[int], starts: dict) -> None:
    """Keep the checkpoint of a wanted epoch while it is on the path (a Revert takes it off again)."""
    for epoch in [e for e in starts if e > game.state.epoch]:
        del starts[epoch]
    if trains_an_epoch(outcome.kind) and outcome.epoch in wanted and not outcome.metrics.diverged:
        m = outcome.metrics
        metrics = {"train_loss": m.train_loss, "train_acc": m.train_acc, "val_loss": m.val_loss, "val_acc": m.val_acc}
        starts[outcome.epoch] = BranchStart(outcome.epoch, game.current_checkpoint(), outcome.action,
                                            game.best_val_acc, metrics)


def _print_debrief(report: dict) -> None:
    """The debrief in plain text."""
    for finding in report["observations"]:
        print(f"- {finding['text']}")
    for branch in report.get("branches", []):
        print(f"branch from epoch {branch['from_epoch']}: the automatic player reached {fmt(branch['best_val_acc'])} "
              f"in {branch['epochs_trained']} more epochs ({branch['end_reason']})")


def _print_line(record: dict) -> None:
    """Human-readable form of one action's outcome."""
    config = record["config"]
    text = (
        f"action {record['action']:>2} {record['kind']:<8} epoch {record['epoch']:>2}  "
        f"w={config['width']} d={config['depth']} lr={knob_value('lr', config['lr'])} wd={knob_value('weight_decay', config['weight_decay'])} "
        f"drop={knob_value('dropout', config['dropout'])}  train {fmt(record['train_loss'])}/{fmt(record['train_acc'])}  "
        f"val {fmt(record['val_loss'])}/{fmt(record['val_acc'])}"
    )
    if record.get("diverged"):
        text += "  DIVERGED"
    change = record.get("change")
    if change:
        text += (
            f"  [change: val loss {fmt(change['val_loss_before'], 4)} -> {fmt(change['val_loss_after'], 4)}, "
            f"acc {fmt(change['val_acc_before'])} -> {fmt(change['val_acc_after'])}]"
        )
    if record.get("ended"):
        text += f"  (run ended: {record['end_reason']})"
    print(text, flush=True)

