"""Markup and template syntax in every text field a person can type (reliability #9): a project whose
names, definitions, comments, reasons, notes, file names, metadata... all hold
`<script>…</script><img src=x onerror=…>{{7*191919}}` plus non-Latin text, then every page of the app is
fetched as each role. No page may carry the markup raw or evaluate the template expression, and each
field must show (escaped) on at least one page, so the crawl cannot pass by showing nothing. Exports
made through the API keep CSV cells inert and VOC XML well-formed
(tests/datasets/test_export_hostile.py covers every format at the service level)."""
from __future__ import annotations

import csv
import io
import re
import zipfile
from dataclasses import dataclass
from typing import Any

import pytest
from defusedxml import ElementTree
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.analysis.models import ModelPrediction
from app.auth import tokens
from app.auth.models import Role, User
from app.datasets.freeze import freeze_version
from app.datasets.schemas import FreezeIn
from app.images.models import UploadBatch
from app.jobs.models import Job, JobState
from app.labeling.models import Assignment, AssignmentState
from app.projects.models import ClassExample, Project
from app.review.models import Decision, Resolution
from tests.factories import (
    class_named,
    login_client,
    make_annotation,
    make_conflict,
    make_final_label,
    make_image,
    make_member,
    make_project,
    make_user,
)
from tests.security.fill import FILLERS, Fill, Side
from tests.security.walk import api_routes

EVALUATED = "1343433"  # 7 * 191919: what a template engine would print for the expression


def payload(tag: str) -> str:
    """Markup, a quote-breaking attribute, a template expression, non-Latin text; 79 characters with the
    tag "class_name" (class names hold 80)."""
    return f"<script>alert({tag})</script>\"'><img src=x onerror=alert(1)>{{{{7*191919}}}}ü検"


def shown_escaped(tag: str) -> str:
    return f"&lt;script&gt;alert({tag})&lt;/script&gt;"


# Fields that must appear (escaped) on some page; the crawl reports the others it never saw.
REQUIRED = {"project_name", "class_name", "class_definition", "admin_name", "inspector_name", "file_name",
            "comment", "reason", "version_name", "batch_name", "token_name", "job_message"}
OPTIONAL = {"project_description", "reviewer_name", "meta_line", "conflict_message", "return_note", "example_note",
            "version_description", "model_name", "outsider_name"}


@dataclass
class Poisoned:
    project: Project
    people: dict[str, User]
    ids: dict[str, int]


def poisoned_project(db: Session) -> Poisoned:
    project = make_project(db, name=payload("project_name"), classes=("ok", "scratch", "dent"))
    project.description = payload("project_description")
    people = {role: make_member(db, project, Role(role), password=None, name=payload(f"{role}_name"))
              for role in ("admin", "reviewer", "inspector")}
    second = make_member(db, project, Role.inspector, password=None, name=payload("outsider_name"))
    scratch, dent = class_named(db, project, "scratch"), class_named(db, project, "dent")
    scratch.name, scratch.definition = payload("class_name"), payload("class_definition")
    batch = UploadBatch(project_id=project.id, name=payload("batch_name"), source="upload", stats={"stored": 1})
    db.add(batch)
    db.flush()
    image = make_image(db, project, width=640, height=480, file_name=payload("file_name") + ".png",
                       meta={"line": payload("meta_line")}, batch_id=batch.id)
    make_annotation(db, image, people["inspector"], scratch, comment=payload("comment"),
                    boxes=[{"x": 1, "y": 1, "w": 9, "h": 9, "class_id": scratch.id}])
    make_annotation(db, image, second, dent, comment=payload("comment"))
    conflict = make_conflict(db, image, state="resolved", details={"message": payload("conflict_message")})
    disputed = make_image(db, project, width=640, height=480, file_name=payload("file_name") + ".jpg")
    make_annotation(db, disputed, people["inspector"], scratch, comment=payload("comment"))
    make_annotation(db, disputed, second, dent, comment=payload("comment"))
    make_conflict(db, disputed, details={"message": payload("conflict_message")})
    resolution = Resolution(conflict_id=conflict.id, reviewer_id=people["reviewer"].id, decision=Decision.edit,
                            label_class_id=scratch.id, reason=payload("reason"), conflict_version=conflict.version)
    db.add(resolution)
    db.flush()
    make_final_label(db, image, scratch, source="review",
                     boxes=[{"x": 1, "y": 1, "w": 9, "h": 9, "class_id": scratch.id},
                            {"x": 20, "y": 20, "w": 9, "h": 9, "class_id": dent.id}])
    db.add(Assignment(project_id=project.id, image_id=image.id, labeler_id=people["inspector"].id,
                      state=AssignmentState.returned, note=payload("return_note"),
                      returned_by_id=people["reviewer"].id))
    db.add(ClassExample(label_class_id=scratch.id, image_id=image.id, note=payload("example_note")))
    db.add(ModelPrediction(project_id=project.id, image_id=image.id, model_name=payload("model_name"),
                           probabilities={str(scratch.id): 1.0}))
    job = Job(kind="datasets.export", project_id=project.id, state=JobState.failed, message=payload("job_message"),
              created_by_id=people["admin"].id)
    db.add(job)
    db.flush()
    tokens.create_token(db, user=people["admin"], name=payload("token_name"), actor=None, max_days=90)
    version = freeze_version(db, project=project, spec=FreezeIn(name=payload("version_name"),
                                                                description=payload("version_description")),
                             user=people["admin"])
    db.flush()
    ids = {"project_id": project.id, "image_id": image.id, "conflict_id": conflict.id, "version_id": version.id,
           "job_id": job.id, "class_id": scratch.id, "label_class_id": scratch.id, "batch_id": batch.id,
           "labeler_id": people["inspector"].id}
    return Poisoned(project, people, ids)


