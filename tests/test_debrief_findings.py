"""engine.debrief on constructed histories: each finding, the clean run, branch points, kept checkpoints, the adapter."""

from __future__ import annotations

import dataclasses
import math
import subprocess
import sys
from types import SimpleNamespace

import pytest

from engine import debrief
from engine.config import HyperParams
from engine.debrief import EpochPoint, Step

# ----------------------------------------------------------------------------- builders


def point(n: int, val: float | None, train: float | None, *, lr: float = 0.01, depth: int = 4,
          train_loss: float | None = None, val_loss: float | None = None, diverged: bool = False,
          grown: tuple[str, ...] = ()) -> EpochPoint:
    """One epoch; losses follow the accuracies (moderate, falling as accuracy rises) unless given."""
    if train_loss is None and not diverged:
        train_loss = round(2.3 * (1 - train) + 0.1, 4)
    if val_loss is None and not diverged:
        val_loss = round(2.3 * (1 - val) + 0.1, 4)
    return EpochPoint(n, train_loss, train, val_loss, val, diverged, HyperParams(64, depth, lr), grown)


def curve(vals, trains, lrs=None, start: int = 1, **kw) -> list[EpochPoint]:
    """Consecutive epochs from ``start`` with these validation/training accuracies (and learning rates)."""
    lrs = lrs or [kw.pop("lr", 0.01)] * len(vals)
    return [point(start + i, v, t, lr=lr, **kw) for i, (v, t, lr) in enumerate(zip(vals, trains, lrs))]


def play(*items) -> list[Step]:
    """Steps from epochs (the first is the initial configuration), lists of epochs, "revert" and "done"."""
    steps: list[Step] = []
    for item in items:
        for entry in (item if isinstance(item, list) else [item]):
            if isinstance(entry, EpochPoint):
                steps.append(Step("continue" if steps else "initial", entry))
            else:
                steps.append(Step(entry, None))
    return steps


def kinds(steps) -> list[str]:
    return [f.kind for f in debrief.findings(steps)]


def only(steps, kind: str) -> debrief.Finding:
    matches = [f for f in debrief.findings(steps) if f.kind == kind]
    assert len(matches) == 1, debrief.findings(steps)
    return matches[0]


# Validation accuracy rising to 0.62 at epoch 7 while training accuracy rises from 0.52.
RISE_VAL = [0.35, 0.42, 0.48, 0.53, 0.57, 0.60, 0.62]
RISE_TRAIN = [0.52, 0.58, 0.64, 0.69, 0.73, 0.77, 0.80]
# Epochs 8-12: validation falls to 0.55, training climbs to 0.97.
FALL_VAL = [0.60, 0.59, 0.58, 0.56, 0.55]
FALL_TRAIN = [0.85, 0.89, 0.92, 0.95, 0.97]


# ----------------------------------------------------------------------------- clean run


@pytest.mark.parametrize("lr", [0.01, 0.001])
def test_a_clean_run_has_no_findings(lr):
    # Rising, then levelling off before Done (a Done while still rising is "stopped_early").
    vals = [0.40, 0.45, 0.50, 0.54, 0.58, 0.61, 0.63, 0.65, 0.65, 0.65]
    trains = [0.55, 0.60, 0.65, 0.70, 0.74, 0.78, 0.81, 0.84, 0.85, 0.86]
    assert debrief.findings(play(curve(vals, trains, lr=lr), "done")) == []


def test_no_steps_no_findings():
    assert debrief.findings([]) == []
    assert debrief.final_path([]) == []


# ----------------------------------------------------------------------------- overfitting


def test_overfitting_until_done_names_the_peak_the_fall_and_the_reaction():
    steps = play(curve(RISE_VAL + FALL_VAL, RISE_TRAIN + FALL_TRAIN), "done")
    assert kinds(steps) == ["overfitting", "wasted_epochs"]  # ordering: overfitting before wasted epochs
    f = only(steps, "overfitting")
    assert f.epochs == (7, 12)
    assert f.concept == "overfitting"
    assert f.text == ("Validation accuracy peaked at 0.62 at epoch 7, then fell for 5 epochs (to 0.55 at epoch 12) "
                      "while training accuracy rose to 0.97: the network overfit. You pressed Done after 5 epochs.")
    assert f.figures["peak_epoch"] == 7 and f.figures["peak_val_acc"] == 0.62
    assert f.figures["epochs_after_peak"] == 5 and f.figures["reaction_epochs"] is None
    assert f.figures["gap_at_end"] - f.figures["gap_at_peak"] == pytest.approx((0.97 - 0.55) - (0.80 - 0.62))


