"""Comparing two runs: both scored on the same reference labels, never on images they trained on."""
from __future__ import annotations

import numpy as np
import pytest
from fastapi import FastAPI
from sqlalchemy.orm import Session

from app.core.errors import Invalid, NotFound
from app.modeling import compare
from app.modeling.models import FeatureVector
from app.training import filterbank_recipe
from tests.factories import make_duplicate_group, make_image
from tests.modeling.rows import RELABELED, two_runs


def test_both_runs_are_scored_on_the_newer_versions_settled_test_labels(db: Session, app: FastAPI) -> None:
    p = two_runs(db)
    result = compare.compare_runs(db, storage=app.state.storage, project_id=p.project.id, a_id=p.a.id, b_id=p.b.id)
    body = result.as_dict()
    assert body["reference"]["version_number"] == 2 and body["reference"]["split"] == "test"
    assert body["n"] == 28 == body["reference"]["count"]  # 30 test images less the 2 consensus labels
    assert set(result.reference.image_ids.tolist()).isdisjoint(p.consensus)
    assert body["accuracy"]["a"] == pytest.approx(22 / 28) and body["accuracy"]["b"] == 1.0
    assert body["accuracy"]["delta"]["value"] == pytest.approx(6 / 28)
    assert body["accuracy"]["delta"]["low"] > 0  # paired: every resample has b at least as right as a
    pit = next(row for row in body["per_class"] if row["name"] == "pit")
    assert pit["recall"]["a"] == pytest.approx(4 / 10) and pit["recall"]["b"] == 1.0 and pit["support"] == 10
    assert body["changed"]["fixed"] == RELABELED and body["changed"]["broken"] == 0
    assert sorted(c["image_id"] for c in body["changed"]["fixed_images"]) == p.relabeled
    assert body["changed"]["fixed_images"][0]["thumbnail_url"].endswith("/thumb")
    assert {(s["dimension"], s["value"], s["n"]) for s in body["slices"]} == {("line", "L1", 14), ("line", "L2", 14)}
    assert body["predicted_now"] == {"a": 0, "b": 0}


def test_another_reference_version_scores_both_on_its_labels(db: Session, app: FastAPI) -> None:
    p = two_runs(db)
    result = compare.compare_runs(db, storage=app.state.storage, project_id=p.project.id, a_id=p.a.id, b_id=p.b.id,
                                  reference_version_id=p.a.version_id)
    body = result.as_dict()
    assert body["reference"]["version_number"] == 1
    assert body["accuracy"]["a"] == 1.0 and body["accuracy"]["b"] == pytest.approx(22 / 28)
    assert body["changed"]["broken"] == RELABELED
    every = compare.compare_runs(db, storage=app.state.storage, project_id=p.project.id, a_id=p.a.id, b_id=p.b.id,
                                 split="all", settled_only=False)
    # all 40 items of v2, less the 10 both runs trained on
    assert every.reference.total == 40 and every.result is not None and every.result.n == 30
    assert every.reference.dropped == {"a": 10, "b": 10, "total": 10}


def test_images_a_run_trained_on_are_dropped_for_both_runs(db: Session, app: FastAPI) -> None:
    """A v2 test image that v1 trained on, an augmented copy of a v1 training image, and a near-duplicate
    twin of a v2 training image: none is scored, and the drop is reported."""
    p = two_runs(db)
    ok, pit = p.classes[0], p.classes[2]
    v1 = p.a.version_id
    trained_by_a = make_image(db, p.project)
    source = make_image(db, p.project)
    copy = make_image(db, p.project, augmented_from_id=source.id)
    twin_trained, twin = make_image(db, p.project), make_image(db, p.project)
    make_duplicate_group(db, [twin_trained, twin])
    from app.datasets.models import DatasetItem

    db.add_all([DatasetItem(version_id=v1, image_id=trained_by_a.id, label_class_id=ok.id, split="train",
                            source="review", boxes=[]),
                DatasetItem(version_id=v1, image_id=source.id, label_class_id=pit.id, split="train",
                            source="review", boxes=[])])
    for image in (trained_by_a, copy, twin):
        db.add(DatasetItem(version_id=p.b.version_id, image_id=image.id, label_class_id=ok.id, split="test",
                           source="review", boxes=[]))
    db.add(DatasetItem(version_id=p.b.version_id, image_id=twin_trained.id, label_class_id=ok.id, split="train",
                       source="review", boxes=[]))
    db.flush()
    result = compare.compare_runs(db, storage=app.state.storage, project_id=p.project.id, a_id=p.a.id, b_id=p.b.id)
    assert result.reference.dropped == {"a": 2, "b": 1, "total": 3}
    assert result.reference.total == 31
    assert result.result is not None and result.result.n == 28
    assert {trained_by_a.id, copy.id, twin.id}.isdisjoint(result.reference.image_ids.tolist())


