"""Ingest speed: images verified, thumbnailed, signed and stored per second, on SQLite and Postgres,
against the machine's ceiling measured in the same run.

Images: the team's inspection workload (bench/_workload.py: 640x480 JPEGs, ~39 KB), or, without it,
synthetic 640x480 JPEGs. The ceiling (the reference of every rate): Pillow decoding the same files
in a tight loop in two processes (one per core), nothing else.

Paths measured, each on a fresh database and storage directory:
- bulk (the `concord import images` path): prepare in 1 and in 2 worker processes, commit every 64;
- API: a live server (`concord serve`), `POST /api/v1/projects/{id}/images` with 100 files per
  request (one client) and 10 files per request (4 clients); plus thumbnail GET latency (p50/p99).
And, database-free: the time and memory to refuse a decompression bomb (a 50k x 50k PNG header).

Prints one JSON object (bench/README.md format) and writes it to bench/results/ingest.json.
    .venv/bin/python bench/ingest.py [--quick] [--images 800] [--databases sqlite,postgres]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import httpx  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image as PILImage  # noqa: E402

from app.auth import service as auth_service  # noqa: E402
from app.auth import tokens  # noqa: E402
from app.auth.models import Role  # noqa: E402
from app.core.config import Settings  # noqa: E402
from app.core.db import make_sessionmaker  # noqa: E402
from app.core.storage import LocalStorage  # noqa: E402
from app.images import bulk, service, uploads  # noqa: E402
from app.projects import service as project_service  # noqa: E402
from bench._workload import MissingWorkload, workload  # noqa: E402
from tests.support.databases import engine_url, fresh_database, postgres_available  # noqa: E402
from tests.support.live_server import live_server  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
API_LEVELS = ((1, 100), (4, 10))  # (clients, files per request)


def make_images(folder: Path, n: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:480, 0:640]
    paths = []
    for i in range(n):
        part = ((abs(xx - 320 - rng.integers(-30, 30)) < 220) & (abs(yy - 240) < 140)).astype(np.float64)
        grey = 40 + 150 * part + rng.normal(0, 6, (480, 640))
        rgb = np.clip(np.stack([grey * 1.02, grey, grey * 0.97], axis=-1), 0, 255).astype(np.uint8)
        path = folder / f"img_{i:06d}.jpg"
        PILImage.fromarray(rgb).save(path, format="JPEG", quality=90)
        paths.append(path)
    return paths


def _decode_all(paths: list[str]) -> int:
    for path in paths:
        with PILImage.open(path) as image:
            image.load()
    return len(paths)


def decode_ceiling(paths: list[Path], passes: int = 2) -> float:
    """Files/s of Pillow decoding the same files fully in a tight loop, one process per core."""
    from concurrent.futures import ProcessPoolExecutor

    names = [str(p) for p in paths] * passes
    cores = os.cpu_count() or 1
    with ProcessPoolExecutor(max_workers=cores) as pool:
        list(pool.map(_decode_all, [names[:cores]] * cores))  # warm up: imports, page cache
        started = time.perf_counter()
        done = sum(pool.map(_decode_all, [names[i::cores] for i in range(cores)]))
    return done / (time.perf_counter() - started)


def new_project(engine, name: str, *, with_token: bool = False) -> tuple[int, str | None]:
    with make_sessionmaker(engine)() as db:
        spec = project_service.ProjectSpec(name=name, classes=[project_service.ClassSpec(name="ok")])
        project = project_service.create_project(db, spec=spec, creator=None)
        token = None
        if with_token:
            user = auth_service.create_user(db, email=f"{name}@bench.example", display_name=name, password=None)
            auth_service.set_membership(db, project_id=project.id, user=user, role=Role.admin, actor=None)
            token = tokens.create_token(db, user=user, name="bench", actor=None, max_days=90)[1]
        db.commit()
        return project.id, token


def bulk_rate(engine, data_dir: Path, paths: list[Path], workers: int) -> float:
    settings = Settings(database_url=engine_url(engine), data_dir=data_dir)
    storage = LocalStorage(settings.media_dir)
    project_id, _ = new_project(engine, f"bulk-{workers}")
    started = time.perf_counter()
    with make_sessionmaker(engine)() as db:
        project = project_service.get_project(db, project_id)
        sources = [bulk.Source(path=p, file_name=p.name) for p in paths]
        prepared = bulk.prepare_many(sources, limits=service.limits_of(settings), workers=workers)
        chunk: list = []
        for item in prepared:
            chunk.append(item)
            if len(chunk) == 64:
                uploads.store_files(db, storage=storage, settings=settings, project=project, user=None, items=chunk)
                db.commit()
                chunk = []
        if chunk:
            uploads.store_files(db, storage=storage, settings=settings, project=project, user=None, items=chunk)
            db.commit()
    return len(paths) / (time.perf_counter() - started)


def api_rates(engine, data_dir: Path, paths: list[Path]) -> dict[str, float]:
    out: dict[str, float] = {}
    with live_server(engine, data_dir) as server:
        for clients, per_request in API_LEVELS:
            project_id, token = new_project(engine, f"api-{clients}", with_token=True)
            groups = [paths[i : i + per_request] for i in range(0, len(paths), per_request)]
            latencies: list[float] = []

            def client(
                mine: list[list[Path]], token: str = token, project_id: int = project_id, latencies: list = latencies
            ) -> None:
                with httpx.Client(
                    base_url=server.base_url, headers={"Authorization": f"Bearer {token}"}, timeout=120
                ) as http:
                    for group in mine:
                        began = time.perf_counter()
                        files = [("files", (p.name, p.read_bytes(), "image/jpeg")) for p in group]
                        response = http.post(f"/api/v1/projects/{project_id}/images", files=files)
                        latencies.append(time.perf_counter() - began)
                        assert response.status_code == 200, response.text

            started = time.perf_counter()
            threads = [threading.Thread(target=client, args=(groups[i::clients],)) for i in range(clients)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            out[f"api_{clients}"] = len(paths) / (time.perf_counter() - started)
            out[f"api_{clients}_request_p95_ms"] = 1000 * statistics.quantiles(latencies, n=20)[18]
        out.update(thumbnail_latency(server.base_url, project_id, token))
    return out


def thumbnail_latency(base: str, project_id: int, token: str | None) -> dict[str, float]:
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=60) as http:
        ids = [i["id"] for i in http.get(f"/api/v1/projects/{project_id}/images", params={"limit": 200}).json()]
        times = []
        for image_id in ids:
            began = time.perf_counter()
            response = http.get(f"/projects/{project_id}/images/{image_id}/thumb")
            times.append(1000 * (time.perf_counter() - began))
            assert response.status_code == 200
    q = statistics.quantiles(times, n=100, method="inclusive")
    return {"thumb_p50_ms": q[49], "thumb_p99_ms": q[98], "thumb_n": len(times)}


BOMB = """
import json, resource, struct, sys, time, zlib
from pathlib import Path
from app.core.errors import TooLarge
from app.images import ingest
from app.images.validation import Limits
def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
path = Path(sys.argv[1])
path.write_bytes(b"\\x89PNG\\r\\n\\x1a\\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 50000, 50000, 8, 0, 0, 0, 0))
                 + chunk(b"IDAT", zlib.compress(b"\\0" * 64)) + chunk(b"IEND", b""))
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
started = time.perf_counter()
try:
    ingest.prepare(path, file_name="bomb.png", limits=Limits(50 * 2**20, 60_000_000))
