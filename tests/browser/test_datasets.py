"""An admin freezes a version, exports it as COCO (progress on the page, a job behind it) and downloads it."""
from __future__ import annotations

import io
import json
import zipfile

from tests.browser.conftest import login
from tests.datasets.scene import build_scene
from tests.factories import PASSWORD
from tests.support.live_server import LiveServer


def test_freeze_then_export_and_download(page, server: LiveServer, tmp_path) -> None:
    with server.sessions() as db:
        scene = build_scene(db, images=40, name="Housings line 2", admin_password=PASSWORD)
        assert scene.admin.id  # loaded before the session closes
        project_id, email = scene.project.id, scene.admin.email
        db.commit()
    login(page, email, PASSWORD)
    page.goto(f"/projects/{project_id}/datasets")
    page.fill("input[name=name]", "release 1")
    page.fill("textarea[name=description]", "First cut for the line-2 detector")
    page.get_by_role("button", name="Freeze version").press("Enter")  # keyboard works
    page.wait_for_url(f"**/projects/{project_id}/datasets/*")
    assert page.locator("h1").inner_text() == "Version 1: release 1"
    assert "frozen" in page.locator(".flash").inner_text()
    row = page.locator(".export-table tbody tr", has_text="COCO detection JSON")
    row.locator("button", has_text="Export").first.click()
    download_link = row.locator("a.download").first
    download_link.wait_for(timeout=30_000)  # the job ran, the script saw it finish and reloaded the page
    with page.expect_download() as info:
        download_link.click()
    download = info.value
    assert download.suggested_filename == "Housings line 2-v1-coco.zip"
    data = (tmp_path / "coco.zip")
    download.save_as(data)
    archive = zipfile.ZipFile(io.BytesIO(data.read_bytes()))
    assert {"datasheet.md", "datasheet.json", "annotations/instances_train.json"} <= set(archive.namelist())
    sheet = json.loads(archive.read("datasheet.json"))
    assert sheet["dataset"]["name"] == "release 1"
    train = json.loads(archive.read("annotations/instances_train.json"))
    assert len(train["images"]) == sheet["counts"]["splits"]["train"]
    page.goto(f"/projects/{project_id}/datasets")
    assert page.locator(".versions-table tbody tr").count() == 1
