"""Classification agreement: textbook cases and independent implementations (pure, no database)."""

from __future__ import annotations

import krippendorff
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import cohen_kappa_score
from statsmodels.stats.inter_rater import fleiss_kappa as sm_fleiss_kappa

from app.consistency.metrics import (
    NO_LABEL,
    CoincidenceAccumulator,
    class_pair_disagreement,
    encode_triples,
    fleiss_kappa,
    krippendorff_alpha,
    majority,
    make_triples,
    pairwise_cohen_kappa,
    vote_counts,
    vote_entropy,
)

NAN = np.nan
# Krippendorff (2011), "Computing Krippendorff's alpha-reliability", nominal example: 3 coders x 15 units.
KRIPPENDORFF_EXAMPLE = [
    [NAN, NAN, NAN, NAN, NAN, 3, 4, 1, 2, 1, 1, 3, 3, NAN, 3],
    [1, NAN, 2, 1, 3, 3, 4, 3, NAN, NAN, NAN, NAN, NAN, NAN, NAN],
    [NAN, NAN, 2, 1, 3, 4, 4, NAN, 2, 1, 1, 3, 3, NAN, 4],
]
# Fleiss (1971) as worked on Wikipedia: 10 subjects, 14 raters, 5 categories, kappa = 0.210.
FLEISS_EXAMPLE = np.array([
    [0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0], [2, 2, 8, 1, 1],
    [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2], [6, 5, 2, 1, 0], [0, 2, 2, 3, 7],
])


def triples_from_reliability(data) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    data = np.asarray(data, dtype=float)
    coder, unit = np.nonzero(~np.isnan(data))
    return unit, coder, data[coder, unit].astype(int)


def random_triples(rng: np.random.Generator, *, n_items=200, n_labelers=8, n_classes=4, p_label=0.5):
    """Random labels with a class-dependent signal, missing at random; every item has >= 1 label."""
    truth = rng.integers(0, n_classes, n_items)
    mask = rng.random((n_items, n_labelers)) < p_label
    mask[np.arange(n_items), rng.integers(0, n_labelers, n_items)] = True
    item, labeler = np.nonzero(mask)
    noisy = rng.random(item.size) < 0.35
    label = np.where(noisy, rng.integers(0, n_classes, item.size), truth[item])
    return make_triples(item, labeler, label, n_items=n_items, n_labelers=n_labelers, n_classes=n_classes)


def reliability_matrix(t) -> np.ndarray:
    data = np.full((t.n_labelers, t.n_items), np.nan)
    data[t.labeler, t.item] = t.label
    return data


# --- hand-worked cases ------------------------------------------------------------------------------

def test_alpha_matches_krippendorffs_worked_example():
    unit, coder, value = triples_from_reliability(KRIPPENDORFF_EXAMPLE)
    enc = encode_triples(unit, coder, value)
    assert krippendorff_alpha(vote_counts(enc.triples)) == pytest.approx(0.691358, abs=1e-6)


def test_alpha_by_hand_on_two_units():
    # unit 1: a, a ; unit 2: a, b. o_aa = 2, o_ab = o_ba = 1, n_a = 3, n_b = 1, n = 4.
    # alpha = 1 - (n - 1) * (o_ab + o_ba) / (n^2 - n_a^2 - n_b^2) = 1 - 3 * 2 / 6 = 0.
    assert krippendorff_alpha(np.array([[2, 0], [1, 1]])) == pytest.approx(0.0)
    assert krippendorff_alpha(np.array([[2, 0], [0, 2]])) == pytest.approx(1.0)
    assert np.isnan(krippendorff_alpha(np.array([[2, 0], [3, 0]])))  # one value only: undefined
    assert np.isnan(krippendorff_alpha(np.array([[1, 0], [0, 1]])))  # no pairable values


def test_fleiss_kappa_matches_the_worked_example():
    result = fleiss_kappa(FLEISS_EXAMPLE)
    assert result.kappa == pytest.approx(0.20993, abs=1e-5)
    assert result.labels_per_item == 14


def test_fleiss_kappa_refuses_unequal_label_counts():
    result = fleiss_kappa(np.array([[3, 0], [1, 1]]))
    assert result.kappa is None
    assert "same number" in result.reason


def test_cohen_kappa_by_hand():
    # 50 items: yes/yes 20, yes/no 5, no/yes 10, no/no 15 -> p_o = 0.7, p_e = 0.5, kappa = 0.4.
    a = [1] * 25 + [0] * 25
    b = [1] * 20 + [0] * 5 + [1] * 10 + [0] * 15
    t = make_triples(np.r_[np.arange(50), np.arange(50)], [0] * 50 + [1] * 50, a + b,
                     n_items=50, n_labelers=2, n_classes=2)
    result = pairwise_cohen_kappa(t, min_shared=10)
    assert result.kappa.tolist() == pytest.approx([0.4])
    assert result.n_shared.tolist() == [50]
    assert pairwise_cohen_kappa(t, min_shared=51).kappa.size == 0


