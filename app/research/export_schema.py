"""The research export's schema: every table and column, the single source of truth.

The row builders (app.research.export) emit exactly these columns in this order, every writer
types its files from them, and docs/export-schema.md is generated from them
(app.research.export_doc). Change a column here, bump ``SCHEMA_VERSION``, add a line to the
doc's history and regenerate the doc.
"""

from __future__ import annotations

import dataclasses

SCHEMA_VERSION = "5"

#: Column types: how each is written in CSV, JSON Lines and Parquet (see docs/export-schema.md).
TYPES = ("integer", "number", "string", "boolean", "timestamp", "json")

#: The knobs of a configuration, flattened into ``config_*`` columns of the epochs table.
CONFIG_KEYS = ("width", "depth", "lr", "dropout", "weight_decay")


@dataclasses.dataclass(frozen=True)
class Column:
    """One exported column."""

    name: str
    type: str
    description: str
    nullable: bool = False

    def __post_init__(self) -> None:
        if self.type not in TYPES:
            raise ValueError(f"unknown column type {self.type!r}")


@dataclasses.dataclass(frozen=True)
class Table:
    """One exported table (one file per format)."""

    name: str
    description: str
    columns: tuple[Column, ...]

    @property
    def column_names(self) -> list[str]:
        """The column names in file order."""
        return [c.name for c in self.columns]

    def filename(self, fmt: str) -> str:
        """The table's file name in format ``fmt``."""
        return f"{self.name}.{fmt}"


C = Column
_REL = "seconds since the player's first action (their first submit in any run; negative: before it)"
_DAY = ("Day {what}, counted from the UTC date of the player's first action (0, 1, …; -1 before it); null unless the "
        "session day was requested.")
_EXACT = "null unless exact times were requested and the class settings allow them."
_CONDITION = "The player's experimental condition (their assignment); null for none and for automatic players."

