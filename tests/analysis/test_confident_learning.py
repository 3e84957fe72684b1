"""Confident learning against the paper's definitions and against cleanlab (test-only dependency)."""
from __future__ import annotations

import cleanlab.filter as cleanlab_filter
import numpy as np
import pytest

from app.analysis import confident_learning as cl


def noisy_problem(seed: int, n: int = 600, k: int = 4, flip: float = 0.1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Labels with `flip` of them changed, and probabilities from a decent (not perfect) model of the truth."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, k, n)
    logits = rng.normal(0, 1, (n, k))
    logits[np.arange(n), truth] += rng.uniform(0.5, 4.0, n)
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    labels = truth.copy()
    flipped = rng.choice(n, int(flip * n), replace=False)
    labels[flipped] = (truth[flipped] + rng.integers(1, k, flipped.size)) % k
    return labels, probs, flipped


def test_thresholds_are_average_self_confidence() -> None:
    labels = np.array([0, 0, 1, 1, 1])
    probs = np.array([[0.9, 0.1], [0.7, 0.3], [0.2, 0.8], [0.4, 0.6], [0.6, 0.4]])
    t = cl.per_class_thresholds(labels, probs)
    assert t == pytest.approx([0.8, (0.8 + 0.6 + 0.4) / 3])


def test_textbook_example_off_diagonal() -> None:
    # Example 4 is labeled 1 but p_0 = 0.85 >= t_0 = 0.85 and p_1 = 0.15 < t_1: estimated true label 0.
    labels = np.array([0, 0, 1, 1, 1])
    probs = np.array([[0.9, 0.1], [0.8, 0.2], [0.1, 0.9], [0.2, 0.8], [0.85, 0.15]])
    result = cl.find_label_issues(labels, probs)
    assert result.indices.tolist() == [4]
    assert result.confident_joint.tolist() == [[1, 0], [1, 2]]
    assert result.estimated.tolist() == [0, -1, 1, 1, 0]  # example 1 is above no threshold (0.8 < 0.85)


def test_ranked_by_self_confidence_then_margin() -> None:
    labels, probs, _ = noisy_problem(1)
    by_conf = cl.find_label_issues(labels, probs)
    sc = probs[by_conf.indices, labels[by_conf.indices]]
    assert np.all(np.diff(sc) >= 0)
    by_margin = cl.find_label_issues(labels, probs, rank_by="normalized_margin")
    assert set(by_margin.indices) == set(by_conf.indices)
    m = by_margin.normalized_margin[by_margin.indices]
    assert np.all(np.diff(m) >= 0)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_agrees_with_cleanlab(seed: int) -> None:
    labels, probs, flipped = noisy_problem(seed)
    ours = cl.find_label_issues(labels, probs)
    theirs = cleanlab_filter.find_label_issues(labels, probs, filter_by="confident_learning",
                                               return_indices_ranked_by="self_confidence")
    overlap = len(set(ours.indices) & set(theirs)) / max(len(set(ours.indices) | set(theirs)), 1)
    assert overlap >= 0.95
    top = min(len(ours.indices), len(theirs), 30)
    assert len(set(ours.indices[:top]) & set(theirs[:top])) >= 0.9 * top
    # and it finds injected errors: most of the top of the ranking is flipped labels
    assert np.isin(ours.indices[:top], flipped).mean() >= 0.8


def test_bad_rows_are_named() -> None:
    labels = np.array([0, 1])
    with pytest.raises(ValueError, match="row 1"):
        cl.find_label_issues(labels, np.array([[0.5, 0.5], [0.9, 0.3]]))
    with pytest.raises(ValueError, match="outside"):
        cl.find_label_issues(np.array([0, 2]), np.array([[0.5, 0.5], [0.5, 0.5]]))
    with pytest.raises(ValueError, match="rank_by"):
        cl.find_label_issues(labels, np.array([[0.5, 0.5], [0.5, 0.5]]), rank_by="entropy")


def test_unused_class_gets_no_threshold_and_no_issue() -> None:
    labels = np.array([0, 0, 1, 1])
    probs = np.array([[0.8, 0.1, 0.1], [0.1, 0.1, 0.8], [0.1, 0.8, 0.1], [0.2, 0.7, 0.1]])
    result = cl.find_label_issues(labels, probs)
    assert np.isnan(result.thresholds[2])
    assert 1 not in result.indices.tolist() or result.estimated[1] != 2
