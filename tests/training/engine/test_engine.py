"""train(): out-of-fold predictions that never saw their row or its look-alikes, rare classes, determinism."""
from __future__ import annotations

import numpy as np
import pytest

from app.training.cancel import Cancelled
from app.training.engine import train
from app.training.head import LinearHead
from app.training.recipe import get_recipe

C = 5


class _Dropping:
    """Predicts with the inner model on all but the row-id column."""

    def __init__(self, model: LinearHead) -> None:
        self.model, self.n_classes = model, model.n_classes

    def predict_proba(self, features: np.ndarray) -> np.ndarray:
        return self.model.predict_proba(features[:, :-1])

    def to_bytes(self) -> bytes:
        return self.model.to_bytes()


class SeeingRecipe:
    """The default recipe, also recording which rows (by a row id kept in the last column) each fit saw."""

    def __init__(self) -> None:
        self.inner = get_recipe()
        self.identity = self.inner.identity
        self.fits: list[set[int]] = []

    def fit(self, features: np.ndarray, labels: np.ndarray, *, n_classes: int, seed: int) -> _Dropping:
        self.fits.append({int(i) for i in features[:, -1]})
        return _Dropping(self.inner.fit(features[:, :-1], labels, n_classes=n_classes, seed=seed))


def synthetic(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Features of the default recipe's width where the class shifts a few columns."""
    rng = np.random.default_rng(seed)
    d = get_recipe().dimension  # type: ignore[attr-defined]
    y = rng.choice(C, n, p=[0.5, 0.2, 0.15, 0.1, 0.05])
    x = rng.normal(size=(n, d)).astype(np.float32)
    x[np.arange(n), y] += 4.0
    return x, y


def test_out_of_fold_rows_were_never_seen_and_groups_are_never_split() -> None:
    x, y = synthetic(300)
    groups = np.arange(300) // 3  # triples of look-alikes
    recipe = SeeingRecipe()
    with_ids = np.hstack([x, np.arange(300, dtype=np.float32)[:, None]])
    trained = train(recipe, with_ids, y, n_classes=C, seed=3, groups=groups)  # type: ignore[arg-type]
    assert len(recipe.fits) == 6  # five folds and the final fit
    assert recipe.fits[-1] == set(range(300))
    for fold in range(5):
        held_out = set(np.flatnonzero(trained.fold_of == fold).tolist())
        assert held_out and not held_out & recipe.fits[fold]
        assert held_out | recipe.fits[fold] == set(range(300))
    for g in np.unique(groups):
        assert np.unique(trained.fold_of[groups == g]).size == 1
    np.testing.assert_allclose(trained.oof_proba.sum(axis=1), 1.0)
    assert (trained.oof_proba.argmax(axis=1) == y).mean() > 0.8  # it learned, out of fold


def test_folds_keep_class_proportions() -> None:
    x, y = synthetic(500, seed=1)
    trained = train(get_recipe(), x, y, n_classes=C, seed=0)
    for fold in range(5):
        share = np.bincount(y[trained.fold_of == fold], minlength=C) / (trained.fold_of == fold).sum()
        np.testing.assert_allclose(share, np.bincount(y, minlength=C) / y.size, atol=0.03)


def test_rare_and_absent_classes_train_without_crashing() -> None:
    x, y = synthetic(60, seed=2)
    y[y == 4] = 0
    y[5] = 4  # one image of class 4: every fold but one trains without it
    trained = train(get_recipe(), x, y, n_classes=C, seed=0)
    held = trained.fold_of[5]
    assert trained.oof_proba[5, 4] == 0.0  # its fold never saw class 4: probability exactly 0
    assert trained.oof_proba[trained.fold_of != held, 4].max() > 0  # the others saw that one image
    np.testing.assert_allclose(trained.oof_proba.sum(axis=1), 1.0)
    only_one = train(get_recipe(), x[:10], np.zeros(10, dtype=int), n_classes=C, seed=0)
    np.testing.assert_array_equal(only_one.oof_proba, np.tile(np.eye(C)[0], (10, 1)))


def test_two_classes_present_give_the_logistic_probabilities() -> None:
    x, y = synthetic(200, seed=4)
    y = np.where(y == 0, 0, 2)  # classes 0 and 2 of five
    model = get_recipe().fit(x, y, n_classes=C, seed=0)
    from sklearn.linear_model import LogisticRegression

    x64 = x.astype(np.float64)  # the head works in float64
    scaled = (x64 - x64.mean(axis=0)) / x64.std(axis=0)
    reference = LogisticRegression(C=1.0, max_iter=1000, tol=1e-6).fit(scaled, y).predict_proba(scaled)
    found = model.predict_proba(x)
    np.testing.assert_allclose(found[:, [0, 2]], reference, atol=1e-6)
    assert found[:, [1, 3, 4]].max() == 0.0


def test_fewer_groups_than_folds_and_too_few_rows() -> None:
    x, y = synthetic(40, seed=5)
    trained = train(get_recipe(), x, y, n_classes=C, seed=0, groups=np.arange(40) % 3)
    assert set(trained.fold_of.tolist()) == {0, 1, 2}
    with pytest.raises(ValueError, match="at least two"):
        train(get_recipe(), x[:1], y[:1], n_classes=C, seed=0)
    with pytest.raises(ValueError, match="class indices"):
        train(get_recipe(), x, np.full(40, 9), n_classes=C, seed=0)
    with pytest.raises(ValueError, match="groups"):
        train(get_recipe(), x, y, n_classes=C, seed=0, groups=np.arange(3))


def test_same_inputs_and_seed_give_identical_bytes() -> None:
    x, y = synthetic(400, seed=6)
    first = train(get_recipe(), x, y, n_classes=C, seed=11)
    second = train(get_recipe(), x.copy(), y.copy(), n_classes=C, seed=11)
    assert first.oof_proba.tobytes() == second.oof_proba.tobytes()
    np.testing.assert_array_equal(first.fold_of, second.fold_of)
    assert first.model.to_bytes() == second.model.to_bytes()
    assert first.model.predict_proba(x).tobytes() == second.model.predict_proba(x).tobytes()
    other = train(get_recipe(), x, y, n_classes=C, seed=12)
    assert not np.array_equal(other.fold_of, first.fold_of)  # the seed does shuffle the folds


def test_should_stop_cancels_between_fits_and_progress_reaches_one() -> None:
    x, y = synthetic(100, seed=7)
    seen: list[tuple[float, str]] = []
    train(get_recipe(), x, y, n_classes=C, seed=0, progress=lambda f, m: seen.append((f, m)))
    assert seen[0][0] == 0.0 and seen[-1][0] == 1.0
    assert [f for f, _ in seen] == sorted(f for f, _ in seen)
    calls = []

    def stop_after_two() -> bool:
        calls.append(1)
        return len(calls) > 2

    with pytest.raises(Cancelled):
        train(get_recipe(), x, y, n_classes=C, seed=0, should_stop=stop_after_two)
