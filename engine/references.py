"""Reference players a human's run is put beside: a random player and a small grid of fixed schedules.

A human's score is reported as ``(player − random) / (oracle − random)`` (engine.regret): the random
player is the floor (what pressing buttons without thinking gets), and the oracle is the best of
:data:`SCHEDULES`, a few schedules a practitioner would try first. Every reference plays the real
game through engine.game.Game in the same action space as the student, so it obeys every rule.
Players that start alike share the epochs they have in common (engine.lockstep): "lr 0.01 step
decay" is the default schedule until its decay, "lr 0.1 step decay" is "lr 0.1 constant" until
its first decay, and the automatic player starts like the lr 0.1 schedules. The baselines job
notes where the references leave the default's and the automatic player's paths
(:func:`play_default_recording`, :func:`fork_recorder`); :func:`reference_players` goes on from
those fork points instead of training the shared epochs again.
"""

from __future__ import annotations

import dataclasses
import math
import random
from typing import Iterable

from engine.actions import Action, trains_an_epoch
from engine.bots import Observation, is_legal
from engine.config import INITIAL_CHOICES, KNOBS, HyperParams, default_hparams
from engine.datasets import Dataset
from engine.game import Outcome
from engine.lockstep import ForkPoint, ForkRecorder, check_budget, play_recording, play_together, resume
from engine.regret import Curve, curve_score
from engine.training import DeviceData, ProgressCallback, place

LOWER_LR = Action("continue", (("lr", "down"),))
KEEP = Action("continue")


def legal_moves(obs: Observation) -> list[Action]:
    """Every legal non-Done action after ``obs`` with at most one knob moved one rung, in a fixed order."""
    candidates = [KEEP]
    candidates += [Action("continue", ((knob, direction),)) for knob in KNOBS for direction in ("up", "down")]
    candidates.append(Action("revert"))
    return [action for action in candidates if is_legal(obs, action)]


class RandomPlayer:
    """The floor of the reference scale: uniform over the legal actions, one knob at a time.

    ``initial_config`` draws each initial choice uniformly (weight decay 0). ``decide`` picks
    uniformly among the legal non-Done actions: Continue unchanged, Continue with exactly one knob
    one rung up or down (only moves the ladders allow), and Revert when the rules allow it; it
    presses Done only when nothing else is legal, so the run normally ends by the game's limits.

    Why one knob per action and not every combination of the five knobs: a uniform walk over all
    combinations moves width and depth up on almost every action, so within a few actions the
    network is 256 wide and 16 deep and a single epoch of it costs minutes on a CPU; a reference
    that cannot be computed next to the baselines is no use.

    Stateless, like every policy: the rng of a decision is derived from (seed, len(history)),
    so the same history always gives the same action (the web app replays from database rows).
    """

    name = "random"

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed

    def initial_config(self) -> HyperParams:
        """One of the game's initial choices per knob, drawn uniformly from ``random.Random(seed)``."""
        rng = random.Random(self.seed)
        choice = {knob: rng.choice(values) for knob, values in INITIAL_CHOICES.items()}
        return HyperParams(**choice, weight_decay=0.0)

    def decide(self, history: list[Observation]) -> Action:
        """A uniformly drawn legal non-Done action after ``history``; Done only when nothing else is legal."""
        if not history:
            raise ValueError("the game has not started: submit initial_config() first")
        moves = legal_moves(history[-1])
        if not moves:
            return Action("done")
        return self._rng(len(history)).choice(moves)

    def _rng(self, step: int) -> random.Random:
        """The generator of decision ``step``: a str seed is hashed with SHA-512, so it is the same in every process."""
        return random.Random(f"random-player:{self.seed}:{step}")


@dataclasses.dataclass(frozen=True)
class Schedule:
    """A fixed schedule: an initial configuration, then the learning rate one rung lower at set points.

    ``decay_at`` are fractions of the epoch budget at which the schedule presses Continue with
    ``lr=down`` (one rung of the half-decade LR ladder) instead of a plain Continue.
    """

    name: str
    initial: HyperParams
    decay_at: tuple[float, ...] = ()

    def decay_epochs(self, epochs: int) -> tuple[int, ...]:
        """Epoch counts after which the next Continue lowers the learning rate (fraction × budget, rounded half up)."""
        points = {math.floor(fraction * epochs + 0.5) for fraction in self.decay_at}
        # A decay needs an epoch before it (the initial one) and one after it to have any effect.
        return tuple(sorted(p for p in points if 1 <= p < epochs))


