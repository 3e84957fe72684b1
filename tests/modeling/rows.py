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
from tests.factories import class_named, make_image, make_project


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


RELABELED = 6


@dataclass
class Pair:
    project: Project
    classes: list[LabelClass]
    a: ModelRun
    b: ModelRun
    relabeled: list[int]  # test images whose label v2 corrected (run a follows v1's wrong label)
    consensus: list[int]  # test images whose label no person settled
    a_labels: dict[int, int]  # test image id -> its class id in version 1
    images: dict[int, Image]


def two_runs(db: Session) -> Pair:
    """30 test and 10 training images; v2 corrects 6 pit labels v1 had as scratch. Run a (on v1) predicts
    v1's labels, run b (on v2) predicts v2's: against v2, a is wrong exactly on the corrected images."""
    project = make_project(db, classes=("ok", "scratch", "pit"))
    ok, scratch, pit = classes = [class_named(db, project, n) for n in ("ok", "scratch", "pit")]
    truth = [ok] * 14 + [pit] * 10 + [scratch] * 6
    test = [make_image(db, project, meta={"line": f"L{i % 2 + 1}"}) for i in range(30)]
    train = [make_image(db, project, meta={"line": "L1"}) for _ in range(10)]
    consensus = {test[0].id, test[29].id}  # an ok and a scratch image: a machine's label, not a person's
    v1_label = {im.id: (scratch if 14 <= i < 14 + RELABELED else truth[i]) for i, im in enumerate(test)}
    items = lambda labels: [  # noqa: E731
        Item(im, labels[im.id], "test", "consensus" if im.id in consensus else "review") for im in test
    ] + [Item(im, ok, "train") for im in train]
    v1 = make_version(db, project, 1, classes, items(v1_label))
    v2 = make_version(db, project, 2, classes, items({im.id: truth[i] for i, im in enumerate(test)}))
    a = make_run(db, v1, classes, 1, {im.id: (v1_label[im.id], False) for im in test}
                 | {im.id: (ok, True) for im in train})
    b = make_run(db, v2, classes, 2, {im.id: (truth[i], False) for i, im in enumerate(test)}
                 | {im.id: (ok, True) for im in train})
    return Pair(project, classes, a, b, [im.id for im in test[14:14 + RELABELED]], sorted(consensus),
                {i: c.id for i, c in v1_label.items()}, {im.id: im for im in test + train})
