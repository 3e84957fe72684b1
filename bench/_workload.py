"""Helpers the benches share: the team's inspection workload (generated once per size and seed into
bench/.cache, git-ignored), quantiles, figures in the bench/README.md format, and a project whose
images went in through the real ingest path.
"""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
CACHE = Path(os.environ.get("CONCORD_BENCH_CACHE", REPO / "bench" / ".cache"))
SHARED = Path(os.environ.get("CONCORD_SHARED_DIR", REPO.parent / "shared"))


class MissingWorkload(RuntimeError):
    """The team's workload generator (../shared/workload) is not on this machine."""


def workload(images: int, *, seed: int = 0) -> Path:
    """A make_inspection_set.py folder of `images` 640x480 JPEGs (~39 KB each) with its labels,
    generated on first use (two processes) and reused afterwards."""
    out = CACHE / f"workload-{images}-s{seed}"
    if (out / "manifest.json").exists():
        return out
    script = SHARED / "workload" / "make_inspection_set.py"
    if not script.exists():
        raise MissingWorkload(f"the workload generator is not at {script} (set CONCORD_SHARED_DIR)")
    CACHE.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, str(script), "--out", str(out), "--images", str(images), "--seed", str(seed),
                    "--workers", "2", "--quiet", "--force"], check=True, stdout=subprocess.DEVNULL)
    return out


def truth_by_file(root: Path) -> dict[str, tuple[str, list[tuple[str, list[float]]]]]:
    """file name -> (true image class, [(box class, [x, y, w, h])])."""
    coco = json.loads((root / "truth.coco.json").read_text())
    names = {c["id"]: c["name"] for c in coco["categories"]}
    files = {i["id"]: i["file_name"] for i in coco["images"]}
    boxes: dict[str, list[tuple[str, list[float]]]] = {f: [] for f in files.values()}
    for a in coco["annotations"]:
        boxes[files[a["image_id"]]].append((names[a["category_id"]], [float(v) for v in a["bbox"]]))
    return {f: (coco["image_labels"][f], boxes[f]) for f in files.values()}


def quantiles(values: list[float]) -> dict[str, float]:
    """p50/p95/p99 (inclusive method) and the count; NaN-free for one value."""
    ordered = sorted(values)
    if not ordered:
        return {"p50": float("nan"), "p95": float("nan"), "p99": float("nan"), "n": 0}
    q = statistics.quantiles(ordered, n=100, method="inclusive") if len(ordered) > 1 else ordered * 99
    return {"p50": q[49], "p95": q[94], "p99": q[98], "n": len(ordered)}


def figure(name: str, value: float, unit: str, *, size: str, database: str | None,
           reference: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    digits = 3 if abs(value) < 10 else 1
    return {"name": name, "value": round(value, digits), "unit": unit, "size": size, "database": database,
            "reference": reference, **extra}


def write_result(name: str, result: dict[str, Any]) -> None:
    results = REPO / "bench" / "results"
    results.mkdir(exist_ok=True)
    (results / f"{name}.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