TABLES: dict[str, Table] = {
    t.name: t
    for t in (
        Table(
            "participants",
            "One row per human player the export may hold (bots are not participants), with their survey answers: "
            "in a class that runs a study, those who agreed; in a class without one, every player (consent `not asked`).",
            (
                C("pseudonym", "string", "HMAC-SHA256 of the login (student ID and name; 16 hex digits, prefixed `p_`); "
                                         "stable across exports."),
                C("class_id", "integer", "The player's class: 1 for the class of the ID-and-name login, another "
                                         "number for each LMS course (LTI launches)."),
                C("condition", "string", _CONDITION, nullable=True),
                C("consent", "string", "`agreed` (the player agreed to the class's study) or `not asked` (their class "
                                       "runs no study, so no consent was asked; such players are included)."),
                C("consent_version", "integer", "Version of the consent text the player answered; null if never asked.",
                  nullable=True),
                C("joined_s", "number", f"First login, in {_REL}. Negative for nearly everyone: the login, consent, "
                                        "the survey and the instructions come before the first action."),
                C("survey_education", "string", "Survey: highest education.", nullable=True),
                C("survey_experience_years", "string", "Survey: years of experience training neural networks.", nullable=True),
                C("survey_self_rating", "string", "Survey: self-rated experience.", nullable=True),
                C("survey_network_types", "json", "Survey: list of network types the player has trained before.", nullable=True),
                C("survey_answered_s", "number", f"When the survey was answered, in {_REL}; null if never.", nullable=True),
                C("runs_started", "integer", "Runs this player started (any status)."),
                C("runs_ended", "integer", "Runs this player finished (status `ended`)."),
                C("predictions", "integer", "Predictions the player made (actions with a `prediction`)."),
                C("calibration_mae", "number", "Mean absolute error of those predictions whose epoch trained, against its "
                                               "validation accuracy; null when none.", nullable=True),
                C("calibration_inside_share", "number", "Share of those predictions whose outcome fell inside the interval "
                                                        "their confidence stated; null when none.", nullable=True),
                C("joined_at", "timestamp", f"Exact time of the first login; {_EXACT}", nullable=True),
                C("survey_answered_at", "timestamp", f"Exact time the survey was answered; {_EXACT}", nullable=True),
            ),
        ),
        Table(
            "datasets",
            "Every generated dataset; (family, seed, size) regenerates it exactly.",
            (
                C("dataset_id", "integer", "Dataset identifier (referenced by runs.dataset_id)."),
                C("family", "string", "Dataset family (generator)."),
                C("seed", "integer", "Generator seed."),
                C("size", "string", "Size preset: full, small or tiny."),
                C("num_classes", "integer", "Number of classes."),
                C("input_shape", "json", "Shape of one input: [C, H, W] for images, [D] for vectors."),
                C("train_examples", "integer", "Examples in the training split."),
                C("val_examples", "integer", "Examples in the validation split (shown to players)."),
                C("test_examples", "integer", "Examples in the hidden test split."),
                C("baseline_status", "string", "pending, running, done or failed; only `done` datasets are handed out."),
                C("baseline_default", "number", "Best validation accuracy of the default schedule over the epoch budget.", nullable=True),
                C("baseline_linear", "number", "Best validation accuracy of a linear classifier over the epoch budget.", nullable=True),
                C("baseline_bot", "number", "Score of the automatic player on this dataset.", nullable=True),
                C("bot_run_id", "integer", "The automatic player's run (in the runs table).", nullable=True),
                C("baseline_random", "number", "Score of the random player (uniform over legal one-knob moves).", nullable=True),
                C("baseline_oracle", "number", "Score of the best schedule of a fixed grid (the oracle).", nullable=True),
                C("oracle_schedule", "string", "Name of that best schedule.", nullable=True),
                C("chance", "number", "1 / num_classes: what guessing scores, the 0 of the normalised score."),
                C("normalisation_top", "number", "The 1 of the normalised score: the best score of every reference player "
                                                 "stored (default, linear, bot, random, oracle); null before any.",
                  nullable=True),
                C("normalisation_top_player", "string", "Which reference that is: `bot`, `oracle`, `default`, `linear` or "
                                                        "`random`.", nullable=True),
                C("normalisation_complete", "boolean", "The random player and the fixed schedules are computed and in the "
                                                       "top (false: the top is the best of the three baselines so far)."),
                C("created_at", "timestamp", "When the dataset was generated (not about a person: always exact)."),
            ),
        ),
        Table(
            "runs",
            "One row per game: a player, a dataset and how the game ended.",
            (
                C("run_id", "integer", "Run identifier."),
                C("pseudonym", "string", "The player's pseudonym (`p_…`), or `bot:<name>` for an automatic player."),
                C("player_kind", "string", "`student` (a participant) or `bot` (an automatic player, not a participant)."),
                C("condition", "string", _CONDITION, nullable=True),
                C("scenario_id", "integer", "The scenario the run was started from; null for a run from the pool.",
                  nullable=True),
                C("dataset_id", "integer", "The dataset (datasets.dataset_id)."),
                C("dataset_family", "string", "The dataset's family (copied for convenience)."),
                C("dataset_seed", "integer", "The dataset's seed (copied for convenience)."),
                C("seed", "integer", "Seed of the network's initialisation and data order."),
                C("status", "string", "configuring, queued, training, ready, ended, failed or abandoned (the player started "
                                      "another run, or took no action for the class's timeout)."),
                C("initial_config", "json", "Initial configuration (width, depth, lr, dropout, weight_decay); `{}` until chosen."),
                C("final_config", "json", "Configuration as the run stands (the one its last path epoch used)."),
                C("epochs", "integer", "Epochs on the current path (reverted ones not counted)."),
                C("actions", "integer", "Actions taken (initial configuration included)."),
                C("best_val_acc", "number", "The score: best validation accuracy of any non-diverged epoch trained, "
                                            "reverted epochs included.", nullable=True),
                C("normalised_score", "number", "(best_val_acc − datasets.chance) ÷ (datasets.normalisation_top − "
                                                "datasets.chance), as on the leaderboard at export time; null without a "
                                                "score or when the top is within 0.02 of chance.", nullable=True),
                C("test_acc", "number", "Hidden test accuracy of the network of the epoch best_val_acc comes from, "
                                        "computed when the run ends.", nullable=True),
                C("end_reason", "string", "Why the run ended (player pressed Done, a limit was reached, …).", nullable=True),
                C("parent_run_id", "integer", "For a debrief branch (the automatic player continuing a player's run from "
                                              "one of its checkpoints): the player's run; null otherwise.", nullable=True),
                C("parent_epoch", "integer", "For a debrief branch: the epoch of the parent run it started from.",
                  nullable=True),
                C("started_s", "number", f"When the run was started, in {_REL}; a debrief branch counts on its parent's "
                                         "player's clock."),
                C("ended_s", "number", f"When the run ended, in {_REL}; null while it has not.", nullable=True),
                C("session_day", "integer", _DAY.format(what="the run was started"), nullable=True),
                C("created_at", "timestamp", f"Exact start time; {_EXACT}", nullable=True),
                C("ended_at", "timestamp", f"Exact end time; {_EXACT}", nullable=True),
            ),
        ),
        Table(
            "epochs",
            "Every trained epoch, reverted ones included, with its configuration and metrics.",
            (
                C("run_id", "integer", "The run (runs.run_id)."),
                C("sequence", "integer", "Training order within the run (1, 2, …); a reverted epoch's number is reused by the next one."),
                C("number", "integer", "Epoch number on the run's path (1-based)."),
                C("action_index", "integer", "The action that trained it (actions.action_index of the same run)."),
                C("condition", "string", _CONDITION, nullable=True),
                C("config_width", "integer", "Width the epoch trained with."),
                C("config_depth", "integer", "Depth the epoch trained with."),
                C("config_lr", "number", "Learning rate."),
                C("config_dropout", "number", "Dropout rate."),
                C("config_weight_decay", "number", "Weight decay."),
                C("train_loss", "number", "Training loss; null when not finite (diverged).", nullable=True),
                C("train_acc", "number", "Training accuracy."),
                C("val_loss", "number", "Validation loss; null when not finite (diverged).", nullable=True),
                C("val_acc", "number", "Validation accuracy."),
                C("diverged", "boolean", "The loss or weights became non-finite."),
                C("reverted", "boolean", "The player undid this epoch (it is not on the run's path)."),
                C("seconds", "number", "Training time of the epoch in seconds."),
                C("change", "json", "Width/depth change made before training: validation metrics before/after and `steps` "
                                    "(knob, direction, old_value, new_value, …); null when none.", nullable=True),
                C("finished_s", "number", f"When the epoch finished training, in {_REL}."),
                C("session_day", "integer", _DAY.format(what="the epoch finished"), nullable=True),
                C("created_at", "timestamp", f"Exact time the epoch finished; {_EXACT}", nullable=True),
            ),
        ),
        Table(
            "actions",
            "Every submit of a player, with what they were shown when deciding.",
            (
                C("run_id", "integer", "The run (runs.run_id)."),
                C("action_index", "integer", "Action number within the run (1 = the initial configuration)."),
                C("kind", "string", "initial, continue, revert or done."),
                C("at_s", "number", f"When the action was submitted, in {_REL}."),
                C("session_day", "integer", _DAY.format(what="the action was submitted"), nullable=True),
                C("seconds_since_previous", "number", "Seconds since the run's previous action was submitted; null for the "
                                                      "first. It includes the time the previous epoch trained: it is not "
                                                      "a decision time (see decision_s).", nullable=True),
                C("decision_s", "number", "Decision time: seconds from when the player's page showed the state acted on "
                                          "to this submit (see decision_from); null for actions recorded before it was "
                                          "measured.", nullable=True),
                C("decision_from", "string", "What decision_s is measured from: `page` (the browser measured it from "
                                             "showing the finished epoch, or the configure page), `epoch_end` (the "
                                             "server's time the previous epoch, revert or run start was done: no "
                                             "browser measure came with the submit); null with decision_s.",
                  nullable=True),
                C("choices", "json", "What was chosen: the configuration for `initial`, knob moves ({knob: up|down}) for "
                                     "`continue`, `{}` otherwise."),
                C("status", "string", "queued, running, done or failed (failed: the epoch could not be trained)."),
                C("trained_epoch", "integer", "Number of the epoch this action trained; null for revert/done or a failed epoch.",
                  nullable=True),
                C("shown_action", "integer", "Visible state: actions taken before this one."),
                C("shown_epoch", "integer", "Visible state: epochs on the path."),
                C("shown_best_val_acc", "number", "Visible state: best validation accuracy so far.", nullable=True),
                C("shown_train_loss", "number", "Visible state: last path epoch's training loss.", nullable=True),
                C("shown_train_acc", "number", "Visible state: last path epoch's training accuracy.", nullable=True),
                C("shown_val_loss", "number", "Visible state: last path epoch's validation loss.", nullable=True),
                C("shown_val_acc", "number", "Visible state: last path epoch's validation accuracy.", nullable=True),
                C("shown_config", "json", "Visible state: the configuration in force (`{}` before the initial one)."),
                C("prediction", "number", "The player's prediction of the validation accuracy of the epoch this action "
                                          "trains (0-1); null when none was asked or given.", nullable=True),
                C("confidence", "integer", "Confidence in that prediction, 1 (low) to 5 (high).", nullable=True),
                C("confidence_half_width", "number", "Half-width of the interval around the prediction that the confidence "
                                                     "states (5: ±0.02 … 1: ±0.25).", nullable=True),
                C("reasons", "json", "Reason chips the player picked (list of keys: plateau, overfitting, diverging, "
                                     "underfitting, exploring, known_rule); null when none.", nullable=True),
                C("reason_text", "string", "The reason the player wrote (free text, at most 200 characters).", nullable=True),
                C("chart_hovers", "integer", "How often the player hovered over the charts before submitting; null when "
                                             "the page could not count (no JavaScript).", nullable=True),
                C("condition", "string", "The experimental condition in force when the player acted; null for none.",
                  nullable=True),
                C("hint", "json", "The hint that condition showed before the action (`kind`, `text`); null for none.",
                  nullable=True),
                C("timestamp", "timestamp", f"Exact time the action was submitted; {_EXACT}", nullable=True),
            ),
        ),
        Table(
            "messages",
            "Every message an instructor sent from the live class page, once per exported player it was shown to: a "
            "message to the whole class has a row for each player of the class who had joined when it was sent.",
            (
                C("message_id", "integer", "Message identifier (the same for every recipient of one class-wide message)."),
                C("pseudonym", "string", "The recipient's pseudonym (`p_…`)."),
                C("audience", "string", "`class` (sent to the whole class) or `student` (to this player alone)."),
                C("condition", "string", _CONDITION, nullable=True),
                C("text", "string", "The message as the instructor wrote it (at most 500 characters)."),
                C("sent_s", "number", f"When the message was sent, in {_REL}."),
                C("session_day", "integer", _DAY.format(what="the message was sent"), nullable=True),
                C("timestamp", "timestamp", f"Exact time the message was sent; {_EXACT}", nullable=True),
            ),
        ),
    )
}
del C

#: Columns that hold a wall-clock time of a player: filled only for an export with exact times.
EXACT_TIME_COLUMNS = {
    "participants": ("joined_at", "survey_answered_at"),
    "runs": ("created_at", "ended_at"),
    "epochs": ("created_at",),
    "actions": ("timestamp",),
    "messages": ("timestamp",),
}
