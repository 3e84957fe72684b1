"""The dataset API: admins only (#27), scoped to the project, streamed downloads with a safe filename."""
from __future__ import annotations

import hashlib
import io
import zipfile

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.auth.models import Role
from app.datasets.models import DatasetExport, DatasetVersion
from tests.datasets.helpers import freeze
from tests.datasets.scene import build_scene
from tests.factories import make_member, make_user


def api(project_id: int, rest: str = "") -> str:
    return f"/api/v1/projects/{project_id}/datasets{rest}"


def test_an_admin_freezes_lists_and_reads_versions(db: Session, client_for) -> None:
    scene = build_scene(db, images=30)
    admin = client_for(scene.admin)
    made = admin.post(api(scene.project.id), json={"name": "release 1", "description": "first",
                                                   "filter": {"min_confidence": 0.6},
                                                   "split": {"train": 0.7, "val": 0.15, "test": 0.15, "seed": 3}})
    assert made.status_code == 201, made.text
    body = made.json()
    assert body["number"] == 1 and body["counts"]["items"] > 0 and len(body["content_hash"]) == 64
    assert body["split_spec"] == {"train": 0.7, "val": 0.15, "test": 0.15, "seed": 3}
    assert [v["id"] for v in admin.get(api(scene.project.id)).json()] == [body["id"]]
    assert admin.get(api(scene.project.id, f"/{body['id']}")).json()["name"] == "release 1"
    page1 = admin.get(api(scene.project.id, f"/{body['id']}/items"), params={"limit": 5}).json()
    page2 = admin.get(api(scene.project.id, f"/{body['id']}/items"),
                      params={"limit": 5, "after": page1["next_after"]}).json()
    assert len(page1["items"]) == 5 and page1["items"][-1]["image_id"] < page2["items"][0]["image_id"]
    sheet = admin.get(api(scene.project.id, f"/{body['id']}/datasheet")).json()
    assert sheet["dataset"]["content_hash"] == body["content_hash"]
    assert sheet["counts"]["items"] == body["counts"]["items"]
    markdown = admin.get(api(scene.project.id, f"/{body['id']}/datasheet"), params={"format": "md"})
    assert markdown.text.startswith("# Datasheet") and "## Collection process" in markdown.text


def test_bad_freeze_requests_get_422_and_store_nothing(db: Session, client_for) -> None:
    scene = build_scene(db, images=20)
    admin = client_for(scene.admin)
    for body in ({"name": "x", "split": {"train": 0.9, "val": 0.2, "test": 0.1}},
                 {"name": "x", "filter": {"slices": {"line": ["nowhere"]}}},
                 {"name": "x", "filter": {"min_confidence": 2}},
                 {"name": "x", "filter": {"password_hash": True}},
                 {"name": ""}):
        response = admin.post(api(scene.project.id), json=body)
        assert response.status_code == 422, (body, response.text)
    assert db.scalar(select(func.count()).select_from(DatasetVersion)) == 0


def test_export_download_is_streamed_as_an_attachment_with_an_encoded_name(db: Session, client_for) -> None:
    scene = build_scene(db, images=20, name='Gehäuse "L2"\r\nX-Evil: 1')
    version = freeze(db, scene)
    admin = client_for(scene.admin)
    made = admin.post(api(scene.project.id, f"/{version.id}/exports"), json={"format": "yolo", "wait": True})
    assert made.status_code == 201, made.text
    out = made.json()
    status = admin.get(api(scene.project.id, f"/{version.id}/exports/yolo")).json()
    assert status["state"] == "done" and status["export"]["sha256"] == out["sha256"]
    response = admin.get(out["download_url"])
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/zip"
    assert response.headers["content-length"] == str(out["size_bytes"])
    disposition = response.headers["content-disposition"]
    assert disposition.startswith('attachment; filename="Geh_use_L2_X-Evil_1-v1-yolo.zip"; filename*=UTF-8\'\'')
    assert "Geh%C3%A4use%20%22L2%22%0D%0AX-Evil%3A%201-v1-yolo.zip" in disposition and "\n" not in disposition
    assert hashlib.sha256(response.content).hexdigest() == out["sha256"]
    assert "data.yaml" in zipfile.ZipFile(io.BytesIO(response.content)).namelist()
    listed = admin.get(api(scene.project.id, f"/{version.id}/exports")).json()
    assert [(e["format"], e["include_images"]) for e in listed] == [("yolo", False)]
    page_download = admin.get(f"/projects/{scene.project.id}/datasets/{version.id}/exports/yolo/download")
    assert page_download.content == response.content
    missing = admin.get(api(scene.project.id, f"/{version.id}/exports/coco/download"))
    assert missing.status_code == 404


