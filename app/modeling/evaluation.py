"""A run's metrics as stored JSON: the evaluation (test split), the out-of-fold training predictions and
per-slice figures. Pure: arrays in, JSON-able dicts out (NaN becomes null). Formulas: app.training.metrics.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from app.analysis.slices import slice_value
from app.training.metrics import Evaluation, Interval, evaluate

MIN_SLICE = 10  # images: smaller slices' figures are noise
MAX_SLICE_VALUES = 50  # a metadata key with more distinct values is an id, not a condition


def run_metrics(*, classes: Sequence[Mapping[str, Any]], eval_labels: np.ndarray, eval_proba: np.ndarray,
                oof_labels: np.ndarray, oof_proba: np.ndarray, eval_meta: Sequence[Mapping[str, Any]],
                oof_meta: Sequence[Mapping[str, Any]], seed: int, n_boot: int = 1000) -> dict[str, Any]:
    """{"evaluation": EVAL, "out_of_fold": EVAL, "slices": [SLICE, ...]} (see the modeling contract);
    labels are column indices of `classes`, the probabilities' columns are in `classes` order."""
    n_classes = len(classes)
    evaluation = evaluate(eval_labels, eval_proba, n_classes=n_classes, n_boot=n_boot, seed=seed)
    out_of_fold = evaluate(oof_labels, oof_proba, n_classes=n_classes, n_boot=n_boot, seed=seed)
    slices = (slice_metrics(eval_labels, eval_proba, eval_meta, n_classes=n_classes, source="evaluation",
                            seed=seed, n_boot=n_boot)
              + slice_metrics(oof_labels, oof_proba, oof_meta, n_classes=n_classes, source="out_of_fold",
                              seed=seed, n_boot=n_boot))
    return {"evaluation": evaluation_json(evaluation, classes), "out_of_fold": evaluation_json(out_of_fold, classes),
            "slices": slices}


def evaluation_json(result: Evaluation, classes: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    per_class = [{"class_id": c["id"], "name": c["name"], "precision": interval_json(s.precision),
                  "recall": interval_json(s.recall), "f1": interval_json(s.f1), "support": s.support}
                 for c, s in zip(classes, result.per_class, strict=True)]
    bins = [{"low": b.low, "high": b.high, "confidence": _number(b.confidence), "accuracy": _number(b.accuracy),
             "count": b.count} for b in result.calibration.bins]
    return {"n": result.n, "accuracy": interval_json(result.accuracy), "macro_f1": interval_json(result.macro_f1),
            "per_class": per_class, "confusion": result.confusion.astype(int).tolist(),
            "calibration": {"bins": bins, "ece": _number(result.calibration.ece),
                            "brier": _number(result.calibration.brier)}}


def interval_json(interval: Interval) -> dict[str, float | None]:
    return {"value": _number(interval.value), "low": _number(interval.low), "high": _number(interval.high)}


def slice_metrics(labels: np.ndarray, proba: np.ndarray, meta: Sequence[Mapping[str, Any]], *, n_classes: int,
                  source: str, seed: int, n_boot: int = 1000) -> list[dict[str, Any]]:
    """Accuracy and macro-F1 per value of each metadata key, for values held by >= MIN_SLICE images.
    Keys with one value (no contrast) or more than MAX_SLICE_VALUES (ids) are left out."""
    out: list[dict[str, Any]] = []
    for dimension, values in slice_values(meta).items():
        for value in sorted(set(v for v in values if v is not None)):
            mask = np.array([v == value for v in values], dtype=bool)
            if mask.sum() < MIN_SLICE:
                continue
            result = evaluate(labels[mask], proba[mask], n_classes=n_classes, n_boot=n_boot, seed=seed)
            out.append({"dimension": dimension, "value": value, "n": result.n,
                        "accuracy": interval_json(result.accuracy), "macro_f1": interval_json(result.macro_f1),
                        "source": source})
    return out


def slice_values(meta: Sequence[Mapping[str, Any]]) -> dict[str, list[str | None]]:
    """Each usable metadata key (in first-seen order) and every image's value as text (None if absent)."""
    keys: list[str] = []
    for row in meta:
        keys.extend(str(k) for k in row if str(k) not in keys and not str(k).startswith("_"))
    dims: dict[str, list[str | None]] = {}
    for key in keys:
        values = [slice_value(row.get(key)) for row in meta]
        distinct = {v for v in values if v is not None}
        if 2 <= len(distinct) <= MAX_SLICE_VALUES:
            dims[key] = values
    return dims


def _number(value: float) -> float | None:
    return None if value is None or math.isnan(value) else float(value)
