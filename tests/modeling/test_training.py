"""The training job on a small stored project: predictions, metrics and model stored; test images never
trained on; same seed, same bytes; a retrain after a relabel reads its features from the cache."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.core.errors import Invalid
from app.images import service as images_service
from app.jobs.models import Job, JobState
from app.modeling import service
from app.modeling.models import FeatureVector, ModelRun, RunPrediction, RunState
from app.training.recipe import get_recipe
from tests.factories import make_final_label
from tests.modeling.conftest import run_jobs
from tests.modeling.scene import Scene, build, freeze, part_png, relabel


def trained(db: Session, app: FastAPI, scene: Scene, version_id: int, **options: Any) -> ModelRun:
    run = service.start_run(db, project_id=scene.project.id, version_id=version_id, user=scene.admin, **options)
    assert run_jobs(db, app) == 1
    db.refresh(run)
    return run


def predictions(db: Session, run: ModelRun) -> list[RunPrediction]:
    return list(service.prediction_rows(db, run))


def feature_rows(db: Session) -> int:
    key = get_recipe().identity.feature_key
    return db.scalar(select(func.count()).select_from(FeatureVector).where(FeatureVector.feature_key == key)) or 0


def test_the_job_trains_and_stores_predictions_metrics_and_the_model(db: Session, app: FastAPI,
                                                                     scene: Scene) -> None:
    version = freeze(db, scene)
    run = trained(db, app, scene, version.id)
    job = db.get_one(Job, run.job_id)
    assert (run.state, run.error, job.state) == (RunState.done, "", JobState.done), job.message
    assert job.result is not None and job.result["run_id"] == run.id and job.progress == 1.0
    assert run.classes == [{"id": scene.classes[c].id, "name": c} for c in ("ok", "scratch")]
    rows = predictions(db, run)
    by_split = {s: [r for r in rows if r.split == s] for s in ("train", "val", "test")}
    assert len(rows) == len(scene.images) == run.train_count + run.eval_count
    assert len(by_split["test"]) == run.eval_count > 0
    training = by_split["train"] + by_split["val"]
    assert all(r.out_of_fold and r.fold is not None for r in training)
    assert all(not r.out_of_fold and r.fold is None for r in by_split["test"])
    assert {r.fold for r in training} == set(range(run.folds))
    assert [r.image_id for r in rows] == sorted(r.image_id for r in rows)
    for r in rows:
        assert r.label_class_id == scene.classes[scene.truth[r.image_id]].id
        assert len(r.probabilities) == 2 and sum(r.probabilities) == pytest.approx(1.0)
        assert r.confidence == max(r.probabilities)
        assert r.predicted_class_id == run.classes[int(np.argmax(r.probabilities))]["id"]
    metrics = run.metrics
    assert metrics["reference"] == {"version_id": version.id, "split": "test", "settled_only": False,
                                    "count": run.eval_count}
    assert metrics["evaluation"]["n"] == run.eval_count and metrics["out_of_fold"]["n"] == run.train_count
    correct = sum(r.predicted_class_id == r.label_class_id for r in by_split["test"])
    assert metrics["evaluation"]["accuracy"]["value"] == pytest.approx(correct / run.eval_count)
    assert np.sum(metrics["evaluation"]["confusion"]) == run.eval_count
    assert {s["dimension"] for s in metrics["slices"]} == {"line"}  # "camera" has one value: no contrast
    assert all(s["n"] >= 10 and s["source"] == "out_of_fold" for s in metrics["slices"])  # test split: 6 images
    assert metrics["out_of_fold"]["accuracy"]["value"] >= 0.8  # scratches are plain to see
    assert run.artifact_key == f"models/{scene.project.id}/run-{run.id}.bin"
    recipe, model = service.load_model(app.state.storage, run)
    test_images = {i.id: i for i in scene.images}
    for r in by_split["test"]:
        with app.state.storage.open(test_images[r.image_id].storage_key) as handle:
            again = model.predict_proba(recipe.extract(handle.read())[None])[0]
        assert again.tolist() == pytest.approx(r.probabilities, rel=1e-9)  # one row vs a batch: last bits


def test_test_images_never_enter_training(db: Session, app: FastAPI, scene: Scene) -> None:
    version = freeze(db, scene)
    run = trained(db, app, scene, version.id)
    rows = predictions(db, run)
    trained_ids = {r.image_id for r in rows if r.out_of_fold}
    evaluated_ids = {r.image_id for r in rows if not r.out_of_fold}
    assert evaluated_ids and trained_ids and trained_ids.isdisjoint(evaluated_ids)
    assert run.train_count == len(trained_ids) and run.eval_count == len(evaluated_ids)


def test_the_same_version_recipe_and_seed_give_identical_probabilities(db: Session, app: FastAPI,
                                                                       scene: Scene) -> None:
    version = freeze(db, scene)
    first = trained(db, app, scene, version.id, seed=7)
    second = trained(db, app, scene, version.id, seed=7)
    other = trained(db, app, scene, version.id, seed=8)
    assert (first.number, second.number, other.number) == (1, 2, 3)
    a, b, c = (predictions(db, r) for r in (first, second, other))
    assert [(r.image_id, r.fold, r.probabilities) for r in a] == [(r.image_id, r.fold, r.probabilities) for r in b]
    assert first.metrics == second.metrics
    assert [r.fold for r in a] != [r.fold for r in c]  # the seed shuffles the folds
    with app.state.storage.open(first.artifact_key) as x, app.state.storage.open(second.artifact_key) as y:
        assert x.read() == y.read()


def test_a_retrain_after_a_relabel_extracts_only_new_content(db: Session, app: FastAPI, scene: Scene) -> None:
    before = feature_rows(db)
    first = trained(db, app, scene, freeze(db, scene).id)
    assert db.get_one(Job, first.job_id).result["extracted"] == len(scene.images)  # type: ignore[index]
    assert feature_rows(db) == before + len(scene.images)
    relabel(db, scene, scene.images[0], "scratch")
    second = trained(db, app, scene, freeze(db, scene, "v2").id)
    assert second.state == RunState.done
    assert db.get_one(Job, second.job_id).result["extracted"] == 0  # type: ignore[index]
    assert feature_rows(db) == before + len(scene.images)
    relabelled = next(r for r in predictions(db, second) if r.image_id == scene.images[0].id)
    assert relabelled.label_class_id == scene.classes["scratch"].id
    add_image(db, app, scene)
    third = trained(db, app, scene, freeze(db, scene, "v3").id)
    assert db.get_one(Job, third.job_id).result["extracted"] == 1  # type: ignore[index]


def add_image(db: Session, app: FastAPI, scene: Scene) -> None:
    """One more decided image in the scene's project, with bytes no run has seen."""
    stored = images_service.store_image_bytes(db, storage=app.state.storage, settings=app.state.settings,
                                              project=scene.project, data=part_png(123_456, "scratch"),
                                              file_name="new.png", meta={"line": "L1"})
    assert stored.image is not None, stored.reason
    make_final_label(db, stored.image, scene.classes["scratch"], source="review")