def page_routes(app: FastAPI) -> list[Any]:
    """Every GET route that answers a person (HTML), not the JSON API and not media or archives."""
    skip = ("/file", "/thumb", "/download", ".json", ".md")
    return [r for r in api_routes(app) if r.method == "GET" and not r.is_api and not r.path.endswith(skip)
            and r.path != "/healthz" and not r.path.startswith("/docs")]


PARAM = re.compile(r"{(\w+)}")


def crawl(db: Session, app: FastAPI, world: Poisoned, client: TestClient, user: User) -> dict[str, str]:
    """GET every page as `user`; {url: html}."""
    fill = Fill(db, app, Side(world.project, world.people["inspector"], world.people["reviewer"],
                              world.people["admin"]), actor=user)
    pages = {}
    for route in page_routes(app):
        url = PARAM.sub(lambda m: str(world.ids[m.group(1)] if m.group(1) in world.ids else FILLERS[m.group(1)](fill)),
                        route.path)
        response = client.get(url, follow_redirects=True)
        assert response.status_code < 500, f"{url}: {response.status_code} {response.text[:200]}"
        if response.status_code == 200 and "html" in response.headers.get("content-type", ""):
            pages[url] = response.text
    return pages


def test_every_text_field_is_escaped_on_every_page(db: Session, app: FastAPI) -> None:
    world = poisoned_project(db)
    site_admin = make_user(db, site_admin=True, name=payload("site_admin_name"))
    callers = {**world.people, "site_admin": site_admin}
    seen: dict[str, set[str]] = {}
    problems = []
    for role, user in callers.items():
        client = login_client(db, app, TestClient(app, base_url="http://testserver"), user)
        pages = crawl(db, app, world, client, user)
        assert len(pages) >= 5, f"{role} saw only {sorted(pages)}"
        for url, html in pages.items():
            for raw in ("<script>alert(", "<img src=x onerror"):  # escaped, these start with &lt;
                if raw in html:
                    problems.append(f"{role} {url}: raw {raw!r} in the page")
            if EVALUATED in html:
                problems.append(f"{role} {url}: the template expression was evaluated")
            for tag in REQUIRED | OPTIONAL:
                if shown_escaped(tag) in html:
                    seen.setdefault(tag, set()).add(url)
    assert not problems, "\n".join(problems)
    missing = REQUIRED - set(seen)
    assert not missing, f"these fields were shown on no page (so their escaping is untested): {sorted(missing)}"


def test_exports_keep_hostile_text_inert(db: Session, app: FastAPI) -> None:
    """Through the API: CSV cells that would start a formula are neutralised, VOC XML parses (escaped),
    and the archive's file name (from the project name) is a safe, encoded Content-Disposition."""
    world = poisoned_project(db)
    class_named(db, world.project, "dent").name = "=HYPERLINK(\"http://evil.example\",\"x\")"
    db.flush()
    client = login_client(db, app, TestClient(app, base_url="http://testserver"), world.people["admin"])
    base = f"/api/v1/projects/{world.project.id}/datasets/{world.ids['version_id']}/exports"
    archives = {}
    for fmt in ("csv", "voc"):
        made = client.post(base, json={"format": fmt, "wait": True})
        assert made.status_code == 201, made.text
        download = client.get(f"{base}/{fmt}/download")
        assert download.status_code == 200
        disposition = download.headers["content-disposition"]
        assert "<" not in disposition and "\r" not in disposition and "\n" not in disposition
        assert disposition.count('"') <= 2
        archives[fmt] = zipfile.ZipFile(io.BytesIO(download.content))
    rows = [row for name in archives["csv"].namelist() if name.endswith(".csv")
            for row in csv.reader(io.StringIO(archives["csv"].read(name).decode()))]
    cells = [cell for row in rows for cell in row]
    assert cells and not [c for c in cells if c.startswith(("=", "+", "-", "@", "\t", "\r"))]
    assert any("<script>alert(class_name)" in c for c in cells)  # kept as text, not dropped
    names = set()
    for name in archives["voc"].namelist():
        if name.endswith(".xml"):
            names |= {o.findtext("name") for o in ElementTree.fromstring(archives["voc"].read(name)).iter("object")}
            assert b"<script>" not in archives["voc"].read(name)
    assert payload("class_name") in names


@pytest.fixture(autouse=True)
def _requests_in_the_test_transaction(anon: TestClient) -> None:
    """`anon` routes the app's sessions to the test's `db` (both kinds of database)."""
