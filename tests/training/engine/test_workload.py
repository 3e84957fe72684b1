"""On workload images with known truth: clean labels train a clearly better model than corrupted ones.

The corruption is the workload's `confuses-dent-pit` labeler: 70 % of true pits labelled dent.
"""
from __future__ import annotations

import numpy as np

from app.training.engine import train
from app.training.metrics import compare, evaluate
from app.training.recipe import get_recipe
from tests.training.engine.conftest import CLASSES, WorkloadFeatures

PIT, DENT = CLASSES.index("pit"), CLASSES.index("dent")


def split(workload: WorkloadFeatures) -> tuple[np.ndarray, np.ndarray]:
    """Two thirds to train, one third held out; look-alike groups stay on one side."""
    keys = np.random.default_rng(0).random(workload.groups.max() + 1)
    held_out = keys[workload.groups] < 1 / 3
    return np.flatnonzero(~held_out), np.flatnonzero(held_out)


def test_true_labels_beat_corrupted_labels_on_held_out_truth(workload: WorkloadFeatures) -> None:
    fit_rows, test_rows = split(workload)
    x, truth = workload.features, workload.truth
    corrupted = truth.copy()
    pits = np.flatnonzero(truth[fit_rows] == PIT)
    flipped = np.random.default_rng(1).choice(pits, size=round(0.7 * pits.size), replace=False)
    corrupted[fit_rows[flipped]] = DENT
    recipe, groups = get_recipe(), workload.groups[fit_rows]
    clean = train(recipe, x[fit_rows], truth[fit_rows], n_classes=len(CLASSES), seed=0, groups=groups)
    noisy = train(recipe, x[fit_rows], corrupted[fit_rows], n_classes=len(CLASSES), seed=0, groups=groups)
    proba_clean = clean.model.predict_proba(x[test_rows])
    proba_noisy = noisy.model.predict_proba(x[test_rows])
    quality = evaluate(truth[test_rows], proba_clean, n_classes=len(CLASSES))
    assert quality.accuracy.value >= 0.95, quality.accuracy  # the recipe works at all
    assert quality.per_class[PIT].recall.value >= 0.8
    result = compare(truth[test_rows], proba_noisy, proba_clean, n_classes=len(CLASSES), n_boot=2000, seed=0)
    assert result.accuracy.delta.low > 0, result.accuracy  # clean minus corrupted: clearly above zero
    assert result.per_class[PIT].recall.delta.low > 0, result.per_class[PIT].recall
    oof_clean = evaluate(truth[fit_rows], clean.oof_proba, n_classes=len(CLASSES), n_boot=10)
    assert oof_clean.accuracy.value >= 0.95  # out-of-fold estimates agree with the held-out ones


def test_the_same_version_trained_twice_gives_identical_predictions(workload: WorkloadFeatures) -> None:
    again = [train(get_recipe(), workload.features, workload.truth, n_classes=len(CLASSES), seed=5,
                   groups=workload.groups) for _ in range(2)]
    assert again[0].oof_proba.tobytes() == again[1].oof_proba.tobytes()
    assert again[0].model.to_bytes() == again[1].model.to_bytes()
