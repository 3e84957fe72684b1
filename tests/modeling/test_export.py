"""A run's model at the line: the exported ONNX file gives the run's probabilities in onnxruntime, its
card says what it was trained on; batch inference on a folder writes a CSV the prediction import
takes back as a model's suggestions for those images."""
from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.analysis.models import ModelPrediction
from app.analysis.predictions import import_predictions
from app.core.errors import Conflict, Invalid
from app.core.storage import Storage
from app.datasets.models import DatasetVersion
from app.images import service as images_service
from app.images.models import Image
from app.modeling import inference, service
from app.modeling.export import export_run
from app.modeling.models import ModelRun, RunState
from app.training import images
from tests.modeling.scene import Scene, freeze, part_png
from tests.modeling.test_training import trained


def read(storage: Storage, key: str) -> bytes:
    with storage.open(key) as handle:
        return handle.read()


def onnx_probabilities(model: bytes, data: list[bytes]) -> np.ndarray:
    session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    _, _, height, width = session.get_inputs()[0].shape
    return np.vstack([session.run(["probabilities"], {"image": images.decode(d, height=height, width=width)})[0]
                      for d in data])


def test_the_exported_onnx_gives_the_runs_probabilities(db: Session, app: FastAPI, scene: Scene) -> None:
    storage = app.state.storage
    version = freeze(db, scene)
    run = trained(db, app, scene, version.id)
    exported = export_run(db, storage=storage, run=run)

    test_rows = [r for r in service.prediction_rows(db, run) if not r.out_of_fold]
    by_id = {image.id: image for image in scene.images}
    data = [read(storage, by_id[r.image_id].storage_key) for r in test_rows]
    from_onnx = onnx_probabilities(exported.onnx, data)
    stored = np.array([r.probabilities for r in test_rows])
    assert from_onnx.shape == stored.shape == (run.eval_count, 2)
    np.testing.assert_allclose(from_onnx, stored, atol=1e-5)
    recipe, model = service.load_model(storage, run)
    np.testing.assert_allclose(from_onnx, model.predict_proba(np.vstack([recipe.extract(d) for d in data])),
                               atol=1e-5)

    card = exported.card
    assert card["dataset_version"] == {"id": version.id, "number": version.number, "name": "v1",
                                       "content_hash": db.get_one(DatasetVersion, version.id).content_hash}
    assert card["recipe"] == run.recipe_identity and card["classes"] == ["ok", "scratch"]
    accuracy = card["metrics"]["evaluation"]["accuracy"]
    assert accuracy["low"] <= accuracy["value"] <= accuracy["high"]
    assert set(card["known_weaknesses"]) == {"slices", "classes", "few_test_images"}
    assert json.loads(exported.card_json) == card
    markdown = exported.card_markdown
    for needle in ("## Intended use", "## Known weaknesses", version.content_hash, "Accuracy ", "scratch"):
        assert needle in markdown


def test_a_run_without_a_model_cannot_be_exported(db: Session, app: FastAPI, scene: Scene) -> None:
    run = service.start_run(db, project_id=scene.project.id, version_id=freeze(db, scene).id, user=scene.admin)
    assert run.state == RunState.queued
    with pytest.raises(Conflict):
        export_run(db, storage=app.state.storage, run=run)


def new_parts(folder: Path, count: int) -> dict[str, str]:
    """`count` new part images in `folder` (a subfolder too); file name -> what they show."""
    (folder / "more").mkdir(parents=True)
    shown = {}
    for i in range(count):
        name = ("ok", "scratch")[i % 2]
        where = folder / ("more" if i % 3 == 0 else "") / f"new_{i:03d}.png"
        where.write_bytes(part_png(900_000 + i, name))
        shown[where.name] = name
    return shown


def predict_to_csv(db: Session, app: FastAPI, run: ModelRun, folder: Path) -> str:
    recipe, model = service.load_model(app.state.storage, run)
    files = inference.image_files(folder)
    proba = inference.predict_files(recipe, model, files)
    out = io.StringIO()
    inference.write_csv(out, file_names=[f.name for f in files], class_names=[c["name"] for c in run.classes],
                        proba=proba)
    return out.getvalue()


def test_predictions_on_a_folder_come_back_as_suggestions(db: Session, app: FastAPI, scene: Scene,
                                                          tmp_path: Path) -> None:
    run = trained(db, app, scene, freeze(db, scene).id)
    shown = new_parts(tmp_path / "batch", 8)
    text = predict_to_csv(db, app, run, tmp_path / "batch")
    lines = text.splitlines()
    assert lines[0] == "file_name,predicted_class,confidence,ok,scratch" and len(lines) == 9
    rows = {line.split(",")[0]: line.split(",")[1:] for line in lines[1:]}
    assert set(rows) == set(shown)
    right = sum(rows[name][0] == truth for name, truth in shown.items())
    assert right >= 6, rows  # the scratches are plain to see

    for name in sorted(shown):  # the images arrive in the project...
        path = next((tmp_path / "batch").rglob(name))
        stored = images_service.store_image_bytes(db, storage=app.state.storage, settings=app.state.settings,
                                                  project=scene.project, data=path.read_bytes(), file_name=name)
        assert stored.image is not None, stored.reason
    result = import_predictions(db, project_id=scene.project.id, data=text.encode(), model_name=f"run {run.number}",
                                file_name="predictions.csv")  # ...and the file's predictions with them
    assert (result.rows, result.created) == (8, 8)
    ids = {c: scene.classes[c].id for c in ("ok", "scratch")}
    suggestions = db.scalars(select(ModelPrediction).where(ModelPrediction.model_name == f"run {run.number}")).all()
    assert len(suggestions) == 8
    for suggestion in suggestions:
        ok, scratch = (float(v) for v in rows[db.get_one(Image, suggestion.image_id).file_name][2:])
        assert suggestion.probabilities == pytest.approx({str(ids["ok"]): ok, str(ids["scratch"]): scratch},
                                                         abs=1e-6)


def test_a_folder_with_a_broken_or_doubled_file_is_refused(db: Session, app: FastAPI, scene: Scene,
                                                           tmp_path: Path) -> None:
    run = trained(db, app, scene, freeze(db, scene).id)
    broken = tmp_path / "broken"
    new_parts(broken, 3)
    (broken / "zz_truncated.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    with pytest.raises(Invalid, match=r"zz_truncated\.png: not a decodable image"):
        predict_to_csv(db, app, run, broken)
    doubled = tmp_path / "doubled"
    new_parts(doubled, 3)
    (doubled / "more" / "new_001.png").write_bytes((doubled / "new_001.png").read_bytes())
    with pytest.raises(Invalid, match="more than once"):
        inference.image_files(doubled)
    (tmp_path / "empty").mkdir()
    with pytest.raises(Invalid, match="no image files"):
        inference.image_files(tmp_path / "empty")
