"""Real crowd-labeling datasets (../shared/datasets/crowd): alpha as the krippendorff package, and our
Dawid–Skene at least as accurate against the truth as crowd-kit's run to convergence."""

from __future__ import annotations

import krippendorff
import numpy as np
import pandas as pd
import pytest
from crowdkit.aggregation import DawidSkene

from app.consistency.dawid_skene import dawid_skene
from app.consistency.metrics import encode_triples, krippendorff_alpha, majority, vote_counts
from tests.support.shared import crowd_dataset

WITH_WORKERS = ["bluebirds", "rte", "temp", "wsd", "dog", "face",
                pytest.param("product", marks=pytest.mark.slow)]


def load(name: str):
    root = crowd_dataset(name)
    answers = pd.read_csv(root / "answers.csv", dtype={"item": str, "worker": str, "label": int})
    truth = pd.read_csv(root / "truth.csv", dtype={"item": str, "label": int})
    return answers, truth


@pytest.mark.parametrize("name", WITH_WORKERS)
def test_alpha_and_dawid_skene_on_real_crowd_data(name):
    answers, truth = load(name)
    enc = encode_triples(answers["item"].to_numpy(), answers["worker"].to_numpy(), answers["label"].to_numpy())
    counts = vote_counts(enc.triples)
    expected_alpha = krippendorff.alpha(value_counts=counts, level_of_measurement="nominal")
    assert krippendorff_alpha(counts) == pytest.approx(expected_alpha, abs=1e-9)

    known = truth.set_index("item")["label"].reindex(enc.item_keys)
    has_truth = known.notna().to_numpy()
    true_label = known.to_numpy()[has_truth]
    ours = enc.class_keys[dawid_skene(enc.triples, max_iter=1000, tol=1e-9).consensus][has_truth]
    reference = DawidSkene(n_iter=1000, tol=1e-9).fit(answers.rename(columns={"item": "task"}))
    theirs = reference.labels_.reindex(enc.item_keys).to_numpy()[has_truth]
    mv = enc.class_keys[majority(counts).label][has_truth]
    our_accuracy, their_accuracy = np.mean(ours == true_label), np.mean(theirs == true_label)
    assert our_accuracy >= their_accuracy, (name, our_accuracy, their_accuracy)
    assert our_accuracy >= np.mean(mv == true_label) - 0.005  # never much worse than the plain vote


def test_alpha_from_cifar10h_vote_counts():
    counts = pd.read_csv(crowd_dataset("cifar10h") / "counts.csv").drop(columns="item").to_numpy()
    expected = krippendorff.alpha(value_counts=counts, level_of_measurement="nominal")
    assert krippendorff_alpha(counts) == pytest.approx(expected, abs=1e-9)
    truth = pd.read_csv(crowd_dataset("cifar10h") / "truth.csv")["label"].to_numpy()
    assert np.mean(majority(counts).label == truth) > 0.99  # the README's 99.21 %
