"""Labeling-loop throughput with one and with two app processes on one Postgres.

Each run seeds a fresh single-label project, starts N uvicorn app processes (separate data dirs, one
secret key, as on separate machines), and lets L labelers (threads, Bearer tokens) loop
next → submit for a fixed time, each labeler sending its requests to the app processes in turn.
Prints one JSON object (bench/README.md format) and writes it to bench/results/scale.json.

On a 2-core box the database, the app processes and the load generator share the same two cores,
so the second app process buys little: the figure says how much, on this machine.

    .venv/bin/python bench/scale.py [--quick] [--seconds 20] [--labelers 8]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import httpx  # noqa: E402

from app.auth.models import Role  # noqa: E402
from app.auth.tokens import create_token  # noqa: E402
from app.core.db import make_sessionmaker  # noqa: E402
from tests.factories import class_named, make_image, make_member, make_project  # noqa: E402
from tests.support.databases import POSTGRES_URL, fresh_database, postgres_available  # noqa: E402
from tests.support.workers import app_servers  # noqa: E402

RESULT = REPO / "bench" / "results" / "scale.json"


def seed(engine: Any, images: int, labelers: int) -> tuple[int, int, list[str]]:
    with make_sessionmaker(engine)() as db:
        project = make_project(db, labels_per_image=1)
        for _ in range(images):
            make_image(db, project)
        tokens = [create_token(db, user=(user := make_member(db, project, Role.inspector)), name="bench",
                               actor=user, max_days=90)[1] for _ in range(labelers)]
        class_id = class_named(db, project, "ok").id
        db.commit()
        return project.id, class_id, tokens


def labeler(bases: list[str], project_id: int, class_id: int, token: str, start: threading.Barrier,
            deadline: list[float], out: dict[str, list[float]]) -> None:
    with httpx.Client(headers={"Authorization": f"Bearer {token}"}, timeout=60) as client:
        start.wait()
        turn = 0
        while time.monotonic() < deadline[0]:
            base = bases[turn % len(bases)]
            turn += 1
            t0 = time.monotonic()
            got = client.post(f"{base}/api/v1/projects/{project_id}/assignments/next", json={})
            t1 = time.monotonic()
            assignment = got.json().get("assignment") if got.status_code == 200 else None
            if got.status_code != 200:
                out["errors"].append(got.status_code)
                continue
            if assignment is None:
                return
            base = bases[turn % len(bases)]
            sent = client.post(f"{base}/api/v1/projects/{project_id}/assignments/{assignment['id']}/annotation",
                               json={"label_class_id": class_id, "idempotency_key": uuid.uuid4().hex})
            t2 = time.monotonic()
            if sent.status_code != 200:
                out["errors"].append(sent.status_code)
                continue
            out["next"].append(t1 - t0)
            out["submit"].append(t2 - t1)
            out["done_at"].append(t2)


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def run(engine: Any, workdir: Path, processes: int, *, seconds: float, images: int, labelers: int) -> dict[str, Any]:
    project_id, class_id, tokens = seed(engine, images, labelers)
    with app_servers(engine, workdir / f"apps-{processes}", processes) as apps:
        urls = [a.base_url for a in apps]
        out: dict[str, list[Any]] = {"next": [], "submit": [], "done_at": [], "errors": []}
        start, deadline = threading.Barrier(labelers + 1), [float("inf")]
        threads = [threading.Thread(target=labeler, args=(urls[i % processes:] + urls[:i % processes], project_id,
                                                          class_id, token, start, deadline, out))
                   for i, token in enumerate(tokens)]
        for thread in threads:
            thread.start()
        start.wait()
        began = time.monotonic()
        deadline[0] = began + seconds
        for thread in threads:
            thread.join()
        elapsed = max(min(time.monotonic(), deadline[0]) - began, 1e-6)
    submits = len(out["submit"])
    return {"processes": processes, "submits": submits, "seconds": round(elapsed, 2),
            "submits_per_s": round(submits / elapsed, 1), "errors": len(out["errors"]),
            "next_p50_ms": _ms(percentile(out["next"], 0.5)), "next_p95_ms": _ms(percentile(out["next"], 0.95)),
            "submit_p50_ms": _ms(percentile(out["submit"], 0.5)),
            "submit_p95_ms": _ms(percentile(out["submit"], 0.95))}


def _ms(value: float | None) -> float | None:
    return None if value is None else round(1000 * value, 1)


def figures(runs: list[dict[str, Any]], labelers: int) -> list[dict[str, Any]]:
    made = []
    for r in runs:
        plural = "es" if r["processes"] > 1 else ""
        size = f"{labelers} labelers, {r['processes']} app process{plural}, {r['seconds']} s"
        made += [
            {"name": f"labeling loop throughput, {r['processes']} app process(es)", "value": r["submits_per_s"],
             "unit": "submits/s", "size": size, "database": "postgres", "reference": None},
            {"name": f"next+submit p95, {r['processes']} app process(es)",
             "value": round((r["next_p95_ms"] or 0) + (r["submit_p95_ms"] or 0), 1), "unit": "ms", "size": size,
             "database": "postgres", "reference": None},
        ]
    if len(runs) == 2 and runs[0]["submits_per_s"]:
        made.append({"name": "throughput 2 processes / 1 process", "unit": "x",
                     "value": round(runs[1]["submits_per_s"] / runs[0]["submits_per_s"], 2),
                     "size": f"{labelers} labelers", "database": "postgres", "reference": None})
    return made


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (a smoke test)")
    parser.add_argument("--seconds", type=float, default=None)
    parser.add_argument("--labelers", type=int, default=None)
    args = parser.parse_args()
    seconds = args.seconds or (4.0 if args.quick else 20.0)
    labelers = args.labelers or (4 if args.quick else 8)
    images = 400 if args.quick else 5000
    result: dict[str, Any] = {"bench": "scale", "figures": []}
    if not postgres_available():
        result["skipped"] = f"Postgres not answering at {POSTGRES_URL} (set CONCORD_TEST_POSTGRES_URL)"
    else:
        with tempfile.TemporaryDirectory(prefix="concord-bench-scale-") as tmp, \
                fresh_database("postgres", Path(tmp)) as engine:
            runs = [run(engine, Path(tmp), n, seconds=seconds, images=images, labelers=labelers) for n in (1, 2)]
        result["figures"] = figures(runs, labelers)
        result["runs"] = runs
        result["environment"] = {"cpus": os.cpu_count(), "python": sys.version.split()[0]}
    RESULT.parent.mkdir(parents=True, exist_ok=True)
    RESULT.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
