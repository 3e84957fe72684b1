"""Concord and Label Studio 1.23.2 side by side: the same workload files and the same requests, each on
its embedded SQLite, on this machine, interleaved (Concord, Label Studio, Concord, ...), medians.

Label Studio is never a dependency of Concord: with `--install` (or `make bench-peers`) it is installed
into its own virtual environment, bench/peers/.venv (git-ignored); without it, and when the install
fails (no network, no wheel for this Python), the bench says why and records the skip.

Rows (each a figure with Label Studio's value as the reference and the ratio Concord / Label Studio):
- upload: N workload JPEGs, 100 per request (Label Studio stores the bytes; Concord also verifies
  the decode, hashes, thumbnails and signs each image);
- labeling, 1 client and 8 clients: Concord's next + submit (one labeler each); Label Studio has one
  API user here, so each client reads a task (GET /api/tasks/{id}) of its own share and posts an
  annotation to it: two requests per annotation on both sides.

    .venv/bin/python bench/peers/labelstudio.py [--install] [--images 200] [--rounds 3] [--quick]
Prints one JSON object (bench/README.md format) and writes bench/results/peers.json.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO))

import httpx  # noqa: E402

from bench._workload import MissingWorkload, figure, workload, write_result  # noqa: E402
from bench.labeling import Level, ingest_workload, seed_level, serve, stop_server  # noqa: E402
from tests.support.databases import fresh_database  # noqa: E402
from tests.support.live_server import free_port  # noqa: E402

VERSION = "1.23.2"
VENV = HERE / ".venv"
LS_BIN = VENV / "bin" / "label-studio"
TOKEN = "0123456789abcdef0123456789abcdef01234567"  # a throwaway local instance
CONFIG = ('<View><Image name="image" value="$image"/><Choices name="defect" toName="image" choice="single">'
          + "".join(f'<Choice value="{c}"/>' for c in ("ok", "scratch", "dent", "pit", "discoloration"))
          + "</Choices></View>")


def install() -> str | None:
    """Install Label Studio into bench/peers/.venv; None when done, else why it could not be."""
    if LS_BIN.exists():
        return None
    try:
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True, capture_output=True)
        subprocess.run([str(VENV / "bin" / "pip"), "install", "-q", f"label-studio=={VERSION}"], check=True,
                       capture_output=True, timeout=1800)
    except (subprocess.SubprocessError, OSError) as exc:
        detail = getattr(exc, "stderr", b"") or b""
        return f"label-studio {VERSION} could not be installed: {exc} {detail.decode(errors='replace')[-300:]}"
    return None


@contextmanager
def label_studio(data_dir: Path) -> Iterator[str]:
    port = free_port()
    env = {**os.environ, "LABEL_STUDIO_BASE_DATA_DIR": str(data_dir), "DJANGO_DB": "sqlite",
           "LABEL_STUDIO_DISABLE_SIGNUP_WITHOUT_LINK": "true"}
    log = open(data_dir / "ls.log", "wb")  # noqa: SIM115 - the server's lifetime
    process = subprocess.Popen([str(LS_BIN), "start", "--host", "127.0.0.1", "--port", str(port), "--data-dir",
                                str(data_dir), "--no-browser", "--username", "bench@example.com", "--password",
                                "bench-password-1", "--user-token", TOKEN], env=env, stdout=log,
                               stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"label-studio exited: {(data_dir / 'ls.log').read_text()[-2000:]}")
            try:
                if httpx.get(f"{base}/api/version", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(1)
        else:
            raise RuntimeError("label-studio did not come up in 300 s")
        _enable_token(base)
        yield base
    finally:
        stop_server(process)
        log.close()


def _enable_token(base: str) -> None:
    """Label Studio 1.23 turns legacy API tokens off for a new organization: the admin logs in once
    (a browser session, as a person would) and turns them on, so scripts can use `Token <key>`."""
    with httpx.Client(base_url=base, timeout=60, follow_redirects=True) as web:
        web.get("/user/login/")
        csrf = web.cookies.get("csrftoken", "")
        web.post("/user/login/", data={"email": "bench@example.com", "password": "bench-password-1",
                                       "csrfmiddlewaretoken": csrf}, headers={"Referer": f"{base}/user/login/"})
        answer = web.post("/api/jwt/settings", json={"api_tokens_enabled": True, "legacy_api_tokens_enabled": True},
                          headers={"X-CSRFToken": web.cookies.get("csrftoken", csrf), "Referer": f"{base}/"})
        answer.raise_for_status()


def ls_client(base: str) -> httpx.Client:
    return httpx.Client(base_url=base, headers={"Authorization": f"Token {TOKEN}"}, timeout=300)


def ls_upload(base: str, paths: list[Path]) -> tuple[float, list[int]]:
    with ls_client(base) as http:
        project = http.post("/api/projects/", json={"title": f"bench {uuid.uuid4().hex[:6]}",
                                                     "label_config": CONFIG}).json()["id"]
        started = time.perf_counter()
        for at in range(0, len(paths), 100):
            files = [(f"file{n}", (p.name, p.read_bytes(), "image/jpeg"))  # one field per file, as LS wants
                     for n, p in enumerate(paths[at:at + 100])]
            answer = http.post(f"/api/projects/{project}/import", files=files)
            answer.raise_for_status()
        seconds = time.perf_counter() - started
        listed = http.get("/api/tasks", params={"project": project, "page_size": 100_000, "fields": "id"}).json()
        tasks = [t["id"] for t in listed["tasks"]]
        if len(tasks) != len(paths):
            raise RuntimeError(f"Label Studio made {len(tasks)} tasks of {len(paths)} files")
    return len(paths) / seconds, tasks


def ls_label(base: str, tasks: list[int], clients: int, per_client: int) -> float:
    barrier = threading.Barrier(clients + 1)

    def work(mine: list[int]) -> None:
        rng = random.Random(len(mine))
        with ls_client(base) as http:
            _annotate(http, mine.pop(), rng)  # warm-up, untimed, as on Concord's side
            barrier.wait()
            for task in mine:
                _annotate(http, task, rng)

    shares = [tasks[i::clients][:per_client + 1] for i in range(clients)]
    return _timed(work, shares, barrier, counted=per_client)


def _annotate(http: httpx.Client, task: int, rng: random.Random) -> None:
    """What a labeler's page does for one answer: read the task, post the annotation."""
    http.get(f"/api/tasks/{task}").raise_for_status()
    result = [{"from_name": "defect", "to_name": "image", "type": "choices",
               "value": {"choices": [rng.choice(["ok", "scratch", "dent"])]}}]
    http.post(f"/api/tasks/{task}/annotations", json={"result": result, "lead_time": 5.0}).raise_for_status()


