"""Each labeler's accuracy on gold (honeypot) items, whose true class is known."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from app.consistency.metrics import Triples


@dataclass(frozen=True)
class GoldAccuracy:
    n_gold: np.ndarray  # (L,) gold items each labeler labeled
    correct: np.ndarray  # (L,) of which right
    accuracy: np.ndarray  # (L,) correct / n_gold; NaN for a labeler with no gold label
    lower_bound: np.ndarray  # (L,) Wilson 95% lower bound: a low score on 3 items is weak evidence
    missed: np.ndarray  # indices into the triples of the wrong gold answers


def gold_accuracy(t: Triples, gold_items: npt.ArrayLike, gold_labels: npt.ArrayLike) -> GoldAccuracy:
    """Compare every label on a gold item with its known class (gold_items / gold_labels: codes)."""
    truth = np.full(t.n_items, -1, dtype=np.int64)
    truth[np.asarray(gold_items, dtype=np.int64)] = np.asarray(gold_labels, dtype=np.int64)
    on_gold = truth[t.item] >= 0
    right = on_gold & (truth[t.item] == t.label)
    n = np.bincount(t.labeler[on_gold], minlength=t.n_labelers)
    k = np.bincount(t.labeler[right], minlength=t.n_labelers)
    with np.errstate(invalid="ignore", divide="ignore"):
        acc = np.where(n > 0, k / n, np.nan)
    return GoldAccuracy(n_gold=n, correct=k, accuracy=acc, lower_bound=wilson_lower(k, n),
                        missed=np.flatnonzero(on_gold & ~right))


def wilson_lower(k: np.ndarray, n: np.ndarray, z: float = 1.96) -> np.ndarray:
    """Wilson score interval lower bound of k successes in n trials (NaN where n = 0)."""
    k = np.asarray(k, dtype=float)
    n = np.asarray(n, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = k / n
        centre = p + z * z / (2 * n)
        spread = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
        return np.where(n > 0, (centre - spread) / (1 + z * z / n), np.nan)
