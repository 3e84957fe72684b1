"""The answers export: every answer with who gave it, in a long CSV and Label Studio JSON, by page, API and CLI."""
from __future__ import annotations

import csv
import io
import json
import zipfile
from pathlib import Path
from urllib.parse import unquote

from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from app.auth.models import User
from app.cli import root
from app.core.audit import AuditEvent
from app.datasets import answers
from app.datasets.models import DatasetItem
from app.datasets.schemas import AnswersIn
from app.images.import_accounts import Accounts
from app.images.importers import labelstudio
from app.images.importers.paths import ImagesRoot
from app.images.imports import import_labelstudio
from app.images.models import Image
from app.labeling.models import Annotation
from app.projects.models import LabelClass
from tests.datasets.helpers import freeze
from tests.datasets.readers import label_studio_import_errors
from tests.datasets.scene import build_scene
from tests.factories import make_project


def exported(db: Session, scene, **spec) -> zipfile.ZipFile:
    scope = answers.scope_of(db, scene.project, AnswersIn(**spec))
    return zipfile.ZipFile(io.BytesIO(b"".join(answers.stream(db, scope))))


def relabel(db: Session, scene) -> Annotation:
    """A labeler changes their mind: the old answer is superseded, never overwritten."""
    old = db.scalars(select(Annotation).join(Image).where(Image.project_id == scene.project.id)
                     .order_by(Annotation.id)).first()
    old.superseded_by_id = old.id  # out of the live index first, as the labeling service's supersede does
    db.flush()
    new = Annotation(image_id=old.image_id, labeler_id=old.labeler_id, label_class_id=old.label_class_id,
                     boxes=old.boxes, duration_ms=4200)
    db.add(new)
    db.flush()
    old.superseded_by_id = new.id
    db.flush()
    return old


def test_the_csv_holds_every_answer_with_its_labeler_time_and_state(db: Session, app) -> None:
    scene = build_scene(db, images=30)
    old = relabel(db, scene)
    zf = exported(db, scene)
    rows = list(csv.DictReader(io.StringIO(zf.read("answers.csv").decode())))
    stored = db.scalars(select(Annotation).join(Image).where(Image.project_id == scene.project.id)).all()
    assert {int(r["answer_id"]) for r in rows} == {a.id for a in stored}
    names = {c.id: c.name for c in db.scalars(select(LabelClass).where(LabelClass.project_id == scene.project.id))}
    emails = {u.id: u.email for u in db.scalars(select(User))}
    for answer in stored:
        mine = [r for r in rows if int(r["answer_id"]) == answer.id]
        assert len(mine) == max(1, len(answer.boxes))  # long: a row per box
        assert {r["labeler"] for r in mine} == {emails[answer.labeler_id]}
        assert {r["class"] for r in mine} == {names.get(answer.label_class_id, "")}
        assert {r["state"] for r in mine} == {"live" if answer.superseded_by_id is None else "superseded"}
        got = sorted((r["box_class"], float(r["x"]), float(r["y"]), float(r["w"]), float(r["h"])) for r in mine
                     if r["box_class"])
        assert got == sorted((names[b["class_id"]], b["x"], b["y"], b["w"], b["h"]) for b in answer.boxes)
    newer = next(r for r in rows if int(r["answer_id"]) == old.superseded_by_id)
    older = next(r for r in rows if int(r["answer_id"]) == old.id)
    assert newer["seconds"] == "4.2" and older["superseded_by"] == str(old.superseded_by_id)