def _timed(work: Callable[[Any], None], shares: list[Any], barrier: threading.Barrier, counted: int) -> float:
    """Annotations per second of `work` run on each share at once, `counted` answers each, timed
    from the barrier (after each client's untimed warm-up)."""
    threads = [threading.Thread(target=work, args=(share,)) for share in shares]
    for thread in threads:
        thread.start()
    barrier.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    return counted * len(shares) / (time.perf_counter() - started)


def concord_upload(base: str, token: str, project: int, paths: list[Path]) -> float:
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=300) as http:
        started = time.perf_counter()
        for at in range(0, len(paths), 100):
            files = [("files", (p.name, p.read_bytes(), "image/jpeg")) for p in paths[at:at + 100]]
            http.post(f"/api/v1/projects/{project}/images", files=files).raise_for_status()
        return len(paths) / (time.perf_counter() - started)


def concord_label(base: str, world: dict[str, Any], clients: int, per_client: int) -> float:
    barrier = threading.Barrier(clients + 1)
    api = f"/api/v1/projects/{world['project']}"
    classes = list(world["classes"].values())

    def work(token: str) -> None:
        rng = random.Random(token)
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=300) as http:
            current = http.post(f"{api}/assignments/next", json={}).json()["assignment"]
            http.post(f"{api}/assignments/{current['id']}/annotation",  # warm-up, untimed: first-use imports
                      json={"label_class_id": classes[0], "idempotency_key": uuid.uuid4().hex})
            current = http.post(f"{api}/assignments/next", json={}).json()["assignment"]
            barrier.wait()
            for _ in range(per_client):
                body = {"label_class_id": rng.choice(classes), "idempotency_key": uuid.uuid4().hex,
                        "supersedes_id": current["supersedes_id"]}
                http.post(f"{api}/assignments/{current['id']}/annotation", json=body).raise_for_status()
                current = http.post(f"{api}/assignments/next", json={}).json()["assignment"]

    return _timed(work, world["labelers"][:clients], barrier, counted=per_client)


