"""kill -9 on Postgres right after a commit was acknowledged (reliability #44): the answer is still there.

The shared test database cannot be killed (other test runs use it), so this test makes a private
cluster (initdb into a temporary directory, as the `postgres` user when run as root), serves the app on
it, submits an annotation through the API, SIGKILLs the postmaster the moment the 200 arrives, starts
the cluster again (crash recovery replays the WAL) and finds the acknowledged row. Skipped where the
Postgres server binaries are not installed."""
from __future__ import annotations

import glob
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from app.auth import tokens
from app.auth.models import Role
from app.core import migrate
from app.core.db import make_engine, make_sessionmaker
from app.labeling.models import Annotation, Assignment, AssignmentState
from app.main import create_app
from tests.conftest import make_test_settings
from tests.factories import class_named, make_image, make_member, make_project

pytestmark = pytest.mark.slow
BINARIES = sorted(glob.glob("/usr/lib/postgresql/*/bin"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Cluster:
    def __init__(self, root: Path) -> None:
        self.bin = Path(BINARIES[-1])
        self.data = root / "pgdata"
        self.sockets = root / "sockets"
        self.port = free_port()
        self.user = "postgres" if os.geteuid() == 0 else None  # initdb refuses to run as root
        self.process: subprocess.Popen[bytes] | None = None
        for path in (self.data, self.sockets):
            path.mkdir(mode=0o700)
            if self.user:
                shutil.chown(path, self.user, self.user)
        subprocess.run([str(self.bin / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres"],
                       check=True, capture_output=True, user=self.user, cwd=root)

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [str(self.bin / "postgres"), "-D", str(self.data), "-p", str(self.port), "-k", str(self.sockets),
             "-c", "listen_addresses=127.0.0.1", "-c", "fsync=on", "-c", "synchronous_commit=on"],
            user=self.user, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=self.data.parent)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                psycopg.connect(f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres",
                                connect_timeout=2).close()
                return
            except psycopg.OperationalError:
                time.sleep(0.2)
        raise RuntimeError("the private Postgres did not start")

    def kill(self) -> None:
        """SIGKILL the postmaster; wait until its backends noticed and exited (they hold shared memory)."""
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and _backends_of(self.data):
            time.sleep(0.2)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)


def _backends_of(data: Path) -> list[int]:
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if str(data) in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace") or \
                    Path(f"/proc/{pid}/cwd").resolve() == data:
                found.append(int(pid))
        except OSError:
            continue
    return found


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    if not BINARIES or not (Path(BINARIES[-1]) / "initdb").exists():
        pytest.skip("no Postgres server binaries (Debian package postgresql)")
    root = Path(tempfile.mkdtemp(prefix="concord-pg-"))  # under /tmp: the postgres user can reach it
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
    try:
        made = Cluster(root)
        made.start()
        try:
            yield made
        finally:
            made.stop()
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_an_acknowledged_answer_survives_kill_9_of_postgres(cluster: Cluster, tmp_path: Path) -> None:
    engine = make_engine(cluster.url)
    migrate.upgrade(engine, "head")
    with make_sessionmaker(engine)() as db:
        project = make_project(db)
        inspector = make_member(db, project, Role.inspector, password=None)
        image = make_image(db, project, labels_wanted=1, slots_taken=1)
        assignment = Assignment(project_id=project.id, image_id=image.id, labeler_id=inspector.id,
                                state=AssignmentState.open)
        db.add(assignment)
        raw = tokens.create_token(db, user=inspector, name="crash", actor=None, max_days=90)[1]
        db.commit()
        ids = (project.id, assignment.id, class_named(db, project, "dent").id)
    engine.dispose()
    app = create_app(make_test_settings(cluster.url, tmp_path / "data", jobs_in_app=False))
    client = TestClient(app, headers={"Authorization": f"Bearer {raw}"})
    response = client.post(f"/api/v1/projects/{ids[0]}/assignments/{ids[1]}/annotation",
                           json={"label_class_id": ids[2], "idempotency_key": "crash-test-0001"})
    assert response.status_code == 200, response.text
    acknowledged = response.json()["id"]
    cluster.kill()  # right after the acknowledgement, before anything else touches the database
    app.state.engine.dispose()
    cluster.start()  # crash recovery
    check = make_engine(cluster.url)
    with make_sessionmaker(check)() as db:
        row = db.scalar(select(Annotation).where(Annotation.id == acknowledged))
        assert row is not None and row.idempotency_key == "crash-test-0001" and row.label_class_id == ids[2]
        assert db.get(Assignment, ids[1]).state == AssignmentState.done
    check.dispose()