@pytest.mark.parametrize(("damage", "reason"), [
    ("garbage", "not a decodable image"),
    ("missing", "its file is missing from storage"),
])
def test_an_unreadable_image_fails_the_run_with_a_readable_message(db: Session, app: FastAPI, scene: Scene,
                                                                   damage: str, reason: str) -> None:
    version = freeze(db, scene)
    run = service.start_run(db, project_id=scene.project.id, version_id=version.id, user=scene.admin)
    broken = scene.images[3]
    broken.storage_key = f"test/broken-{broken.id}-{damage}.png"  # the scene's own file stays for other tests
    if damage == "garbage":
        app.state.storage.put_bytes(broken.storage_key, b"not an image at all")
    db.flush()
    assert run_jobs(db, app) == 1
    db.refresh(run)
    assert run.state == RunState.failed and run.error.startswith(f"image {broken.file_name}: ")
    assert reason in run.error
    assert predictions(db, run) == [] and run.metrics == {} and run.artifact_key is None
    assert db.get_one(Job, run.job_id).state == JobState.done  # the job did its work: the run says why it failed


def test_a_run_trained_again_replaces_its_predictions(db: Session, app: FastAPI, scene: Scene) -> None:
    """A job whose worker died is run again from the start: the run ends as if trained once."""
    run = trained(db, app, scene, freeze(db, scene).id)
    first = [(r.image_id, r.probabilities) for r in predictions(db, run)]
    run.state = RunState.running
    result = service.train_run(db, storage=app.state.storage, run_id=run.id)
    assert result["state"] == RunState.done and result["extracted"] == 0
    assert [(r.image_id, r.probabilities) for r in predictions(db, run)] == first
    assert service.train_run(db, storage=app.state.storage, run_id=run.id)["state"] == RunState.done  # no-op