def test_overfitting_reaction_counts_the_reverted_epochs():
    # Epochs 8-10 fall, the player reverts all three, then lowers the learning rate and does better.
    fallen = curve(RISE_VAL + FALL_VAL[:3], RISE_TRAIN + FALL_TRAIN[:3])
    retried = curve([0.63, 0.64], [0.81, 0.82], start=8, lr=0.001)
    steps = play(fallen, "revert", "revert", "revert", retried, "done")
    assert [p.number for p in debrief.final_path(steps)] == list(range(1, 10))
    # The fall is off the final path, but it was played; then Done while still rising, 21 epochs left.
    assert kinds(steps) == ["overfitting", "stopped_early"]
    f = only(steps, "overfitting")
    assert f.epochs == (7, 10)
    assert f.text.endswith("then fell for 3 epochs (to 0.58 at epoch 10) while training accuracy rose to 0.92: "
                           "the network overfit. You reverted after 3 epochs.")
    assert f.figures["reaction_epochs"] == 3 and f.figures["epochs_after_peak"] == 3


def test_overfitting_reaction_is_the_first_revert_even_if_the_fall_goes_on():
    fallen = curve(RISE_VAL + FALL_VAL[:3], RISE_TRAIN + FALL_TRAIN[:3])
    steps = play(fallen, "revert", curve([0.57, 0.56], [0.93, 0.95], start=10), "done")
    f = only(steps, "overfitting")
    assert f.epochs == (7, 10) and f.figures["reaction_epochs"] == 3
    assert f.text.endswith("You reverted after 3 epochs.")


def test_overfitting_that_ran_to_the_budget_says_the_player_did_not_revert():
    steps = play(curve(RISE_VAL + FALL_VAL, RISE_TRAIN + FALL_TRAIN))  # no Done: the run simply ended
    f = only(steps, "overfitting")
    assert f.text.endswith("You did not revert.")
    assert f.figures["reaction_epochs"] is None


@pytest.mark.parametrize("fall_val, fall_train", [
    ([0.60, 0.58], [0.85, 0.89]),                    # only two epochs below the peak
    ([0.61, 0.61, 0.60, 0.61], [0.85, 0.89, 0.92, 0.95]),  # 0.01 below: validation noise
    ([0.60, 0.58, 0.56, 0.55], [0.80, 0.79, 0.78, 0.79]),  # training accuracy did not rise
])
def test_no_overfitting_without_a_clear_fall_and_rising_training_accuracy(fall_val, fall_train):
    steps = play(curve(RISE_VAL + fall_val, RISE_TRAIN + fall_train), "done")
    assert "overfitting" not in kinds(steps)


# ----------------------------------------------------------------------------- divergence


def test_divergence_one_epoch_after_a_learning_rate_raise():
    ok = curve([0.30, 0.38, 0.44, 0.47], [0.55, 0.60, 0.64, 0.66], lrs=[0.1, 0.1, 0.1, 0.3])
    blown = point(5, 0.10, 0.10, lr=0.3, diverged=True)
    retry = point(5, 0.49, 0.68, lr=0.1)
    steps = play(ok, blown, "revert", retry, "done")
    assert kinds(steps) == ["diverged", "stopped_early"]
    f = only(steps, "diverged")
    assert f.epochs == (4, 5) and f.concept == "divergence"
    assert f.text == "The loss diverged at epoch 5, one epoch after you raised the learning rate to 0.3 at epoch 4."
    assert (f.figures["epoch"], f.figures["raise_epoch"], f.figures["lr_before"]) == (5, 4, 0.1)


def test_divergence_right_after_the_raise_that_trained_it():
    steps = play(curve([0.30, 0.38], [0.55, 0.60], lr=0.1), point(3, 0.1, 0.1, lr=0.3, diverged=True))
    f = only(steps, "diverged")
    assert f.epochs == (3,)
    assert f.text == "The loss diverged at epoch 3, right after you raised the learning rate from 0.1 to 0.3."


