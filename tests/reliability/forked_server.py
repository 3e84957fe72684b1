"""uvicorn servers forked from one process that has imported the app already (reliability #39).

A cold start spends about 3 s importing; a server forked from a process that has done the imports
answers within a fraction of a second, which is what lets fifty SIGKILLs at random moments fit in a
benchmark. The forked child is a new process that creates the app, its engine, its connections and
its threads itself, as a cold start does: only the imported modules are inherited, and the parent
never creates an app, so a crash leaves exactly what it would leave in a cold-started server.

    python -m tests.reliability.forked_server PORT LOG   # one line on stdin: fork a server, print its pid
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, cast

from sqlalchemy import Engine

from tests.support.live_server import REPO_ROOT, LiveServer, free_port, server_env, wait_until_up


class ForkedServer:
    """A server on one fixed port that is SIGKILLed and started again, each start a fork of a parent
    that has imported the app (see the module's docstring)."""

    def __init__(self, engine: Engine, data_dir: Path, **env: str) -> None:
        self.engine, self.data_dir = engine, data_dir
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        data_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = data_dir / f"server-{self.port}.log"
        # One BLAS thread: the parent forks after numpy has started its thread pool.
        environment = server_env(engine, data_dir, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", **env)
        with open(self.log_path, "ab") as log:
            self.parent = subprocess.Popen(
                [sys.executable, "-m", "tests.reliability.forked_server", str(self.port), str(self.log_path)],
                cwd=REPO_ROOT, env=environment, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log)
        self.pid: int | None = None

    def start(self, timeout: float = 60.0) -> None:
        assert self.pid is None, "the server is still running"
        assert self.parent.stdin is not None and self.parent.stdout is not None
        self.parent.stdin.write(b"fork\n")
        self.parent.stdin.flush()
        answer = self.parent.stdout.readline()
        if not answer:
            raise RuntimeError(f"the forking parent exited with {self.parent.wait()}:\n{self.log()}")
        self.pid = int(answer)
        wait_until_up(LiveServer(self.base_url, self.engine, self.data_dir, cast(Any, _Child(self.pid)), self.log_path),
                      timeout)

    def kill(self) -> None:
        """SIGKILL: no shutdown of any kind. Returns once the process is gone (its port is free)."""
        assert self.pid is not None
        os.kill(self.pid, signal.SIGKILL)
        _wait_gone(self.pid, timeout=10)
        self.pid = None

    def stop(self) -> None:
        if self.pid is not None:
            os.kill(self.pid, signal.SIGTERM)
            if _wait_gone(self.pid, timeout=10):
                self.pid = None
            else:
                self.kill()
        if self.parent.stdin is not None:
            self.parent.stdin.close()  # the parent's loop ends with its stdin
        self.parent.wait(timeout=30)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


class _Child:
    """What wait_until_up asks of a server process, for a child of the forking parent."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None and not _alive(self.pid):
            self.returncode = -1  # reaped by the kernel: the status is gone, the log says why
        return self.returncode


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _wait_gone(pid: int, *, timeout: float) -> bool:
    """The parent ignores SIGCHLD, so the kernel reaps its children: a dead child's pid disappears."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.002)
    return False


def serve_forks(port: int, log_path: str) -> None:
    import uvicorn

    import app.main  # noqa: F401  (the expensive part, done once)

    signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    for _ in sys.stdin:
        sys.stdout.flush()
        pid = os.fork()
        if pid == 0:
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            log = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
            os.dup2(log, 1)
            os.dup2(log, 2)
            os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
            try:
                uvicorn.run("app.main:create_app", factory=True, host="127.0.0.1", port=port, log_level="warning")
            finally:
                os._exit(0)
        print(pid, flush=True)


if __name__ == "__main__":
    serve_forks(int(sys.argv[1]), sys.argv[2])
