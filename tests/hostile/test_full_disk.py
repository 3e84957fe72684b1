"""A full disk (reliability #40): the storage write fails with ENOSPC halfway through a file. The
upload answers 507 for that file, stores no row, and leaves no partial file (the local store writes to
a temporary name and renames; a failed write removes the temporary file)."""
from __future__ import annotations

import errno
import shutil
from typing import Any

import pytest

from app.core import storage as storage_module
from tests.factories import image_bytes
from tests.hostile.conftest import Scene


def test_a_full_disk_refuses_the_upload_and_leaves_nothing(scene: Scene, monkeypatch: pytest.MonkeyPatch) -> None:
    real_copy = shutil.copyfileobj

    def fills_the_disk(source: Any, target: Any, length: int = 0) -> None:
        target.write(source.read(100))  # some bytes land, then the disk is full
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(storage_module.shutil, "copyfileobj", fills_the_disk)
    before = scene.stored()
    png = ("full.png", image_bytes(200, 100, (1, 2, 3)), "image/png")
    response = scene.client("admin").post(scene.api("/images"), files=[("files", png)])
    assert response.status_code == 507, response.text
    [result] = response.json()["results"]
    assert result["status"] == "refused" and "space" in result["reason"].lower()
    scene.assert_nothing_stored(before)  # rows, media files (no temporary leftovers) and staged uploads

    monkeypatch.setattr(storage_module.shutil, "copyfileobj", real_copy)  # space again: the same file goes in
    again = scene.client("admin").post(scene.api("/images"), files=[("files", png)])
    assert again.status_code == 200 and again.json()["results"][0]["status"] == "stored"
