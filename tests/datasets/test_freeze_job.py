"""Freezing as a job: a small freeze answers 201 in the request, a big one 202 with a queued job whose
run makes exactly one version, the same as an in-request freeze of the same data; duplicates and
retries never make a second version; what can be refused is refused before anything is queued."""
from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from app.datasets import facts
from app.datasets.models import DatasetItem, DatasetVersion
from app.datasets.schemas import FreezeIn
from app.jobs import service as jobs
from app.jobs.models import Job, JobState
from app.jobs.runner import run_queued
from tests.datasets.helpers import freeze
from tests.datasets.scene import Scene, build_scene

KIND = "datasets.freeze"
BODY = {"name": "release", "filter": {"min_confidence": 0.6}, "split": {"train": 0.7, "val": 0.2, "test": 0.1,
                                                                       "seed": 4}}


def api(project_id: int) -> str:
    return f"/api/v1/projects/{project_id}/datasets"


@pytest.fixture
def low_threshold(app: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(app.state.settings, "freeze_in_request_max_items", 10)


def run_jobs(db: Session, app: Any) -> int:
    return run_queued(db, storage=app.state.storage, settings=app.state.settings, kinds=[KIND])


def versions(db: Session, scene: Scene) -> list[DatasetVersion]:
    return list(db.scalars(select(DatasetVersion).where(DatasetVersion.project_id == scene.project.id)))


def items(db: Session, version_id: int) -> list[tuple[Any, ...]]:
    rows = db.execute(select(DatasetItem.image_id, DatasetItem.label_class_id, DatasetItem.boxes, DatasetItem.split,
                             DatasetItem.source, DatasetItem.confidence)
                      .where(DatasetItem.version_id == version_id).order_by(DatasetItem.image_id)).all()
    return [tuple(r) for r in rows]


def job_count(db: Session) -> int:
    return db.scalar(select(func.count()).select_from(Job).where(Job.kind == KIND)) or 0


def test_a_small_freeze_is_made_in_the_request(db: Session, client_for) -> None:
    scene = build_scene(db, images=20)
    made = client_for(scene.admin).post(api(scene.project.id), json=BODY)
    assert made.status_code == 201, made.text
    assert made.json()["name"] == "release" and len(made.json()["content_hash"]) == 64
    assert job_count(db) == 0


def test_a_big_freeze_is_queued_and_its_job_makes_the_same_version_as_the_request_would(
        db: Session, client_for, app, low_threshold) -> None:
    scene = build_scene(db, images=40)
    with db.begin_nested() as trial:  # what an in-request freeze of this data gives, then undone
        inline = freeze_now(db, scene)
        expected = (inline.content_hash, inline.counts, items(db, inline.id))
        trial.rollback()
    admin = client_for(scene.admin)
    queued = admin.post(api(scene.project.id), json=BODY)
    assert queued.status_code == 202, queued.text
    body = queued.json()
    assert body["state"] == "queued" and body["status_url"] == f"/api/v1/projects/{scene.project.id}/jobs/" \
                                                              f"{body['job_id']}"
    assert versions(db, scene) == []
    assert admin.get(body["status_url"]).json()["state"] == "queued"
    assert run_jobs(db, app) == 1
    status = admin.get(body["status_url"]).json()
    assert status["state"] == "done", status["message"]
    [version] = versions(db, scene)
    assert status["result"]["version_id"] == version.id
    assert status["result_url"] == f"/projects/{scene.project.id}/datasets/{version.id}"
    assert (version.content_hash, version.counts, items(db, version.id)) == expected
    assert admin.get(api(scene.project.id) + f"/{version.id}").json()["content_hash"] == expected[0]


def freeze_now(db: Session, scene: Scene) -> DatasetVersion:
    from app.datasets import service

    return service.freeze_version(db, project=scene.project, spec=FreezeIn.model_validate(BODY), user=scene.admin)


def test_wait_freezes_a_big_one_in_the_request(db: Session, client_for, low_threshold) -> None:
    scene = build_scene(db, images=40)
    made = client_for(scene.admin).post(api(scene.project.id), json={**BODY, "wait": True})
    assert made.status_code == 201, made.text
    assert job_count(db) == 0 and len(versions(db, scene)) == 1
    assert "wait" not in versions(db, scene)[0].filter


def test_a_double_submit_gives_one_job_and_a_duplicated_job_one_version(
        db: Session, client_for, app, low_threshold) -> None:
    scene = build_scene(db, images=40)
    admin = client_for(scene.admin)
    first, again = (admin.post(api(scene.project.id), json=BODY) for _ in range(2))
    assert first.status_code == again.status_code == 202
    assert first.json()["job_id"] == again.json()["job_id"] and job_count(db) == 1
    # Two requests that raced past that check: the same payload queued twice.
    job = db.get(Job, first.json()["job_id"])
    twin = jobs.enqueue(db, kind=KIND, project_id=scene.project.id, payload=dict(job.payload), created_by=scene.admin)
    db.commit()
    assert run_jobs(db, app) == 2
    [version] = versions(db, scene)
    for ran in (job, twin):
        db.refresh(ran)
        assert (ran.state, ran.result["version_id"]) == (JobState.done, version.id), ran.message


def test_a_job_that_failed_half_way_is_retried_into_one_version(
        db: Session, client_for, app, low_threshold, monkeypatch: pytest.MonkeyPatch) -> None:
    scene = build_scene(db, images=40)
    queued = client_for(scene.admin).post(api(scene.project.id), json=BODY)
    job = db.get(Job, queued.json()["job_id"])
    real_gather, calls = facts.gather, []

    def dies_once(*args: Any, **kwargs: Any) -> dict[str, Any]:  # the items are written by now
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("the worker's disk went away")
        return real_gather(*args, **kwargs)

    monkeypatch.setattr(facts, "gather", dies_once)
    assert run_jobs(db, app) == 1
    db.refresh(job)
    assert job.state == JobState.queued and "retrying" in job.message
    assert versions(db, scene) == [] and db.scalar(select(func.count()).select_from(DatasetItem)) == 0
    db.execute(update(Job).where(Job.id == job.id).values(run_after=None))  # skip the back-off
    db.commit()
    assert run_jobs(db, app) == 1
    db.refresh(job)
    assert (job.state, job.attempts) == (JobState.done, 2), job.message
    [version] = versions(db, scene)
    # Run once more (as if the job had been handed out again after it committed): still one version.
    db.execute(update(Job).where(Job.id == job.id).values(state=JobState.queued, worker_id=None))
    db.commit()
    assert run_jobs(db, app) == 1
    db.refresh(job)
    assert job.state == JobState.done and job.result["version_id"] == version.id
    assert [v.id for v in versions(db, scene)] == [version.id]


def test_bad_freezes_are_refused_before_anything_is_queued(db: Session, client_for, low_threshold) -> None:
    scene = build_scene(db, images=40)
    other = build_scene(db, images=3, seed=1)
    admin = client_for(scene.admin)
    freeze(db, scene, "taken")
    db.commit()
    foreign = admin.post(api(scene.project.id), json={"name": "x", "filter": {"class_ids": [other.classes["ok"].id]}})
    assert foreign.status_code == 422 and "classes" in foreign.text
    taken = admin.post(api(scene.project.id), json={"name": "taken"})
    assert taken.status_code == 409
    assert job_count(db) == 0
    assert admin.post(api(scene.project.id), json=BODY).status_code == 202
    other_settings = {**BODY, "split": {"train": 0.8, "val": 0.1, "test": 0.1}}
    busy = admin.post(api(scene.project.id), json=other_settings)
    assert busy.status_code == 409 and "being frozen" in busy.text
    assert job_count(db) == 1 and [v.name for v in versions(db, scene)] == ["taken"]


def test_a_refusal_found_by_the_job_fails_it_once(db: Session, client_for, app, low_threshold) -> None:
    scene = build_scene(db, images=40)
    queued = client_for(scene.admin).post(api(scene.project.id),
                                          json={"name": "empty", "filter": {"slices": {"line": ["nowhere"]}}})
    assert queued.status_code == 202
    assert run_jobs(db, app) == 1
    job = db.get(Job, queued.json()["job_id"])
    db.refresh(job)
    assert (job.state, job.attempts) == (JobState.failed, 1) and "nothing to freeze" in job.message
    assert versions(db, scene) == []


def test_the_freeze_form_sends_a_big_freeze_to_its_job_page(db: Session, client_for, app, low_threshold) -> None:
    from bs4 import BeautifulSoup

    scene = build_scene(db, images=40)
    admin = client_for(scene.admin)
    form = {"name": "v1", "exclude_ambiguous": "1", "exclude_unresolved": "1", "min_confidence": "", "slices": "",
            "train": "0.8", "val": "0.1", "test": "0.1", "seed": "0"}
    posted = admin.post(f"/projects/{scene.project.id}/datasets", data=form, follow_redirects=False)
    assert posted.status_code == 303
    location = posted.headers["location"]
    assert location.startswith(f"/projects/{scene.project.id}/jobs/")
    page = BeautifulSoup(admin.get(location).text, "html.parser")
    assert page.select_one(".job-progress")["data-job-state"] == "queued"
    assert "Freezing" in page.select_one("h1").get_text()
    assert run_jobs(db, app) == 1
    page = BeautifulSoup(admin.get(location).text, "html.parser")
    [version] = versions(db, scene)
    assert page.select_one("a.job-result-link")["href"] == f"/projects/{scene.project.id}/datasets/{version.id}"
    again = admin.post(f"/projects/{scene.project.id}/datasets", data=form)
    assert again.status_code == 409 and "already exists" in again.text
