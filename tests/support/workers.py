"""`concord worker` processes (and several app servers) on one database, for scale tests and bench/."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine

from tests.support.live_server import REPO_ROOT, LiveServer, live_server, server_env

CONCORD = str(Path(sys.executable).parent / "concord")
SHARED_SECRET = "scale-test-secret-key-0123456789-abcdefghijklmnop"  # one key for every app process
START_TIMEOUT = 120.0  # importing the app takes many seconds on a busy 2-core box
FAST_JOBS = {"CONCORD_JOB_HEARTBEAT_SECONDS": "0.5", "CONCORD_JOB_STALE_SECONDS": "3",
             "CONCORD_JOB_POLL_SECONDS": "0.2"}


@dataclass
class WorkerProcess:
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)


def start_worker(engine: Engine, data_dir: Path, *, env: dict[str, str] | None = None, name: str = "worker",
                 args: tuple[str, ...] = ()) -> WorkerProcess:
    data_dir.mkdir(parents=True, exist_ok=True)
    log_path = data_dir / f"{name}.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen([CONCORD, "worker", *args], cwd=REPO_ROOT,
                                   env=server_env(engine, data_dir, **{**FAST_JOBS, **(env or {})}),
                                   stdout=log, stderr=subprocess.STDOUT)
    return WorkerProcess(process, log_path)


def stop(worker: WorkerProcess, timeout: float = 15.0) -> int:
    if worker.process.poll() is None:
        worker.process.terminate()
        try:
            worker.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            worker.process.kill()
            worker.process.wait()
    return worker.process.returncode


@contextmanager
def workers(engine: Engine, root: Path, count: int, *,
            env: dict[str, str] | None = None) -> Iterator[list[WorkerProcess]]:
    started = [start_worker(engine, root / f"worker-{i}", env=env, name=f"worker-{i}") for i in range(count)]
    try:
        yield started
    finally:
        for worker in started:
            stop(worker)


@contextmanager
def app_servers(engine: Engine, root: Path, count: int, *,
                env: dict[str, str] | None = None) -> Iterator[list[LiveServer]]:
    """`count` app processes on one database, each with its own data dir (as on separate machines),
    sharing only the secret key and the storage settings given in `env`."""
    with ExitStack() as stack:
        yield [stack.enter_context(live_server(engine, root / f"app-{i}", start_timeout=START_TIMEOUT,
                                               env={"CONCORD_SECRET_KEY": SHARED_SECRET, **(env or {})}))
               for i in range(count)]


def wait_until(condition, timeout: float = 60.0, interval: float = 0.1, what: str = "condition") -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def environment_without_concord() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("CONCORD_")}
