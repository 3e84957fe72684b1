"""Dawid–Skene: against crowd-kit, recovery of known confusions, numerical safety (pure)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from crowdkit.aggregation import DawidSkene

from app.consistency.dawid_skene import dawid_skene, item_posterior
from app.consistency.metrics import NO_LABEL, majority, make_triples, vote_counts
from tests.consistency.generate import crowd


def as_frame(t) -> pd.DataFrame:
    return pd.DataFrame({"task": t.item, "worker": t.labeler, "label": t.label})


@pytest.mark.slow  # crowd-kit (pandas) needs a few seconds per seed to converge
@pytest.mark.parametrize("seed", range(5))
def test_same_consensus_labels_as_crowd_kit(seed):
    """Both run to convergence. Our Dirichlet smoothing (0.01) may flip an exact coin toss, so an item
    may differ only where both posteriors put their top two classes within 0.02 of each other."""
    t, _truth, _ = crowd(np.random.default_rng(seed), n_items=1500, n_labelers=10, n_classes=4, per_item=5)
    ours = dawid_skene(t, max_iter=1000, tol=1e-8)
    reference = DawidSkene(n_iter=1000, tol=1e-8).fit(as_frame(t))
    theirs = reference.labels_.reindex(range(t.n_items)).to_numpy()
    their_posterior = reference.probas_.reindex(index=range(t.n_items), columns=range(4)).to_numpy()
    assert ours.converged
    differ = np.flatnonzero(ours.consensus != theirs)
    for posterior in (ours.posterior[differ], their_posterior[differ]):
        top2 = np.sort(posterior, axis=1)[:, -2:]
        assert np.all(top2[:, 1] - top2[:, 0] < 0.02)
    assert differ.size <= 2


def test_recovers_the_confusion_matrices_and_beats_majority():
    t, truth, confusion = crowd(np.random.default_rng(7), n_items=6000, n_labelers=8, n_classes=3, per_item=3)
    result = dawid_skene(t)
    assert np.abs(result.confusion - confusion).max() < 0.06
    true_accuracy = np.array([np.mean(t.label[t.labeler == lab] == truth[t.item[t.labeler == lab]])
                              for lab in range(t.n_labelers)])
    assert np.abs(result.accuracy - true_accuracy).max() < 0.03
    assert np.mean(result.consensus == truth) > np.mean(majority(vote_counts(t)).label == truth)
    assert np.allclose(result.posterior.sum(axis=1), 1.0)
    assert np.allclose(result.confusion.sum(axis=2), 1.0)


def test_is_deterministic():
    t, _, _ = crowd(np.random.default_rng(1), n_items=500, n_labelers=6, n_classes=5, per_item=3)
    a, b = dawid_skene(t), dawid_skene(t)
    assert np.array_equal(a.posterior, b.posterior) and a.iterations == b.iterations


def test_unlabeled_items_and_unseen_answers_stay_finite():
    # item 2 has no label; labeler 1 never answers class 2; one item carries 400 labels.
    item = [0, 0, 1, 1, 3] + [4] * 400
    labeler = [0, 1, 0, 1, 0, *list(range(400))]
    label = [0, 0, 1, 1, 2] + [1] * 300 + [0] * 100
    t = make_triples(item, [x % 402 for x in labeler], label, n_items=5, n_labelers=402, n_classes=3)
    result = dawid_skene(t)
    assert np.isfinite(result.posterior).all() and np.isfinite(result.confusion).all()
    assert result.consensus[2] == NO_LABEL and result.confidence[2] == 0.0
    assert result.consensus[4] == 1


def test_item_posterior_reproduces_the_batch_posterior():
    t, _, _ = crowd(np.random.default_rng(2), n_items=800, n_labelers=6, n_classes=4, per_item=3)
    result = dawid_skene(t)
    for i in (0, 17, 555):
        rows = t.item == i
        post = item_posterior(t.labeler[rows], t.label[rows], confusion=result.confusion, priors=result.priors)
        assert post == pytest.approx(result.posterior[i], abs=1e-9)
    unknown = item_posterior(np.array([-1]), np.array([2]), confusion=result.confusion, priors=result.priors)
    assert unknown.argmax() == 2


def test_empty_input_is_refused():
    with pytest.raises(ValueError):
        dawid_skene(make_triples([], [], [], n_items=0, n_labelers=0, n_classes=2))
