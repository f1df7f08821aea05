"""Typed errors raised by the training engine.

Every failure a caller can cause (bad configuration, unknown dataset, malformed
action, corrupt checkpoint, a rule of the game) is a subclass of
``HyperQuestError`` so the web layer can turn it into a 4xx message and the CLI
into a one-line message with a non-zero exit.
"""


class HyperQuestError(Exception):
    """Base class for every error a caller of the engine can cause."""

    #: Short machine-readable category, stable across releases.
    code = "error"


class UnknownFamilyError(HyperQuestError):
    """The dataset family name does not exist."""

    code = "unknown_family"


class DatasetSpecError(HyperQuestError):
    """A dataset reference, seed or size is malformed."""

    code = "bad_dataset"


class ConfigError(HyperQuestError):
    """A hyperparameter value is out of range or not a number."""

    code = "bad_config"


class ActionSyntaxError(HyperQuestError):
    """An action string could not be parsed."""

    code = "bad_action"


class RuleViolation(HyperQuestError):
    """An action is well-formed but the game's rules forbid it now."""

    code = "rule_violation"


class CheckpointError(HyperQuestError):
    """A checkpoint could not be decoded or does not describe a valid state."""

    code = "bad_checkpoint"
