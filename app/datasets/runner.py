"""Running an export for a caller that owns the transaction (a page, the API, the CLI, a job).

Progress goes to a small JSON file in storage (`<export key>.progress.json`), so any app server
(or the CLI) can show it without touching the database. `release` is called between pages: a
request passes its session's commit so that on SQLite a long export never holds the write lock.
"""
from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from app.core.errors import ConcordError, Conflict
from app.core.storage import Storage
from app.datasets.exporting import export_key, export_version
from app.datasets.models import DatasetExport, DatasetVersion
from app.datasets.schemas import ExportFormat, ExportOptions

STALE_SECONDS = 60  # a "running" export not heard from for this long has died
STALE_QUEUED_SECONDS = 1800  # a queued export no worker took up
EVERY_SECONDS = 0.5
OWNER = f"{socket.gethostname()}:{os.getpid()}"  # who writes this process's progress files


def progress_key(version: DatasetVersion, fmt: ExportFormat, include_images: bool) -> str:
    return export_key(version, fmt, include_images) + ".progress.json"


class ProgressFile:
    """A progress callback that writes `{"state", "done", "total", "message", "at"}` to a storage key."""

    def __init__(self, storage: Storage, key: str, *, every: float = EVERY_SECONDS) -> None:
        self.storage, self.key, self.every = storage, key, every
        self._last = 0.0

    def __call__(self, done: int, total: int) -> None:
        if done == 0:
            return  # the start is written by finish("running"); do not spend the first interval on it
        now = time.monotonic()
        if now - self._last >= self.every or done >= total:
            self._last = now
            self._put("running", done, total)

    def finish(self, state: str, *, done: int = 0, total: int = 0, message: str = "") -> None:
        self._put(state, done, total, message)

    def _put(self, state: str, done: int, total: int, message: str = "") -> None:
        body = {"state": state, "done": done, "total": total, "message": message, "at": time.time(),
                "owner": OWNER}
        self.storage.put_bytes(self.key, json.dumps(body).encode())


def _dead_here(owner: object) -> bool:
    """True when the process that wrote a progress file ran on this machine and is gone."""
    host, _, pid = str(owner).rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def read_progress(storage: Storage, key: str) -> dict[str, Any] | None:
    """The last progress written, with a running export that went quiet reported as failed."""
    try:
        with storage.open(key) as handle:
            body: dict[str, Any] = json.loads(handle.read())
    except (FileNotFoundError, ValueError):
        return None
    quiet = time.time() - float(body.get("at", 0))
    state = body.get("state")
    if (state == "running" and (quiet > STALE_SECONDS or _dead_here(body.get("owner")))) or (
            state == "queued" and quiet > STALE_QUEUED_SECONDS):
        body.update(state="failed", message="the export stopped before it finished; start it again")
    return body


def run_export(db: Session, *, storage: Storage, version: DatasetVersion, fmt: ExportFormat, include_images: bool,
               user_id: int | None, release: Callable[[], None] | None = None,
               on_progress: Callable[[int, int], None] | None = None, exclusive: bool = True,
               tmp_dir: Path | None = None, options: ExportOptions | None = None) -> DatasetExport:
    """Export with progress in storage. `exclusive`: refuse (409) while the same export is running
    (a job passes False: the queue already decides who runs, and a retried job must not be refused)."""
    key = progress_key(version, fmt, include_images)
    current = read_progress(storage, key)
    if exclusive and current is not None and current["state"] == "running":
        raise Conflict("this export is already being made; wait for it to finish", detail=current)
    tracker = ProgressFile(storage, key)
    tracker.finish("running")

    def tick(done: int, total: int) -> None:
        if release is not None:
            release()
        tracker(done, total)
        if on_progress is not None:
            on_progress(done, total)

    try:
        export = export_version(db, storage=storage, version=version, fmt=fmt, include_images=include_images,
                                user_id=user_id, progress=tick, tmp_dir=tmp_dir, options=options)
    except ConcordError as exc:
        tracker.finish("failed", message=exc.message)
        raise
    except Exception:
        tracker.finish("failed", message="the export failed; see the server log")
        raise
    tracker.finish("done", done=1, total=1)
    return export
