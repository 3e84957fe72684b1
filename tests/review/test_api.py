"""The review JSON API: queue, detail, decisions (409 with the state that won), bulk, feedback, tokens."""
from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.auth.models import User
from app.review.models import FinalLabel, Resolution
from tests.review.scene import make_scene

Client = Callable[[User], TestClient]


def test_queue_and_detail(db: Session, client_for: Client) -> None:
    s = make_scene(db)
    image, conflict = s.disputed(["dent", "pit", "dent"], consensus="dent", severity=0.9, meta={"line": "L3"})
    s.disputed(["ok", "scratch"], consensus="ok", severity=0.2)
    api = client_for(s.reviewer)
    listed = api.get(f"/api/v1/projects/{s.project.id}/review/conflicts?line=L3").json()
    assert listed["total"] == 1 and listed["items"][0]["file_name"] == image.file_name
    assert listed["items"][0]["classes"][0] == {"id": s.cls("dent").id, "name": "dent", "votes": 2}
    assert {f["name"] for f in listed["facets"]} >= {"state", "kind", "pair", "labeler", "line"}
    detail = api.get(f"/api/v1/projects/{s.project.id}/review/conflicts/{conflict.id}").json()
    assert [a["labeler_id"] for a in detail["answers"]] == [u.id for u in s.labelers]
    assert detail["consensus"]["label_class_id"] == s.cls("dent").id and detail["version"] == 1
    assert api.get(f"/api/v1/projects/{s.project.id}/review/conflicts?sort=password_hash").status_code == 200
    assert api.get(f"/api/v1/projects/{s.project.id}/review/conflicts?state=password").status_code == 422


def test_decision_then_a_stale_one_gets_409_with_the_current_state(db: Session, client_for: Client) -> None:
    s = make_scene(db)
    image, conflict = s.disputed(["dent", "pit"], consensus="dent")
    url = f"/api/v1/projects/{s.project.id}/review/conflicts/{conflict.id}/decisions"
    won = client_for(s.reviewer).post(url, json={"decision": "edit", "version": 1, "label_class_id": s.cls("pit").id,
                                                 "boxes": [s.box("pit", 5, 5, 4, 4)], "reason": "round and dark"})
    assert won.status_code == 201
    assert won.json()["resolution"]["conflict_version"] == 1 and won.json()["settled_conflict_ids"] == [conflict.id]
    lost = client_for(s.admin).post(url, json={"decision": "accept_consensus", "version": 1})
    assert lost.status_code == 409
    body = lost.json()["detail"]
    assert body["version"] == 2 and body["state"] == "resolved" and body["resolution"]["decision"] == "edit"
    assert body["your_decision"]["decision"] == "accept_consensus"
    assert db.scalar(select(func.count()).select_from(Resolution)) == 1
    assert db.scalar(select(FinalLabel.label_class_id).where(FinalLabel.image_id == image.id)) == s.cls("pit").id


def test_bad_boxes_and_inspectors_are_refused(db: Session, client_for: Client) -> None:
    s = make_scene(db)
    _, conflict = s.disputed(["dent", "pit"], consensus="dent")
    db.commit()
    url = f"/api/v1/projects/{s.project.id}/review/conflicts/{conflict.id}/decisions"
    nan = client_for(s.reviewer).post(url, content=b'{"decision": "edit", "version": 1, "label_class_id": %d, '
                                      b'"boxes": [{"x": NaN, "y": 1, "w": 2, "h": 2, "class_id": %d}]}'
                                      % (s.cls("pit").id, s.cls("pit").id),
                                      headers={"content-type": "application/json"})
    assert nan.status_code == 422
    outside = client_for(s.reviewer).post(url, json={"decision": "edit", "version": 1,
                                                     "label_class_id": s.cls("pit").id,
                                                     "boxes": [s.box("pit", 630, 470, 50, 50)]})
    assert outside.status_code == 422 and outside.json()["field"] == "boxes"
    assert client_for(s.labelers[0]).post(url, json={"decision": "ambiguous", "version": 1}).status_code == 403
    assert db.scalar(select(func.count()).select_from(Resolution)) == 0


def test_bulk_is_all_or_nothing_and_reports_every_bad_row(db: Session, client_for: Client) -> None:
    s = make_scene(db)
    a, _ = s.disputed(["dent", "pit"], consensus="dent")
    b, _ = s.disputed(["ok", "pit"], consensus="ok")
    calm = s.disputed(["ok", "ok"])[0]
    db.commit()
    url = f"/api/v1/projects/{s.project.id}/review/decisions/bulk"
    bad = client_for(s.reviewer).post(url, json={"rows": [
        {"file_name": a.file_name, "final_class": "dent"},
        {"file_name": "nope.jpg", "final_class": "dent"},
        {"file_name": b.file_name, "final_class": "purple"},
        {"file_name": a.file_name, "final_class": "pit"},
    ]})
    assert bad.status_code == 422
    problems = {(e["row"], e["file_name"]): e["message"] for e in bad.json()["detail"]}
    assert set(problems) == {(2, "nope.jpg"), (3, b.file_name), (4, a.file_name)}
    assert db.scalar(select(func.count()).select_from(Resolution)) == 0
    ok = client_for(s.reviewer).post(url, json={"rows": [
        {"file_name": a.file_name, "final_class": "dent"},
        {"file_name": b.file_name, "final_class": "pit", "note": "dark round spot",
         "boxes": [s.box("pit", 300, 200, 6, 6)]},
    ]})
    assert ok.status_code == 200 and ok.json()["decided"] == 2
    finals = dict(db.execute(select(FinalLabel.image_id, FinalLabel.label_class_id)).all())
    assert finals == {a.id: s.cls("dent").id, b.id: s.cls("pit").id}
    assert calm.id not in finals
    decisions = dict(db.execute(select(Resolution.reason, Resolution.decision)).all())
    assert decisions == {"": "accept_consensus", "dark round spot": "edit"}


def test_feedback_api_and_scripts_with_a_token(db: Session, client_for: Client, app) -> None:
    from app.auth import tokens

    s = make_scene(db)
    _, conflict = s.disputed(["dent", "pit"], consensus="dent")
    token = tokens.create_token(db, user=s.reviewer, name="script", actor=None, max_days=90)[1]
    db.flush()
    with TestClient(app, base_url="http://testserver") as script:
        script.headers["Authorization"] = f"Bearer {token}"
        decided = script.post(f"/api/v1/projects/{s.project.id}/review/conflicts/{conflict.id}/decisions",
                              json={"decision": "take_labeler", "version": 1, "labeler_id": s.labelers[1].id,
                                    "reason": "pit: no shadow"})
        assert decided.status_code == 201
    feedback = client_for(s.labelers[0]).get(f"/api/v1/projects/{s.project.id}/feedback").json()
    assert feedback["reviewed"] == 1 and feedback["agreed"] == 0
    assert feedback["items"][0]["reason"] == "pit: no shadow"
    assert feedback["items"][0]["your_class_id"] == s.cls("dent").id
