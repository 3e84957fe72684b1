"""evaluate/compare against scikit-learn and against a plain, independent bootstrap loop."""
from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import (
    accuracy_score,
    brier_score_loss,
    confusion_matrix,
    f1_score,
    precision_recall_fscore_support,
)

from app.training.metrics import calibration, compare, evaluate

C = 5


def noisy_predictions(n: int, seed: int, accuracy: float = 0.8) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.choice(C, n, p=[0.55, 0.2, 0.12, 0.08, 0.05])
    logits = rng.normal(size=(n, C))
    right = rng.random(n) < accuracy
    logits[np.flatnonzero(right), y[right]] += 3.0
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return y, proba


def sklearn_scores(y: np.ndarray, pred: np.ndarray) -> dict[str, np.ndarray | float]:
    labels = list(range(C))
    p, r, f, s = precision_recall_fscore_support(y, pred, labels=labels, zero_division=np.nan)
    return {"accuracy": accuracy_score(y, pred), "macro_f1": f1_score(y, pred, labels=labels, average="macro",
                                                                        zero_division=np.nan),
            "precision": p, "recall": r, "f1": f, "support": s}


def test_point_values_equal_scikit_learn() -> None:
    y, proba = noisy_predictions(700, seed=1)
    pred = proba.argmax(axis=1)
    result = evaluate(y, proba, n_classes=C, n_boot=10)
    ref = sklearn_scores(y, pred)
    assert result.n == 700
    assert result.accuracy.value == pytest.approx(ref["accuracy"])
    assert result.macro_f1.value == pytest.approx(ref["macro_f1"])
    np.testing.assert_array_equal(result.confusion, confusion_matrix(y, pred, labels=list(range(C))))
    for c, scores in enumerate(result.per_class):
        assert scores.precision.value == pytest.approx(ref["precision"][c])
        assert scores.recall.value == pytest.approx(ref["recall"][c])
        assert scores.f1.value == pytest.approx(ref["f1"][c])
        assert scores.support == ref["support"][c]
    assert result.calibration.brier == pytest.approx(brier_score_loss(y, proba, labels=list(range(C))))


def test_undefined_classes_are_nan_like_scikit_learn_and_do_not_crash() -> None:
    y = np.array([0, 0, 1, 1, 3, 3])  # class 2 and 4: no support; class 3 never predicted; 4 predicted
    pred = np.array([0, 4, 1, 0, 0, 1])
    proba = np.eye(C)[pred] * 0.9 + 0.02
    result = evaluate(y, proba, n_classes=C, n_boot=200)
    ref = sklearn_scores(y, pred)
    for c, scores in enumerate(result.per_class):
        np.testing.assert_equal(scores.precision.value, ref["precision"][c])
        np.testing.assert_equal(scores.recall.value, ref["recall"][c])
        np.testing.assert_equal(scores.f1.value, ref["f1"][c])
    assert np.isnan(result.per_class[2].f1.value)  # no support, never predicted
    assert np.isnan(result.per_class[2].f1.low) and np.isnan(result.per_class[2].f1.high)
    assert result.per_class[3].f1.value == 0.0  # support, never predicted: a defined zero
    assert result.per_class[4].f1.value == 0.0  # predicted, no support
    assert result.macro_f1.value == pytest.approx(ref["macro_f1"])


def test_bootstrap_intervals_equal_a_plain_resampling_loop() -> None:
    y, proba = noisy_predictions(300, seed=2)
    result = evaluate(y, proba, n_classes=C, n_boot=120, seed=9)
    rng = np.random.default_rng(9)  # the documented stream: replicate r draws integers(0, n, n) in turn
    replicates: dict[str, list[float]] = {"accuracy": [], "macro_f1": [], "recall_pit": [], "precision_dent": []}
    for _ in range(120):
        rows = rng.integers(0, y.size, y.size)
        ref = sklearn_scores(y[rows], proba[rows].argmax(axis=1))
        replicates["accuracy"].append(ref["accuracy"])
        replicates["macro_f1"].append(ref["macro_f1"])
        replicates["recall_pit"].append(ref["recall"][3])
        replicates["precision_dent"].append(ref["precision"][2])

    def percentile(values: list[float]) -> tuple[float, float]:
        kept = np.array(values)[np.isfinite(values)]
        low, high = np.percentile(kept, [2.5, 97.5])
        return float(low), float(high)

    assert (result.accuracy.low, result.accuracy.high) == pytest.approx(percentile(replicates["accuracy"]))
    assert (result.macro_f1.low, result.macro_f1.high) == pytest.approx(percentile(replicates["macro_f1"]))
    pit, dent = result.per_class[3].recall, result.per_class[2].precision
    assert (pit.low, pit.high) == pytest.approx(percentile(replicates["recall_pit"]))
    assert (dent.low, dent.high) == pytest.approx(percentile(replicates["precision_dent"]))


