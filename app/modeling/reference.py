"""The reference two runs are scored on, the leak guard, and each run's probabilities for it.

Reference: the items of one frozen version (its `test` split, or all of it) whose label a person
settled (DatasetItem.source in SETTLED). A run is never scored on an image it trained on: an image
leaks into a run when the run's version holds it (or an augmented copy of it, or its source, or a
near-duplicate twin) in `train` or `val` with a label. Leaky images are dropped for both runs, so
both are scored on the same images and labels.

A run's probability for a reference image is its stored prediction by the final model (out_of_fold
False); for an image it has none for, the run's fitted model predicts it from the cached features
(extracted from the image's bytes when the cache lacks them; nothing is written).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import Select, or_, select
from sqlalchemy.orm import Session, aliased

from app.core.errors import Invalid, NotFound
from app.core.storage import Storage
from app.datasets.models import DatasetItem, DatasetVersion
from app.images.models import Image
from app.modeling import features, service
from app.modeling.models import ModelRun, RunPrediction

SETTLED = ("gold", "review", "unanimous")
SCOPES = ("test", "all")
TRAINED_SPLITS = ("train", "val")


@dataclass
class Reference:
    version: DatasetVersion
    scope: str  # "test": the version's test split; "all": every item
    settled_only: bool
    image_ids: np.ndarray  # (n,) after the leak guard, ascending
    label_ids: np.ndarray  # (n,) label class id of each
    total: int  # reference items before the leak guard
    dropped: dict[str, int]  # leaked into run "a", run "b", and "total" dropped

    def describe(self) -> str:
        what = "test split" if self.scope == "test" else "items"
        settled = " whose label a person settled" if self.settled_only else ""
        return f"version {self.version.number} ({self.version.name}): {what}{settled}"

    def as_dict(self) -> dict[str, Any]:
        return {"version_id": self.version.id, "version_number": self.version.number,
                "version_name": self.version.name, "split": self.scope, "settled_only": self.settled_only,
                "count": int(self.image_ids.size), "total": self.total, "dropped": dict(self.dropped),
                "description": self.describe()}


def newer(a: ModelRun, b: ModelRun, versions: dict[int, DatasetVersion]) -> ModelRun:
    """The run on the newer version (ties: the later run)."""
    key = lambda r: (versions[r.version_id].number, r.number)  # noqa: E731
    return a if key(a) > key(b) else b


def reference_version(db: Session, *, project_id: int, a: ModelRun, b: ModelRun,
                      version_id: int | None) -> DatasetVersion:
    if version_id is None:
        versions = {v.id: v for v in db.scalars(select(DatasetVersion).where(
            DatasetVersion.id.in_({a.version_id, b.version_id})))}
        return versions[newer(a, b, versions).version_id]
    version = db.get(DatasetVersion, version_id)
    if version is None or version.project_id != project_id:
        raise NotFound(f"no dataset version {version_id} in this project")
    return version


def _items(version_id: int, scope: str, settled_only: bool) -> Select[int, int | None]:
    query = select(DatasetItem.image_id, DatasetItem.label_class_id).where(
        DatasetItem.version_id == version_id, DatasetItem.label_class_id.is_not(None))
    if scope == "test":
        query = query.where(DatasetItem.split == "test")
    if settled_only:
        query = query.where(DatasetItem.source.in_(SETTLED))
    return query


def leaked(db: Session, run: ModelRun, candidates: Select[Any]) -> set[int]:
    """The images among `candidates` (a select of image ids) that `run` trained on, directly or through
    an augmented copy, its source or a near-duplicate twin."""
    trained = select(DatasetItem.image_id).where(
        DatasetItem.version_id == run.version_id, DatasetItem.split.in_(TRAINED_SPLITS),
        DatasetItem.label_class_id.is_not(None))
    twin = aliased(Image)
    sources = select(twin.augmented_from_id).where(twin.id.in_(trained), twin.augmented_from_id.is_not(None))
    groups = select(twin.duplicate_group_id).where(twin.id.in_(trained), twin.duplicate_group_id.is_not(None))
    query = select(Image.id).where(Image.id.in_(candidates), or_(
        Image.id.in_(trained), Image.augmented_from_id.in_(trained), Image.id.in_(sources),
        Image.duplicate_group_id.in_(groups)))
    return set(db.scalars(query))


def build(db: Session, *, version: DatasetVersion, scope: str, settled_only: bool, a: ModelRun,
          b: ModelRun) -> Reference:
    if scope not in SCOPES:
        raise Invalid(f"the reference split is one of {', '.join(SCOPES)}", field="split")
    query = _items(version.id, scope, settled_only)
    rows = sorted((int(i), int(c or 0)) for i, c in db.execute(query))  # the query keeps labeled items only
    ids = select(query.subquery().c.image_id)
    leak_a, leak_b = leaked(db, a, ids), leaked(db, b, ids)
    keep = [(i, c) for i, c in rows if i not in leak_a and i not in leak_b]
    return Reference(
        version=version, scope=scope, settled_only=settled_only,
        image_ids=np.array([i for i, _ in keep], dtype=np.int64),
        label_ids=np.array([c for _, c in keep], dtype=np.int64), total=len(rows),
        dropped={"a": len(leak_a), "b": len(leak_b), "total": len(rows) - len(keep)})


@dataclass
class RunProbabilities:
    proba: np.ndarray  # (n, len(class_ids)) in the comparison's class order
    predicted_now: int  # images the run had no stored prediction for, predicted by its model here


def probabilities(db: Session, *, storage: Storage, run: ModelRun, image_ids: np.ndarray,
                  class_ids: list[int]) -> RunProbabilities:
    """The run's probabilities for `image_ids`, mapped onto `class_ids` (classes the run's head does
    not know get 0). Only predictions that never saw the image are used (the caller dropped leaks)."""
    columns = np.array([class_ids.index(int(c["id"])) for c in run.classes], dtype=np.int64)
    out = np.zeros((image_ids.size, len(class_ids)))
    row = {int(i): r for r, i in enumerate(image_ids)}
    stored = db.execute(select(RunPrediction.image_id, RunPrediction.probabilities).where(
        RunPrediction.run_id == run.id, RunPrediction.out_of_fold.is_(False)))
    found = np.zeros(image_ids.size, dtype=bool)
    for image_id, probs in stored:
        if image_id in row:
            out[row[image_id], columns] = probs
            found[row[image_id]] = True
    missing = np.flatnonzero(~found)
    if missing.size:
        out[np.ix_(missing, columns)] = _predict(db, storage, run, [int(image_ids[m]) for m in missing])
    return RunProbabilities(proba=out, predicted_now=int(missing.size))


def _predict(db: Session, storage: Storage, run: ModelRun, image_ids: list[int]) -> np.ndarray:
    recipe, model = service.load_model(storage, run)
    images = {i: (sha, key) for i, sha, key in db.execute(
        select(Image.id, Image.sha256, Image.storage_key).where(Image.id.in_(image_ids)))}
    known = features.cached(db, recipe.identity.feature_key, [sha for sha, _ in images.values()])
    rows = []
    for image_id in image_ids:
        sha, storage_key = images[image_id]
        if sha not in known:
            with storage.open(storage_key) as handle:
                known[sha] = recipe.extract(handle.read())
        rows.append(known[sha])
    return model.predict_proba(np.stack(rows).astype(np.float64))
