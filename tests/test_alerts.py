"""The instructor's live alerts (engine.alerts) on constructed histories."""

from __future__ import annotations

import random

from engine import alerts
from engine.actions import CONTINUE, DONE, INITIAL, REVERT
from engine.debrief import Step
from tests.support.histories import PATHOLOGIES, clean_run, pathological_run, point, seeded_set


def kinds(found) -> list[str]:
    return [a.kind for a in found]


def test_nan_loss_is_flagged_with_its_epoch_and_closes_after_a_revert():
    steps = [Step(INITIAL, point(1, 0.5, 0.5, 1.2)), Step(CONTINUE, point(2, 0.6, 0.6, 1.0)),
             Step(CONTINUE, point(3, 0.1, 0.1, None, lr=1.0, diverged=True))]
    found = alerts.run_alerts(steps)
    assert kinds(found) == ["diverged"]
    assert found[0].epochs == (3,) and found[0].step == 2 and found[0].open
    assert "Epoch 3 diverged" in found[0].text and "not a number" in found[0].text and "learning rate 1" in found[0].text
    found = alerts.run_alerts(steps + [Step(REVERT, None)])
    assert kinds(found) == ["diverged"] and not found[0].open


def test_a_loss_that_blows_up_counts_as_diverged():
    steps = [Step(INITIAL, point(1, 0.5, 0.5, 1.2)), Step(CONTINUE, point(2, 0.7, 0.7, 0.6)),
             Step(CONTINUE, point(3, 0.3, 0.3, 2.5, lr=0.5))]
    found = alerts.run_alerts(steps)
    assert kinds(found) == ["diverged"]
    assert found[0].figures["lowest_before"] == 0.6 and "2.500" in found[0].text


def test_overfitting_needs_two_falls_with_training_rising_and_no_reaction():
    base = [Step(INITIAL, point(1, 0.70, 0.70, 1.0)), Step(CONTINUE, point(2, 0.80, 0.78, 0.8)),
            Step(CONTINUE, point(3, 0.85, 0.76, 0.7))]
    assert alerts.run_alerts(base) == []  # one fall is noise
    two = base + [Step(CONTINUE, point(4, 0.90, 0.74, 0.6))]
    found = alerts.run_alerts(two)
    assert kinds(found) == ["overfitting"] and found[0].epochs == (2, 3, 4) and found[0].step == 3
    assert "0.78 → 0.74" in found[0].text and "0.80 → 0.90" in found[0].text
    # A third fall grows the same alert, it does not add one.
    three = two + [Step(CONTINUE, point(5, 0.93, 0.72, 0.5))]
    found = alerts.run_alerts(three)
    assert kinds(found) == ["overfitting"] and found[0].epochs == (2, 3, 4, 5) and found[0].step == 3
    # Raising dropout is a reaction: the alert closes and the next epoch starts a fresh window.
    reacted = three + [Step(CONTINUE, point(6, 0.92, 0.73, 0.5, dropout=0.3))]
    found = alerts.run_alerts(reacted)
    assert kinds(found) == ["overfitting"] and not found[0].open


def test_overfitting_is_not_called_when_training_accuracy_falls_too():
    steps = [Step(INITIAL, point(1, 0.80, 0.78, 1.0)), Step(CONTINUE, point(2, 0.78, 0.75, 1.1)),
             Step(CONTINUE, point(3, 0.75, 0.72, 1.2))]
    assert "overfitting" not in kinds(alerts.run_alerts(steps))


def test_three_reverts_in_a_row_name_the_undone_epochs():
    steps = [Step(INITIAL, point(1, 0.5, 0.5, 1.2))] + [Step(CONTINUE, point(n, 0.6, 0.6, 1.0 - n / 20)) for n in (2, 3, 4)]
    two = steps + [Step(REVERT, None), Step(REVERT, None)]
    assert alerts.run_alerts(two) == []
    found = alerts.run_alerts(two + [Step(REVERT, None)])
    assert kinds(found) == ["reverts"] and found[0].epochs == (4, 3, 2) and found[0].figures["reverts"] == 3


def test_idle_only_past_the_limit_and_only_while_waiting():
    steps = [Step(INITIAL, point(1, 0.5, 0.5, 1.2))]
    assert alerts.run_alerts(steps, waiting_seconds=60) == []
    assert alerts.run_alerts(steps, waiting_seconds=None) == []
    found = alerts.run_alerts(steps, waiting_seconds=5 * 60, idle_minutes=4)
    assert kinds(found) == ["idle"] and found[0].epochs == (1,) and found[0].figures["minutes"] == 5.0


def test_plateau_at_an_unmoved_learning_rate_after_five_epochs():
    flat = [Step(INITIAL, point(1, 0.5, 0.5, 1.000, lr=0.001))]
    flat += [Step(CONTINUE, point(n, 0.5, 0.5, 1.000 - 0.002 * n, lr=0.001)) for n in range(2, 5)]
    assert alerts.run_alerts(flat) == []
    flat.append(Step(CONTINUE, point(5, 0.5, 0.5, 0.992, lr=0.001)))
    found = alerts.run_alerts(flat)
    assert kinds(found) == ["lr_stuck"] and found[0].epochs == (1, 2, 3, 4, 5) and found[0].step == 4
    moved = flat + [Step(CONTINUE, point(6, 0.5, 0.5, 0.99, lr=0.003))]
    assert not alerts.run_alerts(moved)[0].open
    falling = [Step(INITIAL, point(1, 0.5, 0.5, 1.0))] + [Step(CONTINUE, point(n, 0.5, 0.5, 1.0 - 0.05 * n)) for n in range(2, 8)]
    assert alerts.run_alerts(falling) == []


def test_open_alerts_most_urgent_first():
    made = [alerts.Alert("lr_stuck", (1,), "", {}, 5), alerts.Alert("diverged", (2,), "", {}, 3),
            alerts.Alert("overfitting", (3,), "", {}, 4, open=False)]
    assert [a.kind for a in alerts.open_alerts(made)] == ["diverged", "lr_stuck"]


def test_seeded_runs_every_pathology_flagged_and_alerts_mostly_true():
    runs = seeded_set()
    total = true = 0
    missed = []
    for run in runs:
        found = alerts.run_alerts(run["steps"], waiting_seconds=run["waiting"])
        for label in run["labels"]:
            if label not in kinds(found):
                missed.append(label)
        total += len(found)
        true += sum(a.kind in run["labels"] for a in found)
    assert not missed, f"pathologies not flagged: {missed}"
    assert total >= len([r for r in runs if r["labels"]])
    precision = true / total
    assert precision >= 0.9, f"only {true} of {total} alerts are true ({precision:.0%})"


def test_clean_runs_raise_few_alerts_over_many_seeds():
    rng = random.Random(11)
    raised = sum(len(alerts.run_alerts(clean_run(rng))) for _ in range(200))
    assert raised <= 20, f"{raised} alerts on 200 clean runs"


def test_every_pathology_is_constructed():
    rng = random.Random(3)
    for kind in PATHOLOGIES:
        steps, waiting = pathological_run(kind, rng)
        assert kind in kinds(alerts.run_alerts(steps, waiting_seconds=waiting))
    assert Step(DONE, None).kind == DONE
