"""The dataset pages: list and freeze, a version with its exports (run as a job), the diff."""
from __future__ import annotations

import hashlib

from bs4 import BeautifulSoup
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.datasets.models import DatasetVersion
from app.jobs.runner import run_queued
from tests.datasets.helpers import freeze
from tests.datasets.scene import build_scene


def soup(response) -> BeautifulSoup:
    return BeautifulSoup(response.text, "html.parser")


FORM = {"name": "v1", "description": "first <b>cut</b>", "exclude_ambiguous": "1", "exclude_unresolved": "1",
        "min_confidence": "", "slices": "", "train": "0.8", "val": "0.1", "test": "0.1", "seed": "0"}


def test_the_freeze_form_makes_a_version_and_the_version_page_shows_it(db: Session, client_for) -> None:
    scene = build_scene(db, images=40, name="<script>alert(1)</script>")
    admin = client_for(scene.admin)
    base = f"/projects/{scene.project.id}/datasets"
    page = soup(admin.get(base))
    assert page.select_one("form.freeze-form input[name=name]")["value"] == "v1"
    assert len(page.select("form.freeze-form input[name=class_ids]")) == len(scene.classes)
    assert page.select_one("input[name=exclude_ambiguous]").has_attr("checked")
    assert "<script>alert(1)</script>" not in admin.get(base).text
    posted = admin.post(base, data={**FORM, "class_ids": [str(scene.classes["ok"].id), str(scene.classes["pit"].id)],
                                    "slices": "line=L1,L2\nshift=day"}, follow_redirects=False)
    assert posted.status_code == 303
    version = db.scalar(select(DatasetVersion).where(DatasetVersion.project_id == scene.project.id))
    assert version.filter["slices"] == {"line": ["L1", "L2"], "shift": ["day"]}
    assert version.filter["class_ids"] == sorted([scene.classes["ok"].id, scene.classes["pit"].id])
    shown = soup(admin.get(posted.headers["location"]))
    assert shown.select_one("h1").get_text() == "Version 1: v1"
    assert "first <b>cut</b>" in shown.select_one("p.lead").get_text()
    classes = [row.select("td")[0].get_text(strip=True) for row in shown.select("#classes-title ~ table tbody tr")]
    assert set(classes) <= {"ok", "pit"}
    assert len(shown.select(".export-table tbody tr")) == 6
    assert len(shown.select(".export-table button[name=include_images]")) == 12
    listing = soup(admin.get(base))
    assert [a.get_text() for a in listing.select(".versions-table tbody td a")] == ["v1"]


def test_a_bad_form_comes_back_with_the_message_and_the_values(db: Session, client_for) -> None:
    scene = build_scene(db, images=10)
    admin = client_for(scene.admin)
    base = f"/projects/{scene.project.id}/datasets"
    for data, field in (({**FORM, "min_confidence": "lots"}, "min_confidence"), ({**FORM, "slices": "line"}, "slices"),
                        ({**FORM, "train": "0.9"}, None), ({**FORM, "slices": "line=nowhere"}, "filter")):
        response = admin.post(base, data=data)
        assert response.status_code == 422
        page = soup(response)
        assert page.select_one(".form-error").get_text(strip=True)
        assert page.select_one("textarea[name=slices]").get_text() == data["slices"]
        if field in ("min_confidence", "slices"):
            assert page.select_one(f"[name={field}]")["aria-invalid"] == "true"
    assert db.scalar(select(func.count()).select_from(DatasetVersion)) == 0


def test_an_export_from_the_page_runs_as_a_job_then_downloads(db: Session, client_for, app) -> None:
    scene = build_scene(db, images=30)
    version = freeze(db, scene)
    admin = client_for(scene.admin)
    base = f"/projects/{scene.project.id}/datasets/{version.id}"
    started = admin.post(f"{base}/exports", data={"format": "voc", "include_images": "0"},
                         headers={"Accept": "application/json"})
    assert started.status_code == 200 and started.json()["state"] == "queued"
    status_url = f"/api/v1/projects/{scene.project.id}/datasets/{version.id}/exports/voc?include_images=0"
    cell = soup(admin.get(base)).select_one(f'.export-cell[data-status-url="{status_url}"]')
    assert cell["data-state"] == "queued" and cell.select_one("progress") is not None
    assert run_queued(db, storage=app.state.storage, settings=app.state.settings, kinds=["datasets.export"]) == 1
    status = admin.get(status_url).json()
    assert status["state"] == "done"
    cell = soup(admin.get(base)).select_one(f'.export-cell[data-status-url="{status_url}"]')
    link = cell.select_one("a.download")["href"]
    download = admin.get(link)
    assert hashlib.sha256(download.content).hexdigest() == status["export"]["sha256"]
    again = admin.post(f"{base}/exports", data={"format": "voc", "include_images": "0"}, follow_redirects=False)
    assert again.status_code == 303  # already made: nothing queued
    assert run_queued(db, storage=app.state.storage, settings=app.state.settings, kinds=["datasets.export"]) == 0


def test_the_diff_page_and_the_datasheet(db: Session, client_for) -> None:
    scene = build_scene(db, images=30)
    v1 = freeze(db, scene, "v1")
    v2 = freeze(db, scene, "v2", min_confidence=0.9)
    admin = client_for(scene.admin)
    page = soup(admin.get(f"/projects/{scene.project.id}/datasets/diff", params={"a": v1.id, "b": v2.id}))
    stats = {s.select_one(".stat-label").get_text(): s.select_one(".stat-value").get_text()
             for s in page.select(".stat")}
    assert stats["removed"] == str(v1.counts["items"] - v2.counts["items"]) and stats["added"] == "0"
    sheet = admin.get(f"/projects/{scene.project.id}/datasets/{v2.id}/datasheet.md")
    assert sheet.headers["content-type"].startswith("text/plain")
    assert "## Maintenance and lineage" in sheet.text and f"Follows version 1 (v1, `{v1.content_hash}`)" in sheet.text
