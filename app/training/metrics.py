"""Classification metrics of a run with bootstrap intervals, and the paired comparison of two runs.

Definitions (tests check them against scikit-learn):
- the predicted class is the argmax of each row (ties: the lower class index);
- confusion[i, j] counts images of reference class i predicted j;
- precision_c = tp / predicted_c, recall_c = tp / support_c, F1_c = 2 tp / (support_c + predicted_c)
  (scikit-learn's definitions with zero_division=nan): precision is NaN for a class never
  predicted, recall NaN for a class with no support, F1 NaN only when both are zero (a class with
  support but no predictions has F1 0); pages show NaN as "—";
- macro-F1 = the mean of the defined per-class F1s (NaN when none is defined);
- calibration: 10 equal-width bins of the top probability ("confidence"); per bin the mean
  confidence and the accuracy (NaN for an empty bin); ECE = sum over bins of count/n x
  |accuracy - confidence| (Guo et al. 2017); Brier = mean over images of sum over classes of
  (p_c - [c = reference])^2 (Brier 1950, the multiclass form, not halved).

Intervals: percentile bootstrap, 95 %, resampling images with replacement. Replicate r draws
`rng.integers(0, n, n)` from `numpy.random.default_rng(seed)` in turn; a metric undefined in a
replicate (NaN) is left out of that metric's percentiles. `compare` applies the same resampled
images to both runs (paired bootstrap) and reports b - a.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

BINS = 10
LEVEL = 0.95
CHUNK_CELLS = 4_000_000  # resampled indices held at once (32 MB): memory stays flat in n and n_boot


@dataclass(frozen=True)
class Interval:
    value: float
    low: float
    high: float


@dataclass(frozen=True)
class ClassScores:
    precision: Interval
    recall: Interval
    f1: Interval
    support: int


@dataclass(frozen=True)
class CalibrationBin:
    low: float
    high: float
    confidence: float  # mean top probability in the bin, NaN when empty
    accuracy: float  # share of the bin's images predicted right, NaN when empty
    count: int


@dataclass(frozen=True)
class Calibration:
    bins: tuple[CalibrationBin, ...]
    ece: float
    brier: float


@dataclass(frozen=True)
class Evaluation:
    n: int
    accuracy: Interval
    macro_f1: Interval
    per_class: tuple[ClassScores, ...]
    confusion: np.ndarray  # (C, C) counts, rows = reference class, columns = predicted
    calibration: Calibration


@dataclass(frozen=True)
class Delta:
    a: float
    b: float
    delta: Interval  # b - a, paired bootstrap over the same images


@dataclass(frozen=True)
class ClassDelta:
    precision: Delta
    recall: Delta
    f1: Delta
    support: int


@dataclass(frozen=True)
class Comparison:
    n: int
    accuracy: Delta
    macro_f1: Delta
    per_class: tuple[ClassDelta, ...]


@dataclass(frozen=True)
class _Scores:
    """Metrics of one confusion matrix or of a stack of them (leading axes)."""

    accuracy: np.ndarray
    macro_f1: np.ndarray
    precision: np.ndarray  # (..., C)
    recall: np.ndarray
    f1: np.ndarray


def evaluate(y_true: np.ndarray, proba: np.ndarray, *, n_classes: int, n_boot: int = 1000,
             seed: int = 0) -> Evaluation:
    """Metrics of `proba` against the reference classes `y_true`, with bootstrap intervals."""
    y, pred = _checked(y_true, proba, n_classes)
    cells = y * n_classes + pred
    confusion = np.bincount(cells, minlength=n_classes**2).reshape(n_classes, n_classes)
    point = _scores(confusion)
    boot = _scores(_boot_confusions([cells], n_classes, n_boot, seed)[0])
    support = confusion.sum(axis=1)
    per_class = tuple(
        ClassScores(precision=_interval(point.precision[c], boot.precision[:, c]),
                    recall=_interval(point.recall[c], boot.recall[:, c]),
                    f1=_interval(point.f1[c], boot.f1[:, c]), support=int(support[c]))
        for c in range(n_classes))
    return Evaluation(n=int(y.size), accuracy=_interval(point.accuracy, boot.accuracy),
                      macro_f1=_interval(point.macro_f1, boot.macro_f1), per_class=per_class,
                      confusion=confusion, calibration=calibration(y, np.asarray(proba, dtype=np.float64)))


def compare(y_true: np.ndarray, proba_a: np.ndarray, proba_b: np.ndarray, *, n_classes: int, n_boot: int = 1000,
            seed: int = 0) -> Comparison:
    """Each metric of run a and run b on the same images and reference, and b - a with a paired
    bootstrap interval (both runs scored on each resample of the images)."""
    y, pred_a = _checked(y_true, proba_a, n_classes)
    _, pred_b = _checked(y_true, proba_b, n_classes)
    cells_a, cells_b = y * n_classes + pred_a, y * n_classes + pred_b
    point_a, point_b = (_scores(np.bincount(c, minlength=n_classes**2).reshape(n_classes, n_classes))
                        for c in (cells_a, cells_b))
    stack_a, stack_b = _boot_confusions([cells_a, cells_b], n_classes, n_boot, seed)
    boot_a, boot_b = _scores(stack_a), _scores(stack_b)
    support = np.bincount(y, minlength=n_classes)

    def delta(name: str, c: int | None = None) -> Delta:
        pa, pb = getattr(point_a, name), getattr(point_b, name)
        ba, bb = getattr(boot_a, name), getattr(boot_b, name)
        if c is not None:
            pa, pb, ba, bb = pa[c], pb[c], ba[:, c], bb[:, c]
        return Delta(a=float(pa), b=float(pb), delta=_interval(pb - pa, bb - ba))

    per_class = tuple(ClassDelta(precision=delta("precision", c), recall=delta("recall", c), f1=delta("f1", c),
                                 support=int(support[c])) for c in range(n_classes))
    return Comparison(n=int(y.size), accuracy=delta("accuracy"), macro_f1=delta("macro_f1"), per_class=per_class)


def calibration(y_true: np.ndarray, proba: np.ndarray, *, bins: int = BINS) -> Calibration:
    """Reliability bins, ECE and multiclass Brier score (definitions in the module docstring)."""
    n, n_classes = proba.shape
    edges = np.linspace(0.0, 1.0, bins + 1)
    if n == 0:
        empty = tuple(CalibrationBin(float(edges[b]), float(edges[b + 1]), np.nan, np.nan, 0) for b in range(bins))
        return Calibration(bins=empty, ece=np.nan, brier=np.nan)
    confidence = proba.max(axis=1)
    correct = (proba.argmax(axis=1) == y_true).astype(np.float64)
    which = np.minimum((confidence * bins).astype(np.int64), bins - 1)
    count = np.bincount(which, minlength=bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf = np.bincount(which, weights=confidence, minlength=bins) / count
        accuracy = np.bincount(which, weights=correct, minlength=bins) / count
    filled = count > 0
    ece = float(np.sum(count[filled] / n * np.abs(accuracy[filled] - mean_conf[filled])))
    onehot = np.eye(n_classes)[y_true]
    brier = float(np.mean(np.sum((proba - onehot) ** 2, axis=1)))
    out = tuple(CalibrationBin(low=float(edges[b]), high=float(edges[b + 1]), confidence=float(mean_conf[b]),
                               accuracy=float(accuracy[b]), count=int(count[b])) for b in range(bins))
    return Calibration(bins=out, ece=ece, brier=brier)


def _checked(y_true: np.ndarray, proba: np.ndarray, n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y_true)
    p = np.asarray(proba, dtype=np.float64)
    if n_classes < 2:
        raise ValueError("n_classes must be at least 2")
    if y.ndim != 1 or p.shape != (y.size, n_classes):
        raise ValueError(f"y_true must be (n,) and proba (n, {n_classes}); got {y.shape} and {p.shape}")
    if y.size and (not np.issubdtype(y.dtype, np.integer) or y.min() < 0 or y.max() >= n_classes):
        raise ValueError(f"y_true must hold class indices 0..{n_classes - 1}")
    if not np.isfinite(p).all():
        raise ValueError("proba holds NaN or infinite values")
    return y.astype(np.int64), p.argmax(axis=1).astype(np.int64)


def _boot_confusions(cells: list[np.ndarray], n_classes: int, n_boot: int, seed: int) -> list[np.ndarray]:
    """(n_boot, C, C) confusion matrices per entry of `cells`, all from the same resampled images."""
    n, k2 = cells[0].size, n_classes**2
    out = [np.zeros((n_boot, k2), dtype=np.int64) for _ in cells]
    if n == 0 or n_boot == 0:
        return [o.reshape(n_boot, n_classes, n_classes) for o in out]
    rng = np.random.default_rng(seed)
    chunk = max(1, CHUNK_CELLS // n)
    for start in range(0, n_boot, chunk):
        stop = min(n_boot, start + chunk)
        rows = np.concatenate([rng.integers(0, n, n) for _ in range(stop - start)])
        offsets = np.repeat(np.arange(stop - start) * k2, n)
        for source, target in zip(cells, out, strict=True):
            target[start:stop] = np.bincount(source[rows] + offsets, minlength=(stop - start) * k2).reshape(-1, k2)
    return [o.reshape(n_boot, n_classes, n_classes) for o in out]


def _scores(confusion: np.ndarray) -> _Scores:
    tp = np.diagonal(confusion, axis1=-2, axis2=-1).astype(np.float64)
    support = confusion.sum(axis=-1)
    predicted = confusion.sum(axis=-2)
    total = support.sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(predicted > 0, tp / predicted, np.nan)
        recall = np.where(support > 0, tp / support, np.nan)
        f1 = np.where(support + predicted > 0, 2 * tp / (support + predicted), np.nan)
        accuracy = np.where(total > 0, tp.sum(axis=-1) / total, np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a replicate with no defined F1
        macro = np.nanmean(f1, axis=-1)
    return _Scores(accuracy=accuracy, macro_f1=macro, precision=precision, recall=recall, f1=f1)


def _interval(value: np.ndarray | float, replicates: np.ndarray) -> Interval:
    defined = replicates[np.isfinite(replicates)]
    tail = (1 - LEVEL) / 2 * 100
    if defined.size == 0:
        return Interval(float(value), np.nan, np.nan)
    low, high = np.percentile(defined, [tail, 100 - tail])
    return Interval(float(value), float(low), float(high))
