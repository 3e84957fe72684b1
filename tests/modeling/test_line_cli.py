"""`concord model export | predict` against a real database and real files, and the admins' downloads."""
from __future__ import annotations

import csv
import json
from collections.abc import Callable
from pathlib import Path

import onnxruntime as ort
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from app.auth.models import Role, User
from app.core.config import get_settings
from app.core.storage import make_storage
from app.images import service as images_service
from app.modeling import service
from app.modeling.export import export_run
from app.projects.models import Project
from tests.factories import make_member
from tests.modeling.scene import Scene, freeze
from tests.modeling.test_cli import run, scene_in
from tests.modeling.test_export import new_parts
from tests.modeling.test_training import trained


def test_export_then_predict_then_import_back(cli_env: Engine, tmp_path: Path) -> None:
    project = scene_in(cli_env, "Line models")
    body = json.loads(run("model", "train", project, "--version", "v1", "--wait", "--json").stdout)
    run_id = str(body["id"])

    model = tmp_path / "out" / "model.onnx"
    model.parent.mkdir()
    exported = run("model", "export", run_id, "--format", "onnx", "--out", str(model))
    assert exported.exit_code == 0, exported.output
    session = ort.InferenceSession(model.read_bytes(), providers=["CPUExecutionProvider"])
    assert [o.name for o in session.get_outputs()] == ["probabilities"]
    card = json.loads((tmp_path / "out" / "model.card.json").read_text())
    assert card["dataset_version"]["name"] == "v1" and card["classes"] == ["ok", "scratch"]
    assert "## Known weaknesses" in (tmp_path / "out" / "model.card.md").read_text()
    assert sorted(p.name for p in model.parent.iterdir()) == ["model.card.json", "model.card.md", "model.onnx"]
    refused = run("model", "export", run_id, "--format", "tflite", "--out", str(tmp_path / "m.tflite"))
    assert refused.exit_code == 2 and not (tmp_path / "m.tflite").exists()

    shown = new_parts(tmp_path / "batch", 6)
    out = tmp_path / "predictions.csv"
    predicted = run("model", "predict", f"{project}/1", "--images", str(tmp_path / "batch"), "--out", str(out))
    assert predicted.exit_code == 0, predicted.output
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert sorted(r["file_name"] for r in rows) == sorted(shown)
    assert all(r["predicted_class"] in ("ok", "scratch") and float(r["confidence"]) >= 0.5 for r in rows)

    settings = get_settings()
    with Session(cli_env) as db:  # the images arrive in the project
        found = db.scalars(select(Project).where(Project.name == project)).one()
        for path in sorted((tmp_path / "batch").rglob("*.png")):
            images_service.store_image_bytes(db, storage=make_storage(settings), settings=settings, project=found,
                                             data=path.read_bytes(), file_name=path.name)
        db.commit()
    imported = run("predictions", "import", project, str(out), "--model", "run 1", "--json")
    assert imported.exit_code == 0, imported.output
    assert json.loads(imported.stdout)["created"] == 6

    empty = tmp_path / "empty"
    empty.mkdir()
    nothing = run("model", "predict", run_id, "--images", str(empty), "--out", str(tmp_path / "none.csv"))
    assert nothing.exit_code == 1 and "no image files" in nothing.output
    assert not (tmp_path / "none.csv").exists()


def test_admins_download_the_model_and_its_card(db: Session, app: FastAPI, scene: Scene,
                                                client_for: Callable[[User], TestClient]) -> None:
    run_ = trained(db, app, scene, freeze(db, scene).id)
    base = f"/api/v1/projects/{scene.project.id}/models/runs/{run_.id}"
    admin = client_for(scene.admin)
    got = admin.get(f"{base}/model.onnx")
    assert got.status_code == 200 and got.headers["content-type"] == "application/octet-stream"
    assert got.content == export_run(db, storage=app.state.storage, run=run_).onnx
    assert "attachment" in got.headers["content-disposition"]
    assert admin.get(f"{base}/model.card.json").json()["run"]["id"] == run_.id
    assert "# Model card" in admin.get(f"{base}/model.card.md").text
    reviewer = client_for(make_member(db, scene.project, Role.reviewer))
    assert reviewer.get(f"{base}/model.onnx").status_code == 403
    queued = service.start_run(db, project_id=scene.project.id, version_id=run_.version_id, user=scene.admin)
    late = admin.get(f"/api/v1/projects/{scene.project.id}/models/runs/{queued.id}/model.onnx")
    assert late.status_code == 409
    assert admin.get(f"/api/v1/projects/{scene.project.id}/models/runs/999999/model.card.json").status_code == 404