def test_the_label_studio_file_round_trips_every_live_answer_with_its_author(db: Session, app, tmp_path: Path) -> None:
    scene = build_scene(db, images=24, storage=app.state.storage)
    zf = exported(db, scene)
    tasks = json.loads(zf.read("tasks.json"))
    config = zf.read("labelstudio/config.xml").decode()
    people = {a["completed_by"]["email"] for t in tasks for a in t["annotations"]}
    assert label_studio_import_errors(tasks, config, known_emails=frozenset(people)) == []
    assert label_studio_import_errors(tasks, config)  # Label Studio needs those accounts first
    live = db.scalars(select(Annotation).join(Image).where(Image.project_id == scene.project.id,
                                                           Annotation.superseded_by_id.is_(None))).all()
    assert sum(len(t["annotations"]) for t in tasks) == len(live)
    images = tmp_path / "images"
    images.mkdir()
    for image in db.scalars(select(Image).where(Image.project_id == scene.project.id)):
        name = next((unquote(t["data"]["image"].rsplit("/", 1)[-1]) for t in tasks if t["id"] == image.id), None)
        if name:
            with app.state.storage.open(image.storage_key) as handle:
                (images / name).write_bytes(handle.read())
    (tmp_path / "tasks.json").write_bytes(zf.read("tasks.json"))
    target = make_project(db, classes=tuple(scene.classes))
    import_labelstudio(db, storage=app.state.storage, settings=app.state.settings, project=target,
                       parsed=labelstudio.load(tmp_path / "tasks.json"), root=ImagesRoot(tmp_path),
                       accounts=Accounts(match_existing=True))  # the authors are this instance's accounts
    db.flush()
    names = {c.id: c.name for c in db.scalars(select(LabelClass))}

    def answers_of(project_id: int) -> set[tuple]:
        rows = db.execute(select(Image.sha256, User.email, Annotation.label_class_id, Annotation.boxes)
                          .join(Image, Image.id == Annotation.image_id).join(User, User.id == Annotation.labeler_id)
                          .where(Image.project_id == project_id, Annotation.superseded_by_id.is_(None))).all()
        return {(sha, email, names.get(cid), tuple(sorted((names[b["class_id"]], round(b["x"], 1), round(b["y"], 1))
                                                          for b in boxes))) for sha, email, cid, boxes in rows}

    assert answers_of(target.id) == answers_of(scene.project.id)


def test_a_versions_answers_carry_its_splits_and_pseudonyms_hide_people(db: Session, app) -> None:
    scene = build_scene(db, images=30)
    version = freeze(db, scene)
    zf = exported(db, scene, version_id=version.id, pseudonyms=True)
    rows = list(csv.DictReader(io.StringIO(zf.read("answers.csv").decode())))
    in_version = dict(db.execute(select(DatasetItem.image_id, DatasetItem.split)
                                 .where(DatasetItem.version_id == version.id)).all())
    assert {int(r["image_id"]) for r in rows} == set(in_version)
    assert all(r["split"] == in_version[int(r["image_id"])] for r in rows)
    assert {r["labeler"] for r in rows} == {f"labeler-{n}@concord.invalid" for n in (1, 2, 3)}
    text = zf.read("answers.csv").decode() + zf.read("tasks.json").decode()
    for user in db.scalars(select(User)):
        assert user.email not in text
    assert all(t["data"]["split"] == in_version[t["id"]] for t in json.loads(zf.read("tasks.json")))


def test_the_api_and_the_page_stream_it_to_admins_and_the_audit_trail_says_who(db: Session, client_for) -> None:
    scene = build_scene(db, images=12)
    api = client_for(scene.admin)
    response = api.post(f"/api/v1/projects/{scene.project.id}/answers/export", json={})
    assert response.status_code == 200 and response.headers["content-type"] == "application/zip"
    assert "answers.zip" in response.headers["content-disposition"]
    assert "answers.csv" in zipfile.ZipFile(io.BytesIO(response.content)).namelist()
    page = api.post(f"/projects/{scene.project.id}/answers/export", data={"version_id": "", "pseudonyms": "1"})
    assert page.status_code == 200 and zipfile.ZipFile(io.BytesIO(page.content)).testzip() is None
    events = db.scalars(select(AuditEvent).where(AuditEvent.action == "answers.exported")).all()
    assert [e.actor_id for e in events] == [scene.admin.id, scene.admin.id]
    assert api.post(f"/api/v1/projects/{scene.project.id}/answers/export", json={"version_id": 999_999}
                    ).status_code == 404
    assert api.post(f"/api/v1/projects/{scene.project.id}/answers/export", json={"image_root": "../x"}
                    ).status_code == 422


def test_the_command_writes_the_zip(cli_env, tmp_path: Path) -> None:
    with Session(cli_env, expire_on_commit=False) as db:
        build_scene(db, images=10, name="answers line")
        db.commit()
    out = tmp_path / "a" / "answers.zip"
    result = CliRunner().invoke(root, ["export-answers", "answers line", "--out", str(out), "--pseudonyms"],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["answers"] > 0 and zipfile.ZipFile(out).testzip() is None
