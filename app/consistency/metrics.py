"""Classification agreement over (item, labeler, class) triples: votes, majority, entropy, alpha, kappas.

Pure numpy. Items, labelers and classes are dense integer codes (0..n-1); `encode_triples` turns any
keys (ids, strings) into codes and gives the key arrays back. One triple per (item, labeler) is
expected: the caller passes live annotations only (a relabel supersedes the old row).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

NO_LABEL = -1  # consensus/majority of an item nobody labeled


@dataclass(frozen=True)
class Triples:
    """Labels as parallel int arrays; `label[j]` is the class `labeler[j]` gave `item[j]`."""

    item: np.ndarray
    labeler: np.ndarray
    label: np.ndarray
    n_items: int
    n_labelers: int
    n_classes: int

    @property
    def n_labels(self) -> int:
        return int(self.item.size)


@dataclass(frozen=True)
class Encoded:
    triples: Triples
    item_keys: np.ndarray
    labeler_keys: np.ndarray
    class_keys: np.ndarray


def make_triples(item: npt.ArrayLike, labeler: npt.ArrayLike, label: npt.ArrayLike, *,
                 n_items: int, n_labelers: int, n_classes: int) -> Triples:
    """Validate already-coded arrays (ValueError on a code out of range or ragged arrays)."""
    arrays = [np.asarray(a, dtype=np.int64).ravel() for a in (item, labeler, label)]
    if not arrays[0].size == arrays[1].size == arrays[2].size:
        raise ValueError("item, labeler and label arrays differ in length")
    for values, bound, name in zip(arrays, (n_items, n_labelers, n_classes), ("item", "labeler", "label"),
                                   strict=True):
        if values.size and (values.min() < 0 or values.max() >= bound):
            raise ValueError(f"{name} code out of range 0..{bound - 1}")
    return Triples(arrays[0], arrays[1], arrays[2], n_items=n_items, n_labelers=n_labelers, n_classes=n_classes)


def encode_triples(items: npt.ArrayLike, labelers: npt.ArrayLike, labels: npt.ArrayLike, *,
                   classes: Iterable[Any] | None = None) -> Encoded:
    """Code arbitrary keys densely (sorted order). `classes` fixes the class order (and so the tie rule)."""
    item_keys, item = np.unique(np.asarray(items), return_inverse=True)
    labeler_keys, labeler = np.unique(np.asarray(labelers), return_inverse=True)
    if classes is None:
        class_keys, label = np.unique(np.asarray(labels), return_inverse=True)
    else:
        class_keys = np.asarray(list(classes))
        order = np.argsort(class_keys, kind="stable")
        pos = np.searchsorted(class_keys[order], np.asarray(labels))
        pos = np.clip(pos, 0, class_keys.size - 1)
        label = order[pos]
        if not np.array_equal(class_keys[label], np.asarray(labels)):
            raise ValueError("a label is not one of the given classes")
    triples = make_triples(item, labeler, label, n_items=item_keys.size, n_labelers=labeler_keys.size,
                           n_classes=class_keys.size)
    return Encoded(triples, item_keys, labeler_keys, class_keys)


# --- per item -------------------------------------------------------------------------------------

def vote_counts(t: Triples) -> np.ndarray:
    """(n_items, n_classes) int matrix: how many labelers gave each class to each item."""
    flat = np.bincount(t.item * t.n_classes + t.label, minlength=t.n_items * t.n_classes)
    return flat.reshape(t.n_items, t.n_classes).astype(np.int32, copy=False)


@dataclass(frozen=True)
class Majority:
    label: np.ndarray  # plurality class; NO_LABEL for unlabeled items
    share: np.ndarray  # votes of that class / labels on the item (0 for unlabeled)
    tied: np.ndarray  # bool: another class has as many votes
    strict: np.ndarray  # bool: more than half of the item's labels


def majority(counts: np.ndarray) -> Majority:
    """Plurality vote per item. Tie rule: the tied class that comes first in the class order
    (the project's class order, so ok-before-defects when the project lists ok first). Ties are
    flagged (`tied`) so callers can prefer a Dawid–Skene consensus or send the item to review."""
    counts = np.asarray(counts)
    total = counts.sum(axis=1)
    label = counts.argmax(axis=1)  # argmax returns the first maximum: the stated tie rule
    top = np.take_along_axis(counts, label[:, None], axis=1)[:, 0]
    tied = (counts == top[:, None]).sum(axis=1) > 1
    labeled = total > 0
    share = np.divide(top, total, out=np.zeros(total.shape, dtype=float), where=labeled)
    return Majority(label=np.where(labeled, label, NO_LABEL), share=share, tied=tied & labeled,
                    strict=labeled & (2 * top > total))


def vote_entropy(counts: np.ndarray, *, normalized: bool = True) -> np.ndarray:
    """Shannon entropy of each item's vote distribution, in bits; divided by log2(n_classes) when
    `normalized` (0 = unanimous, 1 = votes spread evenly over every class). 0 for unlabeled items."""
    counts = np.asarray(counts, dtype=float)
    total = counts.sum(axis=1, keepdims=True)
    p = np.divide(counts, total, out=np.zeros_like(counts), where=total > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        h = -np.where(p > 0, p * np.log2(p), 0.0).sum(axis=1)
    if normalized and counts.shape[1] > 1:
        h = h / np.log2(counts.shape[1])
    entropy: np.ndarray = h
    return entropy


# --- Krippendorff's alpha (nominal) ----------------------------------------------------------------

def coincidence_matrix(counts: np.ndarray) -> np.ndarray:
    """Krippendorff's coincidence matrix o_ck = sum_u (n_uc n_uk - [c=k] n_uc) / (m_u - 1) over items
    with m_u >= 2 labels (Krippendorff 2011, "Computing Krippendorff's alpha-reliability", eq. for o_ck).
    Additive over items, so chunks of items can be summed (see CoincidenceAccumulator)."""
    counts = np.asarray(counts, dtype=float)
    m = counts.sum(axis=1)
    pairable = m >= 2
    n = counts[pairable]
    w = n / (m[pairable] - 1.0)[:, None]
    coincidences: np.ndarray = w.T @ n - np.diag(w.sum(axis=0))
    return coincidences


class CoincidenceAccumulator:
    """Streams items chunk by chunk (e.g. rows fetched with yield_per): memory is O(classes^2)."""

    def __init__(self, n_classes: int):
        self.matrix = np.zeros((n_classes, n_classes))

    def add(self, counts: np.ndarray) -> None:
        self.matrix += coincidence_matrix(counts)

    def alpha(self) -> float:
        return alpha_from_coincidence(self.matrix)


def alpha_from_coincidence(o: np.ndarray) -> float:
    """alpha = 1 - D_o / D_e with the nominal metric:
    alpha = 1 - (n - 1) * sum_{c!=k} o_ck / sum_{c!=k} n_c n_k, n_c = sum_k o_ck, n = sum_c n_c.
    NaN when undefined (fewer than two pairable values, or a single value used throughout)."""
    o = np.asarray(o, dtype=float)
    n_c = o.sum(axis=1)
    n = n_c.sum()
    observed = o.sum() - np.trace(o)
    expected = n_c.sum() ** 2 - (n_c**2).sum()
    if n < 2 or expected <= 0:
        return float("nan")
    return float(1.0 - (n - 1.0) * observed / expected)


def krippendorff_alpha(counts: np.ndarray) -> float:
    """Nominal Krippendorff's alpha from an (items x classes) vote-count matrix; any number of labels
    per item, items with fewer than two labels do not count (they hold no pairable values)."""
    return alpha_from_coincidence(coincidence_matrix(counts))


# --- Fleiss' kappa ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class FleissKappa:
    kappa: float | None
    labels_per_item: int | None
    reason: str | None = None  # why kappa is None


def fleiss_kappa(counts: np.ndarray) -> FleissKappa:
    """Fleiss (1971): kappa = (P_bar - P_e) / (1 - P_e) with P_i = (sum_j n_ij^2 - m) / (m (m - 1)) and
    P_e = sum_j p_j^2. Defined only when every labeled item has the same number m >= 2 of labels;
    unlabeled items are ignored. Otherwise kappa is None and `reason` says why."""
    counts = np.asarray(counts, dtype=float)
    m_all = counts.sum(axis=1)
    counts = counts[m_all > 0]
    if counts.shape[0] == 0:
        return FleissKappa(None, None, "no labeled items")
    m_values = np.unique(counts.sum(axis=1))
    if m_values.size != 1:
        return FleissKappa(None, None, f"items have {int(m_values.min())} to {int(m_values.max())} labels; "
                                       "Fleiss' kappa needs the same number on every item (use alpha)")
    m = float(m_values[0])
    if m < 2:
        return FleissKappa(None, int(m), "items have a single label")
    p_i = ((counts**2).sum(axis=1) - m) / (m * (m - 1.0))
    p_j = counts.sum(axis=0) / counts.sum()
    p_e = float((p_j**2).sum())
    if p_e >= 1.0:
        return FleissKappa(None, int(m), "every label is the same class; chance agreement is 1")
    return FleissKappa(float((p_i.mean() - p_e) / (1.0 - p_e)), int(m))


# --- pairwise Cohen's kappa ------------------------------------------------------------------------

def _sorted_by_item(t: Triples) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    order = np.lexsort((t.labeler, t.item))
    return t.item[order], t.labeler[order], t.label[order]


def labeler_pairs(t: Triples) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Every pair of labels on the same item, as (labeler_a, labeler_b, label_a, label_b), a < b.
    Pairs come from comparing each label with the d-th next one of the same item, d = 1..max labels-1."""
    item, labeler, label = _sorted_by_item(t)
    parts: list[tuple[np.ndarray, ...]] = []
    d = 1
    while d < item.size:
        same = item[d:] == item[:-d]
        if not same.any():
            break
        i = np.flatnonzero(same)
        parts.append((labeler[i], labeler[i + d], label[i], label[i + d]))
        d += 1
    if not parts:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty, empty
    a, b, la, lb = (np.concatenate(p) for p in zip(*parts, strict=True))
    return a, b, la, lb


@dataclass(frozen=True)
class PairwiseKappa:
    labeler_a: np.ndarray  # pairs with at least min_shared items, a < b
    labeler_b: np.ndarray
    n_shared: np.ndarray
    kappa: np.ndarray  # NaN where chance agreement is 1 (both used a single, identical class)

    def as_matrix(self, n_labelers: int) -> np.ndarray:
        """Symmetric (n_labelers x n_labelers) matrix, NaN for pairs without enough shared items."""
        out = np.full((n_labelers, n_labelers), np.nan)
        out[self.labeler_a, self.labeler_b] = self.kappa
        out[self.labeler_b, self.labeler_a] = self.kappa
        return out


def pairwise_cohen_kappa(t: Triples, *, min_shared: int = 20) -> PairwiseKappa:
    """Cohen's kappa (1960) for every pair of labelers sharing >= min_shared items:
    kappa = (p_o - p_e) / (1 - p_e) from the pair's K x K contingency table. Only pairs that occur
    are tabulated (memory O(pairs seen x K^2), never O(labelers^2 x K^2))."""
    k = t.n_classes
    a, b, la, lb = labeler_pairs(t)
    pair_key, pair = np.unique(a * t.n_labelers + b, return_inverse=True)
    table = np.bincount(pair * k * k + la * k + lb, minlength=pair_key.size * k * k)
    table = table.reshape(pair_key.size, k, k).astype(float)
    n = table.sum(axis=(1, 2))
    keep = n >= min_shared
    table, n, pair_key = table[keep], n[keep], pair_key[keep]
    p_o = np.trace(table, axis1=1, axis2=2) / n
    p_e = (table.sum(axis=2) * table.sum(axis=1)).sum(axis=1) / n**2
    with np.errstate(invalid="ignore", divide="ignore"):
        kappa = np.where(p_e < 1.0, (p_o - p_e) / (1.0 - p_e), np.nan)
    return PairwiseKappa(pair_key // t.n_labelers, pair_key % t.n_labelers, n.astype(np.int64), kappa)


# --- which classes labelers confuse ----------------------------------------------------------------

@dataclass(frozen=True)
class ClassPairDisagreement:
    coincidence: np.ndarray  # o_ck (K x K), the raw weight of c-vs-k splits
    rate: np.ndarray  # 2 o_ck / (n_c + n_k), c != k; diagonal 0
    share: np.ndarray  # this pair's part of all disagreement: 2 o_ck / sum_{c != k} o; sums to 1 over c < k
    items_split: np.ndarray  # items holding at least one c and one k label (c != k)

    def top_pairs(self, n: int = 5, *, by: str = "rate") -> list[tuple[int, int, float]]:
        """The n worst class pairs (c < k) by `rate` or `share`, worst first; ties by class order."""
        m = getattr(self, by)
        c, k = np.triu_indices(m.shape[0], 1)
        order = np.lexsort((k, c, -m[c, k]))[:n]
        return [(int(c[i]), int(k[i]), float(m[c[i], k[i]])) for i in order]


def class_pair_disagreement(counts: np.ndarray) -> ClassPairDisagreement:
    """How often labelers split between two classes on the same item.

    Built on alpha's coincidence matrix, so each item weighs by its pairable labels exactly as in
    alpha (an item with m labels contributes m pairable values). Normalisation (`rate`): of all the
    pairings that involve a value of class c or of class k, the fraction that pair a c with a k —
    2 o_ck / (n_c + n_k), n_c = sum_j o_cj. It is 0 when c and k are never split, 1 when every c label
    sits beside a k label and vice versa, and — unlike the raw share of disagreements — it does not
    rank a pair high merely because one class is common (ok vs scratch). `share` keeps that raw view.
    """
    counts = np.asarray(counts)
    o = coincidence_matrix(counts)
    off = o - np.diag(np.diag(o))
    n_c = o.sum(axis=1)
    denom = n_c[:, None] + n_c[None, :]
    rate = np.divide(2.0 * off, denom, out=np.zeros_like(off), where=denom > 0)
    total = off.sum()
    share = 2.0 * off / total if total > 0 else np.zeros_like(off)
    present = (counts > 0).astype(np.int64)
    split = present.T @ present
    np.fill_diagonal(split, 0)
    return ClassPairDisagreement(coincidence=o, rate=rate, share=share, items_split=split)