def test_a_run_whose_job_failed_outright_reads_as_failed(db: Session, app: FastAPI, scene: Scene) -> None:
    run = service.start_run(db, project_id=scene.project.id, version_id=freeze(db, scene).id, user=scene.admin)
    job = db.get_one(Job, run.job_id)
    assert service.effective_state(run, job) == (RunState.queued, "")
    job.state, job.message = JobState.failed, "OSError: the disk is on fire"
    assert service.effective_state(run, job) == (RunState.failed, "OSError: the disk is on fire")
    run.state, run.error = RunState.failed, "image a.png: not a decodable image"
    assert service.effective_state(run, job) == (RunState.failed, "image a.png: not a decodable image")


@pytest.mark.parametrize("classes", [("ok",), ("ok", "scratch")])
def test_a_version_that_cannot_train_is_refused_up_front(db: Session, app: FastAPI, classes: tuple[str, ...]) -> None:
    scene = build(db, storage=app.state.storage, settings=app.state.settings, classes=classes,
                  images=3 if len(classes) == 2 else 12)
    version = freeze(db, scene, split={"train": 1.0, "val": 0.0, "test": 0.0, "seed": 0})
    with pytest.raises(Invalid, match="at least two classes" if len(classes) == 1 else "at least 4"):
        service.start_run(db, project_id=scene.project.id, version_id=version.id, user=scene.admin)
    assert db.scalar(select(func.count()).select_from(ModelRun)) == 0


def test_storage_checks_count_a_runs_model_and_backbone_as_in_use(db: Session, app: FastAPI, scene: Scene) -> None:
    from app.files.fsck import fsck
    from app.modeling import backbones
    from tests.training.engine.test_backbone import conv_backbone

    storage = app.state.storage
    saved = backbones.save(storage, project_id=scene.project.id, data=conv_backbone(pooled=True))
    unused = backbones.save(storage, project_id=scene.project.id, data=conv_backbone(pooled=False))
    run = trained(db, app, scene, freeze(db, scene).id, recipe="onnx-linear", backbone_key=saved["backbone"],
                  storage=storage)
    assert run.state == RunState.done, run.error
    report = fsck(db, storage=storage, min_age=timedelta(0), now=datetime.now(UTC) + timedelta(days=1))
    assert run.artifact_key not in report.orphans and saved["backbone"] not in report.orphans
    assert unused["backbone"] not in report.orphans  # uploaded by a person: kept before any run uses it
    assert not [m for m in report.missing if m.key in (run.artifact_key, saved["backbone"])]


def test_the_held_out_check_refuses_a_test_image_among_the_training_images() -> None:
    from app.modeling.data import Item, VersionData

    def item(image_id: int, split: str, sha: str) -> Item:
        return Item(image_id=image_id, split=split, label_class_id=1, sha256=sha, storage_key="k", file_name="f",
                    group=f"i{image_id}", meta={})

    train = [item(1, "train", "a"), item(2, "val", "b")]
    service._check_held_out(VersionData(training=train, evaluation=[item(3, "test", "c")], classes=[]))
    for leaked in (item(2, "test", "z"), item(4, "test", "b")):  # the same image; the same bytes
        with pytest.raises(AssertionError, match="a test image entered training"):
            service._check_held_out(VersionData(training=train, evaluation=[leaked], classes=[]))