def test_divergence_without_a_recent_raise_blames_the_learning_rate():
    # The raise to 0.3 trained epoch 2: three epochs before the divergence, outside the window.
    ok = curve([0.30, 0.38, 0.44, 0.47], [0.55, 0.60, 0.64, 0.66], lrs=[0.1, 0.3, 0.3, 0.3])
    nan_loss = EpochPoint(5, None, 0.66, 3.0, 0.47, False, HyperParams(64, 4, 0.3))  # not flagged, loss not finite
    f = only(play(ok, nan_loss), "diverged")
    assert f.epochs == (5,)
    assert f.text == "The loss diverged at epoch 5 with learning rate 0.3: the learning rate was too high."
    assert f.figures["raise_epoch"] is None


def test_divergence_at_the_first_epoch():
    f = only(play(point(1, 0.1, 0.1, lr=0.1, diverged=True), "done"), "diverged")
    assert f.text == "The loss diverged at epoch 1 with learning rate 0.1: the learning rate was too high."


def test_one_finding_per_divergence_episode_and_at_most_two():
    steps = play(
        point(1, 0.30, 0.55, lr=0.1),
        point(2, 0.1, 0.1, lr=0.1, diverged=True), "revert",
        point(2, 0.1, 0.1, lr=0.1, diverged=True), "revert",  # the same episode: no healthy epoch between
        point(2, 0.35, 0.58, lr=0.03),
        point(3, 0.1, 0.1, lr=0.03, diverged=True), "revert",
        point(3, 0.40, 0.60, lr=0.03),
        point(4, 0.1, 0.1, lr=0.03, diverged=True), "done",
    )
    diverged = [f for f in debrief.findings(steps) if f.kind == "diverged"]
    assert [f.figures["epoch"] for f in diverged] == [2, 3]


# ----------------------------------------------------------------------------- underfitting


def test_underfit_then_growing_the_network():
    low = curve([0.28, 0.33, 0.36, 0.38, 0.40, 0.41], [0.30, 0.35, 0.38, 0.40, 0.42, 0.44])
    grown = [point(7, 0.44, 0.50, depth=8, grown=("depth",)), point(8, 0.48, 0.55, depth=8),
             point(9, 0.46, 0.58, depth=8), point(10, 0.50, 0.60, depth=8)]
    steps = play(low, grown, "done")
    assert kinds(steps) == ["underfit", "stopped_early"]  # it fit better once grown, then stopped while rising
    f = only(steps, "underfit")
    assert f.epochs == (1, 6, 7) and f.concept == "underfitting"
    assert f.text == ("Training accuracy stayed below 0.50 for 6 epochs (epochs 1–6): the network underfit. "
                      "Growing it (depth up at epoch 7) raised validation accuracy by 0.07 within 3 epochs.")
    assert f.figures["growth_epoch"] == 7 and f.figures["growth_gain"] == pytest.approx(0.07)


def test_underfit_needs_four_low_epochs():
    three = curve([0.30, 0.35, 0.40, 0.50, 0.55], [0.40, 0.45, 0.48, 0.55, 0.60])
    assert "underfit" not in kinds(play(three, "done"))
    four = curve([0.30, 0.35, 0.40, 0.42, 0.55], [0.40, 0.45, 0.48, 0.49, 0.60])
    f = only(play(four, "done"), "underfit")
    assert f.epochs == (1, 4)
    assert f.text == "Training accuracy stayed below 0.50 for 4 epochs (epochs 1–4): the network underfit."


def test_diverged_comes_before_underfit():
    low = curve([0.28, 0.33, 0.36, 0.38], [0.30, 0.35, 0.38, 0.40])
    steps = play(low, point(5, 0.1, 0.1, diverged=True), "done")
    assert kinds(steps) == ["diverged", "underfit"]


# ----------------------------------------------------------------------------- wasted epochs


def test_wasted_epochs_after_the_best():
    vals = [0.40, 0.44, 0.48, 0.51, 0.54, 0.56, 0.58, 0.60, 0.62, 0.64, 0.66, 0.68] + [0.67, 0.66] * 5
    trains = [0.55 + 0.02 * i for i in range(12)] + [0.78] * 10
    steps = play(curve(vals, trains), "done")
    assert kinds(steps) == ["wasted_epochs"]
    f = only(steps, "wasted_epochs")
    assert f.epochs == (12,) and f.concept == "plateau"
    assert f.text == "The best epoch was 12 (validation accuracy 0.68); the last 10 epochs added nothing."
    assert f.figures == {"best_epoch": 12, "best_val_acc": 0.68, "wasted": 10}


