"""Access to the team's shared test data (`../shared`), which a user's fresh clone does not have.

Tests that read it skip when it is absent; with CONCORD_REQUIRE_SHARED=1 (set by CI) its absence
fails the test instead, so CI can never pass by skipping the real-data checks.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]


def shared_dir() -> Path:
    """The shared folder, or skip (fail under CONCORD_REQUIRE_SHARED=1) when it is missing."""
    path = Path(os.environ.get("CONCORD_SHARED_DIR", REPO_ROOT.parent / "shared"))
    if not path.is_dir():
        message = f"shared test data not found at {path}"
        if os.environ.get("CONCORD_REQUIRE_SHARED") == "1":
            pytest.fail(message + " (CONCORD_REQUIRE_SHARED=1)")
        pytest.skip(message)
    return path


def crowd_dataset(name: str) -> Path:
    return shared_dir() / "datasets" / "crowd" / name


def workload_script(name: str = "make_inspection_set.py") -> Path:
    return shared_dir() / "workload" / name


def make_workload(out: Path, images: int, *options: str) -> Path:
    """A make_inspection_set.py folder of `images` images in `out` (seed 0 unless `options` say)."""
    import subprocess
    import sys

    subprocess.run([sys.executable, str(workload_script()), "--out", str(out), "--images", str(images), "--quiet",
                    *options], check=True, stdout=subprocess.DEVNULL)
    return out
