"""The metrics JSON of a run, from arrays: the contract's shape, NaN as null, slices by metadata value."""
from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, f1_score

from app.modeling.evaluation import MIN_SLICE, run_metrics, slice_metrics, slice_values

CLASSES = [{"id": 11, "name": "ok"}, {"id": 12, "name": "scratch"}, {"id": 13, "name": "dent"}]


def proba_for(predicted: np.ndarray, n_classes: int = 3, top: float = 0.8) -> np.ndarray:
    out = np.full((predicted.size, n_classes), (1 - top) / (n_classes - 1))
    out[np.arange(predicted.size), predicted] = top
    return out


def metrics_of(y: np.ndarray, pred: np.ndarray, meta: list[dict[str, Any]]) -> dict[str, Any]:
    return run_metrics(classes=CLASSES, eval_labels=y, eval_proba=proba_for(pred), oof_labels=y,
                       oof_proba=proba_for(pred), eval_meta=meta, oof_meta=meta, seed=0, n_boot=200)


def test_the_json_has_the_contracts_shape_and_matches_scikit_learn() -> None:
    rng = np.random.default_rng(3)
    y = rng.integers(0, 3, 60)
    pred = np.where(rng.random(60) < 0.7, y, rng.integers(0, 3, 60))
    meta = [{"line": "L1" if i % 3 else "L2", "camera": "top", "serial": f"S{i}"} for i in range(60)]
    body = metrics_of(y, pred, meta)
    json.dumps(body, allow_nan=False)  # storable as strict JSON
    evaluation = body["evaluation"]
    assert set(evaluation) == {"n", "accuracy", "macro_f1", "per_class", "confusion", "calibration"}
    assert evaluation["accuracy"]["value"] == pytest.approx(accuracy_score(y, pred))
    assert evaluation["macro_f1"]["value"] == pytest.approx(f1_score(y, pred, average="macro"))
    low, high = evaluation["accuracy"]["low"], evaluation["accuracy"]["high"]
    assert low <= evaluation["accuracy"]["value"] <= high
    assert [c["class_id"] for c in evaluation["per_class"]] == [11, 12, 13]
    assert [c["support"] for c in evaluation["per_class"]] == np.bincount(y, minlength=3).tolist()
    assert len(evaluation["calibration"]["bins"]) == 10 and evaluation["calibration"]["ece"] >= 0
    line = {s["value"]: s for s in body["slices"] if s["source"] == "evaluation"}
    assert set(line) == {"L1", "L2"} and {s["dimension"] for s in body["slices"]} == {"line"}
    mask = np.array([m["line"] == "L2" for m in meta])
    assert line["L2"]["n"] == mask.sum()
    assert line["L2"]["accuracy"]["value"] == pytest.approx(accuracy_score(y[mask], pred[mask]))
    assert [s["source"] for s in body["slices"]].count("out_of_fold") == 2


def test_undefined_figures_are_null_not_nan() -> None:
    y = np.zeros(4, dtype=np.int64)  # only "ok": scratch and dent have no support
    body = metrics_of(y, y, [{}] * 4)
    scratch = body["evaluation"]["per_class"][1]
    assert scratch["recall"] == {"value": None, "low": None, "high": None} and scratch["support"] == 0
    empty = run_metrics(classes=CLASSES, eval_labels=np.zeros(0, dtype=np.int64), eval_proba=np.zeros((0, 3)),
                        oof_labels=y, oof_proba=proba_for(y), eval_meta=[], oof_meta=[{}] * 4, seed=0, n_boot=50)
    assert empty["evaluation"]["n"] == 0 and empty["evaluation"]["accuracy"]["value"] is None
    json.dumps(empty, allow_nan=False)


def test_small_slices_and_keys_without_contrast_or_with_ids_are_left_out() -> None:
    meta = ([{"shift": "night", "batch": 1}] * MIN_SLICE + [{"shift": "day", "batch": 2}] * (MIN_SLICE - 1)
            + [{"shift": None, "_internal": "x", "box": {"a": 1}}])
    dims = slice_values(meta)
    assert set(dims) == {"shift", "batch"} and dims["shift"][-1] is None
    y = np.zeros(len(meta), dtype=np.int64)
    found = slice_metrics(y, proba_for(y), meta, n_classes=3, source="evaluation", seed=0, n_boot=10)
    assert [(s["dimension"], s["value"], s["n"]) for s in found] == [("shift", "night", 10), ("batch", "1", 10)]
    ids = [{"serial": str(i)} for i in range(80)]
    assert slice_values(ids) == {}
