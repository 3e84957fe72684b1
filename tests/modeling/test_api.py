"""The model-run API: roles, a run from request to metrics, refusals that store nothing, the predictions
CSV, and the onnx-linear recipe on an uploaded backbone."""
from __future__ import annotations

import csv
import io
from collections.abc import Callable
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.auth.models import Role, User
from app.core.audit import AuditEvent
from app.jobs.models import Job
from app.modeling.models import ModelRun
from tests.factories import make_member
from tests.modeling.conftest import run_jobs
from tests.modeling.scene import Scene, build, freeze
from tests.training.engine.test_backbone import conv_backbone

Client = Callable[[User], TestClient]


def url(scene: Scene, tail: str = "") -> str:
    return f"/api/v1/projects/{scene.project.id}/models{tail}"


def counts(db: Session) -> tuple[int, int]:
    return (db.scalar(select(func.count()).select_from(ModelRun)) or 0,
            db.scalar(select(func.count()).select_from(Job)) or 0)


def test_admins_train_and_reviewers_read(db: Session, app: FastAPI, scene: Scene, client_for: Client) -> None:
    version = freeze(db, scene)
    reviewer = client_for(make_member(db, scene.project, Role.reviewer))
    inspector = client_for(make_member(db, scene.project, Role.inspector))
    outsider = client_for(make_member(db, build(db, storage=app.state.storage, settings=app.state.settings,
                                                   images=2).project, Role.admin))
    body = {"version_id": version.id, "seed": 3}
    assert reviewer.post(url(scene, "/runs"), json=body).status_code == 403
    assert inspector.post(url(scene, "/runs"), json=body).status_code == 403
    assert outsider.post(url(scene, "/runs"), json=body).status_code == 404
    assert inspector.get(url(scene, "/runs")).status_code == 403
    assert counts(db) == (0, 0)

    started = client_for(scene.admin).post(url(scene, "/runs"), json=body)
    assert started.status_code == 202, started.text
    queued = started.json()
    assert (queued["state"], queued["number"], queued["seed"], queued["recipe"]) == ("queued", 1, 3, "filterbank")
    assert queued["job"]["state"] == "queued" and queued["recipe_identity"]["name"] == "filterbank"
    event = db.scalars(select(AuditEvent).where(AuditEvent.action == "model.run_started")).one()
    assert (event.actor_id, event.object_id, event.data["version_id"]) == (scene.admin.id, queued["id"], version.id)
    assert run_jobs(db, app) == 1

    shown = reviewer.get(url(scene, f"/runs/{queued['id']}"))
    assert shown.status_code == 200, shown.text
    run = shown.json()
    assert run["state"] == "done" and run["job"]["progress"] == 1.0 and run["error"] == ""
    assert set(run["metrics"]) == {"evaluation", "out_of_fold", "slices", "reference"}
    assert run["metrics"]["evaluation"]["n"] == run["eval_count"] > 0
    assert [c["name"] for c in run["classes"]] == ["ok", "scratch"]
    assert [r["id"] for r in reviewer.get(url(scene, "/runs")).json()] == [queued["id"]]
    assert reviewer.get(url(scene, "/recipes")).json()[0]["name"] == "filterbank"
    assert outsider.get(url(scene, f"/runs/{queued['id']}")).status_code == 404


def test_the_predictions_csv_has_a_row_per_image_and_a_column_per_class(db: Session, app: FastAPI, scene: Scene,
                                                                        client_for: Client) -> None:
    admin = client_for(scene.admin)
    started = admin.post(url(scene, "/runs"), json={"version_id": freeze(db, scene).id}).json()
    run_jobs(db, app)
    reviewer = client_for(make_member(db, scene.project, Role.reviewer))
    got = reviewer.get(url(scene, f"/runs/{started['id']}/predictions.csv"))
    assert got.status_code == 200 and got.headers["content-type"].startswith("text/csv")
    assert "attachment" in got.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(got.text)))
    assert list(rows[0]) == ["image_id", "file_name", "split", "label", "predicted_class", "p_ok", "p_scratch",
                             "out_of_fold", "fold"]
    assert len(rows) == len(scene.images)
    names = {i.id: i.file_name for i in scene.images}
    for row in rows:
        assert row["file_name"] == names[int(row["image_id"])]
        assert row["label"] == scene.truth[int(row["image_id"])]
        assert float(row["p_ok"]) + float(row["p_scratch"]) == pytest.approx(1.0)
        assert row["out_of_fold"] == ("false" if row["split"] == "test" else "true")
        assert (row["fold"] == "") == (row["split"] == "test")
        predicted = "ok" if float(row["p_ok"]) >= float(row["p_scratch"]) else "scratch"
        assert row["predicted_class"] == predicted
    assert reviewer.get(url(scene, "/runs/999999/predictions.csv")).status_code == 404


