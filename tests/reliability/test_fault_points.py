"""Reliability #39: SIGKILL at named fault points (app/core/faults.py) of a real uvicorn, on both databases.

Each point is armed by starting the server with CONCORD_FAULT_POINT; the request that reaches it gets no
answer because the process is gone. After a restart: no row points to a missing file, `concord fsck
--fix` removes exactly the orphans (and the staged upload copy) the crash left, and the client's retry
(the same file, the same idempotency key) leaves one row, the one the retry names.

To spend four server starts per database rather than six, each restart arms the next point, and the
checks and retries of the previous crash go through a server armed elsewhere.
"""
from __future__ import annotations

import hashlib
import signal
import uuid
from pathlib import Path

import pytest

from app.images.models import Image
from app.labeling.models import Annotation
from tests.factories import image_bytes
from tests.reliability import crash
from tests.support.databases import fresh_database
from tests.support.live_server import RestartableServer

KILLED = -signal.SIGKILL


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_a_kill_at_each_named_fault_point_loses_nothing_and_leaves_nothing(
    kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = image_bytes(colour=(1, 2, 3)), image_bytes(colour=(4, 5, 6))
    first_sha, second_sha = hashlib.sha256(first).hexdigest(), hashlib.sha256(second).hexdigest()
    data_dir = tmp_path / "data"
    with fresh_database(kind, tmp_path) as engine:
        world = crash.seed(engine)
        server = RestartableServer(engine, data_dir)
        try:
            # 1. The image and its thumbnail are in storage; the row is not committed.
            server.start(CONCORD_FAULT_POINT="upload.file_written")
            with crash.client(server.base_url, world.admin_token) as admin:
                crash.cut_off(lambda: crash.upload(admin, world, "first.png", first))
            assert server.wait_dead() == KILLED
            assert crash.images_with(engine, first_sha) == []
            orphans = crash.media(data_dir)
            assert len(orphans) == 2 and all(first_sha in key for key in orphans)  # image + thumbnail
            assert len(crash.staged(data_dir)) == 1  # the verified copy the request never removed

            # 2. fsck removes what the crash left; the retry stores the image once.
            server.start(CONCORD_FAULT_POINT="annotation.committed")
            found = crash.fsck(engine, data_dir, monkeypatch, fix=False)
            assert found["missing"] == [] and set(found["orphans"]) == orphans
            assert len(found["staged_files"]) == 1
            fixed = crash.fsck(engine, data_dir, monkeypatch, fix=True)
            assert fixed["removed"] == 3 and crash.media(data_dir) == set() and crash.staged(data_dir) == []
            with crash.client(server.base_url, world.admin_token) as admin:
                stored = crash.upload(admin, world, "first.png", first)
            assert stored.status_code == 200, stored.text
            result = stored.json()["results"][0]
            assert result["status"] == "stored"
            assert crash.images_with(engine, first_sha) == [result["image_id"]]

            # 3. An answer is committed; its response never leaves.
            key = uuid.uuid4().hex
            with crash.client(server.base_url, world.labeler_token) as labeler:
                assignment = crash.next_assignment(labeler, world)
                assert assignment is not None
                crash.cut_off(lambda: crash.submit(labeler, world, assignment["id"], key))
            assert server.wait_dead() == KILLED
            committed = crash.annotations_with(engine, key)
            assert len(committed) == 1

            # 4. The retry with the same key gets that row back; then an upload dies after its commit.
            server.start(CONCORD_FAULT_POINT="upload.committed")
            with crash.client(server.base_url, world.labeler_token) as labeler:
                again = crash.submit(labeler, world, assignment["id"], key)
            assert again.status_code == 200, again.text
            assert again.json()["id"] == committed[0] and again.json()["replayed"] is True
            assert crash.annotations_with(engine, key) == committed
            assert crash.count(engine, Annotation) == 1
            with crash.client(server.base_url, world.admin_token) as admin:
                crash.cut_off(lambda: crash.upload(admin, world, "second.png", second))
            assert server.wait_dead() == KILLED
            rows = crash.images_with(engine, second_sha)
            assert len(rows) == 1

            # 5. Unarmed: the retried upload is recognised as the committed image, and nothing is left over.
            server.start()
            with crash.client(server.base_url, world.admin_token) as admin:
                retried = crash.upload(admin, world, "second.png", second)
            assert retried.status_code == 200, retried.text
            assert retried.json()["results"][0]["status"] == "duplicate"
            assert retried.json()["results"][0]["image_id"] == rows[0]
            assert crash.images_with(engine, second_sha) == rows and crash.count(engine, Image) == 2
            last = crash.fsck(engine, data_dir, monkeypatch, fix=True)
            assert last["missing"] == [] and last["orphans"] == [] and last["temp_files"] == []
            assert len(last["staged_files"]) == 1  # the second upload's staged copy, from the kill after commit
            assert crash.fsck(engine, data_dir, monkeypatch, fix=False) == {**last, "removed": 0, "staged_files": []}
            assert len(crash.media(data_dir)) == 4  # two images, two thumbnails
        finally:
            server.stop()