def test_four_epochs_after_the_best_are_not_wasted():
    vals = [0.40, 0.50, 0.60, 0.59, 0.59, 0.58, 0.59]
    trains = [0.55, 0.60, 0.65, 0.66, 0.66, 0.67, 0.67]
    assert "wasted_epochs" not in kinds(play(curve(vals, trains), "done"))


# ----------------------------------------------------------------------------- learning rate too low


LOW_LOSSES = [2.30, 2.20, 2.19, 2.17, 2.16, 2.15, 2.134]


def _low_lr_run(lr_after: float, epochs: int = 7) -> list[Step]:
    vals = [0.40 + 0.004 * i for i in range(epochs)]
    trains = [0.55 + 0.005 * i for i in range(epochs)]
    lrs = [0.001] + [lr_after] * (epochs - 1)
    points = [point(i + 1, v, t, lr=lr, train_loss=loss)
              for i, (v, t, lr, loss) in enumerate(zip(vals, trains, lrs, LOW_LOSSES))]
    return play(points, "done")


def test_learning_rate_too_low():
    steps = _low_lr_run(1e-4)
    assert kinds(steps) == ["lr_too_low"]
    f = only(steps, "lr_too_low")
    assert f.epochs == (2, 7) and f.concept == "lr"
    assert f.text == ("From epoch 2 to 7 at learning rate 1e-4 the training loss fell only 3% (from 2.20 to 2.13): "
                      "the learning rate was likely too low.")
    assert f.figures["loss_fall"] == pytest.approx(0.03)


def test_a_slow_loss_at_a_normal_learning_rate_or_for_few_epochs_is_not_lr_too_low():
    assert "lr_too_low" not in kinds(_low_lr_run(1e-2))
    assert "lr_too_low" not in kinds(_low_lr_run(1e-4, epochs=5))  # only 4 epochs at 1e-4


# ----------------------------------------------------------------------------- learning-rate decay


DECAY_VAL = [0.45, 0.48, 0.50, 0.52, 0.54, 0.56, 0.57, 0.58, 0.60, 0.61]
DECAY_TRAIN = [0.60, 0.62, 0.64, 0.66, 0.68, 0.70, 0.72, 0.74, 0.77, 0.80]


def test_learning_rate_decay_that_paid_off():
    after = curve([0.64, 0.68, 0.67], [0.83, 0.86, 0.88], start=11, lr=0.001)
    steps = play(curve(DECAY_VAL, DECAY_TRAIN), after, "done")
    assert kinds(steps) == ["lr_decay"]
    f = only(steps, "lr_decay")
    assert f.epochs == (11,) and f.concept == "lr"
    assert f.text == ("Lowering the learning rate to 0.001 at epoch 11 raised validation accuracy from 0.61 to 0.68 "
                      "within 3 epochs.")
    assert f.figures["best_epoch"] == 12 and f.figures["gain"] == pytest.approx(0.07)


def test_a_decay_with_a_small_gain_is_not_praised():
    after = curve([0.62, 0.63, 0.63], [0.83, 0.86, 0.88], start=11, lr=0.001)
    assert debrief.findings(play(curve(DECAY_VAL, DECAY_TRAIN), after, "done")) == []


# ----------------------------------------------------------------------------- final path


def test_final_path_drops_reverted_epochs():
    first = curve([0.40, 0.45, 0.50], [0.55, 0.60, 0.65])
    second = point(2, 0.47, 0.61, lr=0.001)
    path = debrief.final_path(play(first, "revert", "revert", second, "done"))
    assert [p.number for p in path] == [1, 2]
    assert path[0] is first[0] and path[1] is second


def test_final_path_may_revert_to_before_the_first_epoch():
    assert debrief.final_path(play(point(1, 0.4, 0.55), "revert")) == []


# ----------------------------------------------------------------------------- branch points and kept epochs


def test_branch_points_best_and_before_the_biggest_drop():
    path = curve([0.40, 0.50, 0.60, 0.52, 0.58, 0.65], [0.55] * 6)
    assert debrief.branch_points(path) == [(3, "before_drop"), (6, "best")]


def test_branch_points_dedup_keeps_best():
    path = curve([0.40, 0.60, 0.50, 0.55], [0.55] * 4)
    assert debrief.branch_points(path) == [(2, "best")]


