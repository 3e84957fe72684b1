"""Targeted augmentation: linked copies through storage, with moved boxes and the source's label."""
from __future__ import annotations

import io
from collections.abc import Callable

import numpy as np
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from PIL import Image as PILImage
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.analysis import service
from app.auth.models import Role, User
from app.core.errors import Invalid
from app.images import service as images_service
from app.images.models import Image
from app.review.models import FinalLabel
from tests.factories import class_named, make_member, make_project


def textured_png(seed: int) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 255, (96, 128, 3), dtype=np.uint8)
    out = io.BytesIO()
    PILImage.fromarray(pixels).save(out, format="PNG")
    return out.getvalue()


def labeled_images(db: Session, app: FastAPI, n: int = 2):
    project = make_project(db, classes=("ok", "dent"))
    dent = class_named(db, project, "dent")
    sources = []
    for k in range(n):
        stored = images_service.store_image_bytes(db, storage=app.state.storage, settings=app.state.settings,
                                                  project=project, data=textured_png(k), file_name=f"part{k}.png",
                                                  meta={"line": "L1"})
        image = stored.image
        image.split = "train"
        db.add(FinalLabel(image_id=image.id, label_class_id=dent.id, source="review",
                          boxes=[{"x": 10.0, "y": 20.0, "w": 30.0, "h": 25.0, "class_id": dent.id}]))
        sources.append(image)
    db.flush()
    return project, dent, sources


def test_copies_are_linked_stored_and_labeled(db: Session, app: FastAPI) -> None:
    project, dent, sources = labeled_images(db, app)
    result = service.augment_class(db, storage=app.state.storage, settings=app.state.settings, project=project,
                                   class_name="dent", per_image=3, seed=5)
    assert (result.sources, result.created, result.existing) == (2, 6, 0)
    copies = db.scalars(select(Image).where(Image.augmented_from_id.is_not(None),
                                            Image.project_id == project.id)).all()
    assert len(copies) == 6 and {c.augmented_from_id for c in copies} == {s.id for s in sources}
    for copy in copies:
        assert copy.labels_wanted == 0 and copy.split == "train" and copy.batch_id == result.batch_id
        assert copy.augmentation["source_image_id"] == copy.augmented_from_id and "recipe" in copy.augmentation
        assert app.state.storage.exists(copy.storage_key) and app.state.storage.exists(copy.thumbnail_key)
        final = db.scalar(select(FinalLabel).where(FinalLabel.image_id == copy.id))
        assert final.label_class_id == dent.id and len(final.boxes) == 1
        box = final.boxes[0]
        assert box["x"] >= 0 and box["x"] + box["w"] <= 128 and box["y"] >= 0 and box["y"] + box["h"] <= 96
    again = service.augment_class(db, storage=app.state.storage, settings=app.state.settings, project=project,
                                  class_name="dent", per_image=3, seed=5)
    assert (again.created, again.existing) == (0, 6)  # same seed, same bytes: nothing new (safe to retry)
    # augmented copies stay out of the analysis itself
    assert service.find_issues(db, project_id=project.id).n_scored == 0


def test_refusals(db: Session, app: FastAPI) -> None:
    project, _, _ = labeled_images(db, app, n=1)
    kwargs = {"storage": app.state.storage, "settings": app.state.settings, "project": project}
    with pytest.raises(Invalid, match="no active class"):
        service.augment_class(db, class_name="pit", per_image=1, **kwargs)
    with pytest.raises(Invalid, match="no image has a final label"):
        service.augment_class(db, class_name="ok", per_image=1, **kwargs)
    with pytest.raises(Invalid, match="per_image"):
        service.augment_class(db, class_name="dent", per_image=0, **kwargs)


def test_api_and_form(db: Session, app: FastAPI, client_for: Callable[[User], TestClient]) -> None:
    project, _, _ = labeled_images(db, app, n=1)
    admin = client_for(make_member(db, project, Role.admin, password=None))
    reviewer = client_for(make_member(db, project, Role.reviewer, password=None))
    url = f"/api/v1/projects/{project.id}/augment"
    assert reviewer.post(url, json={"class": "dent", "per_image": 1}).status_code == 403
    assert admin.post(url, json={"class": "dent", "per_image": 99}).status_code == 422
    made = admin.post(url, json={"class": "dent", "per_image": 2, "seed": 1})
    assert made.status_code == 201 and made.json()["created"] == 2
    form = admin.post(f"/projects/{project.id}/analysis/augment",
                      data={"class_name": "dent", "per_image": "1", "seed": "9"}, follow_redirects=False)
    assert form.status_code == 303 and "Augmented" in admin.get(form.headers["location"]).text  # the flash
