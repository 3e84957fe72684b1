"""Job status JSON and pages: scoped to the project, visible to reviewers and to whoever started it."""
from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.auth.models import Role, User
from app.core.config import Settings
from app.core.storage import LocalStorage
from app.jobs import service
from app.jobs.runner import run_queued
from tests.factories import make_member, make_project


def test_status_json_and_page(db: Session, client_for: Callable[[User], TestClient], tmp_path) -> None:  # type: ignore[no-untyped-def]
    project = make_project(db)
    reviewer = make_member(db, project, Role.reviewer)
    job = service.enqueue(db, kind="diagnostics.sleep", project_id=project.id, payload={"seconds": 0, "steps": 2},
                          created_by=reviewer)
    client = client_for(reviewer)
    body = client.get(f"/api/v1/projects/{project.id}/jobs/{job.id}").json()
    assert (body["state"], body["progress"], body["attempts"], body["title"]) == ("queued", 0.0, 0,
                                                                                  "Checking the workers")
    assert body["status_url"] == f"/api/v1/projects/{project.id}/jobs/{job.id}"

    run_queued(db, storage=LocalStorage(tmp_path), settings=Settings(data_dir=tmp_path))
    body = client.get(f"/api/v1/projects/{project.id}/jobs/{job.id}").json()
    assert (body["state"], body["progress"], body["result"]["steps"]) == ("done", 1.0, 2)

    page = client.get(f"/projects/{project.id}/jobs/{job.id}")
    assert page.status_code == 200
    assert f'data-job-status-url="/api/v1/projects/{project.id}/jobs/{job.id}"' in page.text
    assert "/static/js/jobs.js" in page.text
    listing = client.get(f"/projects/{project.id}/jobs")
    assert listing.status_code == 200 and f"/projects/{project.id}/jobs/{job.id}" in listing.text
    assert [j["id"] for j in client.get(f"/api/v1/projects/{project.id}/jobs").json()] == [job.id]


def test_who_sees_a_job(db: Session, client_for: Callable[[User], TestClient], anon: TestClient) -> None:
    project, other = make_project(db), make_project(db)
    starter = make_member(db, project, Role.inspector)
    colleague = make_member(db, project, Role.inspector)
    reviewer = make_member(db, project, Role.reviewer)
    outsider = make_member(db, other, Role.admin)
    job = service.enqueue(db, kind="diagnostics.sleep", project_id=project.id, created_by=starter)
    elsewhere = service.enqueue(db, kind="diagnostics.sleep", project_id=other.id, created_by=outsider)
    url = f"/api/v1/projects/{project.id}/jobs/{job.id}"

    assert client_for(starter).get(url).status_code == 200
    assert client_for(reviewer).get(url).status_code == 200
    assert client_for(colleague).get(url).status_code == 404  # an inspector sees only their own jobs
    assert client_for(colleague).get(f"/api/v1/projects/{project.id}/jobs").json() == []
    assert client_for(outsider).get(url).status_code == 404  # not a member
    assert client_for(reviewer).get(f"/api/v1/projects/{project.id}/jobs/{elsewhere.id}").status_code == 404
    assert client_for(reviewer).get(f"/projects/{project.id}/jobs/{elsewhere.id}").status_code == 404
    assert anon.get(url).status_code == 401


def test_a_result_link_must_stay_on_the_site(db: Session) -> None:
    project = make_project(db)
    job = service.enqueue(db, kind="diagnostics.sleep", project_id=project.id)
    for url, shown in [("/projects/1/exports/3", "/projects/1/exports/3"), ("https://evil.example/x", None),
                       ("//evil.example/x", None), ("/\\evil.example", None), (42, None)]:
        job.result = {"url": url}
        assert service.job_view(job).result_url == shown
