"""The model card's weak spots: only slices and classes whose whole interval lies below the overall figure."""
from __future__ import annotations

from app.modeling.card import build_card, to_markdown, weak_spots


def iv(value: float, low: float, high: float) -> dict[str, float]:
    return {"value": value, "low": low, "high": high}


METRICS = {
    "evaluation": {"n": 120, "accuracy": iv(0.9, 0.85, 0.95), "macro_f1": iv(0.88, 0.82, 0.93),
                   "per_class": [{"class_id": 1, "name": "ok", "precision": iv(0.95, 0.9, 1),
                                  "recall": iv(0.97, 0.93, 1), "f1": iv(0.96, 0.92, 0.99), "support": 100},
                                 {"class_id": 2, "name": "pit", "precision": iv(0.6, 0.4, 0.8),
                                  "recall": iv(0.5, 0.3, 0.7), "f1": iv(0.55, 0.35, 0.75), "support": 20},
                                 {"class_id": 3, "name": "dent", "precision": iv(0.8, 0.5, 1),
                                  "recall": iv(0.8, 0.5, 1), "f1": iv(0.8, 0.5, 1.0), "support": 4}],
                   "confusion": [[1]], "calibration": {"bins": [], "ece": 0.05, "brier": 0.1}},
    "out_of_fold": {"n": 400, "accuracy": iv(0.92, 0.9, 0.94), "macro_f1": iv(0.9, 0.87, 0.93), "per_class": [],
                    "confusion": [[1]], "calibration": {"bins": [], "ece": 0.04, "brier": 0.09}},
    "slices": [
        {"dimension": "line", "value": "L2", "n": 40, "accuracy": iv(0.7, 0.55, 0.83), "macro_f1": iv(0.6, 0.4, 0.8),
         "source": "evaluation"},  # clearly below 0.9
        {"dimension": "line", "value": "L1", "n": 80, "accuracy": iv(0.85, 0.75, 0.93), "macro_f1": iv(0.8, 0.7, 0.9),
         "source": "evaluation"},  # overlaps 0.9: not listed
        {"dimension": "shift", "value": "night", "n": 150, "accuracy": iv(0.86, 0.8, 0.91),
         "macro_f1": iv(0.8, 0.7, 0.9), "source": "out_of_fold"},  # below the out-of-fold 0.92
    ],
}


def test_only_clearly_weaker_slices_and_classes_are_named() -> None:
    weak = weak_spots(METRICS)
    assert [(s["dimension"], s["value"], s["source"]) for s in weak["slices"]] == [
        ("line", "L2", "evaluation"), ("shift", "night", "out_of_fold")]
    assert [c["name"] for c in weak["classes"]] == ["pit"]


def test_the_markdown_names_them_with_their_intervals() -> None:
    card = build_card(project_name="Bearings", run={"id": 7, "number": 3, "seed": 0, "folds": 5, "train_count": 400,
                                                     "eval_count": 120, "created_at": "", "finished_at": None,
                                                     "recipe_identity": {"name": "filterbank", "version": "2"}},
                      version={"id": 2, "number": 2, "name": "spring", "content_hash": "ab" * 32},
                      classes=[{"id": 1, "name": "ok"}, {"id": 2, "name": "pit"}, {"id": 3, "name": "dent"}],
                      metrics=METRICS, onnx_sha256="cd" * 32, onnx_io={"input": "image", "output": "probabilities"})
    assert card["known_weaknesses"]["few_test_images"] == ["dent"]
    text = to_markdown(card)
    assert "- line = L2 (40 images, evaluation): accuracy 0.700 [0.550, 0.830] against 0.900 overall" in text
    assert "- class pit (evaluation, 20 images): F1 0.550 [0.350, 0.750]" in text
    assert "L1" not in text.split("## Known weaknesses")[1]
    assert "fewer than 10 test images, figures uncertain: dent" in text
