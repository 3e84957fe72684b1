"""Drift on the shared workload: the darkened L3/night images are flagged, no clean batch or slice is."""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.analysis import service
from app.analysis.models import ImageStats
from app.auth.models import Role, User
from app.images.models import Image, UploadBatch
from tests.analysis.workload_db import WorkloadFiles, load_project
from tests.factories import image_bytes, make_image, make_member, make_project

pytestmark = pytest.mark.slow


def drifted_share(wl: WorkloadFiles, lp, mask_names: list[str]) -> float:
    return sum(wl.drifted(n) for n in mask_names) / max(len(mask_names), 1)


def slice_members(lp, key: list[list[str]]) -> list[str]:
    return [name for name, image in lp.images.items() if all(image.meta.get(d) == v for d, v in key)]


def test_drifted_batch_and_slice_are_flagged_and_no_clean_one(db: Session, app: FastAPI,
                                                              workload: WorkloadFiles) -> None:
    lp = load_project(db, app.state.storage, workload, batches_by_slice=True)
    report = service.run_drift(db, storage=app.state.storage, project_id=lp.project.id)
    body = report.report
    assert body["reference"]["name"] == "L1-day" and body["n_without_stats"] == 0
    assert db.scalar(select(ImageStats).where(ImageStats.image_id == lp.images[workload.files[0]].id)) is not None
    flagged_batches = {b["name"] for b in body["batches"] if b["result"]["flagged"]}
    assert flagged_batches == {"L3-night"}
    l3_night = next(b for b in body["batches"] if b["name"] == "L3-night")
    assert l3_night["result"]["distance"] > 1.5 and "brightness" in l3_night["note"]
    # slices: L3/night stands alone; every other flagged slice holds drifted images and is explained by it
    standing = [s for s in body["slices"] if s["result"]["flagged"] and not s["explained_by"]]
    assert [s["name"] for s in standing] == ["L3/night"]
    for s in body["slices"]:
        members = slice_members(lp, s["key"])
        if drifted_share(workload, lp, members) == 0:
            assert not s["result"]["flagged"], s["name"]
        if s["result"]["flagged"] and s["name"] != "L3/night":
            assert s["explained_by"] == "L3/night"
    # the drifted images moved forward in the queue; the others did not
    for name, image in lp.images.items():
        db.refresh(image)
        in_slice = image.meta["line"] == "L3" and image.meta["shift"] == "night"
        assert image.priority == (service.DRIFT_PRIORITY if in_slice else 0), name
    batch = db.scalar(select(UploadBatch).where(UploadBatch.id == lp.batches["L3-night"].id))
    assert batch is not None and batch.stats["drift"]["flagged"] is True
    summary = service.drift_summary(db, lp.project.id)
    assert summary is not None and summary.batches == ["L3-night"] and summary.slices == ["L3/night"]


def test_one_batch_project_flags_the_drifted_slice_only(db: Session, app: FastAPI, workload: WorkloadFiles) -> None:
    lp = load_project(db, app.state.storage, workload, batches_by_slice=False, with_stats=True)
    body = service.run_drift(db, storage=app.state.storage, project_id=lp.project.id).report
    assert body["reference"]["kind"] == "all"
    assert [b["result"]["flagged"] for b in body["batches"]] == [False]  # the batch is the reference
    standing = [s["name"] for s in body["slices"] if s["result"]["flagged"] and not s["explained_by"]]
    assert standing == ["L3/night"]
    clean = [s for s in body["slices"] if drifted_share(workload, lp, slice_members(lp, s["key"])) == 0]
    assert clean and not any(s["result"]["flagged"] for s in clean)


def test_record_image_stats_reads_thumbnails_through_storage(db: Session, app: FastAPI) -> None:
    project = make_project(db)
    storage = app.state.storage
    storage.put_bytes("test-analysis/dark.png", image_bytes(64, 48, (40, 40, 40)))
    storage.put_bytes("test-analysis/warm.png", image_bytes(64, 48, (200, 150, 100)))
    dark = make_image(db, project, thumbnail_key="test-analysis/dark.png")
    warm, broken = make_image(db, project), make_image(db, project)
    warm.storage_key = "test-analysis/warm.png"  # no thumbnail: the original is read
    broken.storage_key = "test-analysis/missing.png"
    assert service.record_image_stats(db, storage=storage, images=[dark, warm, broken]) == 2
    assert db.get(ImageStats, dark.id).brightness == pytest.approx(40, abs=0.5)
    assert db.get(ImageStats, warm.id).red == pytest.approx(200 / 450, abs=0.01)
    assert db.get(ImageStats, broken.id) is None


def test_drift_api_pages_and_roles(db: Session, app: FastAPI, workload: WorkloadFiles,
                                   client_for: Callable[[User], TestClient]) -> None:
    lp = load_project(db, app.state.storage, workload, batches_by_slice=True, with_stats=True)
    pid = lp.project.id
    admin = make_member(db, lp.project, Role.admin, password=None)
    inspector = make_member(db, lp.project, Role.inspector, password=None)
    reviewer = make_member(db, lp.project, Role.reviewer, password=None)
    as_admin, as_reviewer, as_inspector = client_for(admin), client_for(reviewer), client_for(inspector)
    assert as_reviewer.get(f"/api/v1/projects/{pid}/drift").json() == {"computed": False, "batches": [], "slices": []}
    assert as_reviewer.post(f"/api/v1/projects/{pid}/drift/run").status_code == 403
    assert as_inspector.get(f"/api/v1/projects/{pid}/drift").status_code == 403
    ran = as_admin.post(f"/api/v1/projects/{pid}/drift/run")
    assert ran.status_code == 200, ran.text
    assert ran.json()["flagged_batches"] == ["L3-night"] and ran.json()["flagged_slices"] == ["L3/night"]
    got = as_reviewer.get(f"/api/v1/projects/{pid}/drift").json()
    assert got["computed"] and len(got["reference"]["hist"]["brightness"]) == 64
    page = as_reviewer.get(f"/projects/{pid}/analysis/drift")
    assert page.status_code == 200
    assert page.text.count('class="chart chart-histogram"') >= 3 and "L3-night" in page.text
    assert "style=" not in page.text
    project_page = as_inspector.get(f"/projects/{pid}")
    assert "drift-alert" in project_page.text and "L3/night" in project_page.text
    other_batch = lp.batches["L2-day"].id
    moved = as_admin.put(f"/api/v1/projects/{pid}/drift/reference", json={"batch_id": other_batch})
    assert moved.status_code == 200 and moved.json()["reference_batch_id"] == other_batch
    assert service.reference_batch(db, pid).id == other_batch
    elsewhere = make_project(db)
    assert as_admin.put(f"/api/v1/projects/{elsewhere.id}/drift/reference",
                        json={"batch_id": other_batch}).status_code == 404
    form = as_admin.post(f"/projects/{pid}/analysis/drift/run", follow_redirects=False)
    assert form.status_code == 303 and "Drift computed" in as_admin.get(form.headers["location"]).text  # the flash


def test_small_and_empty_projects(db: Session, app: FastAPI) -> None:
    project = make_project(db)
    report = service.run_drift(db, storage=app.state.storage, project_id=project.id)
    assert report.report["slices"] == [] and report.n_flagged == 0
    for n in range(3):
        make_image(db, project, meta={"line": "L1" if n else "L2"})
    assert np.isfinite(service.run_drift(db, storage=app.state.storage, project_id=project.id).n_images)
    assert db.scalar(select(Image.priority).where(Image.project_id == project.id)) == 0
