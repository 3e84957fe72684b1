"""Fixtures of the model-run tests: a stored scene per test (images really decoded), jobs run inline."""
from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy.orm import Session

from app.jobs.runner import run_queued
from tests.modeling.scene import Scene, build


@pytest.fixture
def scene(db: Session, app: FastAPI) -> Scene:
    return build(db, storage=app.state.storage, settings=app.state.settings)


def run_jobs(db: Session, app: Any) -> int:
    return run_queued(db, storage=app.state.storage, settings=app.state.settings, kinds=["modeling.train"])
