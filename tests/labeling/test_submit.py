"""Submitting through the JSON API: idempotent, superseding, validated (#10), taxonomy changes (#35)."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.auth.models import Role, User
from app.labeling.models import Annotation, Assignment, AssignmentState
from app.projects.models import TaskType
from tests.factories import class_named, make_image, make_member, make_project

Client = Callable[[User], TestClient]


def n_annotations(db: Session) -> int:
    return db.scalar(select(func.count()).select_from(Annotation)) or 0


@pytest.fixture
def loop(db: Session, client_for: Client):
    project = make_project(db, classes=("ok", "scratch", "dent"))
    image = make_image(db, project, width=640, height=480)
    user = make_member(db, project, Role.inspector, password=None)
    client = client_for(user)
    base = f"/api/v1/projects/{project.id}"
    assignment = client.post(f"{base}/assignments/next", json={}).json()["assignment"]
    return project, image, user, client, base, assignment


def test_next_submit_and_the_queue_runs_dry(db: Session, loop) -> None:
    project, image, _user, client, base, assignment = loop
    assert assignment["image"] == {
        "id": image.id,
        "width": 640,
        "height": 480,
        "url": f"/projects/{project.id}/images/{image.id}/file",
        "thumbnail_url": f"/projects/{project.id}/images/{image.id}/thumb",
    }
    dent = class_named(db, project, "dent")
    response = client.post(
        f"{base}/assignments/{assignment['id']}/annotation",
        json={
            "label_class_id": dent.id,
            "boxes": [{"x": 10.123, "y": 20, "w": 30, "h": 40.5, "class_id": dent.id}],
            "unsure": True,
            "comment": " rim glare ",
            "duration_ms": 4200,
            "idempotency_key": "k-0001-abc",
        },
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["boxes"] == [{"x": 10.12, "y": 20.0, "w": 30.0, "h": 40.5, "class_id": dent.id}]
    assert body["progress"] == {"done_today": 1, "remaining": 0}
    stored = db.get(Annotation, body["id"])
    assert (stored.unsure, stored.comment, stored.source) == (True, "rim glare", "web")
    assert isinstance(stored.duration_ms, int)  # the server's own measure (test_looked_at), not the client's
    assert db.get(Assignment, assignment["id"]).state == AssignmentState.done
    again = client.post(f"{base}/assignments/next", json={})
    assert again.status_code == 200 and again.json()["assignment"] is None


def test_a_double_enter_stores_one_annotation(db: Session, loop) -> None:
    project, _image, _user, client, base, assignment = loop
    ok = class_named(db, project, "ok")
    url = f"{base}/assignments/{assignment['id']}/annotation"
    answers = [client.post(url, json={"label_class_id": ok.id, "idempotency_key": "same-key-1"}) for _ in range(3)]
    assert [r.status_code for r in answers] == [200, 200, 200]
    assert len({r.json()["id"] for r in answers}) == 1
    assert [r.json()["replayed"] for r in answers] == [False, True, True]
    assert n_annotations(db) == 1


def test_a_second_answer_without_the_current_version_is_a_conflict(db: Session, loop) -> None:
    """#32: a stale page (or a second tab) cannot overwrite; a deliberate relabel names what it replaces."""
    project, _image, _user, client, base, assignment = loop
    ok, dent = class_named(db, project, "ok"), class_named(db, project, "dent")
    url = f"{base}/assignments/{assignment['id']}/annotation"
    first = client.post(url, json={"label_class_id": ok.id, "idempotency_key": "tab-one-1"}).json()
    stale = client.post(url, json={"label_class_id": dent.id, "idempotency_key": "tab-two-1"})
    assert stale.status_code == 409
    assert stale.json()["detail"]["current_annotation"]["id"] == first["id"]
    assert stale.json()["detail"]["current_annotation"]["label_class_id"] == ok.id
    relabel = client.post(
        url, json={"label_class_id": dent.id, "idempotency_key": "tab-two-2", "supersedes_id": first["id"]}
    )
    assert relabel.status_code == 200 and relabel.json()["superseded_id"] == first["id"]
    rows = db.scalars(select(Annotation).order_by(Annotation.id)).all()
    assert [(a.label_class_id, a.superseded_by_id) for a in rows] == [(ok.id, rows[1].id), (dent.id, None)]