def concord_round(paths: list[Path], root: Path, tmp: Path, steps: int) -> dict[str, float]:
    from app.auth import service as auth_service
    from app.auth import tokens
    from app.auth.models import Role
    from app.core.db import make_sessionmaker
    from bench.labeling import new_project

    with fresh_database("sqlite", tmp) as engine:
        source, _ = ingest_workload(engine, tmp / "data", root)
        worlds = {n: seed_level(engine, source, Level(f"{n}", n, 0, steps)) for n in (1, 8)}
        with make_sessionmaker(engine)() as db:
            project = new_project(db, "upload")
            admin = auth_service.create_user(db, email=f"a{uuid.uuid4().hex[:6]}@bench.example", display_name="a",
                                             password=None)
            auth_service.set_membership(db, project_id=project.id, user=admin, role=Role.admin, actor=None)
            token = tokens.create_token(db, user=admin, name="bench", actor=None, max_days=90)[1]
            db.commit()
            project_id = project.id
        process, base = serve(engine, tmp / "data", None)
        try:
            return {"upload": concord_upload(base, token, project_id, paths),
                    "label1": concord_label(base, worlds[1], 1, steps),
                    "label8": concord_label(base, worlds[8], 8, steps // 8)}
        finally:
            stop_server(process)


def ls_round(paths: list[Path], tmp: Path, steps: int) -> dict[str, float]:
    with label_studio(tmp) as base:
        upload, tasks = ls_upload(base, paths)
        one = ls_label(base, tasks[:steps + 1], 1, steps)
        eight = ls_label(base, tasks[steps + 1:], 8, steps // 8)
        return {"upload": upload, "label1": one, "label8": eight}


ROWS = [("upload", "upload, 100 files per request", "files/s"),
        ("label1", "labeling, 1 client (2 requests per annotation)", "ann/s"),
        ("label8", "labeling, 8 clients (2 requests per annotation)", "ann/s")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--install", action="store_true", help=f"install label-studio {VERSION} into {VENV}")
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    images, rounds = (100, 1) if args.quick else (args.images, args.rounds)
    result: dict[str, Any] = {"bench": "peers", "figures": []}
    why = install() if args.install else (None if LS_BIN.exists() else
                                           f"label-studio {VERSION} is not installed in {VENV}; run "
                                           "`make bench-peers` (or this script with --install) to compare")
    try:
        root = workload(images)
    except MissingWorkload as exc:
        why = why or str(exc)
    if why:
        print(why, file=sys.stderr)
        result["skipped"] = why
        write_result("peers", result)
        return
    paths = sorted((root / "images").glob("*.jpg"))
    steps = images // 4  # answers of the 1-client run; the 8 clients give as many in all
    runs: dict[str, list[dict[str, float]]] = {"concord": [], "label-studio": []}
    for n in range(rounds):
        for name in ("concord", "label-studio"):  # interleaved: load drifts hit both alike
            with tempfile.TemporaryDirectory(prefix=f"concord-peers-{name}-") as tmp:
                measured = concord_round(paths, root, Path(tmp), steps) if name == "concord" \
                    else ls_round(paths, Path(tmp), steps)
            runs[name].append(measured)
            print(f"round {n + 1} {name}: {json.dumps({k: round(v, 1) for k, v in measured.items()})}",
                  file=sys.stderr)
    size = f"{images} workload JPEGs 640x480; {rounds} interleaved rounds, medians; both on SQLite"
    for key, name, unit in ROWS:
        ours = statistics.median(r[key] for r in runs["concord"])
        theirs = statistics.median(r[key] for r in runs["label-studio"])
        result["figures"].append(figure(name, ours, unit, size=size, database="sqlite",
                                        reference={"name": f"Label Studio {VERSION}", "value": round(theirs, 1),
                                                   "unit": unit}, ratio=round(ours / theirs, 2)))
    result["runs"] = runs
    write_result("peers", result)


if __name__ == "__main__":
    main()
