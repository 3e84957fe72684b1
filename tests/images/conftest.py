"""An app with small limits (bytes, pixels, files, quota) for the upload cases, on the test's session."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from app.auth.models import User
from app.core.db import get_session
from app.core.storage import LocalStorage
from app.main import create_app
from tests.conftest import make_test_settings
from tests.factories import login_client
from tests.support.databases import engine_url

SMALL = {
    "max_upload_bytes": 200_000,
    "max_request_bytes": 1_000_000,
    "max_image_pixels": 1_000_000,
    "max_files_per_request": 5,
    "max_images_per_project": 8,
}


@pytest.fixture(scope="session")
def _small_app(engine: Engine, tmp_path_factory: pytest.TempPathFactory) -> FastAPI:
    return create_app(make_test_settings(engine_url(engine), tmp_path_factory.mktemp("small"), **SMALL))


@pytest.fixture
def small_app(_small_app: FastAPI, tmp_path: Path) -> FastAPI:
    """The small-limits app with a data directory (media, temporary files) of this test's own."""
    settings = _small_app.state.settings.model_copy(update={"data_dir": tmp_path / "data"})
    _small_app.state.settings = settings
    _small_app.state.storage = LocalStorage(settings.media_dir)
    return _small_app


@pytest.fixture
def small_client_for(small_app: FastAPI, db: Session) -> Iterator[Callable[[User], TestClient]]:
    small_app.dependency_overrides[get_session] = lambda: db
    made: list[TestClient] = []

    def make(user: User) -> TestClient:
        client = TestClient(small_app, base_url="http://testserver")
        login_client(db, small_app, client, user)
        made.append(client)
        return client

    yield make
    small_app.dependency_overrides.clear()


def media_files(app: FastAPI) -> list[Path]:
    """Every file in the app's storage (originals and thumbnails)."""
    root = app.state.settings.media_dir
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def temp_files(app: FastAPI) -> list[Path]:
    root = app.state.settings.data_dir / "tmp"
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


WORKLOAD_IMAGES = 60


@pytest.fixture(scope="session")
def inspection_set(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small make_inspection_set.py output (60 images, 6 annotators with a spammer, seed 0)."""
    import subprocess
    import sys

    from tests.support.shared import workload_script

    script = workload_script()
    out = tmp_path_factory.mktemp("inspection")
    subprocess.run(
        [
            sys.executable,
            str(script),
            "--out",
            str(out),
            "--images",
            str(WORKLOAD_IMAGES),
            "--spammer",
            "--annotators",
            "6",
            "--gold",
            "0.05",
            "--quiet",
        ],
        check=True,
    )
    return out