def test_a_reference_image_without_a_stored_prediction_is_predicted_by_the_runs_model(db: Session,
                                                                                      app: FastAPI) -> None:
    p = two_runs(db)
    storage = app.state.storage
    recipe = filterbank_recipe.recipe()
    identity = recipe.identity
    rng = np.random.default_rng(3)
    x = rng.normal(size=(30, recipe.dimension)).astype(np.float32)
    model = recipe.fit(x, np.arange(30) % 3, n_classes=3, seed=0)
    key = f"models/{p.project.id}/run-{p.b.id}.bin"
    storage.put_bytes(key, model.to_bytes())
    p.b.artifact_key, p.b.recipe_identity = key, identity.as_dict()
    extra = [make_image(db, p.project) for _ in range(3)]
    from app.datasets.models import DatasetItem

    for image, row in zip(extra, x[:3], strict=True):
        db.add(DatasetItem(version_id=p.b.version_id, image_id=image.id, label_class_id=p.classes[0].id,
                           split="test", source="review", boxes=[]))
        db.add(FeatureVector(feature_key=identity.feature_key, sha256=image.sha256, dims=row.size,
                             vector=row.astype("<f4").tobytes()))
    db.flush()
    # run a has no model: its missing predictions cannot be made, and that says so
    with pytest.raises(Exception, match="model"):
        compare.compare_runs(db, storage=storage, project_id=p.project.id, a_id=p.a.id, b_id=p.b.id)
    p.a.artifact_key, p.a.recipe_identity = key, identity.as_dict()
    db.flush()
    result = compare.compare_runs(db, storage=storage, project_id=p.project.id, a_id=p.a.id, b_id=p.b.id)
    assert result.predicted_now == {"a": 3, "b": 3} and result.result is not None and result.result.n == 31
    proba = compare.ref.probabilities(db, storage=storage, run=p.a, image_ids=np.array([im.id for im in extra]),
                                      class_ids=[c.id for c in p.classes])
    assert proba.predicted_now == 3
    np.testing.assert_allclose(proba.proba, model.predict_proba(x[:3].astype(np.float64)))


def test_bad_requests_are_refused(db: Session, app: FastAPI) -> None:
    p = two_runs(db)
    storage = app.state.storage
    with pytest.raises(Invalid):
        compare.compare_runs(db, storage=storage, project_id=p.project.id, a_id=p.a.id, b_id=p.a.id)
    with pytest.raises(NotFound):
        compare.compare_runs(db, storage=storage, project_id=p.project.id + 1000, a_id=p.a.id, b_id=p.b.id)
    with pytest.raises(NotFound):
        compare.compare_runs(db, storage=storage, project_id=p.project.id, a_id=p.a.id, b_id=p.b.id,
                             reference_version_id=10**9)
    with pytest.raises(Invalid):
        compare.compare_runs(db, storage=storage, project_id=p.project.id, a_id=p.a.id, b_id=p.b.id, split="val")
    p.b.state = "running"
    with pytest.raises(Invalid, match="not done"):
        compare.compare_runs(db, storage=storage, project_id=p.project.id, a_id=p.a.id, b_id=p.b.id)
