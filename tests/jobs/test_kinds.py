"""Each domain's job kind is wired to its service: it runs through the queue to a result."""
from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from app.core.config import Settings
from app.core.storage import LocalStorage
from app.jobs import service
from app.jobs.models import JobState
from app.jobs.registry import load_kinds
from app.jobs.runner import run_queued
from tests.factories import make_image, make_project

PRODUCT_KINDS = {"files.delete", "diagnostics.sleep", "datasets.export", "analysis.drift", "analysis.augment",
                 "consistency.recompute"}


def test_every_product_kind_is_registered() -> None:
    assert set(load_kinds()) >= PRODUCT_KINDS


@pytest.mark.parametrize(("kind", "payload", "outcome"), [
    ("consistency.recompute", {}, JobState.done),
    ("analysis.drift", {}, JobState.done),
    # The service ran and refused (nothing to augment yet): a refusal fails the job at once, no retry.
    ("analysis.augment", {"class_name": "scratch", "per_image": 1}, JobState.failed),
])
def test_a_project_kind_reaches_its_service(db: Session, tmp_path: Path, kind: str, payload: dict[str, object],
                                            outcome: str) -> None:
    project = make_project(db)
    make_image(db, project)
    job = service.enqueue(db, kind=kind, project_id=project.id, payload=payload)
    run_queued(db, storage=LocalStorage(tmp_path / "media"), settings=Settings(data_dir=tmp_path), kinds=[kind])
    db.refresh(job)
    assert (job.state, job.attempts) == (outcome, 1), job.message
    if outcome == JobState.done:
        assert isinstance(job.result, dict)
    else:
        assert "final label" in job.message


def test_a_project_kind_without_a_project_fails_cleanly(db: Session, tmp_path: Path) -> None:
    job = service.enqueue(db, kind="analysis.drift")
    run_queued(db, storage=LocalStorage(tmp_path / "media"), settings=Settings(data_dir=tmp_path),
               kinds=["analysis.drift"])
    db.refresh(job)
    assert (job.state, job.attempts) == (JobState.failed, 1) and "needs a project" in job.message
