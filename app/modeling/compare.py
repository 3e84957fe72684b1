"""Two runs of a project scored on the same reference labels: every metric, its change and a paired
bootstrap interval (app.training.metrics.compare), per class and per slice, and the images whose
prediction changed. See app.modeling.reference for the reference and the leak guard.

Classes: the union, in order, of run a's classes, run b's and the reference labels' (a run gives 0 to a
class its head does not know). Slices: each metadata key (and the upload batch) with at most
MAX_VALUES values, each value with at least MIN_SLICE reference images.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.core.errors import Invalid
from app.core.storage import Storage
from app.datasets.models import DatasetVersion
from app.images.models import Image, UploadBatch
from app.modeling import reference as ref
from app.modeling import service
from app.modeling.evaluation import interval_json
from app.modeling.models import ModelRun, RunState
from app.projects.models import LabelClass
from app.training import metrics

MIN_SLICE = 10
MAX_VALUES = 12
N_BOOT = 1000
SLICE_BOOT = 500
CHANGED_LIMIT = 200  # fixed and broken images listed each
BATCH_DIMENSION = "batch"


@dataclass
class Changed:
    image_id: int
    file_name: str
    label: str
    predicted_a: str
    predicted_b: str
    thumbnail_url: str


@dataclass
class Comparison:
    project_id: int
    a: dict[str, Any]
    b: dict[str, Any]
    reference: ref.Reference
    classes: list[dict[str, Any]]
    result: metrics.Comparison | None  # None when no reference image is left
    predicted_now: dict[str, int]
    slices: list[dict[str, Any]] = field(default_factory=list)
    fixed: list[Changed] = field(default_factory=list)
    broken: list[Changed] = field(default_factory=list)
    n_fixed: int = 0
    n_broken: int = 0

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"a": self.a, "b": self.b, "reference": self.reference.as_dict(),
                               "n": self.result.n if self.result else 0, "classes": self.classes,
                               "predicted_now": self.predicted_now}
        out.update(comparison_json(self.result, self.classes))
        out["slices"] = self.slices
        out["changed"] = {"fixed": self.n_fixed, "broken": self.n_broken,
                          "fixed_images": [vars(c) for c in self.fixed],
                          "broken_images": [vars(c) for c in self.broken]}
        return out


def delta_json(d: metrics.Delta) -> dict[str, Any]:
    return {"a": _value(d.a), "b": _value(d.b), "delta": interval_json(d.delta)}


def _value(x: float) -> float | None:
    return None if math.isnan(x) else float(x)


def comparison_json(result: metrics.Comparison | None, classes: list[dict[str, Any]]) -> dict[str, Any]:
    if result is None:
        return {"accuracy": None, "macro_f1": None, "per_class": []}
    return {"accuracy": delta_json(result.accuracy), "macro_f1": delta_json(result.macro_f1),
            "per_class": [{"class_id": c["id"], "name": c["name"], "support": d.support,
                           "precision": delta_json(d.precision), "recall": delta_json(d.recall),
                           "f1": delta_json(d.f1)} for c, d in zip(classes, result.per_class, strict=True)]}


def run_summary(run: ModelRun, version: DatasetVersion) -> dict[str, Any]:
    return {"id": run.id, "number": run.number, "recipe": run.recipe, "seed": run.seed, "version_id": version.id,
            "version_number": version.number, "version_name": version.name}


def usable_run(db: Session, project_id: int, run_id: int) -> ModelRun:
    """The project's run (NotFound otherwise), finished (Invalid otherwise): only it has predictions."""
    run = service.get_run(db, project_id, run_id)
    if run.state != RunState.done:
        raise Invalid(f"run {run.number} is {run.state}, not done: only a finished run has predictions to "
                      "compare or analyse", field="run")
    return run