def test_interval_covers_the_truth_at_about_the_stated_rate() -> None:
    """Coverage: over 120 samples from a population with known accuracy, ~95 % of intervals hold it."""
    rng = np.random.default_rng(3)
    covered = 0
    for trial in range(120):
        y = rng.integers(0, C, 150)
        right = rng.random(150) < 0.8
        pred = np.where(right, y, (y + 1 + rng.integers(0, C - 1, 150)) % C)
        result = evaluate(y, np.eye(C)[pred], n_classes=C, n_boot=200, seed=trial)
        covered += result.accuracy.low <= 0.8 <= result.accuracy.high
    assert 0.87 <= covered / 120 <= 0.995


def test_calibration_bins_and_ece_by_hand() -> None:
    y, proba = noisy_predictions(500, seed=4)
    result = calibration(y, proba)
    confidence, correct = proba.max(axis=1), proba.argmax(axis=1) == y
    ece = 0.0
    for b, found in enumerate(result.bins):
        inside = (confidence >= b / 10) & ((confidence < (b + 1) / 10) | (b == 9))
        assert found.count == inside.sum()
        if inside.any():
            assert found.confidence == pytest.approx(confidence[inside].mean())
            assert found.accuracy == pytest.approx(correct[inside].mean())
            ece += inside.mean() * abs(correct[inside].mean() - confidence[inside].mean())
        else:
            assert np.isnan(found.confidence) and np.isnan(found.accuracy)
    assert result.ece == pytest.approx(ece)
    assert sum(b.count for b in result.bins) == 500


def test_compare_is_paired_and_its_deltas_match_a_plain_loop() -> None:
    y, proba_a = noisy_predictions(400, seed=5, accuracy=0.7)
    _, proba_b = noisy_predictions(400, seed=5, accuracy=0.9)  # the same images, a better model
    result = compare(y, proba_a, proba_b, n_classes=C, n_boot=300, seed=1)
    a, b = evaluate(y, proba_a, n_classes=C, n_boot=1), evaluate(y, proba_b, n_classes=C, n_boot=1)
    assert (result.accuracy.a, result.accuracy.b) == (a.accuracy.value, b.accuracy.value)
    assert result.accuracy.delta.value == pytest.approx(b.accuracy.value - a.accuracy.value)
    rng = np.random.default_rng(1)
    deltas = []
    for _ in range(300):
        rows = rng.integers(0, y.size, y.size)
        b_right = accuracy_score(y[rows], proba_b[rows].argmax(1))
        deltas.append(b_right - accuracy_score(y[rows], proba_a[rows].argmax(1)))
    expected = tuple(np.percentile(deltas, [2.5, 97.5]))
    assert (result.accuracy.delta.low, result.accuracy.delta.high) == pytest.approx(expected)
    assert result.accuracy.delta.low > 0  # the better model is clearly better
    same = compare(y, proba_a, proba_a, n_classes=C, n_boot=100)
    assert (same.accuracy.delta.low, same.accuracy.delta.high) == (0.0, 0.0)  # paired: no spread at all
    assert result.per_class[3].support == int((y == 3).sum())


def test_no_images_and_bad_input() -> None:
    empty = evaluate(np.zeros(0, dtype=int), np.zeros((0, C)), n_classes=C)
    assert empty.n == 0 and np.isnan(empty.accuracy.value) and np.isnan(empty.calibration.ece)
    assert empty.confusion.shape == (C, C)
    with pytest.raises(ValueError, match="proba"):
        evaluate(np.array([0, 1]), np.ones((2, 3)) / 3, n_classes=C)
    with pytest.raises(ValueError, match="class indices"):
        evaluate(np.array([0, 7]), np.ones((2, C)) / C, n_classes=C)
    with pytest.raises(ValueError, match="NaN"):
        evaluate(np.array([0, 1]), np.full((2, C), np.nan), n_classes=C)
