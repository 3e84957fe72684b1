"""Workload images for the training benchmarks (make_inspection_set.py), generated once and kept.

Kept under var/bench/ (or --data-dir), one folder per (images, seed); a folder without the
generator's manifest is incomplete and made again.
"""
from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
CLASSES = ("ok", "scratch", "dent", "pit", "discoloration")


@dataclass(frozen=True)
class Workload:
    folder: Path
    files: list[Path]
    truth: np.ndarray  # class index per image
    groups: np.ndarray  # near-duplicate group, else the image's own index


def generator() -> Path:
    for candidate in (REPO.parent / "shared" / "workload", REPO / "bench" / "workload"):
        if (candidate / "make_inspection_set.py").exists():
            return candidate / "make_inspection_set.py"
    raise SystemExit("make_inspection_set.py not found (../shared/workload or bench/workload)")


def workload(images: int, seed: int, data_dir: Path) -> Workload:
    folder = data_dir / f"inspection-{images}-seed{seed}"
    if not (folder / "manifest.json").exists():
        print(f"rendering {images:,} workload images into {folder} ...", file=sys.stderr, flush=True)
        subprocess.run([sys.executable, str(generator()), "--out", str(folder), "--images", str(images), "--seed",
                        str(seed), "--workers", "2", "--quiet", "--force"], check=True, stdout=subprocess.DEVNULL)
    labels = json.loads((folder / "truth.coco.json").read_text())["image_labels"]
    names = sorted(labels)
    index = {name: i for i, name in enumerate(names)}
    groups = np.arange(len(names))
    for g, members in enumerate(json.loads((folder / "near_duplicates.json").read_text())):
        groups[[index[m] for m in members]] = len(names) + g
    truth = np.array([CLASSES.index(labels[n]) for n in names])
    return Workload(folder=folder, files=[folder / "images" / n for n in names], truth=truth, groups=groups)


def status_mib(field: str) -> float:
    """VmHWM (peak RSS) or VmRSS of this process, from /proc/self/status."""
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"{field} not in /proc/self/status")
