"""Training a recipe's head with k-fold out-of-fold predictions, then on all rows."""
from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from sklearn.model_selection import StratifiedGroupKFold

from app.training.cancel import check
from app.training.recipe import FittedModel, Recipe


@dataclass(frozen=True)
class Trained:
    model: FittedModel  # fit on all training rows
    oof_proba: np.ndarray  # (n_train, C): each row predicted by a model that never saw it
    fold_of: np.ndarray  # (n_train,) fold index of each row


def train(recipe: Recipe, features: np.ndarray, labels: np.ndarray, *, n_classes: int, seed: int, folds: int = 5,
          groups: np.ndarray | None = None, progress: Callable[[float, str], None] | None = None,
          should_stop: Callable[[], bool] | None = None) -> Trained:
    """Out-of-fold probabilities for every row, and the model fit on all rows.

    Folds: scikit-learn's StratifiedGroupKFold (shuffled by `seed`): class proportions kept as far
    as the groups allow, and rows sharing a group (near-duplicates, augmented copies and their
    source) always in the same fold, so no row is predicted by a model that saw its twin. With
    fewer groups than `folds`, one fold per group. A class with fewer rows than folds still trains:
    a fold whose training rows lack a class gives that class probability 0 (see head.py).
    Deterministic for the same inputs and seed. Raises ValueError for bad shapes or labels, or
    fewer than two groups; `Cancelled` between fits once `should_stop()` is true.
    """
    x, y, g = _validate(features, labels, groups, n_classes)
    n_groups = np.unique(g).size
    if n_groups < 2:
        raise ValueError("k-fold training needs at least two images (or groups of look-alikes)")
    k = min(folds, n_groups)
    if k < 2:
        raise ValueError("folds must be at least 2")
    splitter = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
    fold_of = np.full(y.size, -1, dtype=np.int64)
    oof = np.zeros((y.size, n_classes), dtype=np.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "least populated class has only N members"
        splits = list(splitter.split(x, y, g))
    for fold, (fit_rows, held_out) in enumerate(splits):
        check(should_stop)
        _report(progress, fold, k, f"fold {fold + 1} of {k}")
        model = recipe.fit(x[fit_rows], y[fit_rows], n_classes=n_classes, seed=seed)
        oof[held_out] = model.predict_proba(x[held_out])
        fold_of[held_out] = fold
    check(should_stop)
    _report(progress, k, k, "final model on all images")
    final = recipe.fit(x, y, n_classes=n_classes, seed=seed)
    _report(progress, k + 1, k, "trained")
    return Trained(model=final, oof_proba=oof, fold_of=fold_of)


def _validate(features: np.ndarray, labels: np.ndarray, groups: np.ndarray | None,
              n_classes: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    x = np.asarray(features)
    y = np.asarray(labels)
    if x.ndim != 2 or y.ndim != 1 or x.shape[0] != y.size:
        raise ValueError(f"features must be (n, d) and labels (n,); got {x.shape} and {y.shape}")
    if n_classes < 2:
        raise ValueError("n_classes must be at least 2")
    if not np.issubdtype(y.dtype, np.integer) or (y.size and (y.min() < 0 or y.max() >= n_classes)):
        raise ValueError(f"labels must be class indices 0..{n_classes - 1}")
    if groups is None:
        g = np.arange(y.size)
    else:
        g = np.asarray(groups)
        if g.shape != y.shape:
            raise ValueError(f"groups must be (n,) like labels; got {g.shape}")
    return x, y.astype(np.int64), g


def _report(progress: Callable[[float, str], None] | None, step: int, folds: int, message: str) -> None:
    if progress is not None:
        progress(step / (folds + 1), message)