def bad_bodies(db: Session, app: FastAPI, scene: Scene) -> list[tuple[dict[str, Any], str]]:
    version = freeze(db, scene)
    other = build(db, storage=app.state.storage, settings=app.state.settings, images=6)
    return [
        ({"version_id": 999_999}, "version_id"),
        ({"version_id": freeze(db, other).id}, "version_id"),  # another project's version
        ({"version_id": version.id, "recipe": "resnet-from-the-internet"}, "recipe"),
        ({"version_id": version.id, "recipe": "onnx-linear"}, "backbone"),  # no backbone given
        ({"version_id": version.id, "recipe": "onnx-linear", "backbone": "images/secret.jpg"}, "backbone"),
        ({"version_id": version.id, "backbone": f"models/{scene.project.id}/backbones/{'0' * 64}.onnx"}, "backbone"),
        ({"version_id": version.id, "folds": 1}, "folds"),
        ({"version_id": version.id, "seed": -1}, "seed"),
        ({"version_id": version.id, "colour": "blue"}, "colour"),
        ({"seed": 1}, "version_id"),
        ({"version_id": "v1"}, "version_id"),
    ]


def test_bad_requests_are_refused_and_store_nothing(db: Session, app: FastAPI, scene: Scene,
                                                    client_for: Client) -> None:
    admin = client_for(scene.admin)
    for body, field in bad_bodies(db, app, scene):
        before = counts(db)
        answer = admin.post(url(scene, "/runs"), json=body)
        assert answer.status_code == 422, (body, answer.text)
        assert field in answer.text, (body, answer.text)
        assert counts(db) == before


def test_a_version_with_one_class_is_refused_with_a_reason(db: Session, app: FastAPI, client_for: Client) -> None:
    scene = build(db, storage=app.state.storage, settings=app.state.settings, images=8, classes=("ok",))
    answer = client_for(scene.admin).post(url(scene, "/runs"), json={"version_id": freeze(db, scene).id})
    assert answer.status_code == 422 and "at least two classes" in answer.json()["message"]
    assert counts(db) == (0, 0)


def test_an_uploaded_backbone_trains_the_onnx_recipe(db: Session, app: FastAPI, scene: Scene,
                                                     client_for: Client) -> None:
    admin = client_for(scene.admin)
    keys_before = set(app.state.storage.keys(f"models/{scene.project.id}/"))
    refused = admin.post(url(scene, "/backbones"), files={"file": ("net.onnx", b"\x08\x07garbage")})
    assert refused.status_code == 422 and "not a valid ONNX model" in refused.json()["message"]
    assert set(app.state.storage.keys(f"models/{scene.project.id}/")) == keys_before
    reviewer = client_for(make_member(db, scene.project, Role.reviewer))
    network = conv_backbone(pooled=True)
    assert reviewer.post(url(scene, "/backbones"), files={"file": ("net.onnx", network)}).status_code == 403
    uploaded = admin.post(url(scene, "/backbones"), files={"file": ("net.onnx", network)})
    assert uploaded.status_code == 201, uploaded.text
    backbone = uploaded.json()
    assert backbone["dimension"] == 8 and backbone["input"] == "32x48"
    started = admin.post(url(scene, "/runs"), json={"version_id": freeze(db, scene).id, "recipe": "onnx-linear",
                                                    "backbone": backbone["backbone"]})
    assert started.status_code == 202, started.text
    run_jobs(db, app)
    run = admin.get(url(scene, f"/runs/{started.json()['id']}")).json()
    assert run["state"] == "done", run["error"]
    assert run["recipe_identity"]["params"]["features"]["backbone_sha256"] == backbone["sha256"]
    assert run["backbone"] == backbone["backbone"] and run["metrics"]["out_of_fold"]["n"] == run["train_count"]
