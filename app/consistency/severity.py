"""Conflict severity: the number that orders the review queue, worst first.

    severity = 100 * WEIGHT[kind] * doubt * reach          (capped at 100, rounded to 0.1)

WEIGHT says how much a kind of conflict costs the dataset if left alone; `doubt` in [0, 1] says how
unsettled this particular case is (each kind measures it from its own evidence, below); `reach` says
how many images one decision settles (a near-duplicate group: 1 + log2(size) / 4, so a group of 5
weighs ~1.6 images; 1 otherwise). A reviewer's minute goes furthest where the label is most likely
wrong, matters most, and fixes most images at once.

Weights, highest first, and why:
- gold_miss 1.0: a known answer was missed; certainly an error, and it measures a labeler.
- flagged 0.95: a reviewer looked and wrote down why the label is wrong (often a unanimous mistake no
  vote can catch); doubt is always 1, so it sits just below a gold miss, above every disagreement.
- class_disagreement 0.9: the image's class itself is in doubt, and the class decides the split.
- duplicate_group 0.8: one part labeled two ways; at least one of the labels is wrong.
- box_class_mismatch 0.7: a defect everybody boxed carries two classes.
- missing_box 0.6 / model_disagreement 0.6: a defect some labelers did not see, or a trained model
  contradicts the consensus; often a miss, sometimes a spurious box or a model error.
- low_confidence 0.5: nobody disagreed outright, but the consensus rests on weak labelers.
- box_localization 0.35: the defect is found and classed alike, only its extent differs.
"""

from __future__ import annotations

import math

KINDS = ("gold_miss", "flagged", "class_disagreement", "duplicate_group", "box_class_mismatch", "missing_box",
         "model_disagreement", "low_confidence", "box_localization")

WEIGHT = {
    "gold_miss": 1.0,
    "flagged": 0.95,
    "class_disagreement": 0.9,
    "duplicate_group": 0.8,
    "box_class_mismatch": 0.7,
    "missing_box": 0.6,
    "model_disagreement": 0.6,
    "low_confidence": 0.5,
    "box_localization": 0.35,
}


def severity(kind: str, doubt: float, *, reach: int = 1) -> float:
    """100 * WEIGHT[kind] * doubt * reach factor, capped at 100. ValueError on an unknown kind."""
    if kind not in WEIGHT:
        raise ValueError(f"unknown conflict kind {kind!r}")
    doubt = min(max(float(doubt), 0.0), 1.0)
    factor = 1.0 + math.log2(max(reach, 1)) / 4.0
    return round(min(100.0, 100.0 * WEIGHT[kind] * doubt * factor), 1)


def _weak(confidence: float, n_classes: int) -> float:
    """1 - confidence rescaled to [0, 1]: 0 when certain, 1 at the uniform posterior 1/K."""
    floor = 1.0 / max(n_classes, 2)
    return min(max((1.0 - confidence) / (1.0 - floor), 0.0), 1.0)


def class_disagreement(*, confidence: float, entropy: float, n_classes: int) -> float:
    """doubt = mean of the consensus posterior's weakness and the normalised vote entropy: a 2-1 split
    that Dawid-Skene settles with 0.99 ranks below a 1-1-1 split nobody can settle."""
    return severity("class_disagreement", 0.5 * _weak(confidence, n_classes) + 0.5 * entropy)


def low_confidence(*, confidence: float, n_classes: int) -> float:
    return severity("low_confidence", _weak(confidence, n_classes))


def gold_miss(*, wrong_share: float) -> float:
    """doubt = 0.5 + half the share of wrong labels on the gold image: any miss is worth a look."""
    return severity("gold_miss", 0.5 + 0.5 * wrong_share)


def flagged() -> float:
    """A reviewer's flag: full doubt (a person saw the problem), weight 0.95."""
    return severity("flagged", 1.0)


def missing_box(*, support: float) -> float:
    """doubt = 2 min(support, 1 - support): a box drawn by half the labelers is the most unsettled."""
    return severity("missing_box", 2.0 * min(support, 1.0 - support))


def box_class_mismatch(*, class_agreement: float) -> float:
    """doubt = 2 (1 - agreement), capped: a 1-1 split is 1, a 2-1 split 0.67."""
    return severity("box_class_mismatch", 2.0 * (1.0 - class_agreement))


def box_localization(*, worst_iou: float) -> float:
    return severity("box_localization", 1.0 - worst_iou)


def duplicate_group(*, majority_share: float, size: int) -> float:
    """doubt = 2 (1 - share of the group's most common final label), capped; reach = group size."""
    return severity("duplicate_group", 2.0 * (1.0 - majority_share), reach=size)


def model_disagreement(*, model_confidence: float, consensus_confidence: float, n_classes: int) -> float:
    """doubt = the model's confidence in its class x (0.5 + half the consensus's weakness): a confident
    model against a unanimous consensus still earns half (the confident-learning label-error case)."""
    return severity("model_disagreement",
                    model_confidence * (0.5 + 0.5 * _weak(consensus_confidence, n_classes)))
