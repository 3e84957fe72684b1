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


def test_cancel_through_the_api_and_the_page(db: Session, client_for: Callable[[User], TestClient]) -> None:
    project = make_project(db)
    starter, reviewer = make_member(db, project, Role.inspector), make_member(db, project, Role.reviewer)
    admin = make_member(db, project, Role.admin)
    first = service.enqueue(db, kind="diagnostics.sleep", project_id=project.id, created_by=starter)
    second = service.enqueue(db, kind="diagnostics.sleep", project_id=project.id, created_by=starter)
    api = f"/api/v1/projects/{project.id}/jobs"

    page = client_for(reviewer).get(f"/projects/{project.id}/jobs/{first.id}")
    assert page.status_code == 200 and "Cancel the job" not in page.text  # reviewers see, may not cancel
    refused = client_for(reviewer).post(f"{api}/{first.id}/cancel")
    assert refused.status_code == 403 and client_for(reviewer).get(f"{api}/{first.id}").json()["state"] == "queued"

    starter_client = client_for(starter)
    page = starter_client.get(f"/projects/{project.id}/jobs/{first.id}")
    assert "Cancel the job" in page.text and f'action="/projects/{project.id}/jobs/{first.id}/cancel"' in page.text
    body = starter_client.post(f"{api}/{first.id}/cancel").json()
    assert (body["state"], body["cancel_requested"], body["cancel_url"]) == ("cancelled", True, None)
    assert starter_client.post(f"{api}/{first.id}/cancel").status_code == 409
    assert "Cancel the job" not in starter_client.get(f"/projects/{project.id}/jobs/{first.id}").text

    posted = client_for(admin).post(f"/projects/{project.id}/jobs/{second.id}/cancel", follow_redirects=False)
    assert posted.status_code == 303 and posted.headers["location"] == f"/projects/{project.id}/jobs/{second.id}"
    assert client_for(admin).get(f"{api}/{second.id}").json()["state"] == "cancelled"
    assert client_for(admin).post(f"{api}/999999/cancel").status_code == 404
