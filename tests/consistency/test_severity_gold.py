"""Severity ordering and gold accuracy (pure)."""

from __future__ import annotations

import numpy as np
import pytest

from app.consistency import severity as sev
from app.consistency.gold import gold_accuracy, wilson_lower
from app.consistency.metrics import make_triples


def test_severity_orders_what_matters_first():
    three_way = sev.class_disagreement(confidence=0.4, entropy=1.0, n_classes=5)
    settled_split = sev.class_disagreement(confidence=0.99, entropy=0.57, n_classes=5)
    assert three_way > settled_split > 0
    assert sev.gold_miss(wrong_share=1 / 3) > sev.class_disagreement(confidence=0.6, entropy=0.57, n_classes=5)
    assert sev.missing_box(support=0.5) > sev.missing_box(support=2 / 3) == sev.missing_box(support=1 / 3)
    assert sev.box_localization(worst_iou=0.2) > sev.box_localization(worst_iou=0.55)
    assert sev.duplicate_group(majority_share=0.6, size=8) > sev.duplicate_group(majority_share=0.6, size=2)
    assert sev.low_confidence(confidence=1.0, n_classes=5) == 0.0
    strong_model = sev.model_disagreement(model_confidence=0.95, consensus_confidence=0.99, n_classes=5)
    assert 0 < strong_model < sev.model_disagreement(model_confidence=0.95, consensus_confidence=0.5, n_classes=5)


def test_severity_is_bounded_and_rejects_unknown_kinds():
    assert sev.severity("gold_miss", 5.0, reach=10_000) == 100.0
    assert sev.severity("box_localization", -1) == 0.0
    assert set(sev.KINDS) == set(sev.WEIGHT)
    with pytest.raises(ValueError):
        sev.severity("typo", 0.5)


def test_gold_accuracy_by_hand():
    # items 0, 1 are gold (classes 2 and 0); labeler 0 right twice, labeler 1 wrong once, labeler 2 no gold.
    t = make_triples([0, 1, 0, 3, 3], [0, 0, 1, 1, 2], [2, 0, 1, 1, 1], n_items=4, n_labelers=3, n_classes=3)
    g = gold_accuracy(t, [0, 1], [2, 0])
    assert g.n_gold.tolist() == [2, 1, 0] and g.correct.tolist() == [2, 0, 0]
    assert g.accuracy[:2].tolist() == [1.0, 0.0] and np.isnan(g.accuracy[2])
    assert g.missed.tolist() == [2]
    assert g.lower_bound[0] == pytest.approx(0.342, abs=1e-3)  # Wilson, 2 of 2
    assert wilson_lower(np.array([50]), np.array([100]))[0] == pytest.approx(0.4038, abs=1e-4)
