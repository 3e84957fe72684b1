"""The labeling, overlap and upload pages: what they show, and that user text is escaped (#9)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.auth.models import Role, User
from app.labeling.models import Assignment
from app.projects.models import ClassExample
from tests.factories import class_named, make_image, make_member, make_project

Client = Callable[[User], TestClient]
HOSTILE = ("<script>alert(1)</script>", '"><img src=x onerror=alert(1)>', "{{7*7}}")


def boot(html: str) -> dict:
    found = re.search(r'<script type="application/json" id="label-boot">(.*?)</script>', html, re.S)
    assert found, "the page carries its boot data"
    return json.loads(found.group(1))


def test_the_labeling_page_is_a_shell_that_claims_nothing(db: Session, client_for: Client) -> None:
    """A GET changes nothing (#25): the page's script claims the first assignment through the API."""
    project = make_project(db, classes=("ok", "scratch", "dent"))
    make_image(db, project)
    dent = class_named(db, project, "dent")
    dent.definition = "A shallow depression; light and dark crescents."
    dent.hotkey = "d"
    db.add(ClassExample(label_class_id=dent.id, image_id=make_image(db, project).id, note="typical dent"))
    db.flush()
    inspector = make_member(db, project, Role.inspector, password=None)
    page = client_for(inspector).get(f"/projects/{project.id}/label")
    assert page.status_code == 200
    assert db.scalars(select(Assignment)).all() == []
    data = boot(page.text)
    assert data["okClassId"] == class_named(db, project, "ok").id
    assert [(c["name"], c["keys"]) for c in data["classes"]] == [
        ("ok", ["1"]),
        ("scratch", ["2"]),
        ("dent", ["d", "3"]),
    ]
    assert data["api"] == f"/api/v1/projects/{project.id}" and data["taskType"] == "both"
    assert "A shallow depression" in page.text and "typical dent" in page.text
    assert 'src="/static/js/labeling.js"' in page.text and "<script>" not in page.text.replace(
        '<script type="application/json" id="label-boot">', ""
    )


def test_hostile_names_are_escaped_on_every_page(db: Session, client_for: Client) -> None:
    project = make_project(db, name=HOSTILE[2] + HOSTILE[1] + " line", classes=("ok", *HOSTILE))
    for label_class in (class_named(db, project, name) for name in HOSTILE):
        label_class.definition = HOSTILE[0]
    db.flush()
    admin = make_member(db, project, Role.admin, password=None)
    client = client_for(admin)
    for path in ("label", "upload", "overlap"):
        page = client.get(f"/projects/{project.id}/{path}")
        assert page.status_code == 200
        body = page.text.split('id="label-boot">', 1)[0] + page.text.split("</script>", 1)[-1]
        assert "<script>alert(1)</script>" not in body
        assert "<img src=x onerror" not in body
        assert "{{7*7}}" in body  # shown as typed: no template evaluated it
    data = boot(client.get(f"/projects/{project.id}/label").text)
    assert {c["name"] for c in data["classes"]} >= set(HOSTILE)  # JSON-escaped, still the same text


def test_the_overlap_page_saves_and_refuses_nonsense(db: Session, client_for: Client) -> None:
    project = make_project(db)
    for _ in range(4):
        make_image(db, project)
    admin = client_for(make_member(db, project, Role.admin, password=None))
    form = {
        "labels_per_image": "3",
        "qa_fraction_percent": "10",
        "qa_labels_per_image": "5",
        "gold_rate_percent": "5",
        "overlap_slices": "line=L3\nshift=night",
        "adaptive_overlap": "1",
    }
    response = admin.post(f"/projects/{project.id}/overlap", data=form, follow_redirects=False)
    assert response.status_code == 303
    db.refresh(project)
    assert (project.labels_per_image, project.qa_fraction, project.qa_labels_per_image, project.adaptive_overlap) == (
        3,
        0.1,
        5,
        True,
    )
    assert project.settings["overlap_slices"] == ["line=L3", "shift=night"] and project.settings["gold_rate"] == 0.05
    page = admin.get(f"/projects/{project.id}/overlap")
    assert 'value="3"' in page.text and "line=L3" in page.text
    bad = admin.post(f"/projects/{project.id}/overlap", data={**form, "labels_per_image": "0"})
    assert bad.status_code == 422 and "form-error" in bad.text
    bad = admin.post(f"/projects/{project.id}/overlap", data={**form, "qa_fraction_percent": "nan"})
    assert bad.status_code == 422
    db.refresh(project)
    assert project.labels_per_image == 3
    inspector = client_for(make_member(db, project, Role.inspector, password=None))
    assert inspector.get(f"/projects/{project.id}/overlap").status_code == 403
    assert inspector.post(f"/projects/{project.id}/overlap", data=form).status_code == 403


def test_the_page_says_when_the_defect_book_changed_since_my_last_label(db: Session, client_for: Client) -> None:
    from tests.factories import make_annotation

    project = make_project(db)
    inspector = make_member(db, project, Role.inspector, password=None)
    make_annotation(db, make_image(db, project), inspector, class_named(db, project, "ok"), defect_book_version=1)
    client = client_for(inspector)
    assert "defect book changed" not in client.get(f"/projects/{project.id}/label").text
    project.defect_book_version = 3
    db.flush()
    page = client.get(f"/projects/{project.id}/label").text
    assert "defect book changed since your last label (version 1" in page
    assert f"/projects/{project.id}/defect-book?since=1" in page
