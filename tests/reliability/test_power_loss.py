"""An acknowledged write survives a power loss, on SQLite with group commit (app/core/group_commit.py).

A power cut is simulated (tests/reliability/powerloss): every write the server made to the database
folder is logged with what it overwrote; the server is SIGKILLed under load, and every write not
followed by an fsync of its file is undone. What is left is what a disk that honours fsync, and keeps
nothing more, holds after the power comes back. First the simulation shows its teeth (SQLite with
synchronous=NORMAL and nobody syncing loses acknowledged commits; FULL keeps them), then the app is
cut while eight labelers and an uploader work: every answer and image it acknowledged is there.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import uuid
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from app.auth.models import Role
from app.auth.tokens import create_token
from app.core.db import make_engine, make_sessionmaker
from app.images.models import Image
from app.labeling.models import Annotation
from app.projects.models import Project
from tests.factories import image_bytes, make_image, make_member
from tests.reliability import crash, powerloss
from tests.support.databases import engine_url, fresh_database
from tests.support.live_server import LiveServer, free_port, server_env, wait_until_up

pytestmark = pytest.mark.slow

COMMITS = """
import os, signal, sqlite3, sys
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("PRAGMA journal_mode=WAL")
db.execute("PRAGMA synchronous=" + sys.argv[2])
db.execute("CREATE TABLE t (n INTEGER)")
for n in range(50):
    db.execute("BEGIN IMMEDIATE"); db.execute("INSERT INTO t VALUES (?)", (n,)); db.execute("COMMIT")
    print(n, flush=True)  # acknowledged
os.kill(os.getpid(), signal.SIGKILL)
"""


def rows_after_cut(tmp_path: Path, synchronous: str) -> tuple[int, int]:
    folder = tmp_path / synchronous
    folder.mkdir()
    shim, log = powerloss.build_shim(tmp_path), tmp_path / f"{synchronous}.undo"
    done = subprocess.run([sys.executable, "-c", COMMITS, str(folder / "t.db"), synchronous], capture_output=True,
                          text=True, env={**os.environ, **powerloss.environment(shim, folder, log)}, check=False)
    acknowledged = len(done.stdout.split())
    powerloss.cut_power(log)
    (folder / "t.db-shm").unlink(missing_ok=True)
    import sqlite3

    with sqlite3.connect(folder / "t.db") as db:
        try:
            kept = db.execute("SELECT count(*) FROM t").fetchone()[0]
        except sqlite3.OperationalError:  # the table itself was never synced
            kept = 0
    return acknowledged, kept


def test_the_simulated_cut_loses_unsynced_commits_and_keeps_synced_ones(tmp_path: Path) -> None:
    acknowledged, kept = rows_after_cut(tmp_path, "NORMAL")
    assert acknowledged == 50 and kept < 50  # nobody synced: acknowledged commits are gone
    acknowledged, kept = rows_after_cut(tmp_path, "FULL")
    assert acknowledged == 50 and kept == 50  # each commit synced: every one is kept


def test_every_acknowledged_answer_and_upload_survives_a_power_cut(tmp_path: Path) -> None:
    folder = tmp_path / "db"
    folder.mkdir()
    shim, log = powerloss.build_shim(tmp_path), tmp_path / "server.undo"
    with fresh_database("sqlite", folder) as engine:
        world = crash.seed(engine, labels_per_image=1)
        with make_sessionmaker(engine)() as db:
            project = db.get_one(Project, world.project_id)
            for _ in range(400):
                make_image(db, project)
            labelers = [create_token(db, user=make_member(db, project, Role.inspector), name="cut", actor=None,
                                     max_days=90)[1] for _ in range(8)]
            db.commit()
        engine.dispose()  # the server alone touches the files from here on
        port = free_port()
        data_dir = tmp_path / "data"
        data_dir.mkdir()
        env = {**server_env(engine, data_dir), **powerloss.environment(shim, folder, log)}
        server = subprocess.Popen([sys.executable, "-m", "uvicorn", "app.main:create_app", "--factory", "--host",
                                   "127.0.0.1", "--port", str(port), "--log-level", "warning"],
                                  cwd=Path(__file__).resolve().parents[2], env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        base = f"http://127.0.0.1:{port}"
        answers: list[int] = []
        uploads: list[str] = []
        stop = threading.Event()
        try:
            wait_until_up(LiveServer(base, engine, data_dir, server, data_dir / "x.log"), timeout=60)
            threads = [threading.Thread(target=label, args=(base, world, token, answers, stop)) for token in labelers]
            threads.append(threading.Thread(target=upload, args=(base, world, uploads, stop)))
            for thread in threads:
                thread.start()
            while len(answers) < 150 and all(t.is_alive() for t in threads):
                stop.wait(0.05)
            server.send_signal(signal.SIGKILL)  # the power goes...
            server.wait()
            stop.set()
            for thread in threads:
                thread.join()
        finally:
            if server.poll() is None:
                server.kill()
                server.wait()
        undone = powerloss.cut_power(log)  # ...and with it every write no fsync covered
        for leftover in folder.glob("*-shm"):
            leftover.unlink()
        after = make_engine(engine_url(engine))
        try:
            with after.connect() as connection:
                assert connection.execute(text("PRAGMA integrity_check")).scalar() == "ok"
            with make_sessionmaker(after)() as db:
                stored = set(db.scalars(select(Annotation.id)))
                images = set(db.scalars(select(Image.sha256).where(Image.project_id == world.project_id)))
                assert db.scalar(select(func.count()).select_from(Annotation)) == len(stored)
        finally:
            after.dispose()
    assert len(answers) >= 150 and uploads, "the load did not run"
    assert sum(undone.values()) > 0, "nothing was left unsynced at the cut: the test proves nothing"
    assert set(answers) <= stored, f"acknowledged answers lost: {sorted(set(answers) - stored)[:10]}"
    assert set(uploads) <= images, "acknowledged uploads lost"


def label(base: str, world: crash.World, token: str, answers: list[int], stop: threading.Event) -> None:
    import httpx

    with crash.client(base, token) as http:
        while not stop.is_set():
            try:
                assignment = crash.next_assignment(http, world)
                if assignment is None:
                    return
                sent = crash.submit(http, world, assignment["id"], uuid.uuid4().hex)
            except (httpx.TransportError, AssertionError):
                return  # the power went
            if sent.status_code == 200:
                answers.append(sent.json()["id"])


def upload(base: str, world: crash.World, uploads: list[str], stop: threading.Event) -> None:
    import hashlib

    import httpx

    with crash.client(base, world.admin_token) as http:
        n = 0
        while not stop.is_set():
            n += 1
            data = image_bytes(colour=(n % 256, (n // 256) % 256, 7))
            try:
                sent = crash.upload(http, world, f"cut-{n}.png", data)
            except httpx.TransportError:
                return
            if sent.status_code == 200 and sent.json()["counts"]["stored"] == 1:
                uploads.append(hashlib.sha256(data).hexdigest())