def test_only_the_projects_admins_reach_its_datasets(db: Session, client_for, anon) -> None:
    scene = build_scene(db, images=20)
    version = freeze(db, scene)
    other = build_scene(db, images=5, seed=2)
    other_version = freeze(db, other)
    paths = [api(scene.project.id), api(scene.project.id, f"/{version.id}"),
             api(scene.project.id, f"/{version.id}/items"), api(scene.project.id, f"/{version.id}/datasheet"),
             f"/projects/{scene.project.id}/datasets", f"/projects/{scene.project.id}/datasets/{version.id}"]
    for role, expected in ((Role.inspector, 403), (Role.reviewer, 403)):
        client = client_for(make_member(db, scene.project, role, password=None))
        assert {p: client.get(p).status_code for p in paths} == dict.fromkeys(paths, expected)
        posted = client.post(api(scene.project.id, f"/{version.id}/exports"), json={"format": "coco", "wait": True})
        assert posted.status_code == expected
    outsider = client_for(make_user(db, password=None))
    assert {p: outsider.get(p).status_code for p in paths} == dict.fromkeys(paths, 404)
    assert anon.get(paths[0]).status_code == 401
    admin = client_for(scene.admin)
    # Another project's version, asked for under this project: not found, and nothing exported.
    for path in (api(scene.project.id, f"/{other_version.id}"), api(scene.project.id, f"/{other_version.id}/items"),
                 f"/projects/{scene.project.id}/datasets/{other_version.id}",
                 api(scene.project.id, f"/diff?a={version.id}&b={other_version.id}")):
        assert admin.get(path).status_code == 404, path
    response = admin.post(api(scene.project.id, f"/{other_version.id}/exports"), json={"format": "csv", "wait": True})
    assert response.status_code == 404
    assert db.scalar(select(func.count()).select_from(DatasetExport)) == 0


def test_browser_writes_need_the_csrf_token(db: Session, client_for) -> None:
    scene = build_scene(db, images=10)
    version = freeze(db, scene)
    admin = client_for(scene.admin)
    del admin.headers["X-CSRF-Token"]
    assert admin.post(api(scene.project.id), json={"name": "v2"}).status_code == 403
    assert admin.post(f"/projects/{scene.project.id}/datasets/{version.id}/exports",
                      data={"format": "csv"}).status_code == 403
    assert db.scalar(select(func.count()).select_from(DatasetVersion)) == 1


def test_without_wait_the_export_is_queued_as_a_job(db: Session, client_for, app) -> None:
    from app.jobs.runner import run_queued

    scene = build_scene(db, images=15)
    version = freeze(db, scene)
    admin = client_for(scene.admin)
    queued = admin.post(api(scene.project.id, f"/{version.id}/exports"), json={"format": "labelstudio"})
    assert queued.status_code == 202 and queued.json()["state"] == "queued"
    status_url = api(scene.project.id, f"/{version.id}/exports/labelstudio")
    assert admin.get(status_url).json()["state"] == "queued"
    assert run_queued(db, storage=app.state.storage, settings=app.state.settings, kinds=["datasets.export"]) == 1
    done = admin.get(status_url).json()
    assert done["state"] == "done" and done["export"]["download_url"].startswith("/api/v1/")
    assert admin.get(done["export"]["download_url"]).status_code == 200


def test_label_studio_options_pick_the_export_and_a_new_choice_replaces_the_old(db: Session, client_for, app) -> None:
    from app.jobs.models import Job
    from app.jobs.runner import run_queued

    scene = build_scene(db, images=15)
    version = freeze(db, scene)
    admin = client_for(scene.admin)
    url = api(scene.project.id, f"/{version.id}/exports")
    for bad in ({"image_root": "../etc"}, {"image_source": "url", "image_root": "files.local/x"},
                {"image_source": "ftp"}):
        assert admin.post(url, json={"format": "labelstudio", "wait": True, **bad}).status_code == 422, bad
    first = admin.post(url, json={"format": "labelstudio", "wait": True, "image_root": "plant/v1"}).json()
    assert first["options"]["image_root"] == "plant/v1"
    again = admin.post(url, json={"format": "labelstudio", "wait": True, "image_root": "plant/v1/"}).json()
    assert again["sha256"] == first["sha256"]  # the same choice: the stored export
    other = admin.post(url, json={"format": "labelstudio", "wait": True, "image_source": "url",
                                  "image_root": "https://files.local/v1/"}).json()
    assert other["sha256"] != first["sha256"] and other["id"] == first["id"]  # one row, made again
    tasks = zipfile.ZipFile(io.BytesIO(admin.get(other["download_url"]).content)).read("tasks.json").decode()
    assert '"image":"https://files.local/v1/' in tasks
    deletion = db.scalar(select(Job).where(Job.kind == "files.delete"))  # the replaced archive goes
    assert deletion is not None and any(k.endswith(f"{first['sha256'][:16]}.zip") for k in deletion.payload["keys"])
    assert run_queued(db, storage=app.state.storage, settings=app.state.settings, kinds=["files.delete"]) == 1


def test_an_export_made_by_an_older_writer_is_made_again(db: Session, client_for) -> None:
    scene = build_scene(db, images=10)
    version = freeze(db, scene)
    admin = client_for(scene.admin)
    url = api(scene.project.id, f"/{version.id}/exports")
    made = admin.post(url, json={"format": "voc", "wait": True}).json()
    row = db.get(DatasetExport, made["id"])
    row.options = {}  # as a row from before writers were versioned (0-based VOC boxes)
    db.flush()
    assert admin.get(api(scene.project.id, f"/{version.id}/exports/voc")).json()["state"] == "none"
    assert admin.get(made["download_url"]).status_code == 404
    again = admin.post(url, json={"format": "voc", "wait": True})
    assert again.status_code == 201 and again.json()["options"]["writer"] >= 2