except TooLarge:
    pass
print(json.dumps({"ms": 1000 * (time.perf_counter() - started),
                  "rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before}))
"""


def bomb_figures(tmp: Path) -> list[dict]:
    out = subprocess.run(
        [sys.executable, "-c", BOMB, str(tmp / "bomb.png")], capture_output=True, text=True, check=True, cwd=REPO
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    size = "PNG header declaring 50,000 x 50,000 px"
    return [
        {
            "name": "decompression bomb refused in",
            "value": round(result["ms"], 2),
            "unit": "ms",
            "size": size,
            "database": None,
            "reference": None,
        },
        {
            "name": "decompression bomb RSS growth",
            "value": round(result["rss_kib"] / 1024, 2),
            "unit": "MiB",
            "size": size,
            "database": None,
            "reference": None,
        },
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (a smoke test)")
    parser.add_argument("--images", type=int, default=800)
    parser.add_argument("--databases", default="sqlite,postgres")
    args = parser.parse_args()
    n = 100 if args.quick else args.images
    figures: list[dict] = []
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        try:
            paths = sorted((workload(n) / "images").glob("*.jpg"))
            kind_of = "workload"
        except MissingWorkload:
            paths, kind_of = make_images(tmp / "images", n), "synthetic"
        size = f"{n:,} {kind_of} JPEGs 640x480 (~{sum(p.stat().st_size for p in paths) // n // 1024} KB)"
        ceiling = decode_ceiling(paths)
        reference = {"name": f"Pillow decode, {os.cpu_count()} processes", "value": round(ceiling), "unit": "files/s"}
        figures.append({"name": "pure decode rate (the ceiling)", "value": round(ceiling, 1), "unit": "files/s",
                        "size": size, "database": None, "reference": None})
        figures += bomb_figures(tmp)
        for kind in args.databases.split(","):
            if kind == "postgres" and not postgres_available():
                print("postgres not answering; skipped", file=sys.stderr)
                continue
            (tmp / kind).mkdir()
            with fresh_database(kind, tmp / kind) as engine:
                for workers in (1, 2):
                    rate = bulk_rate(engine, tmp / kind / f"bulk{workers}", paths, workers)
                    figures.append(
                        {
                            "name": f"bulk ingest ({workers} decoding process{'es' if workers > 1 else ''})",
                            "value": round(rate, 1),
                            "unit": "images/s",
                            "size": size,
                            "database": kind,
                            "reference": reference,
                            "of_ceiling": round(rate / ceiling, 3),
                        }
                    )
                api = api_rates(engine, tmp / kind / "api", paths)
                for clients, per_request in API_LEVELS:
                    rate = api[f"api_{clients}"]
                    figures.append(
                        {
                            "name": f"API upload ({clients} client{'s' if clients > 1 else ''}, "
                            f"{per_request} files/request)",
                            "value": round(rate, 1),
                            "unit": "images/s",
                            "size": size,
                            "database": kind,
                            "reference": reference,
                            "of_ceiling": round(rate / ceiling, 3),
                            "request_p95_ms": round(api[f"api_{clients}_request_p95_ms"], 1),
                        }
                    )
                for q in ("p50", "p99"):
                    figures.append(
                        {
                            "name": f"thumbnail GET latency {q}",
                            "value": round(api[f"thumb_{q}_ms"], 1),
                            "unit": "ms",
                            "size": f"{int(api['thumb_n'])} thumbnails",
                            "database": kind,
                            "reference": None,
                        }
                    )
    result = {
        "bench": "ingest",
        "figures": figures,
        "environment": {
            "python": platform.python_version(),
            "machine": platform.machine(),
            "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        },
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "ingest.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
