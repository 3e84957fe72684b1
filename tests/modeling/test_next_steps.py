"""Next steps: a run's classes ranked by F1 and its slices by accuracy gap, weakest first, with actions."""
from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from app.modeling.next_steps import next_steps
from tests.factories import class_named, make_project
from tests.modeling.rows import make_run, make_version


def iv(value: float | None) -> dict[str, float | None]:
    return {"value": value, "low": None, "high": None}


def per_class(name: str, class_id: int, f1: float | None, support: int) -> dict[str, Any]:
    return {"class_id": class_id, "name": name, "f1": iv(f1), "recall": iv(f1), "precision": iv(f1),
            "support": support}


def test_weakest_class_and_slice_first_from_the_out_of_fold_figures(db: Session) -> None:
    project = make_project(db, classes=("ok", "dent", "pit", "rare"))
    ok, dent, pit, rare = classes = [class_named(db, project, n) for n in ("ok", "dent", "pit", "rare")]
    run = make_run(db, make_version(db, project, 1, classes, []), classes, 1, {})
    run.metrics = {
        "out_of_fold": {"n": 200, "accuracy": iv(0.9), "per_class": [
            per_class("ok", ok.id, 0.95, 120), per_class("dent", dent.id, 0.7, 40), per_class("pit", pit.id, 0.4, 36),
            per_class("rare", rare.id, 0.0, 4)]},  # too few images to call weak
        "evaluation": {"n": 20, "accuracy": iv(0.8), "per_class": [per_class("ok", ok.id, 0.1, 10)]},
        "slices": [
            {"dimension": "line", "value": "L3", "n": 60, "accuracy": iv(0.75), "source": "out_of_fold"},
            {"dimension": "line", "value": "L3", "n": 10, "accuracy": iv(0.7), "source": "evaluation"},
            {"dimension": "shift", "value": "night", "n": 80, "accuracy": iv(0.85), "source": "out_of_fold"},
            {"dimension": "line", "value": "L1", "n": 90, "accuracy": iv(0.97), "source": "out_of_fold"},
        ]}
    steps = next_steps(db, run)
    assert [(w.title, w.value) for w in steps.classes] == [("pit", 0.4), ("dent", 0.7), ("ok", 0.95)]
    assert steps.classes[0].source == "out_of_fold" and steps.classes[0].class_id == pit.id
    assert [a["kind"] for a in steps.classes[0].actions] == ["capture", "augment"]
    assert steps.classes[0].actions[0]["body"]["label_class_id"] == pit.id
    assert [(w.title, round(w.value, 3), w.source) for w in steps.slices] == [
        ("line L3", 0.15, "out_of_fold"), ("shift night", 0.05, "out_of_fold")]  # L1 is better than the whole
    assert steps.slices[0].actions[0]["body"]["slice"] == {"line": "L3"}
    assert steps.actions[0]["url"].endswith(f"/runs/{run.id}/send-to-review")
    run.metrics = {}
    empty = next_steps(db, run)
    assert not empty.classes and not empty.slices and empty.actions