BAD_BODIES = {
    "nan": '{"label_class_id": %(c)d, "boxes": [{"x": NaN, "y": 1, "w": 2, "h": 2, "class_id": %(c)d}]}',
    "inf": '{"label_class_id": %(c)d, "boxes": [{"x": 1, "y": Infinity, "w": 2, "h": 2, "class_id": %(c)d}]}',
    "negative": '{"label_class_id": %(c)d, "boxes": [{"x": -3, "y": 1, "w": 2, "h": 2, "class_id": %(c)d}]}',
    "x2<x1": '{"label_class_id": %(c)d, "boxes": [{"x": 50, "y": 1, "w": -20, "h": 2, "class_id": %(c)d}]}',
    "outside": '{"label_class_id": %(c)d, "boxes": [{"x": 630, "y": 1, "w": 20, "h": 2, "class_id": %(c)d}]}',
    "unknown class": '{"label_class_id": %(c)d, "boxes": [{"x": 1, "y": 1, "w": 2, "h": 2, "class_id": 99999}]}',
    "unknown image class": '{"label_class_id": 99999}',
    "no class": '{"boxes": []}',
    "string number": '{"label_class_id": %(c)d, "boxes": [{"x": "1", "y": 1, "w": 2, "h": 2, "class_id": %(c)d}]}',
    "too many": '{"label_class_id": %(c)d, "boxes": [%(many)s]}',
    "not json": '{"label_class_id": ',
    "extra field": '{"label_class_id": %(c)d, "is_gold": true}',
}


