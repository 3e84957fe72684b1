"""Dataset export at scale: freeze and export 100,000 images' labels (COCO and YOLO, images referenced)
on a temporary SQLite database and a temporary Postgres schema.

Data: bulk-inserted (tests/datasets/bulk.py): 640x480 images with line/camera/shift metadata, a final
label each (55/20/12/8/5 % ok/scratch/dent/pit/discoloration, 1-3 boxes on defective images), 1 % of
images in near-duplicate groups of five.

Memory: every measured step (freeze, each export) runs in its own child process, and `peak_rss_mib`
is that process's resident-set high-water mark, VmHWM in /proc/self/status (not getrusage's
ru_maxrss: on Linux that keeps the parent's RSS across fork and exec, so it would report the seeding
process). It counts everything: interpreter, imports, database driver, the step itself.
`baseline_rss_mib` is the same child's RSS after its imports, before the step; the difference is what
the step added. The target is a peak under 300 MiB whatever the size: `--sizes 10000,100000` shows it
does not grow with the data.

Prints one JSON object (bench/README.md format) and writes it to bench/results/export.json.
    .venv/bin/python bench/export.py [--quick] [--sizes 10000,100000] [--databases sqlite,postgres]
"""
from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sqlalchemy.orm import Session  # noqa: E402

from tests.datasets.bulk import seed  # noqa: E402
from tests.support.databases import engine_url, fresh_database, postgres_available  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
FORMATS = ("coco", "yolo")
TARGET_MIB = 300


def status_mib(field: str) -> float:
    """A memory figure of this process from /proc/self/status (VmHWM: peak RSS, VmRSS: current)."""
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024  # kB
    raise RuntimeError(f"{field} not in /proc/self/status")


def child(step: str, url: str, data_dir: str, project_id: int, fmt: str) -> None:
    """One measured step in this fresh process; prints {"seconds", "peak_rss_mib", "baseline_rss_mib", ...}."""
    from app.core.db import make_engine, make_sessionmaker
    from app.core.storage import LocalStorage
    from app.datasets import service
    from app.datasets.runner import run_export
    from app.datasets.schemas import ExportFormat, FreezeIn
    from app.projects.models import Project

    engine = make_engine(url)
    storage = LocalStorage(Path(data_dir) / "media")
    baseline = status_mib("VmRSS")
    started = time.perf_counter()
    out: dict[str, object] = {}
    with make_sessionmaker(engine)() as db:
        if step == "freeze":
            project = db.get(Project, project_id)
            version = service.freeze_version(db, project=project, spec=FreezeIn(name="bench"), user=None)
            db.commit()
            out = {"items": version.counts["items"], "version_id": version.id}
        else:
            version = service.find_version(db, project_id, "1")
            made = run_export(db, storage=storage, version=version, fmt=ExportFormat(fmt), include_images=False,
                              user_id=None, release=db.commit)
            db.commit()
            out = {"bytes": made.size_bytes, "sha256": made.sha256}
    out.update(seconds=round(time.perf_counter() - started, 2), peak_rss_mib=round(status_mib("VmHWM"), 1),
               baseline_rss_mib=round(baseline, 1))
    engine.dispose()
    print(json.dumps(out))


def run_child(step: str, url: str, data_dir: Path, project_id: int, fmt: str = "") -> dict[str, object]:
    command = [sys.executable, __file__, "--child", step, "--url", url, "--data-dir", str(data_dir),
               "--project", str(project_id), "--format", fmt or "coco"]
    done = subprocess.run(command, capture_output=True, text=True, check=True, cwd=REPO)
    return json.loads(done.stdout.strip().splitlines()[-1])


def measure(kind: str, size: int, figures: list[dict[str, object]], details: list[dict[str, object]]) -> None:
    with tempfile.TemporaryDirectory() as tmp, fresh_database(kind, Path(tmp)) as engine:
        url = engine_url(engine)
        started = time.perf_counter()
        with Session(engine) as db:
            seeded = seed(db, images=size, name=f"bench {size}")
            db.commit()
        seeding = round(time.perf_counter() - started, 1)
        print(f"  {kind} {size:,}: seeded in {seeding} s", file=sys.stderr, flush=True)
        label = f"{size:,} images"
        frozen = run_child("freeze", url, Path(tmp), seeded.project_id)
        details.append({"database": kind, "size": size, "step": "freeze", "seeding_seconds": seeding, **frozen})
        figures += [
            {"name": "freeze time", "value": frozen["seconds"], "unit": "s", "size": label, "database": kind,
             "reference": None},
            {"name": "freeze peak RSS", "value": frozen["peak_rss_mib"], "unit": "MiB", "size": label,
             "database": kind, "reference": None},
        ]
        for fmt in FORMATS:
            made = run_child("export", url, Path(tmp), seeded.project_id, fmt)
            details.append({"database": kind, "size": size, "step": f"export {fmt}", **made})
            print(f"  {kind} {size:,}: {fmt} {made}", file=sys.stderr, flush=True)
            figures += [
                {"name": f"{fmt} export time (labels only)", "value": made["seconds"], "unit": "s", "size": label,
                 "database": kind, "reference": None},
                {"name": f"{fmt} export peak RSS", "value": made["peak_rss_mib"], "unit": "MiB", "size": label,
                 "database": kind, "reference": {"name": "target", "value": TARGET_MIB, "unit": "MiB"}},
            ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="5,000 images only (a smoke test)")
    parser.add_argument("--sizes", default="10000,100000", help="comma-separated image counts")
    parser.add_argument("--databases", default="sqlite,postgres")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--data-dir", help=argparse.SUPPRESS)
    parser.add_argument("--project", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--format", default="coco", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.url, args.data_dir, args.project, args.format)
        return
    sizes = [5000] if args.quick else [int(s) for s in args.sizes.split(",")]
    kinds = [k for k in args.databases.split(",") if k != "postgres" or postgres_available()]
    figures: list[dict[str, object]] = []
    details: list[dict[str, object]] = []
    for kind in kinds:
        for size in sizes:
            measure(kind, size, figures, details)
    result = {"bench": "export", "figures": figures, "steps": details,
              "memory": "peak RSS (VmHWM) of a child process running only that step",
              "environment": {"python": platform.python_version(), "machine": platform.machine(),
                              "databases": kinds}}
    RESULTS.mkdir(exist_ok=True)
    if not args.quick:
        (RESULTS / "export.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
