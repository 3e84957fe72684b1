"""A small inspection workload (make_inspection_set.py), generated once per test session."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.consistency.workload import Workload, load_workload
from tests.support.shared import workload_script


@pytest.fixture(scope="session")
def inspection_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """400 images, 6 annotators (all five profiles + a spammer), seed 0 (~6 s to render)."""
    script = workload_script()
    out = tmp_path_factory.mktemp("inspection")
    subprocess.run([sys.executable, str(script), "--out", str(out), "--images", "400", "--annotators", "6",
                    "--spammer", "--seed", "0", "--quiet"], check=True, stdout=subprocess.DEVNULL)
    return out


@pytest.fixture(scope="session")
def inspection(inspection_dir: Path) -> Workload:
    return load_workload(inspection_dir)