def test_a_small_drop_is_no_branch_point():
    path = curve([0.40, 0.50, 0.47, 0.55], [0.55] * 4)  # a fall of 0.03, below DROP_MIN
    assert debrief.branch_points(path) == [(4, "best")]


def test_a_diverged_epoch_is_never_best_but_its_fall_counts():
    # 0.90 at the diverged epoch 3 is not the best, and the fall after it starts from no usable checkpoint.
    path = curve([0.40, 0.50], [0.55, 0.60]) + [point(3, 0.90, 0.9, diverged=True), point(4, 0.20, 0.3)]
    assert debrief.branch_points(path) == [(2, "best")]
    # The fall into a divergence (0.50 -> 0.10) starts a branch from the epoch before it.
    path = curve([0.40, 0.55, 0.50], [0.55, 0.60, 0.62]) + [point(4, 0.10, 0.1, diverged=True), point(5, 0.52, 0.6)]
    assert debrief.branch_points(path) == [(2, "best"), (3, "before_drop")]


def test_branch_points_leave_out_epochs_without_budget():
    vals = [0.30 + 0.01 * i for i in range(30)]
    vals[10] = vals[9] - 0.10  # epoch 11 falls: before_drop is epoch 10
    path = curve(vals, [0.6] * 30)
    assert debrief.branch_points(path) == [(10, "before_drop")]  # the best is epoch 30: no epochs left
    assert debrief.branch_points(path, max_epochs=10) == []


def test_kept_epochs_are_branch_points_and_anchors():
    vals = [0.40 + 0.02 * i for i in range(12)] + [0.60] * 10
    vals[17] = 0.50  # epoch 18 falls from epoch 17
    path = curve(vals, [0.6] * 22)
    assert debrief.branch_points(path) == [(12, "best"), (17, "before_drop")]
    assert debrief.kept_epochs(path) == {5, 10, 12, 15, 17, 20, 21, 22}  # 20-22: the latest


def test_kept_epochs_are_capped_dropping_the_latest_anchors_first():
    vals = [0.30 + 0.005 * i for i in range(50)]
    vals[33] = vals[32] - 0.10  # epoch 34 falls from epoch 33
    path = curve(vals, [0.6] * 50)
    assert debrief.branch_points(path, max_epochs=60) == [(33, "before_drop"), (50, "best")]
    kept = debrief.kept_epochs(path, max_epochs=60)
    assert len(kept) == debrief.MAX_KEPT == 8
    assert kept == {5, 10, 15, 33, 47, 48, 49, 50}  # branch points, the latest three, then anchors earliest first


def test_kept_epochs_never_include_epochs_without_budget():
    path = curve([0.30 + 0.01 * i for i in range(30)], [0.6] * 30)
    assert debrief.kept_epochs(path) == {5, 10, 15, 20, 25, 27, 28, 29}  # never 30: no budget left after it


# ----------------------------------------------------------------------------- adapter and API


def _metrics(train_loss, train_acc, val_loss, val_acc, diverged=False):
    return SimpleNamespace(train_loss=train_loss, train_acc=train_acc, val_loss=val_loss, val_acc=val_acc,
                           diverged=diverged, epoch=None, seconds=1.0)


def test_steps_from_outcomes():
    cfg = HyperParams(64, 4, 0.01)
    wider = cfg.replace(width=128)
    widen = SimpleNamespace(steps=(SimpleNamespace(knob="width", direction="up"),
                                   SimpleNamespace(knob="depth", direction="down")))
    outcomes = [
        SimpleNamespace(kind="initial", epoch=1, metrics=_metrics(1.0, 0.50, 1.1, 0.45), config=cfg, change=None),
        SimpleNamespace(kind="continue", epoch=2, metrics=_metrics(0.9, 0.55, 1.0, 0.50), config=wider, change=widen),
        # Revert and Done carry an older epoch's metrics: they train nothing.
        SimpleNamespace(kind="revert", epoch=1, metrics=_metrics(1.0, 0.50, 1.1, 0.45), config=cfg, change=None),
        SimpleNamespace(kind="continue", epoch=2, metrics=_metrics(float("nan"), 0.1, float("inf"), 0.1, True),
                        config=cfg.replace(lr=0.3), change=None),
        SimpleNamespace(kind="done", epoch=2, metrics=_metrics(float("nan"), 0.1, float("inf"), 0.1, True),
                        config=cfg.replace(lr=0.3), change=None),
    ]
    steps = debrief.steps_from_outcomes(outcomes)
    assert [s.kind for s in steps] == ["initial", "continue", "revert", "continue", "done"]
    assert [s.epoch is None for s in steps] == [False, False, True, False, True]
    first, grown, blown = steps[0].epoch, steps[1].epoch, steps[3].epoch
    assert (first.number, first.train_loss, first.val_acc, first.config) == (1, 1.0, 0.45, cfg)
    assert grown.grown == ("width",) and grown.config == wider
    assert (blown.number, blown.train_loss, blown.val_loss, blown.diverged) == (2, None, None, True)
    assert [p.number for p in debrief.final_path(steps)] == [1, 2]
    assert debrief.findings(steps)[0].text.startswith("The loss diverged at epoch 2, right after you raised")


