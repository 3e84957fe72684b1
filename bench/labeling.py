"""The inspector's loop under load, on workload images, through a live server, on SQLite and Postgres.

Setup per database: the team's inspection workload (800 images 640x480 by default) goes through the
real ingest path into one project (so every image has its near-duplicate signature, as in
production); each load level then gets a project of its own holding the same images (rows copied),
three labels wanted per image, so the consistency service judges real disagreements.

Levels (each labeler is a thread with its own HTTP client and API token, doing what the labeling
page does: POST .../annotation, then POST .../assignments/next, no think time):
- 1 labeler; 8 labelers; 16 labelers + 2 reviewers (who read the conflict queue and decide).
A labeler answers the image's true class 85% of the time (else a random class), with the true boxes
of that class: the disagreements a line of inspectors makes.

Figures: annotations per second; next+submit latency p50/p95/p99 seen by the client and the app's
own time (Server-Timing) p50; reviewers' request latency. The server is `concord serve` as a user
starts it (`--workers` chooses the app processes; the default is what `concord serve` does).

Prints one JSON object (bench/README.md format) and writes bench/results/labeling.json.
    .venv/bin/python bench/labeling.py [--quick] [--databases sqlite,postgres] [--images 800]
        [--workers N] [--levels 1,8,16] [--profile DIR]   (py-spy records the server, one file per level)
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import httpx  # noqa: E402
from sqlalchemy import insert, select  # noqa: E402

from app.auth import service as auth_service  # noqa: E402
from app.auth import tokens  # noqa: E402
from app.auth.models import Role  # noqa: E402
from app.core.config import Settings  # noqa: E402
from app.core.db import make_sessionmaker  # noqa: E402
from app.core.storage import LocalStorage  # noqa: E402
from app.images import bulk, service, uploads  # noqa: E402
from app.images.models import Image  # noqa: E402
from app.projects import service as project_service  # noqa: E402
from bench._workload import MissingWorkload, figure, quantiles, truth_by_file, workload, write_result  # noqa: E402
from tests.support.databases import engine_url, fresh_database, postgres_available  # noqa: E402
from tests.support.live_server import (  # noqa: E402
    LiveServer,
    free_port,
    server_env,
    wait_until_up,
)

CLASSES = ("ok", "scratch", "dent", "pit", "discoloration")
LABELS_PER_IMAGE = 3
TRUE_SHARE = 0.85
COPY_COLUMNS = ("sha256", "file_name", "format", "width", "height", "size_bytes", "storage_key", "thumbnail_key",
                "meta", "phash", "is_gold", "labels_wanted", "slots_taken", "priority")


@dataclass
class Level:
    name: str
    labelers: int
    reviewers: int
    steps: int  # submits per labeler


@dataclass
class Tally:
    steps: list[float] = field(default_factory=list)  # client next+submit seconds
    server: list[float] = field(default_factory=list)  # app ms of the pair (Server-Timing)
    review: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


# --- setup ------------------------------------------------------------------------------------------

def ingest_workload(engine: Any, data_dir: Path, root: Path) -> tuple[int, int]:
    """The workload's images into a new project through the bulk ingest path; (project id, seconds)."""
    settings = Settings(database_url=engine_url(engine), data_dir=data_dir)
    storage = LocalStorage(settings.media_dir)
    with make_sessionmaker(engine)() as db:
        project = new_project(db, "ingested")
        sources = [bulk.Source(path=p, file_name=p.name) for p in sorted((root / "images").glob("*.jpg"))]
        started = time.perf_counter()
        prepared = list(bulk.prepare_many(sources, limits=service.limits_of(settings), workers=2))
        for at in range(0, len(prepared), 200):
            uploads.store_files(db, storage=storage, settings=settings, project=project, user=None,
                                items=prepared[at:at + 200])
            db.commit()
        return project.id, round(time.perf_counter() - started)


def new_project(db: Any, name: str) -> Any:
    spec = project_service.ProjectSpec(name=name, classes=[project_service.ClassSpec(name=c) for c in CLASSES],
                                       labels_per_image=LABELS_PER_IMAGE)
    project = project_service.create_project(db, spec=spec, creator=None)
    project.settings = {**(project.settings or {}), "min_view_ms": 0}  # machine labelers have no think time
    db.flush()
    return project