def test_majority_tie_rule_entropy_and_unlabeled_items():
    counts = np.array([[2, 1, 0], [1, 1, 1], [0, 0, 3], [0, 0, 0], [0, 2, 2]])
    m = majority(counts)
    assert m.label.tolist() == [0, 0, 2, NO_LABEL, 1]  # ties go to the first class in order
    assert m.tied.tolist() == [False, True, False, False, True]
    assert m.strict.tolist() == [True, False, True, False, False]
    assert m.share.tolist() == pytest.approx([2 / 3, 1 / 3, 1.0, 0.0, 0.5])
    h = vote_entropy(counts)
    assert h[1] == pytest.approx(1.0) and h[2] == 0.0 and h[3] == 0.0
    assert h[0] == pytest.approx((-(2 / 3) * np.log2(2 / 3) - (1 / 3) * np.log2(1 / 3)) / np.log2(3))


def test_class_pair_rate_ignores_how_common_a_class_is():
    # 90 unanimous "ok" items and 10 ok/scratch splits; 5 dent/pit splits and nothing else of dent or pit.
    counts = np.array([[3, 0, 0, 0]] * 90 + [[2, 1, 0, 0]] * 10 + [[0, 0, 2, 1]] * 5)
    pairs = class_pair_disagreement(counts)
    assert pairs.top_pairs(1, by="share")[0][:2] == (0, 1)  # raw share: ok/scratch is the most common
    assert pairs.top_pairs(1, by="rate")[0][:2] == (2, 3)  # rate: dent/pit are always confused
    assert pairs.items_split[0, 1] == 10 and pairs.items_split[2, 3] == 5
    assert np.allclose(pairs.rate, pairs.rate.T) and np.all(np.diag(pairs.rate) == 0)
    assert pairs.share[np.triu_indices(4, 1)].sum() == pytest.approx(1.0)


def test_encode_triples_keeps_a_given_class_order():
    enc = encode_triples(["b", "a", "a"], ["u1", "u1", "u2"], ["pit", "ok", "dent"], classes=["ok", "dent", "pit"])
    assert enc.item_keys.tolist() == ["a", "b"]
    assert enc.triples.label.tolist() == [2, 0, 1]
    with pytest.raises(ValueError, match="not one of"):
        encode_triples(["a"], ["u"], ["scratch"], classes=["ok", "dent"])


def test_make_triples_rejects_codes_out_of_range():
    with pytest.raises(ValueError, match="label code"):
        make_triples([0], [0], [3], n_items=1, n_labelers=1, n_classes=3)


# --- against independent implementations ------------------------------------------------------------

@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), p_label=st.floats(0.2, 0.9), n_classes=st.integers(2, 6))
def test_alpha_equals_the_krippendorff_package(seed, p_label, n_classes):
    t = random_triples(np.random.default_rng(seed), n_classes=n_classes, p_label=p_label)
    expected = krippendorff.alpha(reliability_data=reliability_matrix(t), level_of_measurement="nominal",
                                  value_domain=list(range(n_classes)))
    assert krippendorff_alpha(vote_counts(t)) == pytest.approx(expected, abs=1e-6)


def test_streamed_alpha_equals_alpha_in_one_go():
    counts = vote_counts(random_triples(np.random.default_rng(3), n_items=1000))
    acc = CoincidenceAccumulator(counts.shape[1])
    for chunk in np.array_split(counts, 7):
        acc.add(chunk)
    assert acc.alpha() == pytest.approx(krippendorff_alpha(counts), abs=1e-12)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), m=st.integers(2, 9), n_classes=st.integers(2, 6))
def test_fleiss_kappa_equals_statsmodels(seed, m, n_classes):
    rng = np.random.default_rng(seed)
    p = rng.dirichlet(np.ones(n_classes), size=150)
    counts = np.array([rng.multinomial(m, row) for row in p])
    assert fleiss_kappa(counts).kappa == pytest.approx(sm_fleiss_kappa(counts, method="fleiss"), abs=1e-6)


@pytest.mark.parametrize("seed", range(5))
def test_pairwise_cohen_kappa_equals_scikit_learn(seed):
    t = random_triples(np.random.default_rng(seed), n_items=300, n_labelers=6, p_label=0.6)
    result = pairwise_cohen_kappa(t, min_shared=1)
    data = reliability_matrix(t)
    assert result.kappa.size == 15  # every pair shares items
    for a, b, n, kappa in zip(result.labeler_a, result.labeler_b, result.n_shared, result.kappa, strict=True):
        shared = ~np.isnan(data[a]) & ~np.isnan(data[b])
        assert n == shared.sum()
        assert kappa == pytest.approx(cohen_kappa_score(data[a, shared], data[b, shared]), abs=1e-6)
    matrix = result.as_matrix(t.n_labelers)
    assert np.allclose(matrix, matrix.T, equal_nan=True) and np.isnan(matrix[0, 0])


def test_vote_counts_and_majority_agree_with_a_plain_loop():
    t = random_triples(np.random.default_rng(11), n_items=50)
    counts = vote_counts(t)
    for i in range(t.n_items):
        labels = t.label[t.item == i]
        assert counts[i].tolist() == np.bincount(labels, minlength=t.n_classes).tolist()
        assert majority(counts).label[i] == np.bincount(labels, minlength=t.n_classes).argmax()
