"""Seeded synthetic crowd labels with known confusion matrices (for the maths tests)."""

from __future__ import annotations

import numpy as np

from app.consistency.metrics import Triples, make_triples


def confusions(rng: np.random.Generator, n_labelers: int, n_classes: int, *, accuracy=(0.55, 0.95)) -> np.ndarray:
    """(L, K, K) P(answer | true): diagonal = the labeler's accuracy, the rest spread at random."""
    out = np.empty((n_labelers, n_classes, n_classes))
    for lab in range(n_labelers):
        acc = rng.uniform(*accuracy)
        off = rng.dirichlet(np.ones(n_classes - 1), size=n_classes) * (1 - acc)
        for c in range(n_classes):
            out[lab, c] = np.insert(off[c], c, acc)
    return out


def crowd(rng: np.random.Generator, *, n_items: int, n_labelers: int, n_classes: int, per_item: int,
          confusion: np.ndarray | None = None) -> tuple[Triples, np.ndarray, np.ndarray]:
    """(triples, true classes, confusions): each item gets per_item distinct labelers at random."""
    if confusion is None:
        confusion = confusions(rng, n_labelers, n_classes)
    truth = rng.choice(n_classes, n_items, p=rng.dirichlet(np.ones(n_classes) * 3))
    labeler = np.argsort(rng.random((n_items, n_labelers)), axis=1)[:, :per_item].ravel()
    item = np.repeat(np.arange(n_items), per_item)
    cum = confusion[labeler, truth[item]].cumsum(axis=1)
    answer = np.minimum((rng.random(item.size)[:, None] > cum).sum(axis=1), n_classes - 1)
    t = make_triples(item, labeler, answer, n_items=n_items, n_labelers=n_labelers, n_classes=n_classes)
    return t, truth, confusion
