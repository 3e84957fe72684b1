"""The compare, next-steps, send-to-review and capture-request API: roles, answers, bad input storing nothing."""
from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.analysis.models import ModelPrediction
from app.auth.models import Role, User
from app.consistency.models import Conflict, ConflictKind
from app.modeling import capture
from app.modeling.analysis import comparison_json, run_next_steps
from app.modeling.models import CaptureRequest
from tests.factories import class_named, make_final_label, make_member, make_project
from tests.modeling.rows import RELABELED, two_runs

Clients = Callable[[User], TestClient]


def test_compare_answers_reviewers_with_the_comparison_and_its_attribution(db: Session, client_for: Clients) -> None:
    p = two_runs(db)
    base = f"/api/v1/projects/{p.project.id}/models"
    reviewer = client_for(make_member(db, p.project, Role.reviewer, password=None))
    answer = reviewer.get(f"{base}/compare", params={"a": p.a.id, "b": p.b.id})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["n"] == 28 and body["changed"]["fixed"] == RELABELED
    assert body["reference"]["description"].startswith("version 2")
    assert body["attribution"]["relabeled"] == RELABELED
    assert any(s.startswith(f"{RELABELED} labels corrected to pit") for s in body["attribution"]["sentences"])
    assert reviewer.get(f"{base}/compare", params={"a": p.a.id, "b": p.a.id}).status_code == 422
    assert reviewer.get(f"{base}/compare", params={"a": p.a.id, "b": 10**9}).status_code == 404
    assert reviewer.get(f"{base}/compare", params={"a": p.a.id, "b": p.b.id, "split": "val"}).status_code == 422
    inspector = client_for(make_member(db, p.project, Role.inspector, password=None))
    assert inspector.get(f"{base}/compare", params={"a": p.a.id, "b": p.b.id}).status_code == 403


def test_send_to_review_puts_the_runs_disagreements_in_the_queue(db: Session, client_for: Clients) -> None:
    p = two_runs(db)
    by_id = {c.id: c for c in p.classes}
    for image_id, label in p.a_labels.items():  # the project's current labels are version 1's
        make_final_label(db, p.images[image_id], by_id[label], source="review", confidence=1.0)
    base = f"/api/v1/projects/{p.project.id}/models"
    reviewer = client_for(make_member(db, p.project, Role.reviewer, password=None))
    answer = reviewer.post(f"{base}/runs/{p.b.id}/send-to-review")
    assert answer.status_code == 200, answer.text
    assert answer.json()["model_name"] == "run 2" and answer.json()["created"] == RELABELED
    flagged = db.scalars(select(Conflict.image_id).where(Conflict.project_id == p.project.id,
                                                         Conflict.kind == ConflictKind.model_disagreement)).all()
    assert sorted(flagged) == p.relabeled
    assert db.scalar(select(func.count()).select_from(ModelPrediction).where(
        ModelPrediction.model_name == "run 2")) == 40
    again = reviewer.post(f"{base}/runs/{p.b.id}/send-to-review").json()  # replaces, never duplicates
    assert again["created"] == 0 and again["updated"] == RELABELED
    steps = reviewer.get(f"{base}/runs/{p.b.id}/next-steps")
    assert steps.status_code == 200 and steps.json()["actions"][0]["kind"] == "send_to_review"
    p.a.state = "failed"
    db.flush()
    assert reviewer.post(f"{base}/runs/{p.a.id}/send-to-review").status_code == 422


def test_capture_requests_are_created_listed_and_closed(db: Session, client_for: Clients) -> None:
    project = make_project(db, classes=("ok", "pit"))
    other = make_project(db, classes=("ok", "pit"))
    pit = class_named(db, project, "pit")
    base = f"/api/v1/projects/{project.id}/models/capture-requests"
    reviewer = client_for(make_member(db, project, Role.reviewer, password=None))
    made = reviewer.post(base, json={"slice": {"line": " L3 ", "shift": "night"}, "label_class_id": pit.id,
                                     "wanted": 80, "note": "dark images"})
    assert made.status_code == 201, made.text
    assert made.json()["slice"] == {"line": "L3", "shift": "night"} and made.json()["class_name"] == "pit"
    count = lambda: db.scalar(select(func.count()).select_from(CaptureRequest))  # noqa: E731
    before = count()
    for bad in ({}, {"wanted": 0, "slice": {"line": "L1"}}, {"slice": {"line": ""}},
                {"label_class_id": class_named(db, other, "pit").id}, {"slice": {"line": "L1"}, "extra": 1},
                {"slice": {"line": "L1"}, "run_id": 10**9}):
        assert reviewer.post(base, json=bad).status_code == 422, bad
    assert count() == before
    listed = reviewer.get(base).json()
    assert [r["id"] for r in listed] == [made.json()["id"]] and listed[0]["state"] == "open"
    closed = reviewer.post(f"{base}/{made.json()['id']}/close")
    assert closed.status_code == 200 and closed.json()["state"] == "done" and closed.json()["closed_at"]
    assert reviewer.post(f"{base}/{made.json()['id']}/close").status_code == 409
    assert reviewer.get(base, params={"state": "open"}).json() == []
    outsider = client_for(make_member(db, other, Role.admin, password=None))
    assert outsider.post(f"{base}/{made.json()['id']}/close").status_code == 404
    inspector = client_for(make_member(db, project, Role.inspector, password=None))
    assert inspector.post(base, json={"slice": {"line": "L1"}}).status_code == 403


def as_json(value: Any) -> Any:
    return json.loads(json.dumps(value))


def iv(value: float) -> dict[str, float | None]:
    return {"value": value, "low": None, "high": None}


def test_the_response_models_keep_every_answer_as_the_domain_gives_it(db: Session, app: FastAPI,
                                                                        client_for: Clients) -> None:
    """The response models name the fields; they neither drop a key nor add one (an action without a body)."""
    p = two_runs(db)
    pit = next(c for c in p.classes if c.name == "pit")
    p.b.metrics = {"out_of_fold": {"n": 40, "accuracy": iv(0.9), "per_class": [
        {"class_id": pit.id, "name": "pit", "f1": iv(0.5), "recall": iv(0.4), "precision": iv(0.6), "support": 12}]},
        "slices": [{"dimension": "line", "value": "L3", "n": 20, "accuracy": iv(0.7), "source": "out_of_fold"}]}
    db.flush()
    base = f"/api/v1/projects/{p.project.id}/models"
    reviewer = client_for(make_member(db, p.project, Role.reviewer, password=None))
    compared = reviewer.get(f"{base}/compare", params={"a": p.a.id, "b": p.b.id})
    assert compared.status_code == 200, compared.text
    expected = comparison_json(db, storage=app.state.storage, project_id=p.project.id, a_id=p.a.id, b_id=p.b.id)
    assert compared.json() == as_json(expected) and expected["attribution"]["classes"]
    steps = reviewer.get(f"{base}/runs/{p.b.id}/next-steps").json()
    assert steps == as_json(run_next_steps(db, p.project.id, p.b.id))
    assert "body" not in steps["actions"][0] and "page" in steps["classes"][0]["actions"][1]
    made = reviewer.post(f"{base}/capture-requests", json={"slice": {"line": "L3"}, "run_id": p.b.id})
    request = db.get(CaptureRequest, made.json()["id"])
    assert request is not None and made.json() == capture.as_dict(request, None)
    assert reviewer.get(f"{base}/capture-requests").json() == [made.json()]
