"""Model runs end to end through the product: a run's time and peak memory on a stored, frozen project
(features cached in the database, predictions and bootstrap metrics stored, model in storage), a
retrain after a relabel (features read back from the cache), batch inference on a folder (`concord
model predict`) and the ONNX export with its card, for the default recipe and the ONNX backbone recipe.

bench/training.py measures the pure engine on the same images; the difference between its figures and
these is what the product adds (database, storage, per-image rows, metrics with intervals).

Per size (default 1,000 and 5,000 workload images, 640x480, make_inspection_set.py seed 3; 20,000
with --big), in a fresh SQLite database: the images go in through the real ingest path with their
true class as the decided label, and are frozen into a version (70/10/20 train/val/test). Then, per
recipe, each step in its own child process (its VmHWM is the step's peak RSS; `baseline_rss_mib` is
the same child after its imports):
- run = start_run + the "modeling.train" job: extraction, 5 folds + final fit, predictions, metrics;
- retrain = 1% of the images relabelled, a new version frozen, a run on it (features cached);
- predict = the run's model on INFERENCE_IMAGES files of a folder (2 workers), as `concord model predict`;
- export = the run's model as ONNX with its card.
The backbone recipe uses bench/training.py's small random CNN: its figures are about speed only.

Prints one JSON object (bench/README.md format) and writes it to bench/results/modeling.json.
    .venv/bin/python bench/modeling.py [--quick] [--sizes 1000,5000] [--big] [--recipes filterbank,onnx-linear]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench._training_data import CLASSES, status_mib, workload  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
SEED = 3
SPLIT = {"train": 0.7, "val": 0.1, "test": 0.2, "seed": 1}
RELABEL_SHARE = 0.01
INFERENCE_IMAGES = 200


def settings_for(work: Path, size: int) -> Any:
    from app.core.config import Settings

    return Settings(database_url=f"sqlite:///{work / f'modeling-{size}.db'}", data_dir=work / f"data-{size}")


def session_for(settings: Any) -> Any:
    from app.core.db import make_engine, make_sessionmaker

    return make_sessionmaker(make_engine(settings.database_url))()


def setup(size: int, data_dir: Path, work: Path) -> dict[str, Any]:
    """The project, its images with their true class decided, and version v1 (not measured for runs)."""
    from app.auth.models import Role
    from app.core import migrate
    from app.core.db import make_engine
    from app.core.storage import make_storage
    from app.datasets import service as datasets
    from app.datasets.schemas import FreezeIn
    from app.images import service as images
    from app.modeling import backbones
    from bench.training import small_backbone
    from tests.factories import class_named, make_final_label, make_member, make_project

    data = workload(size, SEED, data_dir)
    settings = settings_for(work, size)
    migrate.upgrade(make_engine(settings.database_url))
    storage = make_storage(settings)
    started = time.perf_counter()
    with session_for(settings) as db:
        project = make_project(db, name=f"Bench {size}", classes=CLASSES)
        admin = make_member(db, project, Role.admin)
        classes = [class_named(db, project, name) for name in CLASSES]
        for k, (path, truth) in enumerate(zip(data.files, data.truth, strict=True)):
            stored = images.store_image_bytes(db, storage=storage, settings=settings, project=project,
                                              data=path.read_bytes(), file_name=path.name)
            assert stored.image is not None, stored.reason
            make_final_label(db, stored.image, classes[int(truth)], source="review")
            if k % 200 == 199:
                db.commit()
        ingest_s = time.perf_counter() - started
        datasets.freeze_version(db, project=project, spec=FreezeIn.model_validate({"name": "v1", "split": SPLIT}),
                                user=admin)
        backbone = backbones.save(storage, project_id=project.id, data=small_backbone())["backbone"]
        db.commit()
        return {"project_id": project.id, "admin_id": admin.id, "backbone": backbone, "ingest_s": ingest_s}


def train_step(size: int, work: Path, recipe: str, version: str, facts: dict[str, Any]) -> dict[str, Any]:
    from app.auth.models import User
    from app.core.storage import make_storage
    from app.datasets import service as datasets
    from app.jobs.runner import run_queued
    from app.modeling import service

    settings = settings_for(work, size)
    storage = make_storage(settings)
    with session_for(settings) as db:
        found = datasets.find_version(db, facts["project_id"], version)
        admin = db.get(User, facts["admin_id"])
        backbone = facts["backbone"] if recipe == "onnx-linear" else None
        baseline, started = status_mib("VmRSS"), time.perf_counter()
        run = service.start_run(db, project_id=facts["project_id"], version_id=found.id, recipe=recipe,
                                backbone_key=backbone, storage=storage, user=admin)
        db.commit()
        run_queued(db, storage=storage, settings=settings, kinds=[service.JOB_KIND])
        seconds = time.perf_counter() - started
        db.refresh(run)
        job = service.run_job(db, run)
        accuracy = (run.metrics.get("evaluation") or {}).get("accuracy", {}).get("value")
        return {"seconds": seconds, "state": run.state, "run_id": run.id, "train_count": run.train_count,
                "eval_count": run.eval_count, "extracted": (job.result or {}).get("extracted") if job else None,
                "test_accuracy": accuracy, "baseline_rss_mib": baseline, "peak_rss_mib": status_mib("VmHWM")}


def relabel(size: int, work: Path, facts: dict[str, Any]) -> dict[str, Any]:
    """RELABEL_SHARE of the images get another class; freeze v2."""
    from sqlalchemy import select

    from app.auth.models import User
    from app.datasets import service as datasets
    from app.datasets.schemas import FreezeIn
    from app.images.models import Image
    from app.projects.models import Project
    from app.review.models import FinalLabel

    settings = settings_for(work, size)
    with session_for(settings) as db:
        finals = db.scalars(select(FinalLabel).join(Image, Image.id == FinalLabel.image_id)
                            .where(Image.project_id == facts["project_id"]).order_by(FinalLabel.image_id)).all()
        step = max(int(1 / RELABEL_SHARE), 1)
        ids = sorted({f.label_class_id for f in finals if f.label_class_id is not None})
        changed = 0
        for final in finals[::step]:
            final.label_class_id = ids[(ids.index(final.label_class_id) + 1) % len(ids)]  # type: ignore[arg-type]
            changed += 1
        db.flush()
        admin = db.get(User, facts["admin_id"])
        datasets.freeze_version(db, project=db.get_one(Project, facts["project_id"]),
                                spec=FreezeIn.model_validate({"name": "v2", "split": SPLIT}), user=admin)
        db.commit()
        return {"relabelled": changed}


def predict_step(size: int, data_dir: Path, work: Path, run_id: int) -> dict[str, Any]:
    from app.core.storage import make_storage
    from app.modeling import inference, service
    from app.modeling.export import export_run
    from app.modeling.models import ModelRun

    settings = settings_for(work, size)
    storage = make_storage(settings)
    files = workload(size, SEED, data_dir).files[:INFERENCE_IMAGES]
    with session_for(settings) as db:
        run = db.get_one(ModelRun, run_id)
        baseline, started = status_mib("VmRSS"), time.perf_counter()
        recipe, model = service.load_model(storage, run)
        proba = inference.predict_files(recipe, model, files, workers=2)
        predict_s = time.perf_counter() - started
        started = time.perf_counter()
        made = export_run(db, storage=storage, run=run)
        export_s = time.perf_counter() - started
        return {"images": int(proba.shape[0]), "seconds": predict_s, "export_s": export_s,
                "onnx_bytes": len(made.onnx), "baseline_rss_mib": baseline, "peak_rss_mib": status_mib("VmHWM")}


def child(args: argparse.Namespace) -> dict[str, Any]:
    size, work = int(args.sizes), args.work
    facts = json.loads((work / f"facts-{size}.json").read_text()) if args.child != "setup" else {}
    if args.child == "setup":
        return setup(size, args.data_dir, work)
    if args.child == "train":
        return train_step(size, work, args.recipes, args.version, facts)
    if args.child == "relabel":
        return relabel(size, work, facts)
    if args.child == "predict":
        return predict_step(size, args.data_dir, work, int(args.run_id))
    raise SystemExit(f"unknown step {args.child}")


def run_child(step: str, size: int, data_dir: Path, work: Path, *extra: str) -> dict[str, Any]:
    command = [sys.executable, __file__, "--child", step, "--sizes", str(size), "--data-dir", str(data_dir),
               "--work", str(work), *extra]
    done = subprocess.run(command, capture_output=True, text=True, check=False, cwd=REPO,
                          env={**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"})
    if done.returncode != 0:
        raise SystemExit(f"{step} {size}: {done.stderr.strip()[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def figures_for(size: int, recipes: list[str], data_dir: Path, work: Path) -> list[dict[str, Any]]:
    workload(size, SEED, data_dir)  # render outside the measured steps
    facts = run_child("setup", size, data_dir, work)
    (work / f"facts-{size}.json").write_text(json.dumps(facts))
    relabelled = run_child("relabel", size, data_dir, work)["relabelled"] if recipes else 0
    label = f"{size:,} images 640x480"
    out = [{"name": "ingest of the workload (store, thumbnail, near-duplicates) + decided labels",
            "value": round(size / facts["ingest_s"], 2), "unit": "images/s", "size": label, "database": "sqlite",
            "reference": None}]
    for recipe in recipes:
        print(f"  {recipe}, {size:,} images", file=sys.stderr, flush=True)
        first = run_child("train", size, data_dir, work, "--recipes", recipe, "--version", "v1")
        again = run_child("train", size, data_dir, work, "--recipes", recipe, "--version", "v2")
        line = run_child("predict", size, data_dir, work, "--run-id", str(first["run_id"]))
        assert first["state"] == again["state"] == "done", (first, again)

        def fig(name: str, value: float, unit: str, ref: dict[str, Any] | None = None, *, recipe: str = recipe,
                **extra: Any) -> dict[str, Any]:
            return {"name": f"{name}, {recipe}", "value": round(value, 3), "unit": unit, "size": label,
                    "database": "sqlite", "reference": ref, **extra}

        out += [
            fig("model run (features + 5 folds + final fit + predictions + metrics)", first["seconds"], "s", None,
                train_images=first["train_count"], test_images=first["eval_count"], extracted=first["extracted"]),
            fig(f"retrain after relabelling {relabelled} images (features cached)", again["seconds"], "s",
                {"name": "the first run", "value": round(first["seconds"], 1), "unit": "s"},
                extracted=again["extracted"]),
            fig("run peak RSS", first["peak_rss_mib"], "MiB", None,
                baseline_rss_mib=round(first["baseline_rss_mib"], 1)),
            fig("retrain peak RSS", again["peak_rss_mib"], "MiB", None,
                baseline_rss_mib=round(again["baseline_rss_mib"], 1)),
            fig("batch inference on a folder (concord model predict, 2 workers)", line["images"] / line["seconds"],
                "images/s", None, images=line["images"]),
            fig("ONNX export with its card", line["export_s"], "s", None, onnx_bytes=line["onnx_bytes"]),
            fig("predict peak RSS", line["peak_rss_mib"], "MiB", None,
                baseline_rss_mib=round(line["baseline_rss_mib"], 1)),
        ]
        if recipe == "filterbank":
            out.append(fig("test accuracy (decided label = truth)", first["test_accuracy"] or 0.0, "fraction"))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="300 images: a smoke test")
    parser.add_argument("--sizes", default="1000,5000")
    parser.add_argument("--big", action="store_true", help="also 20,000 images (about an hour on 2 cores)")
    parser.add_argument("--recipes", default="filterbank,onnx-linear")
    parser.add_argument("--data-dir", type=Path, default=REPO / "var" / "bench")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--version", help=argparse.SUPPRESS)
    parser.add_argument("--run-id", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args)))
        return
    sizes = [300] if args.quick else [int(s) for s in args.sizes.split(",")] + ([20_000] if args.big else [])
    figures: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="concord-bench-modeling-") as tmp:
        for size in sizes:
            figures += figures_for(size, args.recipes.split(","), args.data_dir, Path(tmp))
    result = {"bench": "modeling", "figures": figures,
              "environment": {"python": platform.python_version(), "cpus": os.cpu_count(),
                              "load_average_at_end": os.getloadavg()}}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "modeling.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
