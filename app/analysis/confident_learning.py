"""Likely label errors from a model's predicted probabilities: confident learning, in numpy.

Northcutt, Jiang & Chuang, "Confident Learning: Estimating Uncertainty in Dataset Labels",
JAIR 70 (2021), sections 3.1-3.2:

- per-class threshold t_j = the average self-confidence of class j: the mean of p_j over the
  examples whose given label is j;
- an example i with given label y_i "confidently belongs" to the classes {j : p_ij >= t_j}; its
  estimated true label is the argmax of p_ij over that set (no class above its threshold: the
  example is not counted);
- the confident joint C[y, j] counts examples with given label y and estimated true label j;
- the label issues are the examples on the confident joint's off-diagonal (estimated true label !=
  given label), the paper's "C_confusion"/cleanlab's filter_by="confident_learning", minus those
  whose given label is still the model's argmax (cleanlab does the same).

Ranking: by **self-confidence** p_i,y_i ascending (the model's probability of the given label;
lowest first), the paper's default order. `normalized_margin` (p_y - max_{j != y} p_j, ascending)
is available as the alternative order. Tests compare with cleanlab.filter.find_label_issues.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

RANK_METHODS = ("self_confidence", "normalized_margin")
EPS = 1e-6  # the same tolerance cleanlab allows at a threshold


@dataclass(frozen=True)
class LabelIssues:
    thresholds: np.ndarray  # (K,) t_j; NaN for a class no example is labeled with
    confident_joint: np.ndarray  # (K, K) counts: rows given label, columns estimated true label
    estimated: np.ndarray  # (n,) estimated true label; -1 where no class is above its threshold
    indices: np.ndarray  # the issues, ranked worst first
    self_confidence: np.ndarray  # (n,) p of the given label
    normalized_margin: np.ndarray  # (n,) p_given - max other p
    rank_by: str

    @property
    def n_issues(self) -> int:
        return int(self.indices.size)

    def quality(self) -> np.ndarray:
        """(n,) label quality score used for the ranking: lower is more likely an error."""
        return self.self_confidence if self.rank_by == "self_confidence" else self.normalized_margin


def validate(labels: np.ndarray, pred_probs: np.ndarray, *, tolerance: float = 1e-3) -> tuple[np.ndarray, np.ndarray]:
    """Check shapes and values; ValueError naming the first bad row."""
    probs = np.asarray(pred_probs, dtype=np.float64)
    given = np.asarray(labels, dtype=np.int64).ravel()
    if probs.ndim != 2 or probs.shape[0] != given.size or probs.shape[1] < 2:
        raise ValueError("pred_probs must be (n, K >= 2) with one row per label")
    bad = np.flatnonzero(~np.isfinite(probs).all(axis=1) | (probs < 0).any(axis=1)
                         | (np.abs(probs.sum(axis=1) - 1.0) > tolerance))
    if bad.size:
        raise ValueError(f"row {int(bad[0])}: probabilities must be finite, >= 0 and sum to 1")
    if given.size and (given.min() < 0 or given.max() >= probs.shape[1]):
        raise ValueError("a label is outside 0..K-1")
    return given, probs


def per_class_thresholds(labels: np.ndarray, pred_probs: np.ndarray) -> np.ndarray:
    """t_j = mean of p_j over the examples labeled j (NaN for an unused class)."""
    k = pred_probs.shape[1]
    counts = np.bincount(labels, minlength=k).astype(float)
    sums = np.bincount(labels, weights=pred_probs[np.arange(labels.size), labels], minlength=k)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, sums / counts, np.nan)


def estimate_true_labels(pred_probs: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """argmax of p over the classes at or above their threshold; -1 when there is none."""
    usable = np.where(np.isnan(thresholds), np.inf, thresholds)
    above = pred_probs >= usable - EPS
    masked = np.where(above, pred_probs, -np.inf)
    return np.where(above.any(axis=1), masked.argmax(axis=1), -1)


def find_label_issues(labels: np.ndarray, pred_probs: np.ndarray, *,
                      rank_by: str = "self_confidence") -> LabelIssues:
    """The confident joint's off-diagonal, ranked; see the module docstring for the method."""
    if rank_by not in RANK_METHODS:
        raise ValueError(f"rank_by must be one of {RANK_METHODS}")
    given, probs = validate(labels, pred_probs)
    n, k = probs.shape
    thresholds = per_class_thresholds(given, probs)
    estimated = estimate_true_labels(probs, thresholds)
    counted = estimated >= 0
    joint = np.bincount(given[counted] * k + estimated[counted], minlength=k * k).reshape(k, k)
    rows = np.arange(n)
    self_conf = probs[rows, given]
    others = probs.copy()
    others[rows, given] = -np.inf
    margin = self_conf - others.max(axis=1) if n else np.zeros(0)
    still_argmax = self_conf + EPS >= probs.max(axis=1)  # the model still favours the given label
    is_issue = counted & (estimated != given) & ~still_argmax
    candidates = np.flatnonzero(is_issue)
    score = self_conf if rank_by == "self_confidence" else margin
    ranked = candidates[np.lexsort((candidates, score[candidates]))]  # ties: lower index first
    return LabelIssues(thresholds=thresholds, confident_joint=joint, estimated=estimated, indices=ranked,
                       self_confidence=self_conf, normalized_margin=margin, rank_by=rank_by)
