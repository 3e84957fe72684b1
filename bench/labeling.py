"""The inspector's loop under load: submit-and-next latency (p50/p95/p99) and submits per second with
1 and 16 concurrent labelers, through a live server (uvicorn, one worker) on SQLite and on Postgres.

Each labeler is a thread with its own HTTP client and API token doing what the labeling page does:
POST .../assignments/{id}/annotation (an answer with one box), then POST .../assignments/next. The
latency of one step is the time of that pair. Every image wants one label, so no step waits for a
slot; the server's consistency hook runs as in production. Client and server share this machine.

Prints one JSON object (bench/README.md format) and writes it to bench/results/labeling.json.
    .venv/bin/python bench/labeling.py [--quick] [--databases sqlite,postgres] [--steps 1600]
"""

from __future__ import annotations

import argparse
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
from sqlalchemy import insert  # noqa: E402

from app.auth import service as auth_service  # noqa: E402
from app.auth import tokens  # noqa: E402
from app.auth.models import Role  # noqa: E402
from app.core.db import make_sessionmaker  # noqa: E402
from app.images.models import Image  # noqa: E402
from app.projects import service as project_service  # noqa: E402
from tests.support.databases import fresh_database, postgres_available  # noqa: E402
from tests.support.live_server import live_server  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
CLASSES = ("ok", "scratch", "dent", "pit", "discoloration")


def seed(engine, *, images: int, labelers: int) -> dict:
    with make_sessionmaker(engine)() as db:
        spec = project_service.ProjectSpec(name="bench", classes=[project_service.ClassSpec(name=c) for c in CLASSES])
        project = project_service.create_project(db, spec=spec, creator=None)
        db.flush()
        db.execute(
            insert(Image),
            [
                {
                    "project_id": project.id,
                    "sha256": f"{n:064x}",
                    "file_name": f"img_{n:06d}.jpg",
                    "format": "JPEG",
                    "width": 640,
                    "height": 480,
                    "size_bytes": 50_000,
                    "storage_key": f"bench/{n}.jpg",
                    "meta": {},
                    "labels_wanted": 1,
                    "slots_taken": 0,
                    "priority": 0,
                }
                for n in range(images)
            ],
        )
        keys = []
        for n in range(labelers):
            user = auth_service.create_user(
                db, email=f"labeler{n}@bench.example", display_name=f"Labeler {n}", password=None
            )
            auth_service.set_membership(db, project_id=project.id, user=user, role=Role.inspector, actor=None)
            keys.append(tokens.create_token(db, user=user, name="bench", actor=None, max_days=90)[1])
        classes = [c.id for c in project_service.classes_of(db, project.id)]
        db.commit()
        return {"project": project.id, "tokens": keys, "classes": classes}


def labeler(
    base: str, token: str, seeded: dict, steps: int, out: list[float], errors: list[str], start: threading.Barrier
) -> None:
    api = f"/api/v1/projects/{seeded['project']}"
    dent = seeded["classes"][2]
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=60) as client:
        current = client.post(f"{api}/assignments/next", json={}).json()["assignment"]
        start.wait()
        for _ in range(steps):
            if current is None:
                return
            began = time.perf_counter()
            saved = client.post(
                f"{api}/assignments/{current['id']}/annotation",
                json={
                    "label_class_id": dent,
                    "boxes": [{"x": 100, "y": 120, "w": 40, "h": 30, "class_id": dent}],
                    "idempotency_key": uuid.uuid4().hex,
                    "duration_ms": 5000,
                },
            )
            following = client.post(f"{api}/assignments/next", json={})
            out.append(time.perf_counter() - began)
            if saved.status_code != 200 or following.status_code != 200:
                errors.append(f"{saved.status_code}/{following.status_code}: {saved.text[:120]}")
            current = following.json().get("assignment") if following.status_code == 200 else None


def run_level(base: str, seeded: dict, n: int, steps_total: int) -> dict:
    latencies: list[float] = []
    errors: list[str] = []
    barrier = threading.Barrier(n + 1)
    threads = [
        threading.Thread(
            target=labeler, args=(base, seeded["tokens"][i], seeded, steps_total // n, latencies, errors, barrier)
        )
        for i in range(n)
    ]
    for thread in threads:
        thread.start()
    barrier.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - began
    ms = sorted(1000 * x for x in latencies)
    q = statistics.quantiles(ms, n=100, method="inclusive") if len(ms) > 1 else ms * 99
    return {
        "p50": round(q[49], 1),
        "p95": round(q[94], 1),
        "p99": round(q[98], 1),
        "steps": len(ms),
        "per_second": round(len(ms) / wall, 1),
        "errors": errors[:5],
        "error_count": len(errors),
    }


def bench_database(kind: str, steps: int) -> list[dict]:
    figures = []
    with tempfile.TemporaryDirectory() as tmp, fresh_database(kind, Path(tmp)) as engine:
        seeded = seed(engine, images=steps + steps // 8 + 64, labelers=16)
        with live_server(engine, Path(tmp) / "data") as server:
            for n in (1, 16):
                result = run_level(server.base_url, seeded, n, steps if n > 1 else max(50, steps // 8))
                size = f"{n} labeler{'s' if n > 1 else ''}, {result['steps']:,} submits"
                for q in ("p50", "p95", "p99"):
                    figures.append(
                        {
                            "name": f"submit+next latency {q}",
                            "value": result[q],
                            "unit": "ms",
                            "size": size,
                            "database": kind,
                            "reference": None,
                        }
                    )
                figures.append(
                    {
                        "name": "submits per second",
                        "value": result["per_second"],
                        "unit": "1/s",
                        "size": size,
                        "database": kind,
                        "reference": None,
                        "errors": result["error_count"],
                        "error_sample": result["errors"],
                    }
                )
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (a smoke test)")
    parser.add_argument("--databases", default="sqlite,postgres")
    parser.add_argument("--steps", type=int, default=1600, help="submits at 16 labelers (1 labeler does 1/8)")
    args = parser.parse_args()
    steps = 160 if args.quick else args.steps
    figures = []
    for kind in args.databases.split(","):
        if kind == "postgres" and not postgres_available():
            print("postgres not answering; skipped", file=sys.stderr)
            continue
        figures += bench_database(kind, steps)
    result = {
        "bench": "labeling",
        "figures": figures,
        "environment": {
            "python": platform.python_version(),
            "machine": platform.machine(),
            "server": "uvicorn, 1 worker, same machine as the clients",
        },
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "labeling.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