@pytest.mark.parametrize("case", list(BAD_BODIES))
def test_bad_answers_are_refused_whole(db: Session, loop, case: str) -> None:
    project, _image, _user, client, base, assignment = loop
    dent = class_named(db, project, "dent")
    box = json.dumps({"x": 1, "y": 1, "w": 2, "h": 2, "class_id": dent.id})
    body = (
        BAD_BODIES[case] % {"c": dent.id, "many": ",".join([box] * 501)}
        if "%" in BAD_BODIES[case]
        else BAD_BODIES[case]
    )
    response = client.post(
        f"{base}/assignments/{assignment['id']}/annotation", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422, response.text
    assert n_annotations(db) == 0
    assert db.get(Assignment, assignment["id"]).state == AssignmentState.open


@pytest.mark.parametrize(("n_boxes", "status"), [(100_000, 422), (1_000_000, 413)])
def test_huge_answers_are_refused_before_parsing(db: Session, loop, n_boxes: int, status: int) -> None:
    """#10 at scale: 10^5 boxes (4 MB) pass the app's 16 MB JSON limit and are refused by the answer's own
    2 MB cap with 422; 10^6 boxes (40 MB) are cut off by the JSON body limit with 413. Neither is parsed."""
    _project, _image, _user, client, base, assignment = loop
    box = b'{"x":1,"y":1,"w":2,"h":2,"class_id":1},'

    def body():
        yield b'{"label_class_id": 1, "boxes": ['
        for _ in range(n_boxes // 1000):
            yield box * 1000
        yield b'{"x":1,"y":1,"w":2,"h":2,"class_id":1}]}'

    response = client.post(
        f"{base}/assignments/{assignment['id']}/annotation",
        content=body(),
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == status
    if status == 422:
        assert response.json()["field"] == "boxes"
    assert n_annotations(db) == 0


def test_a_class_retired_meanwhile_is_a_conflict_with_a_message(db: Session, loop) -> None:
    """#35: the taxonomy changed while the labeler worked: 409 with a message, nothing stored."""
    project, _image, _user, client, base, assignment = loop
    scratch = class_named(db, project, "scratch")
    scratch.is_active = False
    db.flush()
    url = f"{base}/assignments/{assignment['id']}/annotation"
    response = client.post(url, json={"label_class_id": scratch.id, "idempotency_key": "retired-1"})
    assert response.status_code == 409
    assert "retired" in response.json()["message"] and response.json()["detail"]["retired_class_id"] == scratch.id
    dent = class_named(db, project, "dent")
    boxed = client.post(
        url,
        json={
            "label_class_id": dent.id,
            "idempotency_key": "retired-2",
            "boxes": [{"x": 1, "y": 1, "w": 3, "h": 3, "class_id": scratch.id}],
        },
    )
    assert boxed.status_code == 409 and boxed.json()["field"] == "boxes[0].class_id"
    assert n_annotations(db) == 0
    assert client.post(url, json={"label_class_id": dent.id, "idempotency_key": "retired-3"}).status_code == 200


def test_only_my_own_assignments(db: Session, loop, client_for: Client) -> None:
    """#20: another labeler's assignment id, or one of another project, is 404 and changes nothing."""
    project, _image, _user, _client, base, assignment = loop
    ok = class_named(db, project, "ok")
    intruder = make_member(db, project, Role.admin, password=None)
    response = client_for(intruder).post(
        f"{base}/assignments/{assignment['id']}/annotation", json={"label_class_id": ok.id}
    )
    assert response.status_code == 404
    assert client_for(intruder).post(f"{base}/assignments/{assignment['id']}/skip").status_code == 404
    other = make_project(db)
    make_member(db, other, Role.inspector, password=None)
    add = make_member(db, other, Role.inspector, password=None)
    response = client_for(add).post(
        f"/api/v1/projects/{other.id}/assignments/{assignment['id']}/annotation", json={"label_class_id": ok.id}
    )
    assert response.status_code == 404
    assert n_annotations(db) == 0 and db.get(Assignment, assignment["id"]).state == AssignmentState.open


def test_a_classification_project_takes_no_boxes(db: Session, client_for: Client) -> None:
    project = make_project(db, task_type=TaskType.classification)
    make_image(db, project)
    client = client_for(make_member(db, project, Role.inspector, password=None))
    base = f"/api/v1/projects/{project.id}"
    assignment = client.post(f"{base}/assignments/next").json()["assignment"]
    ok = class_named(db, project, "ok")
    response = client.post(
        f"{base}/assignments/{assignment['id']}/annotation",
        json={"label_class_id": ok.id, "boxes": [{"x": 1, "y": 1, "w": 2, "h": 2, "class_id": ok.id}]},
    )
    assert response.status_code == 422 and response.json()["field"] == "boxes"


def test_skip_through_the_api(db: Session, loop) -> None:
    _project, image, _user, client, base, assignment = loop
    response = client.post(f"{base}/assignments/{assignment['id']}/skip")
    assert response.status_code == 200 and response.json()["state"] == "skipped"
    assert client.post(f"{base}/assignments/{assignment['id']}/skip").status_code == 200  # a repeated Esc
    back = client.post(f"{base}/assignments/next", json={}).json()["assignment"]
    assert back["image"]["id"] == image.id and back["id"] != assignment["id"]


def test_the_consistency_hook_runs_and_its_failure_keeps_the_answer(db: Session, loop, monkeypatch) -> None:
    import app.consistency as package

    project, _image, _user, client, base, assignment = loop
    calls = []

    class Broken:
        @staticmethod
        def on_new_annotation(db_, annotation):
            calls.append(annotation.id)
            raise RuntimeError("consistency is down")

    monkeypatch.setitem(__import__("sys").modules, "app.consistency.service", Broken)
    monkeypatch.setattr(package, "service", Broken, raising=False)
    ok = class_named(db, project, "ok")
    response = client.post(f"{base}/assignments/{assignment['id']}/annotation", json={"label_class_id": ok.id})
    assert response.status_code == 200 and calls == [response.json()["id"]]
    assert n_annotations(db) == 1


def test_overlap_api_is_for_admins(db: Session, loop, client_for: Client) -> None:
    project, _image, _user, client, base, _assignment = loop
    body = {
        "labels_per_image": 3,
        "qa_fraction": 0.2,
        "qa_labels_per_image": 5,
        "adaptive_overlap": True,
        "gold_rate": 0.05,
        "overlap_slices": ["line=L3"],
    }
    assert client.put(f"{base}/overlap", json=body).status_code == 403
    admin = client_for(make_member(db, project, Role.admin, password=None))
    response = admin.put(f"{base}/overlap", json=body)
    assert response.status_code == 200
    assert response.json() == {**body, "images_wanting_labels": 1}
    assert admin.put(f"{base}/overlap", json={**body, "qa_fraction": 1.5}).status_code == 422
    assert admin.put(f"{base}/overlap", json={**body, "overlap_slices": ["nonsense"]}).status_code == 422