def seed_level(engine: Any, source_project: int, level: Level) -> dict[str, Any]:
    """A project with the ingested images (rows copied), its labelers and reviewers with tokens."""
    with make_sessionmaker(engine)() as db:
        project = new_project(db, f"level {level.name}")
        rows = db.execute(select(*(getattr(Image, c) for c in COPY_COLUMNS)).where(Image.project_id == source_project))
        db.execute(insert(Image), [{**row._asdict(), "project_id": project.id, "labels_wanted": LABELS_PER_IMAGE,
                                    "slots_taken": 0, "priority": 0} for row in rows])
        people: dict[str, list[str]] = {"labelers": [], "reviewers": []}
        for group, role, count in (("labelers", Role.inspector, level.labelers),
                                   ("reviewers", Role.reviewer, level.reviewers)):
            for n in range(count):
                user = auth_service.create_user(db, email=f"{group}{n}.{project.id}@bench.example",
                                                display_name=f"{group} {n}", password=None)
                auth_service.set_membership(db, project_id=project.id, user=user, role=role, actor=None)
                people[group].append(tokens.create_token(db, user=user, name="bench", actor=None, max_days=90)[1])
        classes = {c.name: c.id for c in project_service.classes_of(db, project.id)}
        files = dict(db.execute(select(Image.id, Image.file_name).where(Image.project_id == project.id)).all())
        db.commit()
        return {"project": project.id, "classes": classes, "files": files, **people}


# --- the clients ------------------------------------------------------------------------------------

def answer(rng: random.Random, truth: tuple[str, list[tuple[str, list[float]]]], classes: dict[str, int]
           ) -> dict[str, Any]:
    true_class, true_boxes = truth
    chosen = true_class if rng.random() < TRUE_SHARE else rng.choice(CLASSES)
    boxes = [] if chosen == "ok" else [
        {"x": b[0], "y": b[1], "w": max(b[2], 1.0), "h": max(b[3], 1.0), "class_id": classes[c]}
        for c, b in true_boxes if c == chosen or rng.random() < 0.5]
    return {"label_class_id": classes[chosen], "boxes": boxes, "idempotency_key": uuid.uuid4().hex,
            "duration_ms": rng.randint(2000, 20000)}


def app_ms(response: httpx.Response) -> float:
    timing = response.headers.get("server-timing", "")
    try:
        return float(timing.split("dur=", 1)[1].split(";", 1)[0])
    except (IndexError, ValueError):
        return float("nan")


def labeler(base: str, token: str, world: dict[str, Any], truth: dict[str, Any], steps: int, tally: Tally,
            start: threading.Barrier, seed: int) -> None:
    rng = random.Random(seed)
    api = f"/api/v1/projects/{world['project']}"
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=60) as client:
        current = client.post(f"{api}/assignments/next", json={}).json()["assignment"]
        if current is not None:  # one answer before the clock starts: the server's first-use imports
            body = answer(rng, truth[world["files"][current["image"]["id"]]], world["classes"])
            client.post(f"{api}/assignments/{current['id']}/annotation", json=body)
            current = client.post(f"{api}/assignments/next", json={}).json()["assignment"]
        start.wait()
        for _ in range(steps):
            if current is None:
                return
            body = answer(rng, truth[world["files"][current["image"]["id"]]], world["classes"])
            body["supersedes_id"] = current["supersedes_id"]
            began = time.perf_counter()
            saved = client.post(f"{api}/assignments/{current['id']}/annotation", json=body)
            following = client.post(f"{api}/assignments/next", json={})
            elapsed = time.perf_counter() - began
            with tally.lock:
                tally.steps.append(elapsed)
                tally.server.append(app_ms(saved) + app_ms(following))
                if saved.status_code != 200 or following.status_code != 200:
                    tally.errors.append(f"{saved.status_code}/{following.status_code}: {saved.text[:120]}")
            current = following.json().get("assignment") if following.status_code == 200 else None