def compare_runs(db: Session, *, storage: Storage, project_id: int, a_id: int, b_id: int,
                 reference_version_id: int | None = None, split: str = "test", settled_only: bool = True,
                 seed: int = 0) -> Comparison:
    """Score runs a and b on one reference (default: the newer run's version's test split, settled labels).

    Raises NotFound for a run or version outside the project, Invalid for a run that is not done, the
    same run twice, or a bad split. Reads only: nothing is written.
    """
    if a_id == b_id:
        raise Invalid("choose two different runs to compare", field="b")
    a, b = usable_run(db, project_id, a_id), usable_run(db, project_id, b_id)
    version = ref.reference_version(db, project_id=project_id, a=a, b=b, version_id=reference_version_id)
    reference = ref.build(db, version=version, scope=split, settled_only=settled_only, a=a, b=b)
    versions = {v.id: v for v in db.scalars(select(DatasetVersion).where(
        DatasetVersion.id.in_({a.version_id, b.version_id})))}
    classes = _classes(db, a, b, reference.label_ids)
    class_ids = [c["id"] for c in classes]
    out = Comparison(project_id, run_summary(a, versions[a.version_id]), run_summary(b, versions[b.version_id]),
                     reference, classes, None, {"a": 0, "b": 0})
    if reference.image_ids.size == 0:
        return out
    pa = ref.probabilities(db, storage=storage, run=a, image_ids=reference.image_ids, class_ids=class_ids)
    pb = ref.probabilities(db, storage=storage, run=b, image_ids=reference.image_ids, class_ids=class_ids)
    out.predicted_now = {"a": pa.predicted_now, "b": pb.predicted_now}
    y = np.array([class_ids.index(int(c)) for c in reference.label_ids], dtype=np.int64)
    k = len(class_ids)
    out.result = metrics.compare(y, pa.proba, pb.proba, n_classes=k, n_boot=N_BOOT, seed=seed)
    images = _images(db, reference.image_ids)
    for dimension, value, rows in slice_rows(db, images):
        part = metrics.compare(y[rows], pa.proba[rows], pb.proba[rows], n_classes=k, n_boot=SLICE_BOOT, seed=seed)
        out.slices.append({"dimension": dimension, "value": value, "n": int(rows.size),
                           "accuracy": delta_json(part.accuracy), "macro_f1": delta_json(part.macro_f1)})
    out.slices.sort(key=lambda s: (s["accuracy"]["delta"]["value"] or 0.0, s["dimension"], s["value"]))
    _changed(out, images, y, pa.proba.argmax(axis=1), pb.proba.argmax(axis=1))
    return out


def _classes(db: Session, a: ModelRun, b: ModelRun, label_ids: np.ndarray) -> list[dict[str, Any]]:
    order: dict[int, str] = {}
    for c in [*a.classes, *b.classes]:
        order.setdefault(int(c["id"]), str(c["name"]))
    missing = sorted({int(c) for c in label_ids} - set(order))
    if missing:
        names = {i: n for i, n in db.execute(select(LabelClass.id, LabelClass.name).where(LabelClass.id.in_(missing)))}
        for cid in missing:
            order[cid] = names.get(cid, f"class {cid}")
    return [{"id": cid, "name": name} for cid, name in order.items()]


def _images(db: Session, image_ids: np.ndarray) -> list[tuple[Image, str | None]]:
    """The reference's images in `image_ids` order, each with its upload batch's name."""
    rows = {}
    ids = [int(i) for i in image_ids]
    for start in range(0, len(ids), 1000):
        chunk = ids[start:start + 1000]
        for image, batch in db.execute(select(Image, UploadBatch.name).outerjoin(
                UploadBatch, UploadBatch.id == Image.batch_id).where(Image.id.in_(chunk))):
            rows[image.id] = (image, batch)
    return [rows[i] for i in ids]


def slice_rows(db: Session, images: list[tuple[Image, str | None]]) -> list[tuple[str, str, np.ndarray]]:
    """(dimension, value, row indices) of each slice with at least MIN_SLICE images."""
    values: dict[str, list[str | None]] = {}
    for row, (image, batch) in enumerate(images):
        meta = {str(k): v for k, v in (image.meta or {}).items() if not str(k).startswith("_")}
        meta.setdefault(BATCH_DIMENSION, batch)
        for key, value in meta.items():
            plain = value is not None and not isinstance(value, dict | list)
            values.setdefault(key, [None] * len(images))[row] = str(value) if plain else None
    out = []
    for dimension in sorted(values):
        column = np.array(values[dimension], dtype=object)
        distinct = sorted({v for v in values[dimension] if v is not None})
        if len(distinct) > MAX_VALUES:
            continue
        for value in distinct:
            rows = np.flatnonzero(column == value)
            if rows.size >= MIN_SLICE:
                out.append((dimension, value, rows))
    return out


def _changed(out: Comparison, images: list[tuple[Image, str | None]], y: np.ndarray, pred_a: np.ndarray,
             pred_b: np.ndarray) -> None:
    names = [c["name"] for c in out.classes]

    def item(r: int) -> Changed:
        image = images[r][0]
        return Changed(image.id, image.file_name, names[y[r]], names[pred_a[r]], names[pred_b[r]],
                       f"/projects/{out.project_id}/images/{image.id}/thumb")

    fixed = np.flatnonzero((pred_a != y) & (pred_b == y))
    broken = np.flatnonzero((pred_a == y) & (pred_b != y))
    out.n_fixed, out.n_broken = int(fixed.size), int(broken.size)
    out.fixed = [item(int(r)) for r in fixed[:CHANGED_LIMIT]]
    out.broken = [item(int(r)) for r in broken[:CHANGED_LIMIT]]
