"""Labels somebody looked at: a minimum viewing time the server enforces from when it showed the
image, the server's own answer time, fast labelers flagged, reopening the last answers, box rules."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, text, update
from sqlalchemy.orm import Session

from app.auth.models import Role, User
from app.consistency import service as consistency_service
from app.core.db import utcnow
from app.labeling import rules
from app.labeling.models import Annotation, Assignment, AssignmentState
from app.projects import service as project_service
from app.projects.models import LabelClass, TaskType
from tests.factories import class_named, make_annotation, make_image, make_member, make_project
from tests.support.databases import fresh_database

Client = Callable[[User], TestClient]


def n_annotations(db: Session) -> int:
    return db.scalar(select(func.count()).select_from(Annotation)) or 0


def shown_ago(db: Session, assignment_id: int, seconds: float) -> None:
    """As if the image had been handed out `seconds` ago."""
    db.execute(
        update(Assignment).where(Assignment.id == assignment_id).values(shown_at=utcnow() - timedelta(seconds=seconds))
    )
    db.expire_all()


@pytest.fixture
def slow(db: Session, client_for: Client):
    """A project asking for a minute on screen (long enough that no test machine answers later by chance)."""
    project = make_project(db, classes=("ok", "scratch", "dent"), min_view_ms=60_000)
    images = [make_image(db, project) for _ in range(3)]
    user = make_member(db, project, Role.inspector, password=None)
    return project, images, user, client_for(user), f"/api/v1/projects/{project.id}"


def test_new_projects_ask_for_a_moment_on_screen(db: Session) -> None:
    spec = project_service.ProjectSpec(name="Fresh", classes=[project_service.ClassSpec(name="ok")])
    project = project_service.create_project(db, spec=spec, creator=None)
    assert rules.timing(project) == rules.Timing(min_view_ms=700, fast_median_ms=1000)


def test_an_answer_sooner_than_the_minimum_viewing_time_is_refused(db: Session, slow) -> None:
    project, _images, _user, client, base = slow
    assignment = client.post(f"{base}/assignments/next", json={}).json()["assignment"]
    row = db.get(Assignment, assignment["id"])
    assert row.shown_at is not None
    ok = class_named(db, project, "ok")
    url = f"{base}/assignments/{assignment['id']}/annotation"
    early = client.post(url, json={"label_class_id": ok.id, "idempotency_key": "early-0001", "duration_ms": 90_000})
    assert early.status_code == 422, early.text
    assert early.json()["field"] == "shown_at" and "60000 ms" in early.json()["message"]
    assert 0 < early.json()["detail"]["wait_ms"] <= 60_000
    assert n_annotations(db) == 0
    assert db.get(Assignment, assignment["id"]).state == AssignmentState.open

    shown_ago(db, assignment["id"], 61)
    late = client.post(url, json={"label_class_id": ok.id, "idempotency_key": "late-00001", "duration_ms": 5})
    assert late.status_code == 200, late.text
    stored = db.get(Annotation, late.json()["id"])
    assert 61_000 <= stored.duration_ms < 24 * 3600 * 1000  # the server's measure, not the client's 5 ms


def test_showing_a_prefetched_image_restarts_its_clock(db: Session, slow) -> None:
    project, _images, _user, client, base = slow
    first = client.post(f"{base}/assignments/next", json={}).json()["assignment"]
    second = client.post(f"{base}/assignments/next", json={"exclude": [first["id"]]}).json()["assignment"]
    shown_ago(db, second["id"], 120)  # prefetched long ago, never on screen
    assert client.post(f"{base}/assignments/{second['id']}/shown").status_code == 200
    ok = class_named(db, project, "ok")
    url = f"{base}/assignments/{second['id']}/annotation"
    assert client.post(url, json={"label_class_id": ok.id, "idempotency_key": "pref-0001"}).status_code == 422
    assert n_annotations(db) == 0


def test_zero_turns_the_minimum_off_and_the_client_time_is_ignored(db: Session, client_for: Client) -> None:
    project = make_project(db, min_view_ms=0)
    make_image(db, project)
    user = make_member(db, project, Role.inspector, password=None)
    client = client_for(user)
    base = f"/api/v1/projects/{project.id}"
    assignment = client.post(f"{base}/assignments/next", json={}).json()["assignment"]
    ok = class_named(db, project, "ok")
    done = client.post(
        f"{base}/assignments/{assignment['id']}/annotation",
        json={"label_class_id": ok.id, "idempotency_key": "zero-0001", "duration_ms": 3_600_000},
    )
    assert done.status_code == 200, done.text
    assert db.get(Annotation, done.json()["id"]).duration_ms < 3_600_000


def test_a_fast_labeler_is_flagged_in_quality_and_on_the_agreement_page(db: Session, client_for: Client) -> None:
    project = make_project(db, labels_per_image=3)
    fast, *steady = [make_member(db, project, Role.inspector, password=None) for _ in range(3)]
    ok = class_named(db, project, "ok")
    for _ in range(6):
        image = make_image(db, project, labels_wanted=3)
        make_annotation(db, image, fast, ok, duration_ms=300)
        for labeler in steady:
            make_annotation(db, image, labeler, ok, duration_ms=4000)
    consistency_service.recompute_project(db, project_id=project.id)
    reviewer = make_member(db, project, Role.reviewer)
    client = client_for(reviewer)
    quality = client.get(f"/api/v1/projects/{project.id}/labelers/quality").json()
    assert {q["user_id"]: q["too_fast"] for q in quality} == {fast.id: True, **{u.id: False for u in steady}}
    page = client.get(f"/projects/{project.id}/agreement")
    assert page.status_code == 200 and page.text.count("too fast</span>") == 1

    admin = make_member(db, project, Role.admin)
    put = client_for(admin).put(
        f"/api/v1/projects/{project.id}/labeling-rules", json={"min_view_ms": 700, "fast_median_ms": 0}
    )
    assert put.status_code == 200, put.text
    quality = client.get(f"/api/v1/projects/{project.id}/labelers/quality").json()
    assert not any(q["too_fast"] for q in quality)


# ---- reopening my last answers ------------------------------------------------------------------------


def test_previous_reopens_my_last_answers_for_a_relabel(db: Session, client_for: Client) -> None:
    project = make_project(db, classes=("ok", "scratch", "dent"))
    for _ in range(3):
        make_image(db, project)
    user = make_member(db, project, Role.inspector, password=None)
    client = client_for(user)
    base = f"/api/v1/projects/{project.id}"
    ok, dent = class_named(db, project, "ok"), class_named(db, project, "dent")
    assert client.post(f"{base}/assignments/previous", json={}).json() is None
    answered = []
    for n in range(2):
        a = client.post(f"{base}/assignments/next", json={}).json()["assignment"]
        body = {"label_class_id": ok.id, "idempotency_key": f"first-{n:04d}"}
        answered.append(client.post(f"{base}/assignments/{a['id']}/annotation", json=body).json())
    latest = client.post(f"{base}/assignments/previous", json={}).json()
    assert latest["id"] == answered[1]["assignment_id"] and latest["supersedes_id"] == answered[1]["id"]
    assert latest["previous"]["label_class_id"] == ok.id
    back = client.post(f"{base}/assignments/previous", json={"exclude": [latest["id"]]}).json()
    assert back["id"] == answered[0]["assignment_id"]
    relabel = client.post(
        f"{base}/assignments/{back['id']}/annotation",
        json={"label_class_id": dent.id, "idempotency_key": "relabel-01", "supersedes_id": back["supersedes_id"]},
    )
    assert relabel.status_code == 200 and relabel.json()["superseded_id"] == answered[0]["id"]
    old = db.get(Annotation, answered[0]["id"])
    db.refresh(old)
    assert old.superseded_by_id == relabel.json()["id"]
    # the relabel is now the latest answer; nothing is further back than the two
    again = client.post(f"{base}/assignments/previous", json={}).json()
    assert again["id"] == back["id"] and again["previous"]["label_class_id"] == dent.id
    assert client.post(f"{base}/assignments/previous", json={"exclude": [back["id"], latest["id"]]}).json() is None
    assert client.post(f"{base}/assignments/previous", json={"exclude": [1, 2, 3, 4, 5]}).json() is None


def test_previous_never_hands_out_another_labelers_answer(db: Session, client_for: Client) -> None:
    project = make_project(db)
    image = make_image(db, project)
    other = make_member(db, project, Role.inspector, password=None)
    make_annotation(db, image, other, class_named(db, project, "ok"))
    me = client_for(make_member(db, project, Role.inspector, password=None))
    assert me.post(f"/api/v1/projects/{project.id}/assignments/previous", json={}).json() is None


def test_previous_holds_to_the_minimum_viewing_time(db: Session, slow) -> None:
    project, _images, _user, client, base = slow
    a = client.post(f"{base}/assignments/next", json={}).json()["assignment"]
    shown_ago(db, a["id"], 61)
    ok, dent = class_named(db, project, "ok"), class_named(db, project, "dent")
    first = client.post(
        f"{base}/assignments/{a['id']}/annotation", json={"label_class_id": ok.id, "idempotency_key": "k-prev-001"}
    )
    assert first.status_code == 200
    back = client.post(f"{base}/assignments/previous", json={}).json()
    again = client.post(
        f"{base}/assignments/{back['id']}/annotation",
        json={"label_class_id": dent.id, "idempotency_key": "k-prev-002", "supersedes_id": back["supersedes_id"]},
    )
    assert again.status_code == 422 and n_annotations(db) == 1


# ---- box rules -------------------------------------------------------------------------------------


def set_rules(db: Session, client_for: Client, project, box_rules: dict[int, str]):
    admin = make_member(db, project, Role.admin)
    return client_for(admin).put(
        f"/api/v1/projects/{project.id}/labeling-rules",
        json={"min_view_ms": 0, "fast_median_ms": 1000, "box_rules": box_rules},
    )


@pytest.fixture
def boxed(db: Session, client_for: Client):
    project = make_project(db, classes=("ok", "scratch", "dent"))
    make_image(db, project, width=640, height=480)
    user = make_member(db, project, Role.inspector, password=None)
    client = client_for(user)
    base = f"/api/v1/projects/{project.id}"
    assignment = client.post(f"{base}/assignments/next", json={}).json()["assignment"]
    return project, client, f"{base}/assignments/{assignment['id']}/annotation"


def box(class_id: int) -> dict[str, int]:
    return {"x": 10, "y": 10, "w": 20, "h": 20, "class_id": class_id}


def test_existing_classes_keep_optional_boxes(db: Session, boxed) -> None:
    project, client, url = boxed
    assert {c.box_rule for c in db.scalars(select(LabelClass).where(LabelClass.project_id == project.id))} == {
        "optional"
    }
    ok = class_named(db, project, "ok")
    assert client.post(url, json={"label_class_id": ok.id, "idempotency_key": "opt-00001"}).status_code == 200


@pytest.mark.parametrize(
    ("rule_of", "answer_class", "box_classes", "message"),
    [
        ({"dent": "required"}, "dent", [], "'dent' needs at least one 'dent' box"),
        ({"dent": "required"}, "dent", ["scratch"], "'dent' needs at least one 'dent' box"),
        ({"ok": "none"}, "ok", ["dent"], "'ok' takes no boxes"),
        ({"scratch": "none"}, "dent", ["dent", "scratch"], "'scratch' is never drawn as a box"),
    ],
)
def test_a_broken_box_rule_is_refused_naming_the_class(
    db: Session, client_for: Client, boxed, rule_of, answer_class, box_classes, message
) -> None:
    project, client, url = boxed
    assert (
        set_rules(db, client_for, project, {class_named(db, project, n).id: r for n, r in rule_of.items()}).status_code
        == 200
    )
    body = {
        "label_class_id": class_named(db, project, answer_class).id,
        "boxes": [box(class_named(db, project, n).id) for n in box_classes],
        "idempotency_key": "rule-00001",
    }
    refused = client.post(url, json=body)
    assert refused.status_code == 422 and message in refused.json()["message"], refused.text
    assert n_annotations(db) == 0


def test_a_required_box_satisfied_is_taken(db: Session, client_for: Client, boxed) -> None:
    project, client, url = boxed
    dent = class_named(db, project, "dent")
    set_rules(db, client_for, project, {dent.id: "required"})
    body = {"label_class_id": dent.id, "boxes": [box(dent.id)], "idempotency_key": "req-000001"}
    assert client.post(url, json=body).status_code == 200


def test_box_rules_do_not_apply_to_classification_projects(db: Session, client_for: Client) -> None:
    project = make_project(db, task_type=TaskType.classification)
    make_image(db, project)
    scratch = class_named(db, project, "scratch")
    set_rules(db, client_for, project, {scratch.id: "required"})
    client = client_for(make_member(db, project, Role.inspector, password=None))
    base = f"/api/v1/projects/{project.id}"
    a = client.post(f"{base}/assignments/next", json={}).json()["assignment"]
    body = {"label_class_id": scratch.id, "idempotency_key": "cls-000001"}
    assert client.post(f"{base}/assignments/{a['id']}/annotation", json=body).status_code == 200


def test_rules_refuse_another_projects_class_and_change_nothing(db: Session, client_for: Client) -> None:
    project, other = make_project(db), make_project(db)
    foreign = class_named(db, other, "ok")
    refused = set_rules(db, client_for, project, {foreign.id: "none", class_named(db, project, "ok").id: "none"})
    assert refused.status_code == 422 and refused.json()["field"] == "box_rules"
    db.expire_all()
    assert foreign.box_rule == "optional" and class_named(db, project, "ok").box_rule == "optional"
    bad = set_rules(db, client_for, project, {class_named(db, project, "ok").id: "sometimes"})
    assert bad.status_code == 422


def test_the_rules_page_saves_and_refuses(db: Session, client_for: Client) -> None:
    project = make_project(db, classes=("ok", "dent"))
    admin = client_for(make_member(db, project, Role.admin))
    url = f"/projects/{project.id}/labeling-rules"
    page = admin.get(url)
    assert page.status_code == 200 and "Minimum viewing time" in page.text
    ok, dent = class_named(db, project, "ok"), class_named(db, project, "dent")
    form = {
        "min_view_ms": "900",
        "fast_median_ms": "1500",
        f"box_rule_{ok.id}": "none",
        f"box_rule_{dent.id}": "required",
    }
    saved = admin.post(url, data=form, follow_redirects=False)
    assert saved.status_code == 303, saved.text
    db.expire_all()
    assert rules.timing(project) == rules.Timing(min_view_ms=900, fast_median_ms=1500)
    assert (ok.box_rule, dent.box_rule) == ("none", "required")
    bad = admin.post(url, data={**form, "min_view_ms": "-5", f"box_rule_{ok.id}": "optional"})
    assert bad.status_code == 422 and "min_view_ms" in bad.text
    db.expire_all()
    assert rules.timing(project).min_view_ms == 900 and ok.box_rule == "none"


def test_waiting_counts_what_is_waiting_for_me(db: Session, client_for: Client) -> None:
    project = make_project(db, labels_per_image=2)
    for _ in range(3):
        make_image(db, project, labels_wanted=2)
    me, other = (make_member(db, project, Role.inspector, password=None) for _ in range(2))
    ok = class_named(db, project, "ok")
    mine, theirs = client_for(me), client_for(other)
    base = f"/api/v1/projects/{project.id}"
    for n in range(2):
        a = mine.post(f"{base}/assignments/next", json={}).json()["assignment"]
        body = {"label_class_id": ok.id, "idempotency_key": f"mine-{n:05d}"}
        assert mine.post(f"{base}/assignments/{a['id']}/annotation", json=body).json()["progress"]["remaining"] == 2 - n
    # the third image I now hold counts once; the two I answered still want a label, but not from me
    held = mine.post(f"{base}/assignments/next", json={}).json()
    assert held["assignment"] is not None and held["progress"]["remaining"] == 1
    assert theirs.get(f"{base}/labeling/progress").json()["remaining"] == 3


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_the_migration_keeps_answers_and_gives_existing_classes_optional_boxes(kind: str, tmp_path: Path) -> None:
    """Up and down on a database whose classes are referenced by answers (a table copy would fail)."""
    from app.core import migrate

    with fresh_database(kind, tmp_path) as engine:
        with Session(engine) as db:
            project = make_project(db)
            image = make_image(db, project)
            make_annotation(db, image, make_member(db, project), class_named(db, project, "ok"))
            db.commit()
        migrate.downgrade(engine, "6ca024678def")
        migrate.upgrade(engine)
        with engine.connect() as conn:
            assert conn.scalar(text("SELECT count(*) FROM annotations")) == 1
            assert set(conn.scalars(text("SELECT box_rule FROM label_classes"))) == {"optional"}
            with pytest.raises(Exception, match=r"(?i)check"):
                conn.execute(text("UPDATE label_classes SET box_rule = 'maybe'"))