#: The oracle's grid. "default" is the game's default schedule (the baseline every dataset shows).
SCHEDULES: tuple[Schedule, ...] = (
    Schedule("default", default_hparams()),
    Schedule("lr 0.1 constant", default_hparams().replace(lr=0.1)),
    Schedule("lr 0.1 step decay", default_hparams().replace(lr=0.1), (1 / 3, 2 / 3)),
    Schedule("lr 0.01 step decay", default_hparams(), (1 / 2,)),
)
SCHEDULE_NAMES = tuple(s.name for s in SCHEDULES)


class SchedulePlayer:
    """A schedule as a policy for a budget of ``epochs``: Continue, lowering the LR at the decay epochs, then Done."""

    def __init__(self, schedule: Schedule, epochs: int) -> None:
        self.schedule = schedule
        self.epochs = epochs
        self.name = schedule.name
        self._decays = schedule.decay_epochs(epochs)

    def initial_config(self) -> HyperParams:
        """The schedule's initial configuration."""
        return self.schedule.initial

    def decide(self, history: list[Observation]) -> Action:
        """Continue (with ``lr=down`` right after a decay epoch) until the budget is trained, then Done."""
        last = history[-1]
        if last.epoch >= self.epochs:
            return Action("done")
        if last.epoch in self._decays and is_legal(last, LOWER_LR):
            return LOWER_LR
        # At the bottom of the LR ladder there is nothing left to lower: keep training.
        return KEEP


def play_policy(
    policy, dataset: Dataset, epochs: int, seed: int = 0, device: str = "cpu",
    data: DeviceData | None = None, progress: ProgressCallback | None = None,
) -> list[Outcome]:
    """engine.bots.play with an epoch budget: Done once the current network has trained ``epochs`` epochs.

    The budget counts epochs as the game does (on the current network), so reverted epochs
    do not count against it; the game's own limits (60 actions, 30 epochs) still apply.
    """
    return play_together([policy], dataset, epochs, seed, device, data, progress).outcomes[0]


def play_schedule(
    dataset: Dataset, schedule: Schedule, epochs: int, seed: int = 0, device: str = "cpu",
    data: DeviceData | None = None, progress: ProgressCallback | None = None,
) -> list[Outcome]:
    """Play ``schedule`` for ``epochs`` epochs through the game (Done after the last one if the game goes on)."""
    return play_policy(SchedulePlayer(schedule, epochs), dataset, epochs, seed, device, data, progress)


def curve_of(outcomes: Iterable[Outcome]) -> list[float | None]:
    """Validation accuracy of every trained epoch in training order (reverted included, diverged as None)."""
    curve: list[float | None] = []
    for outcome in outcomes:
        if not trains_an_epoch(outcome.kind):
            continue  # a revert or Done shows an earlier epoch's metrics again: no compute spent
        metrics = outcome.metrics
        ok = metrics is not None and not metrics.diverged and math.isfinite(metrics.val_acc)
        curve.append(float(metrics.val_acc) if ok else None)
    return curve


def _schedule_order(name: str) -> int:
    """Position in SCHEDULES (unknown names after them), for the oracle's tie-break."""
    return SCHEDULE_NAMES.index(name) if name in SCHEDULE_NAMES else len(SCHEDULE_NAMES)


@dataclasses.dataclass
class ReferenceResult:
    """The reference players' curves on one dataset: the random player and each schedule by name."""

    random: list[float | None]
    schedules: dict[str, list[float | None]]
    #: Epochs this computation trained (shared ones once); not stored with the curves.
    epochs_trained: int = dataclasses.field(default=0, compare=False)

    @property
    def random_score(self) -> float | None:
        """The random player's score (best validation accuracy)."""
        return curve_score(self.random)

    @property
    def oracle_name(self) -> str | None:
        """The schedule with the best score; ties go to the first in SCHEDULES (None if none has a score)."""
        best_name, best = None, None
        for name in sorted(self.schedules, key=_schedule_order):  # stable: unknown names keep dict order
            score = curve_score(self.schedules[name])
            if score is not None and (best is None or score > best):
                best_name, best = name, score
        return best_name

    @property
    def oracle_score(self) -> float | None:
        """The oracle schedule's score."""
        name = self.oracle_name
        return None if name is None else curve_score(self.schedules[name])

    @property
    def oracle_curve(self) -> list[float | None] | None:
        """The oracle schedule's curve."""
        name = self.oracle_name
        return None if name is None else self.schedules[name]

    def as_dict(self) -> dict:
        """JSON-ready form (diverged epochs are already None, so no NaN reaches JSON)."""
        return {"random": list(self.random), "schedules": {k: list(v) for k, v in self.schedules.items()}}

    @classmethod
    def from_dict(cls, data: dict) -> "ReferenceResult":
        """Inverse of as_dict."""
        return cls(_curve(data["random"]), {str(k): _curve(v) for k, v in data["schedules"].items()})


