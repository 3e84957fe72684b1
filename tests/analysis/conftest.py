"""The shared inspection workload, generated once per test session (small: 400 images, seed 0)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.analysis.model import features
from tests.analysis.workload_db import WorkloadFiles, read_workload
from tests.support.shared import workload_script

WORKLOAD_IMAGES = 400


@pytest.fixture(scope="session")
def workload_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    script = workload_script()
    out = tmp_path_factory.mktemp("inspection")
    subprocess.run([sys.executable, str(script), "--out", str(out), "--images", str(WORKLOAD_IMAGES), "--seed", "0",
                    "--quiet"], check=True)
    return out


@pytest.fixture(scope="session")
def workload(workload_dir: Path) -> WorkloadFiles:
    return read_workload(workload_dir)


@pytest.fixture(scope="session")
def workload_features(workload: WorkloadFiles) -> dict[str, np.ndarray]:
    """Model features of every workload image, from its thumbnail."""
    return {name: features(workload.thumbs[name]) for name in workload.files}
