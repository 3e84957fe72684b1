"""Hand-made versions and runs for the comparison tests: exact labels, splits and probabilities.

The training path writes the same rows (see app.modeling.service); these tests need to say exactly
which image each run trained on and what it predicted, so they write them directly.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np
from sqlalchemy.orm import Session

from app.datasets.models import DatasetItem, DatasetVersion
from app.images.models import Image
from app.modeling.models import ModelRun, RunPrediction, RunState
from app.projects.models import LabelClass, Project


@dataclass(frozen=True)
class Item:
    image: Image
    label: LabelClass
    split: str = "test"
    source: str = "review"


def make_version(db: Session, project: Project, number: int, classes: list[LabelClass],
                 items: list[Item]) -> DatasetVersion:
    per_class = Counter(item.label.name for item in items)
    version = DatasetVersion(
        project_id=project.id, number=number, name=f"v{number}", content_hash=f"{number:064x}",
        counts={"classes": {name: {"images": n} for name, n in per_class.items()}},
        datasheet={"classes": [{"id": c.id, "name": c.name} for c in classes]})
    db.add(version)
    db.flush()
    for item in items:
        db.add(DatasetItem(version_id=version.id, image_id=item.image.id, label_class_id=item.label.id, boxes=[],
                           split=item.split, source=item.source))
    db.flush()
    return version


def make_run(db: Session, version: DatasetVersion, classes: list[LabelClass], number: int,
             predictions: dict[int, tuple[LabelClass, bool]], *, confidence: float = 0.9,
             **columns: object) -> ModelRun:
    """A finished run; `predictions` maps image id -> (predicted class, out_of_fold)."""
    run = ModelRun(project_id=version.project_id, number=number, version_id=version.id, recipe="filterbank",
                   state=RunState.done, classes=[{"id": c.id, "name": c.name} for c in classes], metrics={},
                   **columns)
    db.add(run)
    db.flush()
    k = len(classes)
    for image_id, (predicted, oof) in predictions.items():
        probs = np.full(k, (1 - confidence) / (k - 1))
        probs[classes.index(predicted)] = confidence
        db.add(RunPrediction(run_id=run.id, image_id=image_id, split="train" if oof else "test", out_of_fold=oof,
                             fold=0 if oof else None, label_class_id=None, predicted_class_id=predicted.id,
                             confidence=confidence, probabilities=[float(p) for p in probs]))
    db.flush()
    return run
