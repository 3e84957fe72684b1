"""Labeling latency while a large export runs (reliability #48): submit+next p50/p99 for 20 labelers, idle
and while 10,000-image exports with their image files are made, on SQLite, through one live server.

The export runs as it does in production on SQLite: queued through the API and made by the server's
in-app job thread, in the same process as the labeling requests. Its images are real files (small,
distinct JPEG bytes whose SHA-256 the rows record), so the export reads, hashes and zips 10,000 files.
Exports of the same version in other formats follow one another until the measured window is full.

Labelers are threads doing what the labeling page does (POST .../annotation, then .../assignments/next)
with a think time between images, so the idle run is not a saturated closed loop: latency then measures
how long a step waits, not how many steps are queued. A step counts as "during export" when it began and
ended while an export was running. The target: p99 during an export at most twice the idle p99.

Prints one JSON object (bench/README.md format) as its last line, and writes bench/results/<name>.json.
    .venv/bin/python bench/labeling_during_export.py [--quick] [--labelers 20] [--seconds 25] [--think 1.0]
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import platform
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import httpx  # noqa: E402
import labeling as labeling_bench  # noqa: E402  (bench/labeling.py: the labeling project and its people)
from PIL import Image as PILImage  # noqa: E402
from sqlalchemy import select, update  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from app.auth import tokens  # noqa: E402
from app.auth.models import User  # noqa: E402
from app.datasets import service as datasets_service  # noqa: E402
from app.datasets.schemas import FreezeIn  # noqa: E402
from app.images.models import Image  # noqa: E402
from app.projects.models import Project  # noqa: E402
from tests.datasets.bulk import seed as seed_decided  # noqa: E402
from tests.support.databases import fresh_database  # noqa: E402
from tests.support.live_server import live_server  # noqa: E402

NAME = "labeling_during_export"
RESULTS = Path(__file__).resolve().parent / "results"
FORMATS = ("coco", "yolo", "voc", "csv", "labelstudio", "imagefolder")
TARGET_RATIO = 2.0


def jpeg(seed: int) -> bytes:
    out = io.BytesIO()
    PILImage.effect_noise((160, 120), 40 + seed % 20).convert("RGB").save(out, format="JPEG", quality=85)
    return out.getvalue()


def seed_export(engine, data_dir: Path, images: int) -> dict:
    """A project of `images` decided images with files in storage, frozen into one version."""
    media = data_dir / "media"
    templates = [jpeg(n) for n in range(16)]
    with Session(engine) as db:
        seeded = seed_decided(db, images=images, name="export")
        rows = db.execute(select(Image.id, Image.storage_key).where(Image.project_id == seeded.project_id)).all()
        hashes = []
        for n, (image_id, key) in enumerate(rows):
            body = templates[n % len(templates)] + n.to_bytes(4, "big")  # bytes after the JPEG's end: distinct files
            path = media / key
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(body)
            hashes.append({"id": image_id, "sha256": hashlib.sha256(body).hexdigest(), "size_bytes": len(body)})
        db.execute(update(Image), hashes)
        project = db.get(Project, seeded.project_id)
        version = datasets_service.freeze_version(db, project=project, spec=FreezeIn(name="bench"), user=None)
        admin = db.get(User, seeded.admin_id)
        token = tokens.create_token(db, user=admin, name="bench", actor=None, max_days=90)[1]
        db.commit()
        return {"project": seeded.project_id, "version": version.id, "token": token}


class Exporter(threading.Thread):
    """Starts exports one after another through the API until stopped; `running` is set while one runs."""

    def __init__(self, base: str, seeded: dict) -> None:
        super().__init__(daemon=True)
        self.base, self.seeded = base, seeded
        self.running = threading.Event()
        self.stop = threading.Event()
        self.made: list[dict] = []
        self.errors: list[str] = []

    def run(self) -> None:
        api = f"/api/v1/projects/{self.seeded['project']}/datasets/{self.seeded['version']}/exports"
        headers = {"Authorization": f"Bearer {self.seeded['token']}"}
        with httpx.Client(base_url=self.base, headers=headers, timeout=120) as client:
            for fmt in FORMATS:
                if self.stop.is_set():
                    return
                began = time.perf_counter()
                started = client.post(api, json={"format": fmt, "include_images": True})
                if started.status_code not in (201, 202):
                    self.errors.append(f"{fmt}: {started.status_code} {started.text[:200]}")
                    return
                self.running.set()
                state = started.json().get("state", "done")
                while state in ("queued", "running"):
                    time.sleep(0.1)
                    state = client.get(f"{api}/{fmt}", params={"include_images": "true"}).json()["state"]
                self.running.clear()
                if state != "done":
                    self.errors.append(f"{fmt}: ended {state}")
                    return
                self.made.append({"format": fmt, "seconds": round(time.perf_counter() - began, 1)})


def labeler(base: str, token: str, seeded: dict, until: threading.Event, think: float,
            steps: list[tuple[float, bool]], errors: list[str], exporting: threading.Event | None) -> None:
    api = f"/api/v1/projects/{seeded['project']}"
    dent = seeded["classes"][2]
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=60) as client:
        current = client.post(f"{api}/assignments/next", json={}).json()["assignment"]
        while current is not None and not until.wait(think):
            during = exporting is not None and exporting.is_set()
            began = time.perf_counter()
            saved = client.post(f"{api}/assignments/{current['id']}/annotation",
                                json={"label_class_id": dent,
                                      "boxes": [{"x": 100, "y": 120, "w": 40, "h": 30, "class_id": dent}],
                                      "idempotency_key": uuid.uuid4().hex, "duration_ms": 5000})
            following = client.post(f"{api}/assignments/next", json={})
            elapsed = time.perf_counter() - began
            steps.append((elapsed, during and exporting is not None and exporting.is_set()))
            if saved.status_code != 200 or following.status_code != 200:
                errors.append(f"{saved.status_code}/{following.status_code}: {saved.text[:120]}")
            current = following.json().get("assignment") if following.status_code == 200 else None


def run_phase(base: str, seeded: dict, n: int, seconds: float, think: float,
              exporter: Exporter | None) -> tuple[list[tuple[float, bool]], list[str]]:
    until = threading.Event()
    steps: list[tuple[float, bool]] = []
    errors: list[str] = []
    threads = [threading.Thread(target=labeler, args=(base, seeded["tokens"][i], seeded, until, think, steps, errors,
                                                      exporter.running if exporter else None)) for i in range(n)]
    for thread in threads:
        thread.start()
    if exporter is not None:
        exporter.start()
        exporter.join(timeout=seconds)  # the exports end the window (all formats made), or the clock does
        exporter.stop.set()
    else:
        time.sleep(seconds)
    until.set()
    for thread in threads:
        thread.join()
    if exporter is not None:
        exporter.join()
    return steps, errors


def quantiles(seconds: list[float]) -> dict[str, float]:
    ms = sorted(1000 * x for x in seconds)
    q = statistics.quantiles(ms, n=100, method="inclusive") if len(ms) > 1 else ms * 99
    return {"p50": round(q[49], 1), "p99": round(q[98], 1), "steps": len(ms)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2,000 images, 8 labelers, 8 s windows (a smoke test)")
    parser.add_argument("--images", type=int, default=10_000, help="images in the exported version")
    parser.add_argument("--labelers", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=25.0, help="length of each measured window")
    parser.add_argument("--think", type=float, default=1.0, help="seconds a labeler spends on an image")
    args = parser.parse_args()
    if args.quick:
        args.images, args.labelers, args.seconds = 2000, 8, 8.0
    kind = "sqlite"
    with tempfile.TemporaryDirectory() as tmp, fresh_database(kind, Path(tmp)) as engine:
        data_dir = Path(tmp) / "data"
        started = time.perf_counter()
        exported = seed_export(engine, data_dir, args.images)
        steps_wanted = int(2.5 * args.labelers * args.seconds / args.think) + 64
        seeded = labeling_bench.seed(engine, images=steps_wanted, labelers=args.labelers)
        print(f"seeded in {time.perf_counter() - started:.1f} s", file=sys.stderr, flush=True)
        with live_server(engine, data_dir) as server:
            idle, idle_errors = run_phase(server.base_url, seeded, args.labelers, args.seconds, args.think, None)
            exporter = Exporter(server.base_url, exported)
            busy, busy_errors = run_phase(server.base_url, seeded, args.labelers, args.seconds, args.think, exporter)
    before = quantiles([s for s, _ in idle])
    during = quantiles([s for s, inside in busy if inside])
    ratio = round(during["p99"] / before["p99"], 2) if before["p99"] else None
    size = f"{args.labelers} labelers, {args.think:g} s think time; export of {args.images:,} images with files"
    figures = [
        {"name": "submit+next p50, idle", "value": before["p50"], "unit": "ms", "size": size, "database": kind},
        {"name": "submit+next p99, idle", "value": before["p99"], "unit": "ms", "size": size, "database": kind},
        {"name": "submit+next p50, during export", "value": during["p50"], "unit": "ms", "size": size,
         "database": kind},
        {"name": "submit+next p99, during export", "value": during["p99"], "unit": "ms", "size": size,
         "database": kind},
        {"name": "p99 during export / p99 idle", "value": ratio, "unit": "x", "size": size, "database": kind,
         "reference": {"name": "target", "value": TARGET_RATIO, "unit": "x"}},
    ]
    result = {
        "bench": NAME,
        "figures": figures,
        "steps": {"idle": before["steps"], "during_export": during["steps"]},
        "exports": exporter.made,
        "errors": {"labeling": len(idle_errors) + len(busy_errors), "sample": (idle_errors + busy_errors)[:5],
                   "export": exporter.errors},
        "environment": {"python": platform.python_version(), "machine": platform.machine(),
                        "server": "uvicorn, 1 worker, in-app job thread; same machine as the clients"},
    }
    RESULTS.mkdir(exist_ok=True)
    if not args.quick:
        (RESULTS / f"{NAME}.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
