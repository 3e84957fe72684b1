"""Workload images for the training engine's tests: rendered once per session, features extracted once."""
from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from app.training.extract import extract_many
from app.training.recipe import get_recipe
from tests.support.shared import workload_script

CLASSES = ("ok", "scratch", "dent", "pit", "discoloration")


@dataclass(frozen=True)
class WorkloadFeatures:
    folder: Path
    files: list[str]
    truth: np.ndarray  # (n,) class index
    features: np.ndarray  # (n, d) of the default recipe
    groups: np.ndarray  # (n,) near-duplicate group, else the image's own index

    def image(self, i: int) -> bytes:
        return (self.folder / "images" / self.files[i]).read_bytes()


@pytest.fixture(scope="session")
def workload_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """600 images, a seed no other test uses (the recipe was designed on other seeds)."""
    out = tmp_path_factory.mktemp("training-workload")
    subprocess.run([sys.executable, str(workload_script()), "--out", str(out), "--images", "600", "--seed", "4711",
                    "--workers", "2", "--quiet"], check=True, stdout=subprocess.DEVNULL)
    return out


@pytest.fixture(scope="session")
def workload(workload_dir: Path) -> WorkloadFeatures:
    labels = json.loads((workload_dir / "truth.coco.json").read_text())["image_labels"]
    files = sorted(labels)
    groups = np.arange(len(files))
    index = {f: i for i, f in enumerate(files)}
    for g, members in enumerate(json.loads((workload_dir / "near_duplicates.json").read_text())):
        groups[[index[m] for m in members]] = len(files) + g
    readers = [lambda f=f: (workload_dir / "images" / f).read_bytes() for f in files]
    features = extract_many(get_recipe(), readers, workers=2)
    truth = np.array([CLASSES.index(labels[f]) for f in files])
    return WorkloadFeatures(folder=workload_dir, files=files, truth=truth, features=features, groups=groups)