def reviewer(base: str, token: str, world: dict[str, Any], tally: Tally, stop: threading.Event,
             start: threading.Barrier, seed: int) -> None:
    rng = random.Random(seed)
    api = f"/api/v1/projects/{world['project']}"
    classes = list(world["classes"].values())
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=60) as client:
        start.wait()
        while not stop.is_set():
            began = time.perf_counter()
            page = client.get(f"{api}/review/conflicts", params={"limit": 20})
            took = [time.perf_counter() - began]
            items = page.json().get("items", []) if page.status_code == 200 else []
            if items:
                item = rng.choice(items)
                body = {"decision": "edit", "version": item["version"], "label_class_id": rng.choice(classes),
                        "boxes": [], "reason": "bench"}
                began = time.perf_counter()
                decided = client.post(f"{api}/review/conflicts/{item['id']}/decisions", json=body)
                took.append(time.perf_counter() - began)
                if decided.status_code not in (201, 409):
                    with tally.lock:
                        tally.errors.append(f"decide {decided.status_code}: {decided.text[:120]}")
            with tally.lock:
                tally.review += took
            stop.wait(0.2)  # a reviewer reads the conflict before deciding


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) of a process and its children so far, from /proc (Linux)."""
    total = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    for task in [pid, *_children(pid)]:
        try:
            fields = Path(f"/proc/{task}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick  # utime, stime
    return total


def _children(pid: int) -> list[int]:
    try:
        found = [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []
    return found + [g for c in found for g in _children(c)]


def run_level(base: str, world: dict[str, Any], truth: dict[str, Any], level: Level, server_pid: int
              ) -> dict[str, Any]:
    tally, stop = Tally(), threading.Event()
    start = threading.Barrier(level.labelers + level.reviewers + 1)
    labelers = [threading.Thread(target=labeler, args=(base, token, world, truth, level.steps, tally, start, n))
                for n, token in enumerate(world["labelers"])]
    reviewers = [threading.Thread(target=reviewer, args=(base, token, world, tally, stop, start, 1000 + n))
                 for n, token in enumerate(world["reviewers"])]
    for thread in labelers + reviewers:
        thread.start()
    start.wait()
    began, cpu_before = time.perf_counter(), cpu_seconds(server_pid)
    for thread in labelers:
        thread.join()
    wall, cpu = time.perf_counter() - began, cpu_seconds(server_pid) - cpu_before
    stop.set()
    for thread in reviewers:
        thread.join()
    client = quantiles([1000 * s for s in tally.steps])
    server = quantiles(tally.server)
    return {"level": level.name, "annotations": client["n"], "per_second": client["n"] / wall, "client": client,
            "server_cpu_ms": 1000 * cpu / max(client["n"], 1),
            "server": server, "review": quantiles([1000 * s for s in tally.review]),
            "errors": len(tally.errors), "error_sample": tally.errors[:5]}


# --- the server -------------------------------------------------------------------------------------

def serve(engine: Any, data_dir: Path, workers: int | None, app_dir: Path | None = None
          ) -> tuple[subprocess.Popen[bytes], str]:
    """`concord serve` of this checkout, or of `app_dir` (another checkout's `app/`: a reference run
    of an earlier version on the same machine and data)."""
    port = free_port()
    command = [sys.executable, "-m", "app.cli", "serve", "--host", "127.0.0.1", "--port", str(port)]
    if workers:
        command += ["--workers", str(workers)]
    env = server_env(engine, data_dir)
    if app_dir is not None:
        env["PYTHONPATH"] = str(app_dir)
    log = open(data_dir / "server.log", "ab")  # noqa: SIM115 - the server's lifetime
    process = subprocess.Popen(command, cwd=app_dir or REPO, env=env, stdout=log,
                               stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    wait_until_up(LiveServer(base, engine, data_dir, process, data_dir / "server.log"), timeout=120)
    return process, base


def stop_server(process: subprocess.Popen[bytes]) -> None:
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def profiled(process: subprocess.Popen[bytes], out: Path) -> subprocess.Popen[bytes] | None:
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(spy).exists():
        print("py-spy not installed; no profile", file=sys.stderr)
        return None
    return subprocess.Popen([spy, "record", "--pid", str(process.pid), "--subprocesses", "--format", "raw",
                             "--rate", "200", "--output", str(out), "--nonblocking"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def bench_database(kind: str, args: argparse.Namespace, levels: list[Level], root: Path) -> list[dict[str, Any]]:
    truth = truth_by_file(root)
    results = []
    with tempfile.TemporaryDirectory(prefix="concord-bench-labeling-") as tmp, \
            fresh_database(kind, Path(tmp)) as engine:
        data_dir = Path(tmp) / "data"
        source, _ = ingest_workload(engine, data_dir, root)
        worlds = [seed_level(engine, source, level) for level in levels]
        process, base = serve(engine, data_dir, args.workers, args.app_dir)
        try:
            for level, world in zip(levels, worlds, strict=True):
                spy = None
                if args.profile:
                    spy = profiled(process, Path(args.profile) / f"labeling-{kind}-{level.labelers}.txt")
                results.append(run_level(base, world, truth, level, process.pid))
                if spy is not None:
                    spy.send_signal(signal.SIGINT)
                    spy.wait(timeout=60)
                print(f"{kind} {level.name}: {results[-1]['per_second']:.1f} ann/s, "
                      f"p99 {results[-1]['client']['p99']:.1f} ms", file=sys.stderr)
        finally:
            stop_server(process)
    return [dict(r, database=kind) for r in results]


def figures_of(results: list[dict[str, Any]], images: int) -> list[dict[str, Any]]:
    made = []
    for r in results:
        size = f"{r['level']}, {r['annotations']:,} submits, {images} workload images x {LABELS_PER_IMAGE} labels"
        db = r["database"]
        made.append(figure(f"annotations per second, {r['level']}", r["per_second"], "1/s", size=size, database=db,
                           errors=r["errors"], error_sample=r["error_sample"]))
        for q in ("p50", "p95", "p99"):
            made.append(figure(f"next+submit {q}, {r['level']}", r["client"][q], "ms", size=size, database=db))
        made.append(figure(f"next+submit app time p50, {r['level']}", r["server"]["p50"], "ms", size=size,
                           database=db))
        made.append(figure(f"server CPU per annotation, {r['level']}", r["server_cpu_ms"], "ms", size=size,
                           database=db))
        if r["review"]["n"]:
            made.append(figure(f"reviewer request p99, {r['level']}", r["review"]["p99"], "ms", size=size,
                               database=db))
    for db in {r["database"] for r in results}:
        mine = {r["level"]: r for r in results if r["database"] == db}
        one, eight = mine.get("1 labeler"), mine.get("8 labelers")
        if one and eight:
            made.append(figure("throughput 8 labelers / 1 labeler", eight["per_second"] / one["per_second"], "x",
                               size="same run", database=db, reference={"name": "target", "value": 1.8, "unit": "x"}))
    return made


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (a smoke test)")
    parser.add_argument("--databases", default="sqlite,postgres")
    parser.add_argument("--images", type=int, default=800)
    parser.add_argument("--workers", type=int, default=None, help="app processes (default: concord serve's)")
    parser.add_argument("--profile", help="folder for py-spy raw profiles of the server, one per level")
    parser.add_argument("--levels", default="1,8,16", help="labelers of the levels to run (1, 8, 16)")
    parser.add_argument("--app-dir", type=Path, help="serve the app of another checkout (e.g. `git archive` of an "
                        "earlier commit): a reference run; results go to labeling-reference.json")
    args = parser.parse_args()
    images = 200 if args.quick else args.images
    scale = 0.2 if args.quick else 1.0
    levels = [Level("1 labeler", 1, 0, int(300 * scale)), Level("8 labelers", 8, 0, int(200 * scale)),
              Level("16 labelers + 2 reviewers", 16, 2, int(100 * scale))]
    levels = [level for level in levels if str(level.labelers) in args.levels.split(",")]
    result: dict[str, Any] = {"bench": "labeling", "figures": []}
    try:
        root = workload(images)
    except MissingWorkload as exc:
        result["skipped"] = str(exc)
        write_result("labeling", result)
        return
    runs = []
    for kind in args.databases.split(","):
        if kind == "postgres" and not postgres_available():
            print("postgres not answering; skipped", file=sys.stderr)
            continue
        runs += bench_database(kind, args, levels, root)
    result["figures"] = figures_of(runs, images)
    result["runs"] = runs
    result["environment"] = {"python": platform.python_version(), "cpus": os.cpu_count(),
                             "app": str(args.app_dir or "this checkout"),
                             "server": f"concord serve --workers {args.workers or 'default'}, clients on the same "
                                       "machine"}
    write_result("labeling-reference" if args.app_dir else "labeling", result)


if __name__ == "__main__":
    main()