def test_steps_from_outcomes_numbers_epochs_without_an_epoch_attribute():
    cfg = HyperParams(64, 4, 0.01)
    trained = lambda kind, acc: SimpleNamespace(kind=kind, metrics=_metrics(1.0, acc, 1.0, acc),  # noqa: E731
                                                config=cfg, change=None)
    outcomes = [trained("initial", 0.5), trained("continue", 0.6), SimpleNamespace(kind="revert", metrics=None,
                config=cfg, change=None), trained("continue", 0.7)]
    numbers = [s.epoch.number for s in debrief.steps_from_outcomes(outcomes) if s.epoch]
    assert numbers == [1, 2, 2]


def test_finding_as_dict():
    f = only(play(point(1, 0.1, 0.1, lr=0.1, diverged=True)), "diverged")
    data = f.as_dict()
    assert data == {"kind": "diverged", "epochs": [1], "text": f.text, "concept": "divergence",
                    "figures": {"epoch": 1, "lr": 0.1, "raise_epoch": None, "lr_before": None, "raised_lr": None}}
    assert math.isclose(data["figures"]["lr"], 0.1)


@pytest.mark.processes
def test_debrief_imports_neither_torch_nor_the_game():
    code = ("import sys, engine.debrief\n"
            "print(','.join(m for m in ('torch', 'engine.game', 'app', 'worker') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


# ----------------------------------------------------------------------------- stopped early, credit for a change


def test_done_with_the_budget_left_while_still_rising_is_stopped_early_not_underfit():
    # Six epochs, training accuracy still below 0.5 but climbing, validation accuracy climbing: Done with 24 left.
    steps = play(curve([0.20, 0.26, 0.31, 0.35, 0.39, 0.42], [0.22, 0.28, 0.33, 0.38, 0.42, 0.46]), "done")
    assert kinds(steps) == ["stopped_early"]
    f = only(steps, "stopped_early")
    assert f.figures["epochs_left"] == 24 and f.epochs == (3, 6)
    assert f.text == ("You pressed Done after epoch 6 with 24 epochs of the budget left, while validation accuracy was "
                      "still rising (0.31 at epoch 3 to 0.42 at epoch 6, a new best): more epochs would likely have "
                      "raised your score.")
    # Run to the budget, the same low stretch is underfitting; levelled off, it is not an early stop.
    assert "stopped_early" not in kinds(play(curve([0.30] * 4 + [0.31] * 2, [0.30] * 6), "done"))


def test_a_gain_is_credited_to_a_move_only_when_nothing_else_changed_within_the_window():
    after = curve([0.64, 0.68, 0.67], [0.83, 0.86, 0.88], start=11, lr=0.001)
    alone = play(curve(DECAY_VAL, DECAY_TRAIN), after, "done")
    assert "lr_decay" in kinds(alone)
    # The same curve, but the width went up one epoch after the decay: the gain cannot be credited to either.
    crowded = after[:1] + [dataclasses.replace(p, config=p.config.replace(width=128)) for p in after[1:]]
    assert "lr_decay" not in kinds(play(curve(DECAY_VAL, DECAY_TRAIN), crowded, "done"))
    # Or weight decay went up together with the decay.
    together = [dataclasses.replace(p, config=p.config.replace(weight_decay=1e-5)) for p in after]
    assert "lr_decay" not in kinds(play(curve(DECAY_VAL, DECAY_TRAIN), together, "done"))
