"""A stored dataset's normalised-score scale (engine.scale): chance at 0, its best reference player at 1."""

from __future__ import annotations

from app.datasets.models import JOB_DONE, DatasetRecord
from engine.scale import Scale, scale_for


def references_of(dataset: DatasetRecord) -> dict[str, float | None]:
    """The dataset's stored reference scores by engine.scale key (None where not computed)."""
    return {"bot": dataset.baseline_bot, "oracle": dataset.baseline_oracle, "default": dataset.baseline_default,
            "linear": dataset.baseline_linear, "random": dataset.baseline_random}


def scale_of(dataset: DatasetRecord) -> Scale | None:
    """The dataset's scale; None before any baseline is stored."""
    return scale_for(dataset.num_classes, dataset.val_examples, references_of(dataset),
                     complete=dataset.references_status == JOB_DONE)


def normalised(dataset: DatasetRecord, score: float | None) -> float | None:
    """``score`` on the dataset's scale (None without a score or a usable scale)."""
    scale = scale_of(dataset)
    return None if scale is None else scale.normalised(score)


#: The references a result is compared with, in the order the sentence names them: (score field, words).
COMPARED = (("baseline_default", "the default schedule"), ("baseline_linear", "the linear classifier"),
            ("baseline_bot", "the automatic player"), ("baseline_oracle", "the best fixed schedule"),
            ("baseline_random", "the random player"))


def compared_with_references(dataset: DatasetRecord, score: float) -> list[dict]:
    """``score`` against each reference: {"name", "value", "relation": above|below|level|pending, "gap"}.

    Within one validation example is "level" (engine.scale); the random player and the best fixed
    schedule are left out until they are computed, the three baselines are "pending" until then.
    """
    scale = scale_of(dataset)
    rows = []
    for field, name in COMPARED:
        value = getattr(dataset, field)
        if value is None:
            if field in ("baseline_oracle", "baseline_random"):
                continue
            rows.append({"name": name, "value": None, "relation": "pending", "gap": None})
            continue
        relation = {1: "above", 0: "level", -1: "below"}[scale.compare(score, value)] if scale else "level"
        rows.append({"name": name, "value": value, "relation": relation, "gap": abs(score - value)})
    return rows