def _curve(values: Curve) -> list[float | None]:
    """A stored curve with JSON's ints turned back into floats."""
    return [None if v is None else float(v) for v in values]


def schedule_player(name: str, epochs: int) -> SchedulePlayer:
    """The policy of the reference schedule called ``name`` for a budget of ``epochs``."""
    if name not in SCHEDULE_NAMES:
        raise ValueError(f"unknown schedule {name!r}; schedules are {', '.join(SCHEDULE_NAMES)}")
    return SchedulePlayer(SCHEDULES[SCHEDULE_NAMES.index(name)], epochs)


def followers(initial: HyperParams, epochs: int, exclude: Iterable[str] = ("default",)) -> list[SchedulePlayer]:
    """The reference schedules (not in ``exclude``) that start with ``initial``: those a path started so can carry."""
    exclude = set(exclude)
    return [SchedulePlayer(s, epochs) for s in SCHEDULES if s.initial == initial and s.name not in exclude]


def fork_recorder(initial: HyperParams, epochs: int) -> ForkRecorder:
    """A recorder for a path that starts with ``initial`` (the automatic player's): the schedules starting alike follow it."""
    return ForkRecorder(followers(initial, epochs), epochs)


def play_default_recording(
    dataset: Dataset, epochs: int, seed: int = 0, device: str = "cpu", data: DeviceData | None = None,
    progress: ProgressCallback | None = None,
) -> tuple[list[Outcome], list[ForkPoint]]:
    """The default schedule's run (as play_schedule) and the fork points of the schedules that start like it."""
    default = schedule_player("default", epochs)
    return play_recording(default, followers(default.initial_config(), epochs), dataset, epochs, seed, device,
                          data, progress)


def reference_players(
    dataset: Dataset, epochs: int, device: str = "cpu", data: DeviceData | None = None,
    progress: ProgressCallback | None = None, random_seed: int = 0,
    skip: Iterable[str] = ("default",), known: dict[str, Curve] | None = None,
    forks: Iterable[ForkPoint] = (),
) -> ReferenceResult:
    """Play RandomPlayer(random_seed) and every schedule not in ``skip``; ``known`` curves are used, not retrained.

    The default schedule's curve is measured with the baselines, so by default it is skipped
    here and handed in through ``known``. A schedule named in one of ``forks`` (noted by the
    baselines job) goes on from its fork point; the others start from scratch, and players that
    start alike share their common epochs. Every run uses network seed 0, so the players differ
    only in what they choose, and shares one placed copy of the dataset.
    """
    check_budget(epochs)
    known = dict(known or {})
    unknown = set(known) - set(SCHEDULE_NAMES)
    if unknown:  # a typo would otherwise silently add a schedule nobody trained
        raise ValueError(f"unknown schedules in known: {', '.join(sorted(unknown))}")
    forks = list(forks)
    forked = [name for fork in forks for name in fork.players]
    if set(forked) - set(SCHEDULE_NAMES) or len(forked) != len(set(forked)):
        raise ValueError(f"fork points must name each reference schedule at most once, got {', '.join(forked)}")
    skip = set(skip)
    wanted = [s.name for s in SCHEDULES if s.name not in known and s.name not in skip]
    data = data if data is not None else place(dataset, device)
    run = dict(device=device, data=data, progress=progress)

    curves: dict[str, list[float | None]] = {name: _curve(curve) for name, curve in known.items()}
    trained = 0
    for fork in forks:
        names = [name for name in fork.players if name in wanted]
        if names:
            resumed, epochs_trained = resume(fork, [schedule_player(n, epochs) for n in names], dataset, epochs, **run)
            curves.update((name, r.curve) for name, r in zip(names, resumed))
            trained += epochs_trained
    fresh = [name for name in wanted if name not in curves]
    shared = play_together([RandomPlayer(random_seed)] + [schedule_player(n, epochs) for n in fresh], dataset,
                           epochs, **run)
    curves.update((name, curve_of(outcomes)) for name, outcomes in zip(fresh, shared.outcomes[1:]))
    schedules = {s.name: curves[s.name] for s in SCHEDULES if s.name in curves}
    return ReferenceResult(curve_of(shared.outcomes[0]), schedules, trained + shared.epochs_trained)
