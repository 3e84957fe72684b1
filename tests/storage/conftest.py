"""Every storage test runs against both backends: a local directory and S3 (moto on loopback)."""
from __future__ import annotations

from pathlib import Path

import pytest

from app.core.storage import LocalStorage, Storage
from tests.support.s3 import make_s3_storage, s3_endpoint  # noqa: F401 (a fixture)

BACKENDS = ["local", "s3"]


@pytest.fixture(params=BACKENDS)
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Storage:
    if request.param == "local":
        return LocalStorage(tmp_path / "media")
    return make_s3_storage(request.getfixturevalue("s3_endpoint"), tmp_path)
