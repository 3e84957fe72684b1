"""Importing model predictions: CSV and JSON, by file name or image id; a bad row is named, nothing stored."""
from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.analysis.models import ModelPrediction
from app.auth.models import Role, User
from tests.factories import class_named, make_image, make_member, make_project

CLASSES = ("ok", "scratch", "dent")


@pytest.fixture
def setup(db: Session, client_for: Callable[[User], TestClient]):
    project = make_project(db, classes=CLASSES)
    images = [make_image(db, project, file_name=f"img_{n}.jpg") for n in range(3)]
    admin = make_member(db, project, Role.admin, password=None)
    return project, images, client_for(admin), client_for(make_member(db, project, Role.reviewer, password=None))


def stored(db: Session, project_id: int) -> int:
    return db.scalar(select(func.count()).select_from(ModelPrediction).where(ModelPrediction.project_id == project_id))


def post_file(client: TestClient, project_id: int, text: str, name: str = "p.csv", model: str = "") -> object:
    data = {"model": model} if model else {}
    return client.post(f"/api/v1/projects/{project_id}/predictions", files={"file": (name, text.encode())}, data=data)


def test_csv_by_file_name_and_replacement(db: Session, setup) -> None:
    project, images, admin, _ = setup
    csv = "file_name,ok,scratch,dent\nimg_0.jpg,0.7,0.2,0.1\nimg_1.jpg,0.1,0.8,0.1\n"
    answer = post_file(admin, project.id, csv, model="resnet")
    assert answer.status_code == 201, answer.text
    assert answer.json() == {"model_name": "resnet", "rows": 2, "created": 2, "updated": 0}
    row = db.scalar(select(ModelPrediction).where(ModelPrediction.image_id == images[1].id))
    assert row.probabilities[str(class_named(db, project, "scratch").id)] == pytest.approx(0.8)
    again = post_file(admin, project.id, "file_name,ok,scratch,dent\nimg_1.jpg,0.5,0.5,0\n", model="resnet")
    assert again.json()["updated"] == 1 and stored(db, project.id) == 2


def test_json_by_image_id_in_body_or_file(db: Session, setup) -> None:
    project, images, admin, _ = setup
    body = {"model": "vit", "predictions": [{"image_id": images[2].id, "probabilities": {"ok": 1.0}}]}
    answer = admin.post(f"/api/v1/projects/{project.id}/predictions", content=json.dumps(body),
                        headers={"Content-Type": "application/json"})
    assert answer.status_code == 201 and answer.json()["model_name"] == "vit"
    flat = [{"image_id": images[0].id, "ok": 0.2, "scratch": 0.3, "dent": 0.5}]
    assert post_file(admin, project.id, json.dumps(flat), name="p.json").json()["model_name"] == "model"
    assert stored(db, project.id) == 2


@pytest.mark.parametrize(("text", "message"), [
    ("file_name,ok,scratch,dent\nimg_0.jpg,0.7,0.2,0.1\nimg_1.jpg,0.7,0.2,0.3\n", "row 2: probabilities sum to 1.2"),
    ("file_name,ok,scratch,pit\nimg_0.jpg,0.7,0.2,0.1\n", "row 1: unknown class 'pit'"),
    ("file_name,ok,scratch,dent\nimg_9.jpg,0.7,0.2,0.1\n", "row 1: no image named 'img_9.jpg'"),
    ("file_name,ok,scratch,dent\nimg_0.jpg,0.7,0.2,0.1\nimg_0.jpg,0.7,0.2,0.1\n", "row 2: image"),
    ("file_name,ok,scratch,dent\nimg_0.jpg,abc,0.2,0.1\n", "row 1: ok: 'abc' is not a number"),
    ("file_name,ok,scratch,dent\nimg_0.jpg,1.5,-0.5,0\n", "row 1: ok: '1.5' is not a probability"),
    ("image_id,ok,scratch,dent\n999999999,1,0,0\n", "row 1: no image with id 999999999"),
    ("name,ok\nimg_0.jpg,1\n", "needs an image_id or a file_name column"),
    ('[{"file_name": "img_0.jpg", "probabilities": {"ok": "NaN"}}]', "row 1: ok"),
    ("[1, 2]", "row 1: each prediction must be an object"),
    ("{broken", "not valid JSON"),
])
def test_bad_rows_are_named_and_nothing_is_stored(db: Session, setup, text: str, message: str) -> None:
    project, _, admin, _ = setup
    answer = post_file(admin, project.id, text, name="p.json" if text[:1] in "[{" else "p.csv")
    assert answer.status_code == 422, answer.text
    assert message in answer.json()["message"]
    assert stored(db, project.id) == 0


def test_ambiguous_file_name_asks_for_image_id(db: Session, setup) -> None:
    project, _, admin, _ = setup
    make_image(db, project, file_name="img_0.jpg")
    answer = post_file(admin, project.id, "file_name,ok,scratch,dent\nimg_0.jpg,1,0,0\n")
    assert answer.status_code == 422 and "use image_id" in answer.json()["message"]


def test_only_admins_import_and_other_projects_are_hidden(db: Session, setup,
                                                          client_for: Callable[[User], TestClient]) -> None:
    project, _, admin, reviewer = setup
    assert post_file(reviewer, project.id, "file_name,ok\nimg_0.jpg,1\n").status_code == 403
    other = make_project(db)
    assert post_file(admin, other.id, "file_name,ok\nimg_0.jpg,1\n").status_code == 404
    image_elsewhere = make_image(db, other)
    text = f"image_id,ok,scratch,dent\n{image_elsewhere.id},1,0,0\n"
    assert post_file(admin, project.id, text).status_code == 422  # another project's image is unknown here


def test_page_form_shows_the_bad_row(db: Session, setup) -> None:
    project, _, admin, _ = setup
    bad = admin.post(f"/projects/{project.id}/analysis/predictions",
                     files={"file": ("p.csv", b"file_name,ok,scratch,dent\nimg_0.jpg,0.5,0.1,0.1\n")})
    assert bad.status_code == 422 and "row 1: probabilities sum to 0.7000" in bad.text
    good = admin.post(f"/projects/{project.id}/analysis/predictions", data={"model": "m1"},
                      files={"file": ("p.csv", b"file_name,ok,scratch,dent\nimg_0.jpg,0.5,0.4,0.1\n")},
                      follow_redirects=False)
    assert good.status_code == 303 and stored(db, project.id) == 1
